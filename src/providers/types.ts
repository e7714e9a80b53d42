/**
 * The provider abstraction (RAGFlow's agent/sandbox/providers/base.py, in TypeScript):
 * one lifecycle for every backend — create an instance, execute code with arguments,
 * destroy the instance — plus a health check, the supported languages, a self-describing
 * config schema and custom validation that returns RAGFlow's messages.
 *
 * Every provider returns the engine's RunResult (RAGFlow's CodeExecutionResult shape).
 */
import type {SandboxConfig} from '../config.js'
import type {Language} from '../engine/languages.js'
import type {RunResult} from '../engine/result.js'
import type {PolicyMode} from '../policy/types.js'

/** RAGFlow's provider ids plus ours. */
export type ProviderId = 'docker' | 'self_managed' | 'aliyun_codeinterpreter' | 'e2b' | 'local' | 'ssh' | 'tenki' | 'ucloud_agent_sandbox'

export type FieldType = 'string' | 'integer' | 'boolean' | 'json'

/** One config field, with RAGFlow's schema keys (type, required, label, placeholder, default, min, max, description, secret, options). */
export interface FieldSpec {
  type: FieldType
  required?: boolean
  label: string
  placeholder?: string
  default?: unknown
  min?: number
  max?: number
  description?: string
  /** shown masked, typed without echo, never printed */
  secret?: boolean
  /** RAGFlow HEAD: edited as several lines (the SSH private key) */
  multiline?: boolean
  /** allowed values (RAGFlow: Aliyun region) */
  options?: string[]
  /** ours: environment variables that supply the value when the stored config has none (first wins) */
  env?: string[]
  /** ours: an identifier that is not secret but is shown partly masked (e.g. AccessKey ID) */
  partial?: boolean
  /** ours: not asked in the interactive flow unless already set (endpoint overrides for tests and private deployments) */
  advanced?: boolean
  /** RAGFlow HEAD: "runtime" (what the client uses) or "deployment" (how the manager was deployed) */
  scope?: 'runtime' | 'deployment'
  /**
   * RAGFlow HEAD: shown, never edited — a fact of the deployment taken from the environment
   * (its env variables) or the default. No flag, no prompt, never written to the row by us.
   */
  readonly?: boolean
  /** ours: older names of this field in rows written by older releases (pool_size → executor_manager_pool_size) */
  legacy?: string[]
  /** ours: the text is a memory size (256m, 1g): a flag with another value is a usage error */
  format?: 'memory'
}

export type ConfigSchema = Record<string, FieldSpec>

export type ProviderConfig = Record<string, unknown>

export interface SandboxInstance {
  instanceId: string
  provider: ProviderId
  /** "running" (self-managed, e2b, docker) or "READY" (Aliyun) */
  status: string
  metadata: Record<string, unknown>
}

export interface ExecuteRequest {
  code: string
  language: Language
  arguments?: Record<string, unknown>
  /** wall-clock limit in seconds; providers clamp it to their own hard limits */
  timeoutSeconds: number
  /** the static code policy of this run: the docker provider hands it to the engine; for the others it was applied before */
  policy?: PolicyMode
  /** the user's output as it arrives (providers that cannot stream deliver it in the result only) */
  onOutput?: OutputListener
  /** aborted (Ctrl-C): stop the run and remove what it created; the run then rejects or returns what it has */
  signal?: AbortSignal
}

export type OutputListener = (stream: 'stdout' | 'stderr', chunk: Buffer) => void

export interface HealthStatus {
  healthy: boolean
  detail: string
}

export interface ProviderEvent {
  level: 'debug' | 'info' | 'warn' | 'error'
  message: string
  [key: string]: unknown
}

/** What a provider gets besides its own config. */
export interface ProviderContext {
  /** toolkit settings (engine limits, images, policy) — used by the docker provider */
  sandboxConfig: SandboxConfig
  onEvent?: (event: ProviderEvent) => void
  /** the memory limit was given explicitly (flag): it beats a stored provider setting */
  explicitMemory?: boolean
  /** the user opted in to the unsandboxed local provider for this run (`sandbox run --allow-unsandboxed`); SANDBOX_ALLOW_LOCAL_PROVIDER=on does the same */
  allowUnsandboxed?: boolean
  /** test hook: base delay of the retry backoff in ms (self_managed), default 200 */
  retryBaseDelayMs?: number
}

/** A configured provider, ready for the lifecycle. */
export interface SandboxProvider {
  readonly id: ProviderId
  /** one instance per run; throws SandboxError (exit 6 for remote failures) */
  createInstance(language: Language): Promise<SandboxInstance>
  /** runs code in the instance; program failures are results, infrastructure failures throw */
  executeCode(instance: SandboxInstance, request: ExecuteRequest): Promise<RunResult>
  /** best effort; never throws */
  destroyInstance(instance: SandboxInstance): Promise<boolean>
  healthCheck(): Promise<HealthStatus>
  supportedLanguages(): string[]
  /** a label for the runtime line of `sandbox run` */
  runtimeLabel(): string
  /** release resources held across runs (the docker provider's engine); idempotent */
  close(): Promise<void>
}

/** Registry entry: the static description of one provider. */
export interface ProviderDefinition {
  id: ProviderId
  /** command-line name: `sandbox configure <name>` */
  command: string
  /** other names accepted by --provider and `configure use` */
  aliases: string[]
  name: string
  description: string
  tags: string[]
  schema: ConfigSchema
  /**
   * ours: the code runs on this host (docker's engine, local's child process), not at a remote
   * service: a run reads this provider's stored limits, and a failure to start it is this host's
   * prerequisite (exit 3) rather than a remote error (exit 6)
   */
  runsOnHost: boolean
  /** RAGFlow's validate_config: null when fine, else RAGFlow's message */
  validate(config: ProviderConfig): string | null
  /** ours: what a person should know about a valid config once it is saved (shown by `configure`) */
  notes?(config: ProviderConfig): string[]
  create(config: ProviderConfig, context: ProviderContext): SandboxProvider
}
