/**
 * Controlling the manager from the CLI: start it in the background (detached child
 * `start --foreground`, pid and log file in the state directory), stop it, ask it how it
 * is doing, read its log, and clean everything of ours away.
 * Nothing here prints: results are returned, progress goes to the optional callback.
 */
import {spawn} from 'node:child_process'
import {closeSync, existsSync, openSync, readFileSync, readSync, statSync, writeSync} from 'node:fs'
import {hostname} from 'node:os'
import {fileURLToPath} from 'node:url'

import {LABELS, listManagedContainers, removeContainers} from '../docker/containers.js'
import {isProcessAlive, isZombie} from '../process.js'
import {isDaemonDown} from '../docker/client.js'
import {configError, errorMessage, ExitCode, SandboxError, type ExitCodeValue} from '../errors.js'
import type {SandboxConfig} from '../config.js'
import {packagePath} from '../paths.js'
import {fetchWithTimeout, parseEndpointUrl} from '../net.js'
import {exposureWarnings} from './auth.js'
import {checkStartAgainstRunning, launchVariables, type LaunchRecord} from './lifecycle.js'
import {clientEndpoint, isSameProcess, managerFiles, managerState, readState, recordedManager, removeStateFiles, writeState, type ManagerFiles, type ManagerState} from './state.js'
import {effectiveSettings, type ManagerSettings, type StatusDocument} from './status.js'

export type Progress = (message: string) => void

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

export interface HealthAnswer {
  reachable: boolean
  healthy: boolean
  httpStatus: number | null
  body: {status?: string; reason?: string; phase?: string} | null
  error?: string
}

export async function fetchHealth(endpoint: string, timeoutMs = 2000): Promise<HealthAnswer> {
  try {
    const res = await fetchWithTimeout(`${endpoint}/healthz`, {}, timeoutMs)
    const body = (await res.json().catch(() => null)) as HealthAnswer['body']
    return {reachable: true, healthy: res.status === 200 && body?.status === 'ok', httpStatus: res.status, body}
  } catch (error) {
    return {reachable: false, healthy: false, httpStatus: null, body: null, error: errorMessage((error as {cause?: unknown}).cause ?? error)}
  }
}

/** GET /status: the manager's own JSON description (token-protected). */
export async function fetchStatus(endpoint: string, token?: string, timeoutMs = 3000): Promise<{status: 200; body: StatusDocument} | {status: number | null; error: string}> {
  try {
    const res = await fetchWithTimeout(`${endpoint}/status`, {headers: token ? {authorization: `Bearer ${token}`} : {}}, timeoutMs)
    const text = await res.text()
    if (res.status === 401) return {status: 401, error: token ? 'the manager refused the API token' : 'the manager requires an API token (set SANDBOX_API_TOKEN or --token)'}
    if (res.status === 404) return {status: 404, error: 'the manager has no GET /status (an older version?)'}
    if (res.status !== 200) return {status: res.status, error: `HTTP ${res.status}`}
    const body = JSON.parse(text) as StatusDocument
    if (!body || typeof body !== 'object' || !Array.isArray(body.pools)) return {status: res.status, error: 'GET /status did not answer a status document'}
    return {status: 200, body}
  } catch (error) {
    return {status: null, error: errorMessage((error as {cause?: unknown}).cause ?? error)}
  }
}

/** The last `n` lines of a file, read from its end. */
export function tailFile(path: string, n: number): string[] {
  if (n <= 0 || !existsSync(path)) return []
  const size = statSync(path).size
  const fd = openSync(path, 'r')
  try {
    let pos = size
    let text = ''
    const chunk = Buffer.alloc(64 * 1024)
    while (pos > 0) {
      const len = Math.min(chunk.length, pos)
      pos -= len
      readSync(fd, chunk, 0, len, pos)
      text = chunk.subarray(0, len).toString('utf8') + text
      if (text.split('\n').length > n + 1) break
    }
    const lines = text.split('\n')
    if (lines.at(-1) === '') lines.pop()
    return lines.slice(-n)
  } finally {
    closeSync(fd)
  }
}

/**
 * Follow a log file from its current end: calls onLine for each new line until the signal
 * aborts. Survives truncation and re-creation (e.g. `sandbox clean`, a new start).
 */
export async function followFile(path: string, onLine: (line: string) => void, signal: AbortSignal, intervalMs = 200): Promise<void> {
  let offset = existsSync(path) ? statSync(path).size : 0
  let partial = ''
  while (!signal.aborted) {
    await new Promise((r) => setTimeout(r, intervalMs))
    if (!existsSync(path)) continue
    const size = statSync(path).size
    if (size < offset) offset = 0
    if (size === offset) continue
    const fd = openSync(path, 'r')
    try {
      const buf = Buffer.alloc(size - offset)
      readSync(fd, buf, 0, buf.length, offset)
      offset = size
      const lines = (partial + buf.toString('utf8')).split('\n')
      partial = lines.pop() ?? ''
      for (const l of lines) onLine(l)
    } finally {
      closeSync(fd)
    }
  }
}

// ---------------------------------------------------------------------------------------
// start

export interface StartBackgroundOptions {
  /** what this start was told (flags as variables, manager variables of the environment): recorded for restart */
  launch: LaunchRecord
  /** the configuration that launch gives (compared with a manager that already runs) */
  config: SandboxConfig
  /** endpoint to expect (used while the manager has not written its state yet) */
  waitMs?: number
  files?: ManagerFiles
  env?: NodeJS.ProcessEnv
  cwd?: string
  onProgress?: Progress
}

export interface StartResult {
  already: boolean
  mode: 'process' | 'docker'
  pid: number | null
  endpoint: string
  logFile: string
  /** ms from spawning the manager until /healthz answered ok */
  startedInMs: number | null
  warnings: string[]
  runtime: string | null
  staleRemoved: boolean
}

/** how long a started manager may stay unhealthy (pool retrying) before `start` gives up */
const UNHEALTHY_GRACE_MS = 10_000

/**
 * A manager of this state directory that already runs, checked against what this start asked
 * for: the same → its StartResult (already: true); other host/port/settings → throws (exit 4,
 * lifecycle.ts); none → undefined.
 */
export async function alreadyRunning(launch: LaunchRecord, config: SandboxConfig, files: ManagerFiles = managerFiles()): Promise<StartResult | undefined> {
  const rec = recordedManager(files)
  if (rec.state === 'running') {
    const info = rec.info ?? readState(files)
    if (info) checkStartAgainstRunning(info, launch, config)
    return {
      already: true,
      mode: info?.mode ?? 'process',
      pid: rec.pid,
      endpoint: info?.endpoint ?? '(unknown)',
      logFile: files.logFile,
      startedInMs: null,
      warnings: info?.warnings ?? [],
      runtime: info?.runtime ?? null,
      staleRemoved: false,
    }
  }
  if (rec.state === 'docker') {
    const mc = await import('../docker/manager-container.js')
    const existing = await mc.managerContainerInfo()
    if (existing?.running && (await fetchHealth(rec.info.endpoint, 1000)).reachable) {
      checkStartAgainstRunning(rec.info, launch, config)
      return {already: true, mode: 'docker', pid: null, endpoint: rec.info.endpoint, logFile: 'docker logs sandbox-executor-manager', startedInMs: null, warnings: rec.info.warnings, runtime: rec.info.runtime ?? null, staleRemoved: false}
    }
  }
  return undefined
}

/** Start the manager as a detached background process and wait until it is healthy. */
export async function startInBackground(options: StartBackgroundOptions): Promise<StartResult> {
  const files = options.files ?? managerFiles()
  const progress = options.onProgress ?? (() => {})
  const already = await alreadyRunning(options.launch, options.config, files)
  if (already) return already
  const rec = recordedManager(files)
  if (rec.state === 'docker') {
    const mc = await import('../docker/manager-container.js')
    if ((await mc.managerContainerInfo())?.running) {
      throw new SandboxError(`The manager container of this state directory runs but does not answer at ${rec.info.endpoint}; stop it before starting a manager process`, {
        code: 'MANAGER_RUNNING_ELSEWHERE',
        exit: ExitCode.CONFIG,
        suggestions: ['sandbox stop && sandbox start', 'see `sandbox logs`'],
      })
    }
    // its container is gone: those files describe nothing that runs
    removeStateFiles(files)
  }
  let staleRemoved = false
  if (rec.state === 'stale') {
    removeStateFiles(files)
    staleRemoved = true
    progress(`removed stale manager files (pid ${rec.pid ?? '?'} is gone)`)
  }

  const {command, args} = managerInvocation()
  const log = openSync(files.logFile, 'a', 0o600)
  writeSync(log, JSON.stringify({time: new Date().toISOString(), level: 'info', msg: 'starting manager in the background', by_pid: process.pid}) + '\n')
  const started = performance.now()
  const child = spawn(command, args, {
    detached: true,
    stdio: ['ignore', log, log],
    env: {
      ...(options.env ?? process.env),
      ...launchVariables(options.launch),
      SANDBOX_MANAGER_LAUNCH: JSON.stringify(options.launch),
      SANDBOX_STATE_DIR: files.dir,
    },
    cwd: options.cwd ?? process.cwd(),
  })
  closeSync(log)
  let exited: {code: number | null; signal: NodeJS.Signals | null} | undefined
  child.on('exit', (code, signal) => (exited = {code, signal}))
  child.on('error', (error) => (exited = {code: 1, signal: null, ...{error}}))
  child.unref()
  const pid = child.pid ?? -1
  progress(`manager process ${pid} started, waiting until it is healthy`)

  const deadline = Date.now() + (options.waitMs ?? 90_000)
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
      const health = await fetchHealth(state.endpoint, 1000)
      if (health.healthy) {
        return {
          already: false,
          mode: 'process',
          pid,
          endpoint: state.endpoint,
          logFile: files.logFile,
          startedInMs: Math.round(performance.now() - started),
          warnings: state.warnings,
          runtime: readState(files)?.runtime ?? null,
          staleRemoved,
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
      throw failure(`The manager did not become healthy within ${Math.round((options.waitMs ?? 90_000) / 1000)} s (${lastReason})`, 'MANAGER_START_TIMEOUT', files, ExitCode.PREREQUISITE)
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

// ---------------------------------------------------------------------------------------
// stop

export interface StopResult {
  wasRunning: boolean
  mode: 'process' | 'docker' | null
  pid: number | null
  signal: 'SIGTERM' | 'SIGKILL' | null
  stoppedInMs: number
  staleRemoved: boolean
  /** containers of this manager removed after it stopped (leftovers of a forced stop) */
  containersRemoved: number
  /** containers of this manager still present (should be 0) */
  containersRemaining: number
  /** null when Docker could not be asked */
  dockerChecked: boolean
  warnings: string[]
}

export async function stopManager(options: {deadlineMs?: number; files?: ManagerFiles; onProgress?: Progress} = {}): Promise<StopResult> {
  const files = options.files ?? managerFiles()
  const progress = options.onProgress ?? (() => {})
  const deadlineMs = options.deadlineMs ?? 20_000
  const t0 = performance.now()
  const rec = recordedManager(files)
  const result: StopResult = {
    wasRunning: false,
    mode: null,
    pid: null,
    signal: null,
    stoppedInMs: 0,
    staleRemoved: false,
    containersRemoved: 0,
    containersRemaining: 0,
    dockerChecked: false,
    warnings: [],
  }
  if (rec.state === 'docker') {
    const {managerContainerInfo, removeManagerContainer} = await import('../docker/manager-container.js')
    result.mode = 'docker'
    const info = await managerContainerInfo()
    result.wasRunning = Boolean(info?.running)
    progress(`stopping the manager container (up to ${Math.round(deadlineMs / 1000)} s)`)
    const removed = await removeManagerContainer(Math.ceil(deadlineMs / 1000))
    const {managerContainerRunners} = await import('../docker/manager-container.js')
    result.containersRemoved = removed.runnersRemoved
    result.containersRemaining = (await managerContainerRunners()).length + ((await managerContainerInfo()) ? 1 : 0)
    result.dockerChecked = true
    removeStateFiles(files)
    result.stoppedInMs = Math.round(performance.now() - t0)
    return result
  }
  let pid: number | undefined
  if (rec.state === 'running') {
    pid = rec.pid
    result.wasRunning = true
    result.mode = 'process'
    result.pid = pid
    progress(`stopping manager ${pid} (SIGTERM, up to ${Math.round(deadlineMs / 1000)} s for runs in flight)`)
    result.signal = await terminate(pid, deadlineMs, rec.info?.startTicks)
    if (result.signal === 'SIGKILL') result.warnings.push(`the manager did not stop within ${Math.round(deadlineMs / 1000)} s and was killed`)
  } else if (rec.state === 'stale') {
    pid = rec.pid ?? rec.info?.pid
    result.staleRemoved = true
  }
  if (recordedManager(files).state !== 'running') removeStateFiles(files)

  // what is left of this manager in Docker: nothing after a graceful stop
  if (pid !== undefined) {
    try {
      const filter = {[LABELS.ownerHost]: hostname(), [LABELS.ownerPid]: String(pid)}
      const left = await listManagedContainers(filter)
      if (left.length) {
        progress(`removing ${left.length} container(s) the manager left`)
        result.containersRemoved = await removeContainers(left.map((c) => c.id))
      }
      result.containersRemaining = (await listManagedContainers(filter)).length
      result.dockerChecked = true
    } catch (error) {
      result.warnings.push(`could not check for leftover containers: ${errorMessage(error)}`)
    }
  }
  result.stoppedInMs = Math.round(performance.now() - t0)
  return result
}

// ---------------------------------------------------------------------------------------
// status

export interface PoolFigures {
  language: string
  size: number
  ready: number
  busy: number
  creating: number
  waiting: number
  created: number
  failures: number
  /** runs refused because no container was free within the queue timeout (-10) */
  rejected: number
}

export interface StatusReport {
  running: boolean
  healthy: boolean
  mode: 'process' | 'docker' | null
  pid: number | null
  endpoint: string | null
  startedAt: string | null
  uptimeSeconds: number | null
  version: string | null
  runtime: string | null
  health: HealthAnswer | null
  tokenRequired: boolean | null
  /** the settings it runs with (from GET /status, else from manager.json) */
  settings: ManagerSettings | null
  pools: PoolFigures[]
  /** admission control: the cap of live containers, how many exist, run and wait */
  admission: StatusDocument['admission'] | null
  runs: {total: number; byStatus: Record<string, number>; byLanguage: Record<string, number>; busy: number}
  rejected: number
  inFlight: number | null
  rssBytes: number | null
  logFile: string | null
  warnings: string[]
  staleFiles: boolean
  container?: {id: string; state: string; health: string | null; networks: string[]} | null
}

function emptyReport(logFile: string | null): StatusReport {
  return {
    running: false,
    healthy: false,
    mode: null,
    pid: null,
    endpoint: null,
    startedAt: null,
    uptimeSeconds: null,
    version: null,
    runtime: null,
    health: null,
    tokenRequired: null,
    settings: null,
    pools: [],
    admission: null,
    runs: {total: 0, byStatus: {}, byLanguage: {}, busy: 0},
    rejected: 0,
    inFlight: null,
    rssBytes: null,
    logFile,
    warnings: [],
    staleFiles: false,
  }
}

/**
 * How the manager is doing. Without `endpoint`: the manager of this state directory (pid,
 * container, files) and what it answers. With `endpoint`: any manager, from what it answers.
 * Health from GET /healthz, everything else from GET /status (token-protected).
 */
export async function managerStatus(options: {token?: string; files?: ManagerFiles; endpoint?: string} = {}): Promise<StatusReport> {
  if (options.endpoint !== undefined) return remoteStatus(options.endpoint, options.token)
  const files = options.files ?? managerFiles()
  const rec = recordedManager(files)
  const info: ManagerState | undefined = rec.state === 'none' ? undefined : rec.info
  const report: StatusReport = {
    ...emptyReport(files.logFile),
    mode: info?.mode ?? null,
    pid: rec.state === 'running' ? rec.pid : null,
    endpoint: info?.endpoint ?? null,
    startedAt: info?.startedAt ?? null,
    version: info?.version ?? null,
    runtime: info?.runtime ?? null,
    tokenRequired: info?.tokenRequired ?? null,
    settings: info?.settings ?? null,
    warnings: [...(info?.warnings ?? [])],
    staleFiles: rec.state === 'stale',
  }
  if (rec.state === 'stale') report.warnings.push(`stale manager files from pid ${rec.pid ?? '?'} (it is gone); \`sandbox start\` or \`sandbox clean\` removes them`)
  if (rec.state === 'docker') {
    try {
      const {managerContainerInfo} = await import('../docker/manager-container.js')
      const c = await managerContainerInfo()
      report.container = c ? {id: c.id.slice(0, 12), state: c.state, health: c.health, networks: c.networks} : null
      report.running = Boolean(c?.running)
    } catch (error) {
      report.warnings.push(`cannot ask Docker about the manager container: ${errorMessage(error)}`)
    }
  } else report.running = rec.state === 'running'
  if (!report.running || !info) return report

  report.uptimeSeconds = Math.max(0, Math.round((Date.now() - Date.parse(info.startedAt)) / 1000))
  await askManager(report, info.endpoint, options.token)
  if (!report.warnings.some((w) => w.includes('WITHOUT an API token'))) report.warnings.push(...exposureWarnings(info.host, info.tokenRequired ? 'set' : undefined))
  return report
}

/** status of a manager known only by its address */
async function remoteStatus(url: string, token?: string): Promise<StatusReport> {
  const endpoint = managerBase(url)
  const report: StatusReport = {...emptyReport(null), endpoint}
  await askManager(report, endpoint, token)
  report.running = report.health?.reachable ?? false
  if (report.settings) {
    report.tokenRequired = report.settings.tokenRequired
    report.warnings.push(...exposureWarnings(report.settings.host, report.settings.tokenRequired ? 'set' : undefined))
  }
  return report
}

/** GET /healthz and GET /status into the report */
async function askManager(report: StatusReport, endpoint: string, token?: string): Promise<void> {
  report.health = await fetchHealth(endpoint)
  report.healthy = report.health.healthy
  if (!report.health.reachable) {
    report.warnings.push(`the manager does not answer at ${endpoint}: ${report.health.error}`)
    return
  }
  if (!report.healthy) report.warnings.push(`unhealthy: ${report.health.body?.reason ?? `HTTP ${report.health.httpStatus}`}`)
  const answer = await fetchStatus(endpoint, token)
  if ('body' in answer) {
    const d = answer.body
    report.pid ??= d.pid
    report.startedAt ??= d.startedAt
    report.uptimeSeconds ??= d.uptimeSeconds
    report.version = d.version
    report.runtime = d.runtime ?? report.runtime
    report.settings = d.settings ?? report.settings
    report.pools = d.pools.map((p) => ({
      language: p.language,
      size: p.size,
      ready: p.ready,
      busy: p.busy,
      creating: p.creating,
      waiting: p.waiting,
      created: p.created,
      failures: p.failures,
      rejected: p.rejected ?? 0,
    }))
    report.admission = d.admission ?? null
    report.runs = d.runs
    report.rejected = d.rejected
    report.inFlight = d.inFlight
    report.rssBytes = d.rssBytes
  } else report.warnings.push(`status unavailable: ${answer.error}`)
  if (report.runtime === 'runc') report.warnings.push('WARNING: sandbox containers run WITHOUT gVisor (runtime runc): weaker isolation')
}

/** base URL of a manager from what a user typed (http://host:port, with or without a path such as /run) */
export function managerBase(url: string): string {
  const parsed = parseEndpointUrl(url)
  const path = parsed.pathname.replace(/\/+$/, '').replace(/\/(run|healthz|status|metrics)$/, '')
  return `${parsed.origin}${path}`
}

// ---------------------------------------------------------------------------------------
// clean

export interface CleanResult {
  stopped: StopResult | null
  containersRemoved: number
  containersKept: Array<{id: string; ownerPid: string; reason: string}>
  filesRemoved: string[]
  images: {removed: string[]; missing: string[]; failed: Array<{image: string; error: string}>} | null
  warnings: string[]
}

/**
 * Stop the manager, remove every container of ours (all with the managed label whose owner
 * is gone; with `all`, also those of other live sandbox processes on this host), the state
 * files and the log; with `images`, also our images.
 */
export async function cleanEverything(options: {images?: string[] | false; all?: boolean; files?: ManagerFiles; onProgress?: Progress} = {}): Promise<CleanResult> {
  const files = options.files ?? managerFiles()
  const progress = options.onProgress ?? (() => {})
  const result: CleanResult = {stopped: null, containersRemoved: 0, containersKept: [], filesRemoved: [], images: null, warnings: []}
  const rec = recordedManager(files)
  if (rec.state === 'running' || rec.state === 'docker') {
    progress('stopping the manager')
    result.stopped = await stopManager({files, onProgress: progress})
    result.warnings.push(...result.stopped.warnings)
  }
  try {
    const {managerContainerInfo, removeManagerContainer} = await import('../docker/manager-container.js')
    if (await managerContainerInfo()) {
      progress('removing the manager container')
      const r = await removeManagerContainer(10)
      result.containersRemoved += (r.removed ? 1 : 0) + r.runnersRemoved
    }
    const me = hostname()
    const all = await listManagedContainers()
    const remove: string[] = []
    for (const c of all) {
      const pid = Number(c.labels[LABELS.ownerPid])
      const live = c.labels[LABELS.ownerHost] === me && Number.isInteger(pid) && pid !== process.pid && isProcessAlive(pid)
      // e.g. benchmark or probe containers: no owner recorded; a running one may be in use
      const unknownOwner = !c.labels[LABELS.ownerPid] && c.state === 'running'
      if (options.all || (!live && !unknownOwner)) remove.push(c.id)
      else {
        const reason = live ? 'its sandbox process is still running (use --all)' : 'running, owner unknown (use --all)'
        result.containersKept.push({id: c.id.slice(0, 12), ownerPid: live ? String(pid) : '?', reason})
      }
    }
    if (remove.length) {
      progress(`removing ${remove.length} container(s)`)
      result.containersRemoved += await removeContainers(remove)
    }
    if (options.images) {
      progress('removing images')
      const {removeImages} = await import('../docker/manager-image.js')
      result.images = await removeImages(options.images)
    }
  } catch (error) {
    if (!(error instanceof SandboxError) && !isDaemonDown(error)) throw error
    result.warnings.push(`Docker could not be cleaned: ${errorMessage(error)}`)
  }
  result.filesRemoved = removeStateFiles(files, {log: true})
  return result
}

// ---------------------------------------------------------------------------------------
// docker mode

export interface StartInDockerOptions {
  config: SandboxConfig
  /** what this start was told (recorded for restart) */
  launch?: LaunchRecord
  image?: string
  network?: string
  waitMs?: number
  files?: ManagerFiles
  onProgress?: Progress
}

/** Environment handed to the manager container (its own settings, not the host's paths). */
export function managerContainerEnv(config: SandboxConfig): Record<string, string> {
  const env: Record<string, string> = {
    SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: String(config.poolSize),
    SANDBOX_BASE_PYTHON_IMAGE: config.pythonImage,
    SANDBOX_BASE_NODEJS_IMAGE: config.nodejsImage,
    SANDBOX_TIMEOUT: `${config.timeoutSeconds}`,
    SANDBOX_MAX_MEMORY: config.memory,
    SANDBOX_ENABLE_SECCOMP: String(config.enableSeccomp),
    SANDBOX_ALLOW_RUNC: String(config.allowRunc),
    SANDBOX_CODE_POLICY: config.codePolicy,
    SANDBOX_QUEUE_TIMEOUT: `${config.queueTimeoutSeconds}`,
    // the cap as computed here (the host's cores and memory), not from the container's view
    SANDBOX_MAX_CONCURRENT_RUNS: String(config.maxConcurrentRuns),
    SANDBOX_ALLOW_POLICY_OVERRIDE: String(config.allowPolicyOverride),
  }
  if (config.apiToken) env.SANDBOX_API_TOKEN = config.apiToken
  if (process.env.SANDBOX_LOG_LEVEL) env.SANDBOX_LOG_LEVEL = process.env.SANDBOX_LOG_LEVEL
  return env
}

/** Run the manager as the container sandbox-executor-manager and wait until it is healthy. */
export async function startInDocker(options: StartInDockerOptions): Promise<StartResult> {
  const {config} = options
  const files = options.files ?? managerFiles()
  const progress = options.onProgress ?? (() => {})
  const mc = await import('../docker/manager-container.js')
  const image = options.image ?? mc.MANAGER_IMAGE
  const launch = options.launch ?? {flags: {}, environment: {}}
  const rec = recordedManager(files)
  if (rec.state === 'running') {
    throw new SandboxError(`A manager process of this state directory is already running (pid ${rec.pid}); stop it before starting one in Docker`, {
      code: 'MANAGER_RUNNING_ELSEWHERE',
      exit: ExitCode.CONFIG,
      suggestions: ['sandbox stop && sandbox start --docker'],
    })
  }
  const already = await alreadyRunning(launch, config, files)
  if (already) return already
  const endpoint = clientEndpoint(config.host, config.port)
  const started = performance.now()
  progress(`starting container ${mc.MANAGER_CONTAINER_NAME} from ${image}${options.network ? ` on network ${options.network}` : ''}`)
  const id = await mc.runManagerContainer({image, network: options.network, hostIp: config.host, hostPort: config.port, env: managerContainerEnv(config)})
  const warnings = exposureWarnings(config.host, config.apiToken)
  const state = managerState({
    mode: 'docker',
    containerId: id,
    containerName: mc.MANAGER_CONTAINER_NAME,
    network: options.network,
    image,
    address: {host: config.host, port: config.port},
    settings: effectiveSettings(config),
    launch,
    warnings,
  })
  removeStateFiles(files)
  writeState(state, files)
  const deadline = Date.now() + (options.waitMs ?? 90_000)
  let reason = 'starting'
  let unhealthySince: number | undefined
  for (;;) {
    const health = await fetchHealth(endpoint, 1000)
    if (health.healthy) break
    if (health.body?.reason) reason = health.body.reason
    const info = await mc.managerContainerInfo()
    if (health.body?.phase === 'serving') unhealthySince ??= Date.now()
    const serving = unhealthySince !== undefined && Date.now() - unhealthySince > UNHEALTHY_GRACE_MS
    if (!info?.running || serving || Date.now() > deadline) {
      const lines = await mc.managerContainerLogs(15).catch(() => [] as string[])
      await mc.removeManagerContainer(10).catch(() => {})
      removeStateFiles(files)
      const why = !info?.running ? `the container exited (code ${info?.exitCode ?? '?'})` : serving ? `it cannot serve: ${reason}` : `not healthy within ${Math.round((options.waitMs ?? 90_000) / 1000)} s (${reason})`
      throw new SandboxError(`The manager container did not start: ${why}${lines.length ? `. Last log lines:\n${lines.map((l) => `  ${l}`).join('\n')}` : ''}`, {
        code: 'MANAGER_START_FAILED',
        exit: ExitCode.PREREQUISITE,
        suggestions: ['build the images with `sandbox build` and `sandbox build --manager`', 'check the host with `sandbox setup`'],
      })
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  const answer = await fetchStatus(endpoint, config.apiToken)
  state.runtime = 'body' in answer ? answer.body.runtime : null
  writeState(state, files)
  return {already: false, mode: 'docker', pid: null, endpoint, logFile: 'docker logs sandbox-executor-manager', startedInMs: Math.round(performance.now() - started), warnings, runtime: state.runtime ?? null, staleRemoved: false}
}
