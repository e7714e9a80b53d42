/**
 * `aliyun_codeinterpreter`: Aliyun AgentRun Code Interpreter over its HTTP API
 * (API version 2025-09-10; no Node SDK is installable here).
 *
 * Control plane  https://agentrun.<region>.aliyuncs.com, ROA style, signed with ACS3-HMAC-SHA256:
 *   GET    /2025-09-10/templates/{name}        GetTemplate
 *   POST   /2025-09-10/templates               CreateTemplate   (ragflow-<language>-default when missing)
 *   GET    /2025-09-10/templates               ListTemplates    (health check)
 *   POST   /2025-09-10/sandboxes               CreateSandbox
 *   GET    /2025-09-10/sandboxes/{id}          GetSandbox
 *   DELETE /2025-09-10/sandboxes/{id}          DeleteSandbox
 *   GET    /2025-09-10/agents/accessToken      GetAccessToken   (resourceId=<sandbox>, resourceType=sandbox)
 * Data plane     https://<account>.agentrun-data.<region>.aliyuncs.com, header Agentrun-Access-Token:
 *   POST   /sandboxes/{id}/contexts/execute    {code, language, timeout} → {results: [...], contextId}
 *
 * Execution is capped at 30 s (RAGFlow's hard limit). The code is wrapped so main(**args)
 * runs and the result marker is printed; the arguments travel as base64 JSON data.
 */
import {fetchWithTimeout} from '../net.js'
import {LANGUAGES, type Language} from '../engine/languages.js'
import type {RunResult} from '../engine/result.js'
import {errorMessage, remoteError, SandboxError} from '../errors.js'
import {canonicalQuery, percentEncode, signedHeaders} from './aliyun-signature.js'
import {remoteResult} from './result.js'
import type {ExecuteRequest, HealthStatus, ProviderConfig, ProviderContext, ProviderDefinition, SandboxInstance, SandboxProvider} from './types.js'
import {wrapCode} from './wrapper.js'

export const ALIYUN_API_VERSION = '2025-09-10'
export const ALIYUN_REGIONS = ['cn-hangzhou', 'cn-beijing', 'cn-shanghai', 'cn-shenzhen', 'cn-guangzhou']
export const ALIYUN_MAX_TIMEOUT = 30
/** AccessKey IDs of temporary credentials issued by Aliyun STS (AssumeRole) start with this; permanent ones with LTAI. */
export const STS_KEY_PREFIX = 'STS.'
export const STS_WITHOUT_TOKEN =
  "A temporary AccessKey ID (starting with 'STS.') needs its security token: set --security-token or AGENTRUN_SECURITY_TOKEN (the SecurityToken that AssumeRole returned with the key)"
export const TOKEN_WITHOUT_STS =
  "A security token is only used with a temporary AccessKey ID (starting with 'STS.'); this AccessKey ID is permanent (LTAI…): unset AGENTRUN_SECURITY_TOKEN / --security-token or use the STS key it belongs to"

/** What RAGFlow itself does with a stored STS credential (notes shown by `configure aliyun`). */
export function aliyunSaveNotes(config: ProviderConfig): string[] {
  if (!String(config.access_key_id ?? '').startsWith(STS_KEY_PREFIX)) return []
  return [
    'temporary (STS) credentials expire (AssumeRole: 15 min to 12 h): rotate them before then with `configure aliyun` and new AGENTRUN_* values',
    "RAGFlow's own admin page refuses AccessKey IDs that do not start with LTAI, and RAGFlow's provider does not pass the stored security_token: for RAGFlow itself, also set AGENTRUN_SECURITY_TOKEN in its environment (its AgentRun SDK reads it from there)",
  ]
}

export const aliyunDefinition: ProviderDefinition = {
  id: 'aliyun_codeinterpreter',
  runsOnHost: false,
  command: 'aliyun',
  aliases: ['aliyun', 'agentrun', 'aliyun-codeinterpreter'],
  name: 'Aliyun Code Interpreter',
  description: 'Aliyun Function Compute Code Interpreter - Code execution in serverless microVMs',
  tags: ['saas', 'cloud', 'scalable', 'aliyun'],
  schema: {
    access_key_id: {
      type: 'string',
      required: true,
      label: 'Access Key ID',
      placeholder: 'LTAI5t...',
      description: 'Aliyun AccessKey ID for authentication',
      secret: false,
      partial: true,
      env: ['AGENTRUN_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_ID'],
    },
    access_key_secret: {
      type: 'string',
      required: true,
      label: 'Access Key Secret',
      placeholder: '••••••••••••••••',
      description: 'Aliyun AccessKey Secret for authentication',
      secret: true,
      env: ['AGENTRUN_ACCESS_KEY_SECRET', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET'],
    },
    account_id: {
      type: 'string',
      required: true,
      label: 'Account ID',
      placeholder: '1234567890...',
      description: 'Aliyun primary account ID (主账号ID), required for API calls',
      env: ['AGENTRUN_ACCOUNT_ID', 'FC_ACCOUNT_ID'],
    },
    region: {
      type: 'string',
      required: false,
      label: 'Region',
      default: 'cn-hangzhou',
      description: 'Aliyun region for Code Interpreter service',
      options: ALIYUN_REGIONS,
      env: ['AGENTRUN_REGION', 'FC_REGION'],
    },
    template_name: {
      type: 'string',
      required: false,
      label: 'Template Name',
      placeholder: 'my-interpreter',
      description: 'Optional sandbox template name (default: ragflow-<language>-default, created when missing)',
      env: ['AGENTRUN_TEMPLATE_NAME'],
    },
    timeout: {
      type: 'integer',
      required: false,
      label: 'Execution Timeout (seconds)',
      default: 30,
      min: 1,
      max: ALIYUN_MAX_TIMEOUT,
      description: 'Code execution timeout (max 30 seconds - hard limit)',
      env: ['AGENTRUN_TIMEOUT'],
    },
    security_token: {
      type: 'string',
      required: false,
      label: 'STS Security Token',
      secret: true,
      advanced: true,
      description: "Only for temporary (STS) credentials, whose AccessKey ID starts with 'STS.': the SecurityToken returned with them",
      env: ['AGENTRUN_SECURITY_TOKEN', 'ALIBABA_CLOUD_SECURITY_TOKEN'],
    },
    control_endpoint: {
      type: 'string',
      required: false,
      label: 'Control API Endpoint',
      placeholder: 'https://agentrun.cn-hangzhou.aliyuncs.com',
      advanced: true,
      description: 'Override of the control-plane URL (default https://agentrun.<region>.aliyuncs.com)',
      env: ['AGENTRUN_CONTROL_ENDPOINT'],
    },
    data_endpoint: {
      type: 'string',
      required: false,
      label: 'Data API Endpoint',
      placeholder: 'https://<account>.agentrun-data.cn-hangzhou.aliyuncs.com',
      advanced: true,
      description: 'Override of the data-plane URL (default https://<account_id>.agentrun-data.<region>.aliyuncs.com)',
      env: ['AGENTRUN_DATA_ENDPOINT'],
    },
  },
  validate(config) {
    const keyId = config.access_key_id ? String(config.access_key_id) : ''
    const token = typeof config.security_token === 'string' ? config.security_token.trim() : ''
    if (keyId.startsWith(STS_KEY_PREFIX)) {
      // temporary credentials: the STS AccessKey ID, its secret and the security token belong together
      if (!token) return STS_WITHOUT_TOKEN
    } else if (keyId && !keyId.startsWith('LTAI')) {
      return "Invalid AccessKey ID format (should start with 'LTAI')"
    } else if (keyId && token) {
      return TOKEN_WITHOUT_STS
    }
    if (!config.account_id) return 'Account ID is required'
    const region = config.region ?? 'cn-hangzhou'
    if (!ALIYUN_REGIONS.includes(String(region))) return `Invalid region. Must be one of: ${ALIYUN_REGIONS.join(', ')}`
    const timeout = config.timeout ?? 30
    if (typeof timeout !== 'number' || timeout < 1 || timeout > ALIYUN_MAX_TIMEOUT) return 'Timeout must be between 1 and 30 seconds'
    for (const key of ['control_endpoint', 'data_endpoint']) {
      const value = config[key]
      if (value !== undefined && value !== '' && !/^https?:\/\/[^\s/]+/i.test(String(value)))
        return `Invalid ${key.replace('_', ' ')}: ${value}. Must start with http:// or https://`
    }
    return null
  },
  notes: aliyunSaveNotes,
  create: (config, context) => new AliyunProvider(config, context),
}

/** python stays python; nodejs (and TypeScript, which runs as its JavaScript) → javascript (Aliyun's names). */
export const aliyunLanguage = (language: Language) => LANGUAGES[language].aliyunLanguage

interface ApiError {
  status: number
  code: string
  message: string
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

class AliyunProvider implements SandboxProvider {
  readonly id = 'aliyun_codeinterpreter' as const
  private readonly region: string
  private readonly accountId: string
  private readonly controlBase: string
  private readonly dataBase: string
  private readonly timeoutSeconds: number
  private readonly tokens = new Map<string, string>()
  private readonly readyTemplates = new Set<string>()

  constructor(
    private readonly config: ProviderConfig,
    private readonly context: ProviderContext,
  ) {
    this.region = String(config.region ?? 'cn-hangzhou')
    this.accountId = String(config.account_id ?? '')
    this.controlBase = String(config.control_endpoint || `https://agentrun.${this.region}.aliyuncs.com`).replace(/\/+$/, '')
    this.dataBase = String(config.data_endpoint || `https://${this.accountId}.agentrun-data.${this.region}.aliyuncs.com`).replace(/\/+$/, '')
    this.timeoutSeconds = Math.min(typeof config.timeout === 'number' ? config.timeout : ALIYUN_MAX_TIMEOUT, ALIYUN_MAX_TIMEOUT)
  }

  private emit(level: 'debug' | 'info' | 'warn', message: string) {
    this.context.onEvent?.({level, message})
  }

  /** One signed control-plane call; answers `data` of the JSON envelope (or the whole body). */
  private async control(
    action: string,
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    options: {query?: Record<string, string>; body?: unknown; timeoutMs?: number} = {},
  ): Promise<{ok: true; data: Record<string, unknown>} | {ok: false; error: ApiError}> {
    const url = new URL(this.controlBase + path)
    if (options.query) url.search = canonicalQuery(options.query)
    const body = options.body === undefined ? '' : JSON.stringify(options.body)
    const headers = signedHeaders({
      method,
      url,
      action,
      version: ALIYUN_API_VERSION,
      body,
      accessKeyId: String(this.config.access_key_id ?? ''),
      accessKeySecret: String(this.config.access_key_secret ?? ''),
      securityToken: typeof this.config.security_token === 'string' && this.config.security_token ? this.config.security_token : undefined,
    })
    delete headers.host
    let response: Response
    try {
      response = await fetchWithTimeout(url, {method, headers, body: body || undefined}, options.timeoutMs ?? 30_000)
    } catch (error) {
      throw this.unreachable('control', this.controlBase, action, error)
    }
    const text = await response.text()
    let parsed: Record<string, unknown> = {}
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {}
    } catch {
      parsed = {message: text.slice(0, 300)}
    }
    if (!response.ok) {
      return {
        ok: false,
        error: {status: response.status, code: String(parsed.code ?? parsed.Code ?? response.statusText), message: String(parsed.message ?? parsed.Message ?? text.slice(0, 300))},
      }
    }
    const data = parsed.data && typeof parsed.data === 'object' ? (parsed.data as Record<string, unknown>) : parsed
    return {ok: true, data}
  }

  private unreachable(plane: 'control' | 'data', base: string, action: string, error: unknown): SandboxError {
    const cause = (error as {cause?: {code?: string; message?: string}})?.cause
    const reason = (error as Error)?.name === 'TimeoutError' ? 'timed out' : (cause?.code ?? cause?.message ?? errorMessage(error))
    return remoteError(
      `Cannot reach the Aliyun AgentRun ${plane} API at ${base} (${action}): ${reason}`,
      'ALIYUN_UNREACHABLE',
      [
        'Check the network path to Aliyun (proxy, firewall) and the region',
        plane === 'control'
          ? 'A custom control endpoint is set with --control-endpoint / AGENTRUN_CONTROL_ENDPOINT'
          : 'A custom data endpoint is set with --data-endpoint / AGENTRUN_DATA_ENDPOINT',
      ],
      error,
    )
  }

  private apiError(action: string, error: ApiError): SandboxError {
    const auth = error.status === 401 || error.status === 403 || /AccessKey|Signature|Forbidden|Unauthorized|SecurityToken|NoPermission/i.test(error.code)
    return remoteError(
      `Aliyun AgentRun ${action} failed: HTTP ${error.status} ${error.code}: ${error.message}`,
      auth ? 'ALIYUN_AUTH_FAILED' : 'ALIYUN_API_ERROR',
      auth
        ? ['Check the AccessKey ID/Secret and the account ID: `sandbox configure aliyun`', 'The RAM user needs AgentRun permissions (fc:*Template, fc:*Sandbox)']
        : ['See the Aliyun AgentRun console for the request id and quota'],
    )
  }

  private async ensureTemplate(name: string): Promise<void> {
    if (this.readyTemplates.has(name)) return
    const path = `/${ALIYUN_API_VERSION}/templates/${percentEncode(name)}`
    let found = await this.control('GetTemplate', 'GET', path)
    if (!found.ok && found.error.status === 404) {
      this.emit('info', `creating Aliyun template ${name}`)
      const created = await this.control('CreateTemplate', 'POST', `/${ALIYUN_API_VERSION}/templates`, {
        body: {
          templateName: name,
          templateType: 'CodeInterpreter',
          description: 'Created by sandbox (RAGFlow code component)',
          cpu: 2,
          memory: 4096,
          diskSize: 512,
          sandboxIdleTimeoutInSeconds: 1800,
          networkConfiguration: {networkMode: 'PUBLIC'},
        },
      })
      if (!created.ok && !(created.error.status === 409 || /AlreadyExists/i.test(created.error.code))) throw this.apiError('CreateTemplate', created.error)
      found = created.ok ? created : await this.control('GetTemplate', 'GET', path)
    }
    if (!found.ok) throw this.apiError('GetTemplate', found.error)
    // a new template may take a moment to become READY
    const deadline = Date.now() + 90_000
    let status = String(found.data.status ?? 'READY').toUpperCase()
    while (!['READY', 'ACTIVE', 'AVAILABLE', 'SUCCESS'].includes(status)) {
      if (/FAIL|ERROR/.test(status)) throw remoteError(`Aliyun template ${name} is ${status}: ${found.data.statusReason ?? ''}`, 'ALIYUN_TEMPLATE_FAILED')
      if (Date.now() > deadline) throw remoteError(`Aliyun template ${name} is still ${status} after 90 s`, 'ALIYUN_TEMPLATE_NOT_READY')
      await sleep(2000)
      found = await this.control('GetTemplate', 'GET', path)
      if (!found.ok) throw this.apiError('GetTemplate', found.error)
      status = String(found.data.status ?? 'READY').toUpperCase()
    }
    this.readyTemplates.add(name)
  }

  async createInstance(language: Language): Promise<SandboxInstance> {
    const configured = typeof this.config.template_name === 'string' && this.config.template_name.trim() !== ''
    const template = configured ? String(this.config.template_name).trim() : `ragflow-${aliyunLanguage(language)}-default`
    if (!configured) await this.ensureTemplate(template)
    const created = await this.control('CreateSandbox', 'POST', `/${ALIYUN_API_VERSION}/sandboxes`, {
      body: {templateName: template, sandboxIdleTimeoutSeconds: Math.max(this.timeoutSeconds, 60)},
    })
    if (!created.ok) throw this.apiError('CreateSandbox', created.error)
    const sandboxId = String(created.data.sandboxId ?? created.data.sandboxID ?? created.data.id ?? '')
    if (!sandboxId) throw remoteError('Aliyun CreateSandbox answered without a sandbox id', 'ALIYUN_BAD_RESPONSE')
    let status = String(created.data.status ?? created.data.state ?? 'READY').toUpperCase()
    let accessToken: string
    try {
      const deadline = Date.now() + 60_000
      while (status !== 'READY' && status !== 'RUNNING') {
        if (/FAIL|ERROR|TERMINAT/.test(status)) {
          throw remoteError(`Aliyun sandbox ${sandboxId} is ${status}`, 'ALIYUN_SANDBOX_FAILED')
        }
        if (Date.now() > deadline) {
          throw remoteError(`Aliyun sandbox ${sandboxId} is still ${status} after 60 s`, 'ALIYUN_SANDBOX_NOT_READY')
        }
        await sleep(1000)
        const got = await this.control('GetSandbox', 'GET', `/${ALIYUN_API_VERSION}/sandboxes/${percentEncode(sandboxId)}`)
        if (!got.ok) throw this.apiError('GetSandbox', got.error)
        status = String(got.data.status ?? got.data.state ?? '').toUpperCase()
      }
      const token = await this.control('GetAccessToken', 'GET', `/${ALIYUN_API_VERSION}/agents/accessToken`, {
        query: {resourceId: sandboxId, resourceType: 'sandbox'},
      })
      if (!token.ok) throw this.apiError('GetAccessToken', token.error)
      accessToken = String(token.data.accessToken ?? '')
      if (!accessToken) throw remoteError('Aliyun GetAccessToken answered without a token', 'ALIYUN_BAD_RESPONSE')
    } catch (error) {
      // the sandbox exists (and is billed): never leave it behind
      await this.destroyInstance({instanceId: sandboxId, provider: this.id, status, metadata: {}}).catch(() => {})
      throw error
    }
    this.tokens.set(sandboxId, accessToken)
    return {
      instanceId: sandboxId,
      provider: this.id,
      status: 'READY',
      metadata: {language, region: this.region, account_id: this.accountId, template_name: template, created_at: new Date().toISOString()},
    }
  }

  async executeCode(instance: SandboxInstance, request: ExecuteRequest): Promise<RunResult> {
    const timeout = Math.max(1, Math.min(Math.ceil(request.timeoutSeconds), this.timeoutSeconds, ALIYUN_MAX_TIMEOUT))
    const script = wrapCode(request.language, request.code, request.arguments ?? {})
    const url = `${this.dataBase}/sandboxes/${percentEncode(instance.instanceId)}/contexts/execute`
    const started = performance.now()
    let response: Response
    try {
      response = await fetchWithTimeout(
        url,
        {
          method: 'POST',
          headers: {'Content-Type': 'application/json', Accept: 'application/json', 'Agentrun-Access-Token': this.tokens.get(instance.instanceId) ?? ''},
          body: JSON.stringify({code: script, language: aliyunLanguage(request.language), timeout}),
        },
        (timeout + 15) * 1000,
      )
    } catch (error) {
      if ((error as Error)?.name === 'TimeoutError') {
        return remoteResult({stdout: '', stderr: '', exitCode: -1, timedOut: true, timeoutSeconds: timeout, wallMs: performance.now() - started})
      }
      throw this.unreachable('data', this.dataBase, 'ExecuteCode', error)
    }
    const text = await response.text()
    const wallMs = performance.now() - started
    if (!response.ok) {
      if (response.status === 408 || /timeout/i.test(text)) {
        return remoteResult({stdout: '', stderr: '', exitCode: -1, timedOut: true, timeoutSeconds: timeout, wallMs})
      }
      let code = response.statusText
      let message = text.slice(0, 300)
      try {
        const parsed = JSON.parse(text) as {code?: string; message?: string}
        code = parsed.code ?? code
        message = parsed.message ?? message
      } catch {}
      throw this.apiError('ExecuteCode', {status: response.status, code, message})
    }
    let body: {results?: Array<Record<string, unknown>>}
    try {
      body = JSON.parse(text) as typeof body
    } catch {
      throw remoteError('Aliyun ExecuteCode answered with something that is not JSON', 'ALIYUN_BAD_RESPONSE')
    }
    return remoteResult({...parseResults(body.results ?? []), timeoutSeconds: timeout, wallMs})
  }

  async destroyInstance(instance: SandboxInstance): Promise<boolean> {
    this.tokens.delete(instance.instanceId)
    try {
      const answer = await this.control('DeleteSandbox', 'DELETE', `/${ALIYUN_API_VERSION}/sandboxes/${percentEncode(instance.instanceId)}`, {timeoutMs: 15_000})
      if (!answer.ok && answer.error.status !== 404) {
        this.emit('warn', `Aliyun DeleteSandbox ${instance.instanceId} failed: HTTP ${answer.error.status} ${answer.error.code}`)
        return false
      }
      return true
    } catch (error) {
      this.emit('warn', `Aliyun DeleteSandbox ${instance.instanceId} failed: ${errorMessage(error)}`)
      return false
    }
  }

  async healthCheck(): Promise<HealthStatus> {
    try {
      const answer = await this.control('ListTemplates', 'GET', `/${ALIYUN_API_VERSION}/templates`, {query: {pageNumber: '1', pageSize: '1'}, timeoutMs: 10_000})
      if (answer.ok) return {healthy: true, detail: `AgentRun control API at ${this.controlBase} accepted the credentials`}
      return {healthy: false, detail: `AgentRun ListTemplates: HTTP ${answer.error.status} ${answer.error.code}: ${answer.error.message}`}
    } catch (error) {
      return {healthy: false, detail: errorMessage(error)}
    }
  }

  supportedLanguages(): string[] {
    return ['python', 'javascript']
  }

  runtimeLabel(): string {
    return `Aliyun AgentRun ${this.region}`
  }

  async close(): Promise<void> {}
}

/**
 * The execute response's results[] → stdout, stderr, exit code. stdout/stderr items are
 * concatenated as they came (RAGFlow joins them with "\n", which adds blank lines); an
 * error item or an endOfExecution status other than "ok" means the code failed.
 */
export function parseResults(results: Array<Record<string, unknown>>): {stdout: string; stderr: string; exitCode: number; timedOut: boolean} {
  let stdout = ''
  let stderr = ''
  let exitCode = 0
  let timedOut = false
  for (const item of results) {
    const text = typeof item.text === 'string' ? item.text : ''
    switch (item.type) {
      case 'stdout':
        stdout += text
        break
      case 'stderr':
        stderr += text
        break
      case 'error': {
        const described = text || [item.name, item.value].filter(Boolean).join(': ')
        const traceback = Array.isArray(item.traceback) ? item.traceback.join('\n') : typeof item.traceback === 'string' ? item.traceback : ''
        const message = !traceback ? described : traceback.includes(described) ? traceback : `${traceback}\n${described}`
        stderr += stderr && !stderr.endsWith('\n') ? `\n${message}` : message
        exitCode = 1
        break
      }
      case 'endOfExecution': {
        const status = String(item.status ?? 'ok').toLowerCase()
        if (status === 'timeout') timedOut = true
        else if (status !== 'ok') exitCode = exitCode || 1
        break
      }
    }
  }
  return {stdout, stderr, exitCode, timedOut}
}
