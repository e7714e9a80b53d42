/**
 * `sandbox status`: how the manager is doing. Its host says whether it runs and where; the
 * manager itself answers GET /healthz and GET /status (JSON, token-protected). No metrics text
 * is parsed here.
 */
import {managerBase} from '../net.js'
import {RUNC_WARNING} from '../engine/runtime.js'
import {exposureWarnings} from '../server/auth.js'
import {managerFiles, recordedManager, type ManagerFiles, type ManagerMode, type ManagerState} from '../server/state.js'
import type {ManagerSettings, StatusDocument} from '../server/status.js'
import {ManagerClient, type HealthAnswer} from '../executors/manager-client.js'
import type {HostView} from './host.js'
import {hostOf} from './hosts.js'

export type PoolFigures = Omit<StatusDocument['pools'][number], 'lastError'>

export interface StatusReport {
  running: boolean
  healthy: boolean
  mode: ManagerMode | null
  pid: number | null
  endpoint: string | null
  /** how the human output names it: "pid 4242", "container 0123abcd on docker_ragflow" */
  where: string | null
  /** more to say after "not running" (its host's words), or null */
  notRunning: string | null
  startedAt: string | null
  uptimeSeconds: number | null
  version: string | null
  runtime: string | null
  /** what makes its sandboxes: docker or runsc */
  backend: string | null
  health: HealthAnswer | null
  /** whether GET /status answered: the pools, admission, runs and memory below are its figures only then */
  statusRead: boolean
  tokenRequired: boolean | null
  /** the settings it runs with (from GET /status, else from manager.json) */
  settings: ManagerSettings | null
  pools: PoolFigures[]
  /** admission control: the cap of live containers, how many exist, run and wait */
  admission: StatusDocument['admission'] | null
  runs: StatusDocument['runs']
  rejected: number
  inFlight: number | null
  rssBytes: number | null
  /** where its log is: the file, or how to read it */
  logFile: string | null
  warnings: string[]
  staleFiles: boolean
  container?: HostView['container']
}

function emptyReport(logFile: string | null): StatusReport {
  return {
    running: false,
    healthy: false,
    mode: null,
    pid: null,
    endpoint: null,
    where: null,
    notRunning: null,
    startedAt: null,
    uptimeSeconds: null,
    version: null,
    runtime: null,
    backend: null,
    health: null,
    statusRead: false,
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
 * Without `endpoint`: the manager of this state directory (its host, its files) and what it
 * answers. With `endpoint`: any manager, from what it answers.
 */
export async function managerStatus(options: {token?: string; files?: ManagerFiles; endpoint?: string} = {}): Promise<StatusReport> {
  if (options.endpoint !== undefined) return remoteStatus(options.endpoint, options.token)
  const files = options.files ?? managerFiles()
  const rec = recordedManager(files)
  const info: ManagerState | undefined = rec.state === 'none' ? undefined : rec.info
  const host = hostOf(rec)
  const view = await host.view(rec, files)
  const report: StatusReport = {
    ...emptyReport(view.log),
    running: view.running,
    mode: info?.mode ?? null,
    pid: rec.state === 'running' ? rec.pid : null,
    endpoint: info?.endpoint ?? null,
    where: view.running ? view.where : null,
    notRunning: info ? view.notRunning : null,
    startedAt: info?.startedAt ?? null,
    version: info?.version ?? null,
    runtime: info?.runtime ?? null,
    backend: info?.backend ?? null,
    tokenRequired: info?.tokenRequired ?? null,
    settings: info?.settings ?? null,
    warnings: [...(info?.warnings ?? []), ...view.warnings],
    staleFiles: rec.state === 'stale',
    ...(view.container === undefined ? {} : {container: view.container}),
  }
  if (rec.state === 'stale') report.warnings.push(`stale manager files from pid ${rec.pid ?? '?'} (it is gone); \`sandbox start\` or \`sandbox clean\` removes them`)
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
  report.health = await new ManagerClient({url: endpoint}).health()
  report.healthy = report.health.healthy
  if (!report.health.reachable) {
    report.warnings.push(`the manager does not answer at ${endpoint}: ${report.health.error}`)
    return
  }
  if (!report.healthy) report.warnings.push(`unhealthy: ${report.health.body?.reason ?? `HTTP ${report.health.httpStatus}`}`)
  const answer = await new ManagerClient({url: endpoint, token}).status()
  if ('body' in answer) {
    const d = answer.body
    report.statusRead = true
    report.pid ??= d.pid
    report.startedAt ??= d.startedAt
    report.uptimeSeconds ??= d.uptimeSeconds
    report.version = d.version
    report.runtime = d.runtime ?? report.runtime
    report.backend = d.backend ?? report.backend
    report.settings = d.settings ?? report.settings
    report.pools = d.pools.map((p) => ({
      language: p.language,
      ...(p.kind ? {kind: p.kind} : {}),
      ...(p.served === undefined ? {} : {served: p.served}),
      ...(p.abandoned ? {abandoned: p.abandoned} : {}),
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
  } else {
    report.warnings.push(`status unavailable: ${answer.error}`)
    // a refusal of the token is a fact about the manager: it requires one
    if (answer.status === 401) report.tokenRequired = true
  }
  if (report.runtime === 'runc') report.warnings.push(RUNC_WARNING)
}
