/**
 * `ucloud_agent_sandbox`: RAGFlow's UCloud Agent Sandbox provider
 * (agent/sandbox/providers/ucloud_agent_sandbox.py at HEAD). UCloud's SDK (`ucloud_sandbox`, and
 * its Go port) is a fork of E2B's: the same control API (`https://api.<domain>`, X-API-KEY:
 * POST /v2/sandboxes, POST /sandboxes/{id}/timeout, DELETE /sandboxes/{id}) and the same
 * in-sandbox daemon (envd at `https://49983-<id>.<domain>`), and UCloud documents using the E2B
 * SDK against it ("E2B compatible mode"). So this provider drives the official `e2b` SDK with
 * UCloud's domain, `<region>.sandbox.ucloudai.com` (region default cn-wlcb) unless `domain` says
 * otherwise — no second HTTP client.
 *
 * As RAGFlow: one sandbox per run from `template` (default base) with lifetime `sandbox_timeout`,
 * internet access off unless allowed, a workspace /home/user/ragflow-codeexec-<hex>, the lifetime
 * extended to max(sandbox_timeout, timeout+30) before the run, `python3|node <script>` with the
 * workspace as cwd, the effective timeout min(requested, configured), a non-zero exit kept as a
 * result, the sandbox killed after. Result and artifacts come back through the remote wrapper's
 * markers, capped at max_artifacts / max_artifact_bytes; output over max_output_bytes is an
 * output limit.
 */
import {LANGUAGES, type Language} from '../languages/index.js'
import type {RunResult} from '../engine/result.js'
import {configError, errorMessage, remoteError, SandboxError} from '../errors.js'
import {cappedRemoteResult, configNumbers, LIMIT_DEFAULTS, limitError, limitField, RemoteInstances, workspaceDir} from './remote-limits.js'
import {assertRules} from './schema.js'
import type {ExecuteRequest, HealthStatus, ProviderConfig, ProviderContext, ProviderDefinition, SandboxInstance, SandboxProvider} from './types.js'
import {wrapCode} from './wrapper.js'

export const UCLOUD_DEFAULT_REGION = 'cn-wlcb'
export const UCLOUD_DOMAIN_SUFFIX = 'sandbox.ucloudai.com'
const SANDBOX_HOME = '/home/user'

const DEFAULTS = {...LIMIT_DEFAULTS, sandbox_timeout: 300} as const

/** RAGFlow's validate_config messages, plus checks of the URL and domain overrides. */
export function validateUCloudConfig(config: ProviderConfig): string | null {
  if (!String(config.api_key ?? '').trim()) return 'UCloud Agent Sandbox API key is required'
  if (config.template !== undefined && !String(config.template ?? '').trim()) return 'template is required'
  const limits = limitError(config, ['timeout', 'sandbox_timeout', 'max_output_bytes', 'max_artifact_bytes', 'max_artifacts'])
  if (limits) return limits
  for (const key of ['api_url', 'sandbox_url']) {
    const value = config[key]
    if (value !== undefined && value !== '' && !/^https?:\/\/[^\s/]+/i.test(String(value))) return `Invalid ${key}: ${value}. Must start with http:// or https://`
  }
  for (const key of ['domain', 'region']) {
    const value = config[key]
    if (value !== undefined && value !== '' && !/^[A-Za-z0-9.-]+(:\d+)?$/.test(String(value))) return `Invalid ${key}: ${value}`
  }
  if (config.insecure_http === true && !config.sandbox_url) {
    return 'insecure_http needs sandbox_url here: the E2B-compatible SDK reaches each sandbox over https unless a fixed sandbox URL is given'
  }
  return null
}

export const ucloudDefinition: ProviderDefinition = {
  id: 'ucloud_agent_sandbox',
  runsOnHost: false,
  command: 'ucloud-agent-sandbox',
  aliases: ['ucloud'],
  name: 'UCloud Agent Sandbox',
  description: "UCloud Agent Sandbox - disposable cloud sandboxes (E2B-compatible API, driven with the E2B SDK and UCloud's domain)",
  tags: ['saas', 'cloud', 'isolated', 'ucloud'],
  schema: {
    api_key: {type: 'string', required: true, label: 'API Key', secret: true, description: 'UCloud Agent Sandbox API key.', env: ['UCLOUD_SANDBOX_API_KEY']},
    region: {
      type: 'string',
      required: false,
      label: 'Region',
      default: UCLOUD_DEFAULT_REGION,
      description: 'UCloud Agent Sandbox region, for example cn-wlcb or us-ca.',
      env: ['UCLOUD_SANDBOX_REGION'],
    },
    domain: {type: 'string', required: false, label: 'Domain', description: 'Override the sandbox domain. Leave empty to derive it from Region.', env: ['UCLOUD_SANDBOX_DOMAIN']},
    api_url: {type: 'string', required: false, label: 'API URL', description: 'Override the UCloud Agent Sandbox control-plane API URL.', env: ['UCLOUD_SANDBOX_API_URL']},
    template: {
      type: 'string',
      required: false,
      label: 'Template',
      default: 'base',
      description: 'Sandbox template. The base template includes Python and Node.js.',
      env: ['UCLOUD_SANDBOX_TEMPLATE'],
    },
    allow_internet_access: {
      type: 'boolean',
      required: false,
      label: 'Allow Internet Access',
      default: false,
      description: 'Allow sandboxed code to access the internet. Disabled by default.',
      env: ['UCLOUD_SANDBOX_ALLOW_INTERNET_ACCESS'],
    },
    insecure_http: {
      type: 'boolean',
      required: false,
      label: 'Use Insecure HTTP',
      default: false,
      description: 'Use HTTP instead of HTTPS. Enable only for trusted private deployments.',
      env: ['UCLOUD_SANDBOX_INSECURE_HTTP'],
    },
    timeout: limitField('timeout', {label: 'Execution Timeout (seconds)', env: ['UCLOUD_SANDBOX_EXECUTION_TIMEOUT']}),
    sandbox_timeout: {
      type: 'integer',
      required: false,
      label: 'Sandbox Lifetime (seconds)',
      default: DEFAULTS.sandbox_timeout,
      min: 60,
      max: 86400,
      env: ['UCLOUD_SANDBOX_TIMEOUT'],
    },
    max_output_bytes: limitField('max_output_bytes', {env: ['UCLOUD_SANDBOX_MAX_OUTPUT_BYTES']}),
    max_artifacts: limitField('max_artifacts', {env: ['UCLOUD_SANDBOX_MAX_ARTIFACTS']}),
    max_artifact_bytes: limitField('max_artifact_bytes', {env: ['UCLOUD_SANDBOX_MAX_ARTIFACT_BYTES']}),
    sandbox_url: {
      type: 'string',
      required: false,
      label: 'Sandbox URL',
      advanced: true,
      description: 'Ours: a fixed URL of the in-sandbox daemon (envd), for proxies, private deployments and local stand-ins',
      env: ['UCLOUD_SANDBOX_URL'],
    },
  },
  validate: validateUCloudConfig,
  create: (config, context) => new UCloudProvider(config, context),
}

const loadE2B = () => import('e2b')
type E2BModule = Awaited<ReturnType<typeof loadE2B>>
type E2BSandbox = InstanceType<E2BModule['Sandbox']>

const quiet = {debug: () => {}, info: () => {}, warn: () => {}, error: () => {}}

interface Settings {
  apiKey: string
  domain: string
  apiUrl?: string
  sandboxUrl?: string
  template: string
  allowInternet: boolean
  timeout: number
  lifetime: number
  maxOutput: number
  maxArtifacts: number
  maxArtifactBytes: number
}

function settingsOf(config: ProviderConfig): Settings {
  const text = (key: string) => (typeof config[key] === 'string' && (config[key] as string).trim() ? (config[key] as string).trim() : undefined)
  const n = configNumbers(config, DEFAULTS)
  const domain = text('domain') ?? `${text('region') ?? UCLOUD_DEFAULT_REGION}.${UCLOUD_DOMAIN_SUFFIX}`
  const insecure = config.insecure_http === true
  return {
    apiKey: text('api_key') ?? '',
    domain,
    apiUrl: text('api_url') ?? (insecure ? `http://api.${domain}` : undefined),
    sandboxUrl: text('sandbox_url'),
    template: text('template') ?? 'base',
    allowInternet: config.allow_internet_access === true,
    timeout: n.timeout,
    lifetime: n.sandbox_timeout,
    maxOutput: n.max_output_bytes,
    maxArtifacts: n.max_artifacts,
    maxArtifactBytes: n.max_artifact_bytes,
  }
}

interface Remote {
  sandbox: E2BSandbox
  dir: string
}

class UCloudProvider implements SandboxProvider {
  readonly id = 'ucloud_agent_sandbox' as const
  private readonly s: Settings
  private readonly remotes = new RemoteInstances<Remote>('ucloud_agent_sandbox', 'UCloud Agent Sandbox', 'UCLOUD_NO_INSTANCE')
  private sdk?: Promise<E2BModule>

  constructor(
    config: ProviderConfig,
    private readonly context: ProviderContext,
  ) {
    assertRules('UCloud Agent Sandbox', validateUCloudConfig(config))
    this.s = settingsOf(config)
  }

  private load(): Promise<E2BModule> {
    this.sdk ??= loadE2B()
    return this.sdk
  }

  private connection() {
    return {apiKey: this.s.apiKey, domain: this.s.domain, apiUrl: this.s.apiUrl, sandboxUrl: this.s.sandboxUrl, requestTimeoutMs: this.s.timeout * 1000, logger: quiet}
  }

  private where(): string {
    return this.s.apiUrl ?? `https://api.${this.s.domain}`
  }

  /** SDK errors → RAGFlow's messages: a refused key is a configuration error (exit 4), the rest remote failures (exit 6). */
  private mapError(action: string, error: unknown): SandboxError {
    if (error instanceof SandboxError) return error
    const name = (error as Error)?.name ?? ''
    const message = errorMessage(error)
    const cause = (error as {cause?: {code?: string}})?.cause?.code
    if (name === 'AuthenticationError' || /\b401\b|unauthori[sz]ed|invalid api key/i.test(message)) {
      return configError(
        'UCloud Agent Sandbox authentication failed: check the API key.',
        'UCLOUD_AUTH_FAILED',
        ['Set the key with `sandbox configure ucloud-agent-sandbox --api-key …` or UCLOUD_SANDBOX_API_KEY'],
        error,
      )
    }
    if (name === 'RateLimitError') return remoteError(`UCloud Agent Sandbox rate limited, please retry: ${message}`, 'UCLOUD_RATE_LIMITED', ['Retry later'], error)
    if (name === 'TimeoutError' && action === 'create') return remoteError('Timed out while creating a UCloud Agent Sandbox.', 'UCLOUD_TIMEOUT', [], error)
    if (cause || /fetch failed|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT/i.test(message)) {
      return remoteError(
        `Cannot reach UCloud Agent Sandbox at ${this.where()} (${action}): ${cause ?? message}`,
        'UCLOUD_UNREACHABLE',
        ['Check the network path and the region / domain / api_url settings (`sandbox configure show`)'],
        error,
      )
    }
    if (action === 'create') return remoteError(`Failed to create UCloud Agent Sandbox: ${message}`, 'UCLOUD_API_ERROR', [], error)
    return remoteError(`UCloud Agent Sandbox execution failed: ${message}`, 'UCLOUD_API_ERROR', [], error)
  }

  async createInstance(language: Language): Promise<SandboxInstance> {
    const {Sandbox} = await this.load()
    let sandbox: E2BSandbox
    try {
      sandbox = await Sandbox.create(this.s.template, {
        ...this.connection(),
        timeoutMs: this.s.lifetime * 1000,
        allowInternetAccess: this.s.allowInternet,
        metadata: {source: 'sandbox-cli'},
      })
    } catch (error) {
      throw this.mapError('create', error)
    }
    const dir = workspaceDir(SANDBOX_HOME)
    const instanceId = sandbox.sandboxId
    this.remotes.add(instanceId, {sandbox, dir})
    return {instanceId, provider: 'ucloud_agent_sandbox', status: 'running', metadata: {language, remote_work_dir: dir, sandbox_id: sandbox.sandboxId, template: this.s.template}}
  }

  async executeCode(instance: SandboxInstance, request: ExecuteRequest): Promise<RunResult> {
    const remote = this.remotes.forRun(instance, request)
    const {CommandExitError} = await this.load()
    const timeout = Math.max(1, Math.min(Math.ceil(request.timeoutSeconds), this.s.timeout))
    const lang = LANGUAGES[request.language].runtime.script
    // the SDK's write creates the workspace; the wrapper creates artifacts/ in it
    const script = `${remote.dir}/${lang.fileName}`
    try {
      await remote.sandbox.files.write(script, wrapCode(request.language, request.code, request.arguments ?? {}))
      await remote.sandbox.setTimeout(Math.max(this.s.lifetime, timeout + 30) * 1000, {requestTimeoutMs: this.s.timeout * 1000})
    } catch (error) {
      throw this.mapError('upload', error)
    }
    const started = performance.now()
    let outcome: {stdout: string; stderr: string; exitCode: number; timedOut: boolean}
    try {
      const r = await remote.sandbox.commands.run(`${lang.interpreter} ${script}`, {
        cwd: remote.dir,
        timeoutMs: timeout * 1000,
        requestTimeoutMs: Math.max(this.s.timeout, timeout) * 1000,
      })
      outcome = {stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode, timedOut: false}
    } catch (error) {
      if (error instanceof CommandExitError) outcome = {stdout: error.stdout, stderr: error.stderr, exitCode: error.exitCode, timedOut: false}
      else if ((error as Error)?.name === 'TimeoutError' || /deadline|timed out/i.test(errorMessage(error))) outcome = {stdout: '', stderr: '', exitCode: -1, timedOut: true}
      else throw this.mapError('command', error)
    }
    return cappedRemoteResult(outcome, {
      timeoutSeconds: timeout,
      wallMs: performance.now() - started,
      maxOutput: this.s.maxOutput,
      maxArtifacts: this.s.maxArtifacts,
      maxArtifactBytes: this.s.maxArtifactBytes,
    })
  }

  async destroyInstance(instance: SandboxInstance): Promise<boolean> {
    const remote = this.remotes.take(instance.instanceId)
    if (!remote) return true
    try {
      await remote.sandbox.kill({requestTimeoutMs: 15_000})
      return true
    } catch (error) {
      // the sandbox ends by itself at the end of its lifetime (sandbox_timeout)
      this.context.onEvent?.({level: 'warn', message: `UCloud Agent Sandbox kill ${instance.instanceId} failed: ${errorMessage(error)}`})
      return false
    }
  }

  async healthCheck(): Promise<HealthStatus> {
    try {
      const {Sandbox} = await this.load()
      await Sandbox.list({...this.connection(), limit: 1}).nextItems()
      return {healthy: true, detail: `UCloud Agent Sandbox API at ${this.where()} accepted the key`}
    } catch (error) {
      return {healthy: false, detail: this.mapError('list', error).message}
    }
  }

  supportedLanguages(): string[] {
    return ['python', 'javascript']
  }

  runtimeLabel(): string {
    return `UCloud Agent Sandbox ${this.s.domain}`
  }

  async close(): Promise<void> {
    await this.remotes.closeAll((instance) => this.destroyInstance(instance))
  }
}
