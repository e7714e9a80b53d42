/**
 * The manager as a detached process of this machine: `node dist/server/main.js` in the
 * background, its pid and state in the state directory (the manager writes them itself), its
 * log in manager.log. Stop is SIGTERM, then SIGKILL after the deadline, then removal of any
 * container labelled with its pid.
 */
import {spawn} from 'node:child_process'
import {closeSync, openSync, writeSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {LABELS, listManagedContainers, ownerOfLabels, removeContainers} from '../docker/containers.js'
import {errorMessage, ExitCode, SandboxError, type ExitCodeValue} from '../errors.js'
import {isOwnedByPid} from '../owner.js'
import {packagePath} from '../paths.js'
import {isSameProcess, isZombie} from '../process.js'
import {readState, recordedManager, removeStateFiles, type ManagerFiles} from '../server/state.js'
import {ManagerClient} from '../executors/manager-client.js'
import {emptyStop, type ManagerHost, type StartRequest, type StartResult} from './host.js'
import {launchVariables} from './launch.js'
import {followFile, tailFile} from './log-files.js'

/** how long a started manager may stay unhealthy (pool retrying) before `start` gives up */
export const UNHEALTHY_GRACE_MS = 10_000

/**
 * argv of the manager process: the service entry point (dist/server/main.js), not the whole
 * CLI. It loads the engine and the HTTP server only, which keeps the long-running process
 * small (oclif without a manifest imports every command: ~35 MB more RSS) and starts faster.
 * In development (sources run through tsx) it is src/server/main.ts through tsx.
 */
export function managerInvocation(): {command: string; args: string[]} {
  const dev = fileURLToPath(import.meta.url).endsWith('.ts')
  if (!dev) return {command: process.execPath, args: [packagePath('dist', 'server', 'main.js')]}
  const tsx = (import.meta as unknown as {resolve: (s: string) => string}).resolve('tsx')
  return {command: process.execPath, args: ['--import', tsx, packagePath('src', 'server', 'main.ts')]}
}

const where = (pid: number | null) => `pid ${pid ?? '?'}`

export const processHost: ManagerHost = {
  mode: 'process',
  named: 'as a process',
  startCommand: 'sandbox start',

  async running(rec, files) {
    if (rec.state !== 'running') return undefined
    return {pid: rec.pid, info: rec.info ?? readState(files), answers: true, logFile: files.logFile, where: where(rec.pid)}
  },

  start: startProcess,

  async stop(rec, files, deadlineMs, progress) {
    const t0 = performance.now()
    const result = emptyStop()
    let pid: number | undefined
    if (rec.state === 'running') {
      pid = rec.pid
      Object.assign(result, {wasRunning: true, mode: 'process', pid, who: `manager ${pid}`})
      progress(`stopping manager ${pid} (SIGTERM, up to ${Math.round(deadlineMs / 1000)} s for runs in flight)`)
      result.signal = await terminate(pid, deadlineMs, rec.info?.startTicks)
      if (result.signal === 'SIGKILL') result.warnings.push(`the manager did not stop within ${Math.round(deadlineMs / 1000)} s and was killed`)
    } else if (rec.state !== 'none') {
      pid = rec.state === 'stale' ? (rec.pid ?? rec.info?.pid) : rec.info.pid
      result.staleRemoved = true
    }
    if (recordedManager(files).state !== 'running') removeStateFiles(files)
    // what is left of this manager in Docker: nothing after a graceful stop
    if (pid !== undefined) {
      try {
        const leftBy = async () =>
          (await listManagedContainers({[LABELS.ownerPid]: String(pid)})).filter((c) => {
            const owner = ownerOfLabels(c.labels)
            return owner !== undefined && isOwnedByPid(owner, pid)
          })
        const left = await leftBy()
        if (left.length) {
          progress(`removing ${left.length} container(s) the manager left`)
          result.containersRemoved = await removeContainers(left.map((c) => c.id))
        }
        result.containersRemaining = (await leftBy()).length
        result.dockerChecked = true
      } catch (error) {
        result.warnings.push(`could not check for leftover containers: ${errorMessage(error)}`)
      }
      // and of its runsc sandboxes (counted with the containers): none after a graceful stop either
      try {
        const {removeRunscLeftovers, runscSandboxesOf} = await import('../backends/runsc/index.js')
        const left = runscSandboxesOf(pid).length
        let remaining = 0
        if (left) {
          progress(`removing ${left} runsc sandbox(es) the manager left`)
          await removeRunscLeftovers()
          remaining = runscSandboxesOf(pid).length
        }
        result.containersRemoved += left - remaining
        result.containersRemaining += remaining
      } catch (error) {
        result.warnings.push(`could not check for leftover runsc sandboxes: ${errorMessage(error)}`)
      }
    }
    result.stoppedInMs = Math.round(performance.now() - t0)
    return result
  },

  async view(rec, files) {
    const pid = rec.state === 'running' ? rec.pid : null
    return {running: rec.state === 'running', where: where(pid), notRunning: null, log: files.logFile, warnings: []}
  },

  async logs(files, n) {
    return {source: files.logFile, lines: tailFile(files.logFile, n)}
  },

  follow(files, onLine, signal) {
    return followFile(files.logFile, onLine, signal)
  },

  // a process leaves containers labelled with its pid: the orphan rule of clean finds them
  async removeLeftovers() {
    return 0
  },
}

/** Start the manager as a detached background process and wait until it is healthy. */
async function startProcess(request: StartRequest): Promise<StartResult> {
  const {files} = request
  const progress = request.onProgress ?? (() => {})
  const {command, args} = managerInvocation()
  const log = openSync(files.logFile, 'a', 0o600)
  writeSync(log, JSON.stringify({time: new Date().toISOString(), level: 'info', msg: 'starting manager in the background', by_pid: process.pid}) + '\n')
  const started = performance.now()
  const child = spawn(command, args, {
    detached: true,
    stdio: ['ignore', log, log],
    env: {
      ...(request.env ?? process.env),
      ...launchVariables(request.launch),
      SANDBOX_MANAGER_LAUNCH: JSON.stringify(request.launch),
      SANDBOX_STATE_DIR: files.dir,
      // its stdout and stderr append to this file; the manager rotates it by size
      SANDBOX_MANAGER_LOG_FILE: files.logFile,
    },
    cwd: request.cwd ?? process.cwd(),
  })
  closeSync(log)
  let exited: {code: number | null; signal: NodeJS.Signals | null} | undefined
  child.on('exit', (code, signal) => (exited = {code, signal}))
  child.on('error', (error) => (exited = {code: 1, signal: null, ...{error}}))
  child.unref()
  const pid = child.pid ?? -1
  progress(`manager process ${pid} started, waiting until it is healthy`)

  const waitMs = request.waitMs ?? 90_000
  const deadline = Date.now() + waitMs
  let lastReason = 'starting'
  let unhealthySince: number | undefined
  for (;;) {
    if (exited) {
      const code = exited.code ?? 1
      const exit: ExitCodeValue = code === ExitCode.CONFIG || code === ExitCode.POLICY ? code : ExitCode.PREREQUISITE
      throw failure(`The manager exited during start (exit code ${exited.code ?? exited.signal})`, 'MANAGER_START_FAILED', files, exit)
    }
    const state = readState(files)
    if (state && state.pid === pid) {
      const health = await new ManagerClient({url: state.endpoint}).health(1000)
      if (health.healthy) {
        // read again: the runtime and backend are written once the pools are warm, after the first state file
        const ready = readState(files)
        return {
          already: false,
          mode: 'process',
          pid,
          endpoint: state.endpoint,
          logFile: files.logFile,
          where: where(pid),
          startedInMs: Math.round(performance.now() - started),
          warnings: state.warnings,
          runtime: ready?.runtime ?? null,
          backend: ready?.backend ?? null,
          staleRemoved: false,
        }
      }
      if (health.body?.reason) lastReason = health.body.reason
      // started, but the pools cannot create containers: the pool retries; give it a few seconds
      if (health.body?.phase === 'serving') unhealthySince ??= Date.now()
      if (unhealthySince !== undefined && Date.now() - unhealthySince > UNHEALTHY_GRACE_MS) {
        await terminate(pid, 15_000)
        throw failure(`The manager started but cannot serve: ${lastReason}`, 'MANAGER_UNHEALTHY', files, ExitCode.PREREQUISITE)
      }
    }
    if (Date.now() > deadline) {
      await terminate(pid, 15_000)
      throw failure(`The manager did not become healthy within ${Math.round(waitMs / 1000)} s (${lastReason})`, 'MANAGER_START_TIMEOUT', files, ExitCode.PREREQUISITE)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}

function failure(message: string, code: string, files: ManagerFiles, exit: ExitCodeValue): SandboxError {
  const lines = tailFile(files.logFile, 15)
  const text = lines.length ? `${message}. Last lines of ${files.logFile}:\n${lines.map((l) => `  ${l}`).join('\n')}` : message
  return new SandboxError(text, {code, exit, suggestions: ['see the whole log with `sandbox logs -n 100`', 'check the host with `sandbox setup`']})
}

/** SIGTERM, wait up to deadlineMs, then SIGKILL. Returns the signal that ended it (or null when it was gone). */
export async function terminate(pid: number, deadlineMs: number, startTicks?: number): Promise<'SIGTERM' | 'SIGKILL' | null> {
  if (!isSameProcess(pid, startTicks)) return null
  try {
    process.kill(pid, 'SIGTERM')
  } catch {
    return null
  }
  if (await waitGone(pid, deadlineMs, startTicks)) return 'SIGTERM'
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    return 'SIGTERM'
  }
  await waitGone(pid, 5000, startTicks)
  return 'SIGKILL'
}

async function waitGone(pid: number, ms: number, startTicks?: number): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (!isSameProcess(pid, startTicks) || isZombie(pid)) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return !isSameProcess(pid, startTicks)
}
