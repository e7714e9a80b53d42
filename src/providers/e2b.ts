/**
 * `e2b`: E2B cloud sandboxes through the official `e2b` SDK (RAGFlow's Python provider is a
 * placeholder; its Go port runs `python3`/`node` in a sandbox — so do we):
 *
 *   Sandbox.create(template)        POST {api_url}/v2/sandboxes            (X-API-KEY)
 *   sandbox.files.write(path, …)    POST {envd}/files?path=…               (envd in the sandbox)
 *   sandbox.commands.run(cmd)       POST {envd}/process.Process/Start      (Connect, server streaming)
 *   sandbox.kill()                  DELETE {api_url}/sandboxes/{id}
 *
 * envd's URL is https://49983-<id>.<domain> unless `sandbox_url` (E2B_SANDBOX_URL) overrides it.
 * `api_url` and `domain` are configurable, so E2B-compatible services (Aliyun's included) and a
 * local stand-in work through the same SDK.
 */
import {randomBytes} from 'node:crypto'

import {LANGUAGES, type Language} from '../engine/languages.js'
import type {RunResult} from '../engine/result.js'
import {errorMessage, remoteError, SandboxError} from '../errors.js'
import {remoteResult} from './result.js'
import type {ExecuteRequest, HealthStatus, ProviderConfig, ProviderContext, ProviderDefinition, SandboxInstance, SandboxProvider} from './types.js'
import {wrapCode} from './wrapper.js'

export const e2bDefinition: ProviderDefinition = {
  id: 'e2b',
  runsOnHost: false,
  command: 'e2b',
  aliases: ['e2b'],
  name: 'E2B',
  description: 'E2B Cloud - Code Execution Sandboxes (also E2B-compatible services through api_url/domain)',
  tags: ['saas', 'fast', 'global'],
  schema: {
    api_key: {
      type: 'string',
      required: true,
      label: 'API Key',
      placeholder: 'e2b_sk_...',
      description: 'E2B API key for authentication',
      secret: true,
      env: ['E2B_API_KEY'],
    },
    region: {
      type: 'string',
      required: false,
      label: 'Region',
      default: 'us',
      description: 'E2B service region (us or eu)',
    },
    timeout: {
      type: 'integer',
      required: false,
      label: 'Execution Timeout (seconds)',
      default: 30,
      min: 5,
      max: 300,
      description: 'Code execution timeout',
      env: ['E2B_TIMEOUT'],
    },
    template: {
      type: 'string',
      required: false,
      label: 'Template',
      default: 'base',
      description: 'Sandbox template with python3 and node (E2B: base)',
      env: ['E2B_TEMPLATE'],
    },
    domain: {
      type: 'string',
      required: false,
      label: 'Domain',
      placeholder: 'e2b.app',
      description: 'Sandbox domain (default e2b.app); set it for an E2B-compatible service',
      env: ['E2B_DOMAIN'],
    },
    api_url: {
      type: 'string',
      required: false,
      label: 'API URL',
      placeholder: 'https://api.e2b.app',
      advanced: true,
      description: 'Control API URL (default https://api.<domain>)',
      env: ['E2B_API_URL'],
    },
    sandbox_url: {
      type: 'string',
      required: false,
      label: 'Sandbox URL',
      advanced: true,
      description: 'Fixed URL of the in-sandbox daemon (envd), for proxies and local stand-ins',
      env: ['E2B_SANDBOX_URL'],
    },
    allow_internet_access: {
      type: 'boolean',
      required: false,
      label: 'Allow Internet Access',
      default: false,
      description: 'Let the code reach the internet from the sandbox',
    },
  },
  validate(config) {
    if (!config.api_key) return 'API key is required'
    for (const key of ['api_url', 'sandbox_url']) {
      const value = config[key]
      if (value !== undefined && value !== '' && !/^https?:\/\/[^\s/]+/i.test(String(value))) return `Invalid ${key}: ${value}. Must start with http:// or https://`
    }
    if (config.domain !== undefined && config.domain !== '' && !/^[A-Za-z0-9.-]+(:\d+)?$/.test(String(config.domain))) {
      return `Invalid domain: ${config.domain}. Use a host name such as e2b.app`
    }
    return null
  },
  create: (config, context) => new E2BProvider(config, context),
}

const loadE2B = () => import('e2b')
type E2BModule = Awaited<ReturnType<typeof loadE2B>>
type E2BSandbox = InstanceType<E2BModule['Sandbox']>

const quiet = {debug: () => {}, info: () => {}, warn: () => {}, error: () => {}}

class E2BProvider implements SandboxProvider {
  readonly id = 'e2b' as const
  private readonly sandboxes = new Map<string, E2BSandbox>()
  private readonly timeoutSeconds: number
  private sdk?: Promise<E2BModule>

  constructor(
    private readonly config: ProviderConfig,
    private readonly context: ProviderContext,
  ) {
    this.timeoutSeconds = typeof config.timeout === 'number' ? config.timeout : 30
  }

  private load(): Promise<E2BModule> {
    this.sdk ??= loadE2B()
    return this.sdk
  }

  private connection() {
    const str = (key: string) => (typeof this.config[key] === 'string' && this.config[key] !== '' ? (this.config[key] as string) : undefined)
    return {
      apiKey: str('api_key'),
      domain: str('domain'),
      apiUrl: str('api_url'),
      sandboxUrl: str('sandbox_url'),
      requestTimeoutMs: 30_000,
      logger: quiet,
    }
  }

  private where(): string {
    const c = this.connection()
    return c.apiUrl ?? `https://api.${c.domain ?? 'e2b.app'}`
  }

  private mapError(action: string, error: unknown): SandboxError {
    if (error instanceof SandboxError) return error
    const name = (error as Error)?.name ?? ''
    const message = errorMessage(error)
    const cause = (error as {cause?: {code?: string}})?.cause?.code
    if (name === 'AuthenticationError' || /401|unauthori[sz]ed|invalid api key/i.test(message)) {
      return remoteError(
        `E2B ${action} failed: the API key was refused (${message})`,
        'E2B_AUTH_FAILED',
        ['Check the key: `sandbox configure e2b --api-key …` or E2B_API_KEY'],
        error,
      )
    }
    if (cause || /fetch failed|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT/i.test(message)) {
      return remoteError(
        `Cannot reach E2B at ${this.where()} (${action}): ${cause ?? message}`,
        'E2B_UNREACHABLE',
        ['Check the network path and the api_url / domain settings (`sandbox configure show`)'],
        error,
      )
    }
    if (name === 'RateLimitError') return remoteError(`E2B ${action} was rate limited: ${message}`, 'E2B_RATE_LIMITED', ['Retry later'], error)
    return remoteError(`E2B ${action} failed: ${message}`, 'E2B_API_ERROR', [], error)
  }

  async createInstance(language: Language): Promise<SandboxInstance> {
    const {Sandbox} = await this.load()
    const template = typeof this.config.template === 'string' && this.config.template ? this.config.template : 'base'
    let sandbox: E2BSandbox
    try {
      sandbox = await Sandbox.create(template, {
        ...this.connection(),
        // the sandbox ends by itself if this process dies before kill()
        timeoutMs: (this.timeoutSeconds + 120) * 1000,
        allowInternetAccess: this.config.allow_internet_access === true,
        metadata: {source: 'sandbox-cli'},
      })
    } catch (error) {
      throw this.mapError('sandbox create', error)
    }
    this.sandboxes.set(sandbox.sandboxId, sandbox)
    return {instanceId: sandbox.sandboxId, provider: 'e2b', status: 'running', metadata: {language, template}}
  }

  async executeCode(instance: SandboxInstance, request: ExecuteRequest): Promise<RunResult> {
    const sandbox = this.sandboxes.get(instance.instanceId)
    if (!sandbox) throw remoteError(`E2B sandbox ${instance.instanceId} is not known to this provider`, 'E2B_NO_INSTANCE')
    const {CommandExitError} = await this.load()
    const timeout = Math.max(1, Math.min(Math.ceil(request.timeoutSeconds), this.timeoutSeconds))
    const dir = `/tmp/sandbox-run-${randomBytes(6).toString('hex')}`
    const {fileName: file, interpreter} = LANGUAGES[request.language].runtime.script
    try {
      await sandbox.files.write(`${dir}/${file}`, wrapCode(request.language, request.code, request.arguments ?? {}))
    } catch (error) {
      throw this.mapError('file upload', error)
    }
    const started = performance.now()
    try {
      const r = await sandbox.commands.run(`cd ${dir} && ${interpreter} ${file}`, {timeoutMs: timeout * 1000, requestTimeoutMs: 30_000})
      return remoteResult({stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode, timedOut: false, timeoutSeconds: timeout, wallMs: performance.now() - started})
    } catch (error) {
      const wallMs = performance.now() - started
      if (error instanceof CommandExitError) {
        return remoteResult({stdout: error.stdout, stderr: error.stderr, exitCode: error.exitCode, timedOut: false, timeoutSeconds: timeout, wallMs})
      }
      if ((error as Error)?.name === 'TimeoutError' || /deadline|timed out/i.test(errorMessage(error))) {
        return remoteResult({stdout: '', stderr: '', exitCode: -1, timedOut: true, timeoutSeconds: timeout, wallMs})
      }
      throw this.mapError('command', error)
    }
  }

  async destroyInstance(instance: SandboxInstance): Promise<boolean> {
    const sandbox = this.sandboxes.get(instance.instanceId)
    this.sandboxes.delete(instance.instanceId)
    if (!sandbox) return true
    try {
      await sandbox.kill({requestTimeoutMs: 15_000})
      return true
    } catch (error) {
      this.context.onEvent?.({level: 'warn', message: `E2B kill ${instance.instanceId} failed: ${errorMessage(error)}`})
      return false
    }
  }

  async healthCheck(): Promise<HealthStatus> {
    try {
      const {Sandbox} = await this.load()
      await Sandbox.list({...this.connection(), limit: 1}).nextItems()
      return {healthy: true, detail: `E2B API at ${this.where()} accepted the key`}
    } catch (error) {
      return {healthy: false, detail: this.mapError('list', error).message}
    }
  }

  supportedLanguages(): string[] {
    return ['python', 'nodejs', 'javascript']
  }

  runtimeLabel(): string {
    return `E2B ${this.connection().domain ?? 'e2b.app'}`
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.sandboxes.keys()].map((id) => this.destroyInstance({instanceId: id, provider: 'e2b', status: 'running', metadata: {}})))
  }
}
