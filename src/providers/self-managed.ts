/**
 * `self_managed`: HTTP client of an executor manager (`sandbox start`, or RAGFlow's own):
 * POST {endpoint}/run {code_b64, language, arguments}, GET {endpoint}/healthz.
 *
 * Unlike RAGFlow, max_retries is really used: connection failures before the request
 * reached the server, and 502/503/504 answers, are retried with exponential backoff and
 * jitter. Nothing is retried once the connection was established and the request sent
 * (the code may be running).
 */
import {randomUUID} from 'node:crypto'

import {checkArtifacts} from '../engine/classify.js'
import {emptyResult, extractResultMarker, type RunResult} from '../engine/result.js'
import type {Language} from '../engine/languages.js'
import {remoteError} from '../errors.js'
import {maskDbUrl} from '../settings/url.js'
import {HttpFailure, httpCall, type HttpAnswer} from './http.js'
import type {ExecuteRequest, HealthStatus, ProviderConfig, ProviderContext, ProviderDefinition, SandboxInstance, SandboxProvider} from './types.js'

/** RAGFlow HEAD's default: the manager's name on RAGFlow's compose network (SEED had http://localhost:9385). */
export const DEFAULT_MANAGER_ENDPOINT = 'http://sandbox-executor-manager:9385'

/** The deployment fields' defaults: what `sandbox start` runs when nothing is set (src/config.ts). */
const DEPLOYMENT_DEFAULTS = {
  executor_manager_image: 'sandbox-executor-manager:latest',
  executor_manager_pool_size: 2,
  base_python_image: 'sandbox-base-python:latest',
  base_nodejs_image: 'sandbox-base-nodejs:latest',
  executor_manager_port: 9385,
  enable_seccomp: false,
  max_memory: '256m',
  sandbox_timeout: '10s',
} as const

export const selfManagedDefinition: ProviderDefinition = {
  id: 'self_managed',
  command: 'self-managed',
  aliases: ['self-managed', 'manager', 'selfmanaged'],
  name: 'Self-Managed',
  description: 'On-premise executor manager (sandbox start, or RAGFlow\'s sandbox-executor-manager) over HTTP',
  tags: ['self-hosted', 'low-latency', 'secure'],
  // RAGFlow HEAD's schema: two runtime fields, eight read-only deployment fields whose values come
  // from the environment; plus ours: max_retries (really used here) and api_token
  schema: {
    endpoint: {
      type: 'string',
      required: true,
      label: 'Executor Manager Endpoint',
      placeholder: DEFAULT_MANAGER_ENDPOINT,
      default: DEFAULT_MANAGER_ENDPOINT,
      description: 'HTTP endpoint used by RAGFlow to call sandbox-executor-manager.',
      scope: 'runtime',
      readonly: false,
      env: ['SANDBOX_EXECUTOR_MANAGER_URL'],
    },
    timeout: {
      type: 'integer',
      required: false,
      label: 'Request Timeout (seconds)',
      default: 30,
      min: 5,
      max: 300,
      description: 'Maximum request time for a single code execution call. Unit: seconds.',
      scope: 'runtime',
      readonly: false,
      env: ['SANDBOX_EXECUTOR_MANAGER_TIMEOUT'],
    },
    max_retries: {
      type: 'integer',
      required: false,
      label: 'Max Retries',
      default: 3,
      min: 0,
      max: 10,
      description: 'Retries on connection errors and 502/503/504, never after the code may have started (ours: RAGFlow HEAD dropped the field, it never used it)',
      env: ['SANDBOX_EXECUTOR_MANAGER_MAX_RETRIES'],
    },
    api_token: {
      type: 'string',
      required: false,
      label: 'API Token',
      secret: true,
      description: 'Bearer token when the manager requires one (its SANDBOX_API_TOKEN; ours, RAGFlow sends none)',
      env: ['SANDBOX_API_TOKEN'],
    },
    executor_manager_image: {
      type: 'string',
      required: false,
      label: 'Executor Manager Image',
      default: DEPLOYMENT_DEFAULTS.executor_manager_image,
      description: 'Docker image used by sandbox-executor-manager.',
      scope: 'deployment',
      readonly: true,
      env: ['SANDBOX_EXECUTOR_MANAGER_IMAGE'],
    },
    executor_manager_pool_size: {
      type: 'integer',
      required: false,
      label: 'Container Pool Size',
      default: DEPLOYMENT_DEFAULTS.executor_manager_pool_size,
      min: 1,
      max: 100,
      description: 'Container pool size used by sandbox-executor-manager.',
      scope: 'deployment',
      readonly: true,
      env: ['SANDBOX_EXECUTOR_MANAGER_POOL_SIZE'],
      // rows written by RAGFlow before HEAD (and by this toolkit before it followed HEAD)
      legacy: ['pool_size'],
    },
    base_python_image: {
      type: 'string',
      required: false,
      label: 'Base Python Image',
      default: DEPLOYMENT_DEFAULTS.base_python_image,
      description: 'Python runtime image used by executor-managed containers.',
      scope: 'deployment',
      readonly: true,
      env: ['SANDBOX_BASE_PYTHON_IMAGE'],
    },
    base_nodejs_image: {
      type: 'string',
      required: false,
      label: 'Base Node.js Image',
      default: DEPLOYMENT_DEFAULTS.base_nodejs_image,
      description: 'Node.js runtime image used by executor-managed containers.',
      scope: 'deployment',
      readonly: true,
      env: ['SANDBOX_BASE_NODEJS_IMAGE'],
    },
    executor_manager_port: {
      type: 'integer',
      required: false,
      label: 'Executor Manager Port',
      default: DEPLOYMENT_DEFAULTS.executor_manager_port,
      min: 1,
      max: 65535,
      description: 'Host port exposed by sandbox-executor-manager.',
      scope: 'deployment',
      readonly: true,
      env: ['SANDBOX_EXECUTOR_MANAGER_PORT'],
    },
    enable_seccomp: {
      type: 'boolean',
      required: false,
      label: 'Enable Seccomp',
      default: DEPLOYMENT_DEFAULTS.enable_seccomp,
      description: 'Whether sandbox-executor-manager starts containers with seccomp enabled.',
      scope: 'deployment',
      readonly: true,
      env: ['SANDBOX_ENABLE_SECCOMP'],
    },
    max_memory: {
      type: 'string',
      required: false,
      label: 'Max Memory',
      default: DEPLOYMENT_DEFAULTS.max_memory,
      description: 'Memory limit applied to each sandbox container. Common format: 256m or 1g.',
      scope: 'deployment',
      readonly: true,
      env: ['SANDBOX_MAX_MEMORY'],
    },
    sandbox_timeout: {
      type: 'string',
      required: false,
      label: 'Sandbox Timeout',
      default: DEPLOYMENT_DEFAULTS.sandbox_timeout,
      description: 'Executor-manager container timeout for each sandbox run. Common format: 10s or 1m.',
      scope: 'deployment',
      readonly: true,
      env: ['SANDBOX_TIMEOUT'],
    },
  },
  validate(config) {
    const endpoint = String(config.endpoint ?? '')
    if (!/^https?:\/\/[^\s/]+/i.test(endpoint) || !isUrl(endpoint)) {
      return `Invalid endpoint format: ${maskDbUrl(endpoint)}. Must start with http:// or https://`
    }
    // RAGFlow HEAD: executor_manager_pool_size, else an older row's pool_size
    const poolSize = config.executor_manager_pool_size ?? config.pool_size
    if (poolSize !== undefined && Number(poolSize) <= 0) return 'Pool size must be greater than 0'
    if (config.timeout !== undefined && (Number(config.timeout) < 1 || Number(config.timeout) > 600)) return 'Timeout must be between 1 and 600 seconds'
    if (config.max_retries !== undefined && (Number(config.max_retries) < 0 || Number(config.max_retries) > 10)) return 'Max retries must be between 0 and 10'
    return null
  },
  create: (config, context) => new SelfManagedProvider(config, context),
}


function isUrl(text: string): boolean {
  try {
    new URL(text)
    return true
  } catch {
    return false
  }
}

/** 502/503/504: a gateway or a manager that is not serving yet answered; the code did not run. */
const RETRY_STATUSES = new Set([502, 503, 504])

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

class SelfManagedProvider implements SandboxProvider {
  readonly id = 'self_managed' as const
  /** for messages (password masked) */
  private readonly endpoint: string
  private readonly base: string
  private readonly timeoutSeconds: number
  private readonly maxRetries: number
  private readonly token: string | undefined

  constructor(
    private readonly config: ProviderConfig,
    private readonly context: ProviderContext,
  ) {
    this.base = String(config.endpoint ?? DEFAULT_MANAGER_ENDPOINT).replace(/\/+$/, '')
    this.endpoint = maskDbUrl(this.base)
    this.timeoutSeconds = typeof config.timeout === 'number' ? config.timeout : 30
    this.maxRetries = typeof config.max_retries === 'number' ? config.max_retries : 3
    this.token = typeof config.api_token === 'string' && config.api_token ? config.api_token : undefined
  }

  private url(path: string): URL {
    return new URL(this.base + path)
  }

  private headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = {Accept: 'application/json'}
    if (json) h['Content-Type'] = 'application/json'
    if (this.token) h.Authorization = `Bearer ${this.token}`
    return h
  }

  async createInstance(language: Language): Promise<SandboxInstance> {
    return {
      instanceId: randomUUID(),
      provider: 'self_managed',
      status: 'running',
      metadata: {language, endpoint: this.endpoint, pool_size: this.config.executor_manager_pool_size ?? this.config.pool_size ?? DEPLOYMENT_DEFAULTS.executor_manager_pool_size},
    }
  }

  async executeCode(instance: SandboxInstance, request: ExecuteRequest): Promise<RunResult> {
    const body = JSON.stringify({
      code_b64: Buffer.from(request.code, 'utf8').toString('base64'),
      language: request.language,
      arguments: request.arguments ?? {},
    })
    // the manager applies its own limit and may queue for a container first
    const timeoutMs = Math.max(this.timeoutSeconds, request.timeoutSeconds + 15) * 1000
    const answer = await this.send(body, timeoutMs)
    return this.toResult(answer)
  }

  /** POST /run with retries that can never run the code twice. */
  private async send(body: string, timeoutMs: number): Promise<HttpAnswer> {
    const attempts = this.maxRetries + 1
    const base = this.context.retryBaseDelayMs ?? 200
    let last: {failure?: HttpFailure; answer?: HttpAnswer} = {}
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const answer = await httpCall(this.url('/run'), {method: 'POST', headers: this.headers(true), body, timeoutMs})
        if (!RETRY_STATUSES.has(answer.status)) return answer
        last = {answer}
      } catch (error) {
        if (!(error instanceof HttpFailure)) throw error
        if (error.phase === 'after-connect') throw this.afterConnectError(error, timeoutMs)
        last = {failure: error}
      }
      if (attempt < attempts) {
        const cap = Math.min(3000, base * 2 ** (attempt - 1))
        const delay = cap / 2 + Math.random() * (cap / 2)
        const why = last.failure ? last.failure.code : `HTTP ${last.answer?.status}`
        this.context.onEvent?.({level: 'warn', message: `executor manager: ${why}; retry ${attempt}/${this.maxRetries} in ${Math.round(delay)} ms`})
        await sleep(delay)
      }
    }
    if (last.answer) throw this.httpError(last.answer, attempts)
    const failure = last.failure!
    throw remoteError(
      `Cannot reach the executor manager at ${this.endpoint}: ${failure.code}${failure.timedOut ? ' (connect timeout)' : ''} after ${attempts} attempt${attempts === 1 ? '' : 's'}`,
      'MANAGER_UNREACHABLE',
      [
        'Start it with `sandbox start` (or check that RAGFlow\'s sandbox-executor-manager is running)',
        `Check the endpoint: \`sandbox configure self-managed --endpoint URL\` (now ${this.endpoint})`,
        // RAGFlow HEAD's default names the manager on RAGFlow's compose network only
        ...(new URL(this.base).hostname === 'sandbox-executor-manager'
          ? ['sandbox-executor-manager resolves only inside RAGFlow\'s Docker network: from this host use `--endpoint http://127.0.0.1:9385` (`sandbox start`)']
          : []),
        'Or run locally without a manager: `sandbox run --provider docker`',
      ],
      failure,
    )
  }

  private afterConnectError(failure: HttpFailure, timeoutMs: number): Error {
    if (failure.timedOut) {
      return remoteError(`Execution timed out after ${Math.round(timeoutMs / 1000)} seconds (no answer from ${this.endpoint})`, 'MANAGER_TIMEOUT', [
        'Raise the request timeout: `sandbox configure self-managed --timeout N`',
        'Not retried: the code may have started on the manager',
      ], failure)
    }
    return remoteError(`The connection to the executor manager at ${this.endpoint} broke after the request was sent: ${failure.message}`, 'MANAGER_CONNECTION_LOST', [
      'Not retried, because the code may already have run; check the manager\'s log (`sandbox logs`)',
    ], failure)
  }

  private httpError(answer: HttpAnswer, attempts?: number): Error {
    const text = answer.body.length > 500 ? `${answer.body.slice(0, 500)}…` : answer.body
    if (answer.status === 401 || answer.status === 403) {
      return remoteError(`The executor manager at ${this.endpoint} refused the request: HTTP ${answer.status}`, 'MANAGER_UNAUTHORIZED', [
        this.token ? 'The API token does not match the manager\'s SANDBOX_API_TOKEN: `sandbox configure self-managed --api-token …`' : 'The manager requires a token: `sandbox configure self-managed --api-token …` or SANDBOX_API_TOKEN',
      ])
    }
    const tries = attempts && attempts > 1 ? ` (after ${attempts} attempts)` : ''
    return remoteError(`HTTP ${answer.status}: ${text}${tries}`, answer.status >= 500 ? 'MANAGER_ERROR' : 'MANAGER_REJECTED', [
      `The executor manager at ${this.endpoint} did not run the code; see its log (\`sandbox logs\`)`,
    ])
  }

  private toResult(answer: HttpAnswer): RunResult {
    if (answer.status !== 200) throw this.httpError(answer)
    let data: Record<string, unknown>
    try {
      data = JSON.parse(answer.body) as Record<string, unknown>
    } catch {
      throw remoteError(`The executor manager at ${this.endpoint} answered with something that is not JSON`, 'MANAGER_BAD_RESPONSE', [
        'Check that the endpoint points at the executor manager (GET /healthz answers {"status":"ok"})',
      ])
    }
    if (data === null || typeof data !== 'object' || typeof data.status !== 'string') {
      throw remoteError(`The executor manager at ${this.endpoint} answered without a result status`, 'MANAGER_BAD_RESPONSE')
    }
    const str = (v: unknown) => (typeof v === 'string' ? v : '')
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null)
    let stdout = str(data.stdout)
    let result = data.result && typeof data.result === 'object' ? (data.result as RunResult['result']) : null
    if (!result) {
      // an older manager (RAGFlow SEED) leaves the marker in stdout
      const extracted = extractResultMarker(stdout)
      stdout = extracted.stdout
      result = extracted.result ?? null
    }
    return emptyResult({
      status: data.status as RunResult['status'],
      stdout,
      stderr: str(data.stderr),
      exit_code: typeof data.exit_code === 'number' ? data.exit_code : 0,
      detail: typeof data.detail === 'string' ? data.detail : null,
      time_used_ms: num(data.time_used_ms),
      memory_used_kb: num(data.memory_used_kb),
      resource_limit_type: (data.resource_limit_type as RunResult['resource_limit_type']) ?? null,
      unauthorized_access_type: (data.unauthorized_access_type as RunResult['unauthorized_access_type']) ?? null,
      runtime_error_type: (data.runtime_error_type as RunResult['runtime_error_type']) ?? null,
      result,
      // never trust names from the wire: plain file names, allowed types, sizes (as the engine checks its runners)
      artifacts: checkArtifacts(data.artifacts).artifacts,
    })
  }

  async destroyInstance(): Promise<boolean> {
    return true
  }

  async healthCheck(): Promise<HealthStatus> {
    try {
      const answer = await httpCall(this.url('/healthz'), {method: 'GET', headers: this.headers(false), timeoutMs: 5000})
      if (answer.status === 200) return {healthy: true, detail: `${this.endpoint}/healthz answered 200`}
      return {healthy: false, detail: `${this.endpoint}/healthz answered HTTP ${answer.status}: ${answer.body.slice(0, 200)}`}
    } catch (error) {
      return {healthy: false, detail: `${this.endpoint} is not reachable: ${(error as Error).message}`}
    }
  }

  supportedLanguages(): string[] {
    return ['python', 'nodejs', 'javascript']
  }

  runtimeLabel(): string {
    return `manager ${this.endpoint}`
  }

  async close(): Promise<void> {}
}
