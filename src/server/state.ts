/**
 * The manager's files in the state directory (src/paths.ts stateDir()):
 *   manager.pid   pid of the running manager process (exclusive lock)
 *   manager.json  where it listens, when it started, how it runs (process | docker), the
 *                 settings it runs with and what its start was told (lifecycle.ts); never the token
 *   manager.log   JSON log lines of a background manager
 * Stale files (process gone, or pid reused by another program) are detected and replaced.
 */
import {closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync} from 'node:fs'
import {join} from 'node:path'

import {isProcessAlive, parsePid} from '../process.js'
import {ExitCode, prerequisiteError, SandboxError} from '../errors.js'
import {stateDir, TOOLKIT_VERSION} from '../paths.js'
import type {LaunchRecord} from './lifecycle.js'
import type {ManagerSettings} from './status.js'

export interface ManagerFiles {
  dir: string
  pidFile: string
  stateFile: string
  logFile: string
}

export function managerFiles(dir = stateDir()): ManagerFiles {
  return {dir, pidFile: join(dir, 'manager.pid'), stateFile: join(dir, 'manager.json'), logFile: join(dir, 'manager.log')}
}

export interface ManagerState {
  mode: 'process' | 'docker'
  /** process mode: the manager's pid and its start time (clock ticks since boot, from /proc) */
  pid?: number
  startTicks?: number
  /** docker mode */
  containerId?: string
  containerName?: string
  network?: string
  image?: string
  /** the bound address */
  host: string
  port: number
  /** URL clients use (loopback when bound to every address) */
  endpoint: string
  startedAt: string
  version: string
  tokenRequired: boolean
  warnings: string[]
  runtime?: string | null
  logFile?: string
  /** the effective settings (no token) */
  settings?: ManagerSettings
  /** what its start was told: reused by `sandbox restart` */
  launch?: LaunchRecord
}

/** The one constructor of manager.json contents (process mode: the manager writes it; docker mode: the CLI). */
export function managerState(fields: {
  mode: 'process' | 'docker'
  address: {host: string; port: number}
  settings: ManagerSettings
  launch?: LaunchRecord
  warnings: string[]
  pid?: number
  containerId?: string
  containerName?: string
  network?: string
  image?: string
}): ManagerState {
  const {address, settings, ...rest} = fields
  return {
    ...rest,
    ...(fields.pid === undefined ? {} : {startTicks: processStartTicks(fields.pid)}),
    host: address.host,
    port: address.port,
    endpoint: clientEndpoint(address.host, address.port),
    startedAt: new Date().toISOString(),
    version: TOOLKIT_VERSION,
    tokenRequired: settings.tokenRequired,
    settings,
    runtime: null,
  }
}

/** Process start time in clock ticks since boot (field 22 of /proc/<pid>/stat); undefined off Linux. */
export function processStartTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the command name (field 2) may contain spaces and parentheses: split after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[19])
    return Number.isFinite(ticks) ? ticks : undefined
  } catch {
    return undefined
  }
}

/** Alive and the same process (not a reused pid) when the start time is known. */
export function isSameProcess(pid: number, startTicks?: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid)) return false
  if (startTicks === undefined) return true
  const now = processStartTicks(pid)
  return now === undefined || now === startTicks
}

export function readPid(files = managerFiles()): number | undefined {
  try {
    return parsePid(readFileSync(files.pidFile, 'utf8'))
  } catch {
    return undefined
  }
}

export function readState(files = managerFiles()): ManagerState | undefined {
  try {
    const s = JSON.parse(readFileSync(files.stateFile, 'utf8')) as ManagerState
    return s && typeof s === 'object' && typeof s.port === 'number' ? s : undefined
  } catch {
    return undefined
  }
}

export function writeState(state: ManagerState, files = managerFiles()): void {
  const tmp = `${files.stateFile}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', {mode: 0o600})
  renameSync(tmp, files.stateFile)
}

export type Recorded =
  | {state: 'none'}
  /** a live manager process (process mode) */
  | {state: 'running'; pid: number; info: ManagerState | undefined}
  /** docker mode: the container may or may not run; ask Docker */
  | {state: 'docker'; info: ManagerState}
  /** files of a manager that is gone (killed, crashed, or the pid now belongs to another program) */
  | {state: 'stale'; pid: number | undefined; info: ManagerState | undefined}

/** What the state directory says about a manager. */
export function recordedManager(files = managerFiles()): Recorded {
  const pid = readPid(files)
  const info = readState(files)
  if (pid === undefined) {
    if (info?.mode === 'docker') return {state: 'docker', info}
    return info ? {state: 'stale', pid: undefined, info} : {state: 'none'}
  }
  const ticks = info && info.pid === pid ? info.startTicks : undefined
  if (isSameProcess(pid, ticks)) return {state: 'running', pid, info: info?.pid === pid ? info : undefined}
  return {state: 'stale', pid, info}
}

export function removeStateFiles(files = managerFiles(), {log = false}: {log?: boolean} = {}): string[] {
  const removed: string[] = []
  for (const f of [files.pidFile, files.stateFile, ...(log ? [files.logFile] : [])]) {
    if (existsSync(f)) {
      rmSync(f, {force: true})
      removed.push(f)
    }
  }
  return removed
}

/**
 * Take the pid file for this process (O_EXCL). A stale file is replaced; a live manager
 * is an error (MANAGER_RUNNING). Returns a release function that removes our files.
 */
export function acquirePidFile(files = managerFiles()): () => void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(files.pidFile, 'wx', 0o644)
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      return () => {
        if (readPid(files) === process.pid) removeStateFiles(files)
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const rec = recordedManager(files)
      if (rec.state === 'running' && rec.pid !== process.pid) {
        throw new SandboxError(`A manager of this state directory is already running (pid ${rec.pid}${rec.info ? `, ${rec.info.endpoint}` : ''}): one state directory holds one manager`, {
          code: 'MANAGER_RUNNING_ELSEWHERE',
          exit: ExitCode.CONFIG,
          suggestions: ['stop it with `sandbox stop`, or use `sandbox restart`', 'a second manager needs its own state directory (SANDBOX_STATE_DIR)'],
        })
      }
      rmSync(files.pidFile, {force: true})
    }
  }
  throw prerequisiteError(`Cannot take the pid file ${files.pidFile}: another manager is starting at the same time`, 'MANAGER_RUNNING')
}

/** URL a client on this host uses for a bind address. */
export function clientEndpoint(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`
}
