/**
 * What RAGFlow's ssh, tenki and ucloud_agent_sandbox providers share: their four limit settings
 * (defaults, schema fields, numbers read from a config), their limit checks (with RAGFlow's
 * messages), the per-instance bookkeeping of their remote workspaces, and the result of a run
 * whose whole output comes back at once, with the configured output and artifact caps applied.
 */
import {randomBytes} from 'node:crypto'

import type {RunResult} from '../engine/result.js'
import {configError, remoteError} from '../errors.js'
import {remoteResult} from './result.js'
import type {ExecuteRequest, FieldSpec, ProviderConfig, ProviderId, SandboxInstance} from './types.js'

/** RAGFlow's defaults of the limits all three remote providers have. */
export const LIMIT_DEFAULTS = {timeout: 30, max_output_bytes: 1024 * 1024, max_artifacts: 20, max_artifact_bytes: 10 * 1024 * 1024} as const

export type LimitKey = keyof typeof LIMIT_DEFAULTS

const LIMIT_FIELDS: Record<LimitKey, FieldSpec> = {
  timeout: {type: 'integer', required: false, label: 'Timeout (seconds)', default: LIMIT_DEFAULTS.timeout, min: 1, max: 600},
  max_output_bytes: {type: 'integer', required: false, label: 'Max Output Bytes', default: LIMIT_DEFAULTS.max_output_bytes, min: 1024, max: 10485760},
  max_artifacts: {type: 'integer', required: false, label: 'Max Artifacts', default: LIMIT_DEFAULTS.max_artifacts, min: 0, max: 100},
  max_artifact_bytes: {type: 'integer', required: false, label: 'Max Artifact Bytes', default: LIMIT_DEFAULTS.max_artifact_bytes, min: 1024, max: 104857600},
}

/** The schema field of one shared limit (RAGFlow's label, default and range), with the provider's own description, env names or label. */
export function limitField(key: LimitKey, own: Partial<Pick<FieldSpec, 'label' | 'description' | 'env'>> = {}): FieldSpec {
  return {...LIMIT_FIELDS[key], ...own}
}

/** The numeric settings named in `defaults`, read from a config: absent or '' is the default. */
export function configNumbers<K extends string>(config: ProviderConfig, defaults: Readonly<Record<K, number>>): Record<K, number> {
  return Object.fromEntries(
    Object.entries<number>(defaults).map(([key, fallback]) => [key, config[key] === undefined || config[key] === '' ? fallback : Number(config[key])]),
  ) as Record<K, number>
}

/** The engine's check of a run's requested timeout (every provider that applies one itself). */
export function checkRunTimeout(seconds: number): void {
  if (!(seconds > 0)) throw configError(`Execution timeout must be greater than 0 seconds, got ${seconds}.`, 'INVALID_TIMEOUT')
}

/** RAGFlow's remote workspace name under the sandbox's home: <home>/ragflow-codeexec-<32 hex>. */
export const workspaceDir = (home: string) => `${home}/ragflow-codeexec-${randomBytes(16).toString('hex')}`

/**
 * A remote provider's live instances: what each instance id holds (connection, session or sandbox,
 * and its workspace), the refusal of an unknown id or a bad timeout before a run, and the
 * destruction of all that are left when the provider closes.
 */
export class RemoteInstances<R> {
  private readonly live = new Map<string, R>()

  /** `name` as in the unknown-instance message ("Unknown SSH sandbox instance: …"), `code` its error code. */
  constructor(
    private readonly provider: ProviderId,
    private readonly name: string,
    private readonly code: string,
  ) {}

  add(instanceId: string, remote: R): void {
    this.live.set(instanceId, remote)
  }

  /** The remote a run goes to; an unknown instance or a timeout that is not positive is refused. */
  forRun(instance: SandboxInstance, request: ExecuteRequest): R {
    const remote = this.live.get(instance.instanceId)
    if (remote === undefined) throw remoteError(`Unknown ${this.name} instance: ${instance.instanceId}`, this.code)
    checkRunTimeout(request.timeoutSeconds)
    return remote
  }

  /** Forget the instance and return what it held (undefined when it is not, or no longer, live). */
  take(instanceId: string): R | undefined {
    const remote = this.live.get(instanceId)
    this.live.delete(instanceId)
    return remote
  }

  /** Destroy every instance still live (a provider's close). */
  async closeAll(destroy: (instance: SandboxInstance) => Promise<boolean>): Promise<void> {
    await Promise.allSettled([...this.live.keys()].map((instanceId) => destroy({instanceId, provider: this.provider, status: 'running', metadata: {}})))
  }
}

/** RAGFlow's checks of the given limits (absent ones are fine): "{key} must be an integer", "… greater than 0", max_artifacts "… greater than or equal to 0". */
export function limitError(config: ProviderConfig, keys: readonly string[]): string | null {
  for (const key of keys) {
    if (config[key] === undefined || config[key] === '') continue
    const value = Number(config[key])
    if (!Number.isInteger(value)) return `${key} must be an integer`
    if (key === 'max_artifacts' && value < 0) return 'max_artifacts must be greater than or equal to 0'
    if (key !== 'max_artifacts' && value <= 0) return `${key} must be greater than 0`
  }
  return null
}

export interface WholeOutput {
  stdout: string
  stderr: string
  exitCode: number
  timedOut: boolean
}

/**
 * remoteResult for an SDK that returns the whole output after the run: more than maxOutput bytes
 * is an output limit (stdout cut to the cap), and the wrapper's artifacts are cut to the
 * configured count and size.
 */
export function cappedRemoteResult(
  outcome: WholeOutput,
  caps: {timeoutSeconds: number; wallMs: number; maxOutput: number; maxArtifacts: number; maxArtifactBytes: number},
): RunResult {
  const overflow = Buffer.byteLength(outcome.stdout) + Buffer.byteLength(outcome.stderr) > caps.maxOutput
  const result = remoteResult({
    ...outcome,
    stdout: overflow ? Buffer.from(outcome.stdout).subarray(0, caps.maxOutput).toString('utf8') : outcome.stdout,
    stderr: overflow ? '' : outcome.stderr,
    timeoutSeconds: caps.timeoutSeconds,
    wallMs: caps.wallMs,
    outputOverflow: overflow,
    maxOutputBytes: caps.maxOutput,
  })
  result.artifacts = result.artifacts.filter((a) => a.size <= caps.maxArtifactBytes).slice(0, caps.maxArtifacts)
  return result
}
