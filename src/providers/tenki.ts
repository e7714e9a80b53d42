/**
 * `tenki`: RAGFlow's Tenki provider (agent/sandbox/providers/tenki.py at HEAD): each run in a
 * disposable Tenki microVM, through Tenki's official SDK.
 *
 * Tenki's API is gRPC over HTTP/2 (control plane `tenki.sandbox.v1.SandboxService`:
 * CreateSession, TerminateSession, WhoAmI; files and processes over a per-session data plane,
 * `SandboxSessionDataPlaneService`, with its own endpoint and minted credential, processes on a
 * bidirectional Run stream). That is not a protocol to re-implement by hand: the official JS SDK
 * `@tenkicloud/sandbox` is the honest client (tested against test/helpers/standins/tenki.ts). As
 * in RAGFlow, where the `tenki` package is an optional dependency (it needs a newer protobuf than
 * the rest), the SDK is OPTIONAL here: it is loaded when a Tenki run starts, and without it the
 * provider refuses clearly (TENKI_SDK_MISSING, exit 3) — the settings can still be stored and
 * shown.
 *
 * As RAGFlow: create with allow_outbound (default off), max duration = max_lifetime, metadata
 * {source}, and the optional image / cpu_cores / memory_mb / disk_size_gb (0 = Tenki's default);
 * a workspace /home/tenki/ragflow-codeexec-<hex> with artifacts/; the wrapped script written with
 * the SDK and run as `python3|node <script>` with that cwd, killed at min(requested, configured);
 * RAGFlow's error messages (quota, rate limit, authentication, "no longer available"); the
 * sandbox terminated after the run (best effort: max_lifetime reclaims it otherwise).
 */
import {constants as osConstants} from 'node:os'

import {LANGUAGES, type Language} from '../languages/index.js'
import type {RunResult} from '../engine/result.js'
import {configError, errorMessage, prerequisiteError, remoteError, SandboxError} from '../errors.js'
import {cappedRemoteResult, configNumbers, LIMIT_DEFAULTS, limitError, limitField, RemoteInstances, workspaceDir, type WholeOutput} from './remote-limits.js'
import {assertRules} from './schema.js'
import type {ExecuteRequest, HealthStatus, ProviderConfig, ProviderContext, ProviderDefinition, SandboxInstance, SandboxProvider} from './types.js'
import {wrapCode} from './wrapper.js'

/** Tenki's official JS SDK and the version this provider was written against. */
export const TENKI_SDK = '@tenkicloud/sandbox'
export const TENKI_SDK_VERSION = '0.5.4'
const SANDBOX_HOME = '/home/tenki'

const DEFAULTS = {...LIMIT_DEFAULTS, max_lifetime: 3600, cpu_cores: 0, memory_mb: 0, disk_size_gb: 0} as const

/** RAGFlow's TenkiProvider.validate_config, with its messages (null when fine). */
export function validateTenkiConfig(config: ProviderConfig): string | null {
  if (!String(config.api_key ?? '').trim()) return 'Tenki API key is required'
  const limits = limitError(config, ['timeout', 'max_lifetime', 'max_output_bytes', 'max_artifacts', 'max_artifact_bytes'])
  if (limits) return limits
  const base = config.base_url
  if (base !== undefined && base !== '' && !/^https?:\/\/[^\s/]+/i.test(String(base))) return `Invalid base_url: ${base}. Must start with http:// or https://`
  return null
}

export const tenkiDefinition: ProviderDefinition = {
  id: 'tenki',
  runsOnHost: false,
  command: 'tenki',
  aliases: [],
  name: 'Tenki',
  description: `Tenki - disposable cloud microVM sandboxes (needs Tenki's SDK ${TENKI_SDK}, an optional dependency as in RAGFlow)`,
  tags: ['saas', 'cloud', 'microvm', 'isolated'],
  schema: {
    api_key: {
      type: 'string',
      required: true,
      label: 'API Key',
      secret: true,
      placeholder: 'tk_...',
      description: 'Tenki API key. Create one at https://app.tenki.cloud under API Keys.',
      env: ['TENKI_API_KEY', 'TENKI_AUTH_TOKEN'],
    },
    base_url: {
      type: 'string',
      required: false,
      label: 'API Endpoint',
      placeholder: 'https://api.tenki.cloud',
      description: 'Override the Tenki API endpoint. Leave empty for the default.',
      env: ['TENKI_API_URL', 'TENKI_BASE_URL'],
    },
    image: {
      type: 'string',
      required: false,
      label: 'Sandbox Image',
      description: 'Base image for sandboxes. Empty uses the Tenki default image (includes python3 and node).',
      env: ['TENKI_IMAGE'],
    },
    allow_outbound: {
      type: 'boolean',
      required: false,
      label: 'Allow Outbound Network',
      default: false,
      description: 'Security-relevant. Disabled by default so sandboxed code has no network access. Enable it to let code make outbound connections (e.g. to install packages).',
      env: ['TENKI_ALLOW_OUTBOUND'],
    },
    timeout: limitField('timeout', {description: 'Maximum execution time for a single run.', env: ['TENKI_TIMEOUT']}),
    max_lifetime: {
      type: 'integer',
      required: false,
      label: 'Max Sandbox Lifetime (seconds)',
      default: DEFAULTS.max_lifetime,
      min: 60,
      max: 86400,
      description: 'Tenki reclaims a sandbox after this, guarding against leaks if the run is interrupted.',
    },
    cpu_cores: {type: 'integer', required: false, label: 'vCPU Cores', default: 0, min: 0, max: 16, description: 'vCPU per sandbox. 0 uses the Tenki default.'},
    memory_mb: {type: 'integer', required: false, label: 'Memory (MB)', default: 0, min: 0, max: 65536, description: 'Memory per sandbox in MB. 0 uses the Tenki default.'},
    disk_size_gb: {type: 'integer', required: false, label: 'Disk Size (GB)', default: 0, min: 0, max: 100, description: 'Disk size per sandbox in GB. 0 uses the Tenki default.'},
    max_output_bytes: limitField('max_output_bytes', {description: 'Maximum combined stdout and stderr size.'}),
    max_artifacts: limitField('max_artifacts', {description: 'Maximum number of files collected from the sandbox artifacts directory.'}),
    max_artifact_bytes: limitField('max_artifact_bytes', {description: 'Maximum size of a single artifact file in bytes.'}),
  },
  validate: validateTenkiConfig,
  notes: () => [`Runs need Tenki's SDK: npm install ${TENKI_SDK}@${TENKI_SDK_VERSION} where sandbox is installed (an optional dependency, as in RAGFlow)`],
  create: (config, context) => new TenkiProvider(config, context),
}

// ---- the part of the SDK this provider uses (its published .d.ts, 0.5.x)

/** Session.run: a process on the data plane's Run stream (0.5.x's `exec` ignores its timeoutMs and signal options, so runs go through this handle and are killed from here) */
export interface TenkiProcess extends PromiseLike<{exitCode: number; stdout: Uint8Array; stderr: Uint8Array; signal?: string}> {
  readonly stdout: ReadableStream<Uint8Array>
  readonly stderr: ReadableStream<Uint8Array>
  readonly stdin: WritableStream<Uint8Array>
  kill(): Promise<void>
}
export interface TenkiSession {
  readonly id: string
  run(argv: string[], options?: {cwd?: string}): TenkiProcess
  writeFile(path: string, data: Uint8Array | string): Promise<void>
  close(): Promise<void>
}
export interface TenkiClient {
  create(options: Record<string, unknown>): Promise<TenkiSession>
  whoAmI(): Promise<unknown>
  close(): void
}
export interface TenkiSdk {
  TenkiSandbox: new (options: {authToken?: string; baseUrl?: string; timeoutMs?: number}) => TenkiClient
}

const importSdk = (): Promise<TenkiSdk> => import(/* an optional dependency: not resolved at build time */ TENKI_SDK as string) as Promise<TenkiSdk>
let loadSdk: () => Promise<TenkiSdk> = importSdk

/** Test hook: replace the SDK loader (unit tests of this provider's logic); call with no argument to restore. */
export function setTenkiSdkLoader(loader?: () => Promise<TenkiSdk>): void {
  loadSdk = loader ?? importSdk
}

async function sdk(): Promise<TenkiSdk> {
  try {
    return await loadSdk()
  } catch (error) {
    if ((error as {code?: string})?.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (module|package)/.test(errorMessage(error))) {
      throw prerequisiteError(
        `The tenki provider needs Tenki's official SDK ${TENKI_SDK}, which is not installed`,
        'TENKI_SDK_MISSING',
        [`Install it where sandbox is installed: npm install ${TENKI_SDK}@${TENKI_SDK_VERSION}`, 'RAGFlow treats it the same way: its tenki package is an optional dependency'],
        error,
      )
    }
    throw error
  }
}

/** The SDK's error class name (its classes set `name`). */
const errorName = (error: unknown) => String((error as {name?: string})?.name ?? (error as object)?.constructor?.name ?? '')

/** How long a killed process may take to report its exit before the run stops waiting (the session is terminated after the run anyway). */
const KILL_GRACE_MS = 5000

/**
 * Run argv in the session to its exit, killing it (the Run stream's KILL signal) at the deadline
 * or on abort: SDK 0.5.x's `exec` takes timeoutMs and signal options but does not apply them, and
 * the Run protocol's own timeout is not exposed, so the deadline is kept here. Output is passed
 * to `onOutput` as it streams; a signal death is 128 + the signal's number.
 */
async function runProcess(
  session: TenkiSession,
  argv: string[],
  o: {cwd: string; timeoutMs: number; onOutput?: ExecuteRequest['onOutput']; signal?: AbortSignal},
): Promise<WholeOutput> {
  const proc = session.run(argv, {cwd: o.cwd})
  void proc.stdin.close().catch(() => undefined)
  for (const stream of ['stdout', 'stderr'] as const) {
    void proc[stream].pipeTo(new WritableStream({write: (chunk) => o.onOutput?.(stream, Buffer.from(chunk))})).catch(() => undefined)
  }
  let timedOut = false
  let grace: NodeJS.Timeout | undefined
  let giveUp = () => {}
  const abandoned = new Promise<undefined>((resolve) => (giveUp = () => resolve(undefined)))
  const kill = () => {
    if (grace) return
    void proc.kill().catch(() => undefined)
    grace = setTimeout(giveUp, KILL_GRACE_MS)
  }
  const timer = setTimeout(() => {
    timedOut = true
    kill()
  }, o.timeoutMs)
  o.signal?.addEventListener('abort', kill, {once: true})
  if (o.signal?.aborted) kill()
  const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8')
  try {
    const exit = await Promise.race([Promise.resolve(proc), abandoned])
    if (!exit) return {stdout: '', stderr: '', exitCode: -1, timedOut}
    const signal = exit.signal ? osConstants.signals[`SIG${exit.signal.replace(/^SIG/, '')}` as NodeJS.Signals] : undefined
    return {stdout: text(exit.stdout), stderr: text(exit.stderr), exitCode: exit.exitCode < 0 && signal ? 128 + signal : exit.exitCode, timedOut}
  } catch (error) {
    // a process we killed may end its stream without an exit frame
    if (grace) return {stdout: '', stderr: '', exitCode: -1, timedOut}
    throw error
  } finally {
    clearTimeout(timer)
    clearTimeout(grace)
    o.signal?.removeEventListener('abort', kill)
  }
}

interface Remote {
  session: TenkiSession
  dir: string
}

class TenkiProvider implements SandboxProvider {
  readonly id = 'tenki' as const
  private readonly remotes = new RemoteInstances<Remote>('tenki', 'Tenki sandbox', 'TENKI_NO_INSTANCE')
  private client?: Promise<TenkiClient>
  private readonly n: Record<keyof typeof DEFAULTS, number>

  constructor(
    private readonly config: ProviderConfig,
    private readonly context: ProviderContext,
  ) {
    assertRules('Tenki', validateTenkiConfig(config))
    this.n = configNumbers(config, DEFAULTS)
  }

  private connect(): Promise<TenkiClient> {
    this.client ??= sdk().then(({TenkiSandbox}) => {
      const baseUrl = String(this.config.base_url ?? '').trim()
      return new TenkiSandbox({authToken: String(this.config.api_key).trim(), timeoutMs: this.n.timeout * 1000, ...(baseUrl ? {baseUrl} : {})})
    })
    this.client.catch(() => (this.client = undefined))
    return this.client
  }

  private authError(error: unknown): SandboxError {
    return configError('Tenki authentication failed: check the API key.', 'TENKI_AUTH_FAILED', ['Set the key with `sandbox configure tenki --api-key …` or TENKI_API_KEY'], error)
  }

  async createInstance(language: Language): Promise<SandboxInstance> {
    const client = await this.connect()
    const options: Record<string, unknown> = {allowOutbound: this.config.allow_outbound === true, maxDurationMs: this.n.max_lifetime * 1000, metadata: {source: 'sandbox-cli'}}
    const image = String(this.config.image ?? '').trim()
    if (image) options.image = image
    if (this.n.cpu_cores > 0) options.cpuCores = this.n.cpu_cores
    if (this.n.memory_mb > 0) options.memoryMb = this.n.memory_mb
    if (this.n.disk_size_gb > 0) options.diskSizeGb = this.n.disk_size_gb
    let session: TenkiSession
    try {
      session = await client.create(options)
    } catch (error) {
      const name = errorName(error)
      if (name === 'QuotaExceededError') throw remoteError(`Tenki quota exceeded: ${errorMessage(error)}`, 'TENKI_QUOTA_EXCEEDED', [], error)
      if (name === 'RateLimitedError') throw remoteError(`Tenki rate limited, please retry: ${errorMessage(error)}`, 'TENKI_RATE_LIMITED', ['Retry later'], error)
      if (name === 'UnauthorizedError' || name === 'MissingAuthTokenError') throw this.authError(error)
      throw remoteError(`Failed to create Tenki sandbox: ${errorMessage(error)}`, 'TENKI_API_ERROR', [], error)
    }
    const dir = workspaceDir(SANDBOX_HOME)
    try {
      const made = await runProcess(session, ['mkdir', '-p', `${dir}/artifacts`], {cwd: SANDBOX_HOME, timeoutMs: Math.min(this.n.timeout, 10) * 1000})
      if (made.exitCode !== 0 || made.timedOut)
        throw remoteError(`Failed to create sandbox workspace: ${made.timedOut ? 'timed out' : made.stderr.trim() || 'unknown error'}`, 'TENKI_WORKSPACE_FAILED')
    } catch (error) {
      await this.terminate(session)
      throw error instanceof SandboxError ? error : remoteError(`Failed to create sandbox workspace: ${errorMessage(error)}`, 'TENKI_WORKSPACE_FAILED', [], error)
    }
    this.remotes.add(session.id, {session, dir})
    return {instanceId: session.id, provider: 'tenki', status: 'running', metadata: {language, remote_work_dir: dir, sandbox_id: session.id}}
  }

  async executeCode(instance: SandboxInstance, request: ExecuteRequest): Promise<RunResult> {
    const remote = this.remotes.forRun(instance, request)
    const timeoutSeconds = Math.min(request.timeoutSeconds, this.n.timeout)
    const lang = LANGUAGES[request.language].runtime.script
    const script = `${remote.dir}/${lang.fileName}`
    const failed = (error: unknown): SandboxError => {
      const name = errorName(error)
      if (name === 'SessionTerminatedError' || name === 'SessionNotFoundError' || name === 'SessionExpiredError') {
        return remoteError(`Tenki sandbox is no longer available: ${errorMessage(error)}`, 'TENKI_SANDBOX_GONE', [], error)
      }
      if (name === 'UnauthorizedError') return this.authError(error)
      return remoteError(`Tenki execution failed: ${errorMessage(error)}`, 'TENKI_EXEC_FAILED', [], error)
    }
    try {
      await remote.session.writeFile(script, wrapCode(request.language, request.code, request.arguments ?? {}))
    } catch (error) {
      throw failed(error)
    }
    const started = performance.now()
    let outcome: WholeOutput
    try {
      outcome = await runProcess(remote.session, [lang.interpreter, script], {
        cwd: remote.dir,
        timeoutMs: timeoutSeconds * 1000,
        onOutput: request.onOutput,
        signal: request.signal,
      })
    } catch (error) {
      const name = errorName(error)
      if (name === 'CommandTimeoutError' || name === 'PrimitiveTimeoutError') outcome = {stdout: '', stderr: '', exitCode: -1, timedOut: true}
      else throw failed(error)
    }
    return cappedRemoteResult(outcome, {
      timeoutSeconds,
      wallMs: performance.now() - started,
      maxOutput: this.n.max_output_bytes,
      maxArtifacts: this.n.max_artifacts,
      maxArtifactBytes: this.n.max_artifact_bytes,
    })
  }

  private async terminate(session: TenkiSession): Promise<boolean> {
    try {
      await session.close()
      return true
    } catch (error) {
      const name = errorName(error)
      if (name === 'SessionNotFoundError' || name === 'SessionTerminatedError' || name === 'SessionExpiredError') return true
      this.context.onEvent?.({level: 'warn', message: `Failed to terminate Tenki sandbox ${session.id}, relying on max_lifetime: ${errorMessage(error)}`})
      return false
    }
  }

  async destroyInstance(instance: SandboxInstance): Promise<boolean> {
    const remote = this.remotes.take(instance.instanceId)
    return remote ? this.terminate(remote.session) : true
  }

  async healthCheck(): Promise<HealthStatus> {
    try {
      const client = await this.connect()
      await client.whoAmI()
      return {healthy: true, detail: 'Tenki API accepted the key'}
    } catch (error) {
      if (error instanceof SandboxError) return {healthy: false, detail: error.message}
      if (errorName(error) === 'UnauthorizedError') return {healthy: false, detail: this.authError(error).message}
      return {healthy: false, detail: `Failed to reach Tenki API: ${errorMessage(error)}`}
    }
  }

  supportedLanguages(): string[] {
    return ['python', 'javascript']
  }

  runtimeLabel(): string {
    return `Tenki ${String(this.config.base_url ?? '').trim() || 'api.tenki.cloud'}`
  }

  async close(): Promise<void> {
    await this.remotes.closeAll((instance) => this.destroyInstance(instance))
    const client = this.client
    this.client = undefined
    // the SDK keeps an HTTP/2 connection to the control plane open
    ;(await client?.catch(() => undefined))?.close()
  }
}
