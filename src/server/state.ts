/**
 * The manager's files in the state directory (src/paths.ts stateDir()):
 *   manager.pid          pid of the running manager process (exclusive lock)
 *   manager.json         where it listens, when it started, how it runs (process | docker), the
 *                        settings it runs with and what its start was told; never the token.
 *                        Written only by writeState(), from a record built by managerState().
 *   manager.log          JSON log lines of a background manager
 *   manager.launch.json  the last start's launch, kept after stop for `sandbox restart`
 *                        (src/supervisor/launch.ts owns it)
 * Stale files (process gone, or pid reused by another program) are detected and replaced.
 */
import {closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync} from 'node:fs'
import {join} from 'node:path'

import {isSameProcess, parsePid, processStartTicks} from '../process.js'
import {ExitCode, prerequisiteError, SandboxError} from '../errors.js'
import {stateDir, TOOLKIT_VERSION} from '../paths.js'
import type {ManagerSettings} from './status.js'

export interface ManagerFiles {
  dir: string
  pidFile: string
  stateFile: string
  logFile: string
  launchFile: string
}

export function managerFiles(dir = stateDir()): ManagerFiles {
  return {dir, pidFile: join(dir, 'manager.pid'), stateFile: join(dir, 'manager.json'), logFile: join(dir, 'manager.log'), launchFile: join(dir, 'manager.launch.json')}
}

/** What a `start` was told: its flags (as the variables they become) and the manager variables of its environment (src/supervisor/launch.ts). */
export interface LaunchRecord {
  flags: Record<string, string>
  environment: Record<string, string>
}

/** How a manager runs: a process of this host, or the container sandbox-executor-manager (src/supervisor/ hosts). */
export const MANAGER_MODES = ['process', 'docker'] as const
export type ManagerMode = (typeof MANAGER_MODES)[number]

export interface ManagerState {
  mode: ManagerMode
  /** a manager process of this host: its pid and its start time (clock ticks since boot, from /proc) */
  pid?: number
  startTicks?: number
  /** a manager container */
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
  backend?: string | null
  logFile?: string
  /** the effective settings (no token) */
  settings?: ManagerSettings
  /** what its start was told: reused by `sandbox restart` */
  launch?: LaunchRecord
}

/** The one constructor of manager.json contents (a manager process records itself; a container is recorded by its host in src/supervisor/). */
export function managerState(fields: {
  mode: ManagerMode
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
    backend: null,
  }
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
  /** a live manager process that holds the pid file */
  | {state: 'running'; pid: number; info: ManagerState | undefined}
  /** a manager that holds no pid file here (a container): whether it runs, its host says */
  | {state: 'elsewhere'; info: ManagerState}
  /** files of a manager process that is gone (killed, crashed, or the pid now belongs to another program) */
  | {state: 'stale'; pid: number | undefined; info: ManagerState | undefined}

/** What the state directory says about a manager. */
export function recordedManager(files = managerFiles()): Recorded {
  const pid = readPid(files)
  const info = readState(files)
  if (pid === undefined) {
    // a record without a pid is not a process of this host: its host (the container) decides
    if (info && info.pid === undefined) return {state: 'elsewhere', info}
    return info ? {state: 'stale', pid: undefined, info} : {state: 'none'}
  }
  const ticks = info && info.pid === pid ? info.startTicks : undefined
  if (isSameProcess(pid, ticks)) return {state: 'running', pid, info: info?.pid === pid ? info : undefined}
  return {state: 'stale', pid, info}
}

/** Remove the pid and state files; with `all` (clean), also the log and the recorded launch. */
export function removeStateFiles(files = managerFiles(), {all = false}: {all?: boolean} = {}): string[] {
  const removed: string[] = []
  for (const f of [files.pidFile, files.stateFile, ...(all ? [files.logFile, files.launchFile] : [])]) {
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
        throw new SandboxError(
          `A manager of this state directory is already running (pid ${rec.pid}${rec.info ? `, ${rec.info.endpoint}` : ''}): one state directory holds one manager`,
          {
            code: 'MANAGER_RUNNING_ELSEWHERE',
            exit: ExitCode.CONFIG,
            suggestions: ['stop it with `sandbox stop`, or use `sandbox restart`', 'a second manager needs its own state directory (SANDBOX_STATE_DIR)'],
          },
        )
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
