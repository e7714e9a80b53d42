/**
 * `self_managed`: an executor manager (`sandbox start`, or RAGFlow's own) over HTTP, through
 * the one client of our API (src/executors/manager-client.ts): POST {endpoint}/run
 * {code_b64, language, arguments}, GET {endpoint}/healthz.
 *
 * Unlike RAGFlow, max_retries is really used (the client's retries: connection failures before
 * the request reached the server and 502/503/504, never once the code may be running).
 */
import {randomUUID} from 'node:crypto'

import {DEFAULTS as START_DEFAULTS} from '../config.js'
import type {RunResult} from '../engine/result.js'
import type {Language} from '../engine/languages.js'
import {ManagerClient, trustedArtifacts} from '../executors/manager-client.js'
import {maskDbUrl} from '../settings/url.js'
import type {ExecuteRequest, HealthStatus, ProviderConfig, ProviderContext, ProviderDefinition, SandboxInstance, SandboxProvider} from './types.js'

/** RAGFlow HEAD's default: the manager's name on RAGFlow's compose network (SEED had http://localhost:9385). */
export const DEFAULT_MANAGER_ENDPOINT = 'http://sandbox-executor-manager:9385'

/** The deployment fields' defaults: what `sandbox start` runs when nothing is set (taken from src/config.ts). */
const DEPLOYMENT_DEFAULTS = {
  executor_manager_image: 'sandbox-executor-manager:latest',
  executor_manager_pool_size: START_DEFAULTS.poolSize,
  base_python_image: START_DEFAULTS.pythonImage,
  base_nodejs_image: START_DEFAULTS.nodejsImage,
  executor_manager_port: START_DEFAULTS.port,
  enable_seccomp: false,
  max_memory: START_DEFAULTS.memory,
  sandbox_timeout: START_DEFAULTS.timeout,
} as const

export const selfManagedDefinition: ProviderDefinition = {
  id: 'self_managed',
  runsOnHost: false,
  command: 'self-managed',
  aliases: ['self-managed', 'manager', 'selfmanaged'],
  name: 'Self-Managed',
  description: "On-premise executor manager (sandbox start, or RAGFlow's sandbox-executor-manager) over HTTP",
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

class SelfManagedProvider implements SandboxProvider {
  readonly id = 'self_managed' as const
  private readonly client: ManagerClient

  constructor(
    private readonly config: ProviderConfig,
    context: ProviderContext,
  ) {
    const base = String(config.endpoint ?? DEFAULT_MANAGER_ENDPOINT).replace(/\/+$/, '')
    this.client = new ManagerClient({
      url: base,
      token: typeof config.api_token === 'string' && config.api_token ? config.api_token : undefined,
      timeoutSeconds: typeof config.timeout === 'number' ? config.timeout : 30,
      maxRetries: typeof config.max_retries === 'number' ? config.max_retries : 3,
      retryBaseDelayMs: context.retryBaseDelayMs,
      onEvent: context.onEvent,
      hints: {
        endpoint: `Check the endpoint: \`sandbox configure self-managed --endpoint URL\` (now ${maskDbUrl(base)})`,
        tokenMismatch: "The API token does not match the manager's SANDBOX_API_TOKEN: `sandbox configure self-managed --api-token …`",
        tokenMissing: 'The manager requires a token: `sandbox configure self-managed --api-token …` or SANDBOX_API_TOKEN',
      },
    })
  }

  async createInstance(language: Language): Promise<SandboxInstance> {
    return {
      instanceId: randomUUID(),
      provider: 'self_managed',
      status: 'running',
      metadata: {
        language,
        endpoint: this.client.endpoint,
        pool_size: this.config.executor_manager_pool_size ?? this.config.pool_size ?? DEPLOYMENT_DEFAULTS.executor_manager_pool_size,
      },
    }
  }

  async executeCode(_instance: SandboxInstance, request: ExecuteRequest): Promise<RunResult> {
    // the code policy was applied before the code left this process; the manager applies its own
    const result = await this.client.run({language: request.language, code: request.code, arguments: request.arguments, timeoutSeconds: request.timeoutSeconds})
    // never trust names from the wire: plain file names, allowed types, sizes (as the engine checks its runners)
    return trustedArtifacts(result)
  }

  async destroyInstance(): Promise<boolean> {
    return true
  }

  async healthCheck(): Promise<HealthStatus> {
    const {endpoint} = this.client
    const answer = await this.client.health(5000)
    if (!answer.reachable) return {healthy: false, detail: `${endpoint} is not reachable: ${answer.error}`}
    if (answer.httpStatus === 200) return {healthy: true, detail: `${endpoint}/healthz answered 200`}
    return {healthy: false, detail: `${endpoint}/healthz answered HTTP ${answer.httpStatus}: ${JSON.stringify(answer.body ?? '').slice(0, 200)}`}
  }

  supportedLanguages(): string[] {
    return ['python', 'nodejs', 'javascript']
  }

  runtimeLabel(): string {
    return `manager ${this.client.endpoint}`
  }

  async close(): Promise<void> {}
}
