/**
 * GET /status: the manager describes itself as JSON (token-protected like /metrics), so
 * clients such as `sandbox status --endpoint` read structs instead of parsing Prometheus text.
 * Also the effective settings a manager runs with (recorded in manager.json and reported here;
 * the API token itself never appears, only whether one is required).
 */
import type {SandboxConfig} from '../config.js'
import type {EngineStatus} from '../engine/engine.js'
import type {PoolStats} from '../engine/pool.js'
import {TOOLKIT_VERSION} from '../paths.js'
import {processFigures, type Metrics} from './metrics.js'

/** The settings a manager runs with, as recorded at start. No secrets. */
export interface ManagerSettings {
  /** the address asked for (--host / SANDBOX_EXECUTOR_MANAGER_HOST) */
  host: string
  port: number
  poolSize: number
  timeoutSeconds: number
  memory: string
  codePolicy: string
  maxConcurrentRuns: number
  queueTimeoutSeconds: number
  allowPolicyOverride: boolean
  /** SANDBOX_RESULT_IN_STDOUT */
  resultInStdout: boolean
  /** SANDBOX_ADMIN_API: the admin API and settings page are served */
  adminApi: boolean
  allowRunc: boolean
  /** an API token is required (the token is read from the environment / .env, never recorded) */
  tokenRequired: boolean
  /** the .env file the settings were read from, if any */
  envFile: string | null
}

export function effectiveSettings(config: SandboxConfig): ManagerSettings {
  return {
    host: config.host,
    port: config.port,
    poolSize: config.poolSize,
    timeoutSeconds: config.timeoutSeconds,
    memory: config.memory,
    codePolicy: config.codePolicy,
    maxConcurrentRuns: config.maxConcurrentRuns,
    queueTimeoutSeconds: config.queueTimeoutSeconds,
    allowPolicyOverride: config.allowPolicyOverride,
    resultInStdout: config.resultInStdout,
    adminApi: config.adminApi,
    allowRunc: config.allowRunc,
    tokenRequired: Boolean(config.apiToken),
    envFile: config.envFile ?? null,
  }
}

export interface StatusDocument {
  /** ok when GET /healthz would answer 200 */
  status: 'ok' | 'unhealthy'
  phase: 'starting' | 'serving' | 'stopping'
  reason: string | null
  version: string
  node: string
  pid: number
  startedAt: string
  uptimeSeconds: number
  runtime: string | null
  /** what makes the sandboxes: docker or runsc */
  backend: string | null
  settings: ManagerSettings | null
  pools: Array<Omit<PoolStats, 'lastError'> & {lastError: string | null}>
  admission: EngineStatus['admission']
  runs: {total: number; byStatus: Record<string, number>; byLanguage: Record<string, number>; busy: number}
  /** HTTP 4xx answers (malformed or unauthorised requests; nothing ran) */
  rejected: number
  inFlight: number
  rssBytes: number
  heapUsedBytes: number
}

export function statusDocument(input: {engine: EngineStatus; metrics: Metrics; phase: StatusDocument['phase']; settings?: ManagerSettings}): StatusDocument {
  const {engine, metrics, phase} = input
  const healthy = phase === 'serving' && engine.healthy
  const proc = processFigures(metrics.startTimeSeconds)
  return {
    status: healthy ? 'ok' : 'unhealthy',
    phase,
    reason: healthy ? null : phase === 'starting' ? 'starting: warming the container pools' : phase === 'stopping' ? 'shutting down' : (engine.reason ?? 'not ready'),
    version: TOOLKIT_VERSION,
    node: process.versions.node,
    pid: process.pid,
    startedAt: new Date(metrics.startTimeSeconds * 1000).toISOString(),
    uptimeSeconds: Math.max(0, Math.round(Date.now() / 1000 - metrics.startTimeSeconds)),
    runtime: engine.runtime,
    backend: engine.backend,
    settings: input.settings ?? null,
    pools: engine.pools,
    admission: engine.admission,
    runs: metrics.runSummary(),
    rejected: metrics.rejectedRequests(),
    inFlight: metrics.inFlight,
    rssBytes: proc.rssBytes,
    heapUsedBytes: proc.heapUsedBytes,
  }
}
