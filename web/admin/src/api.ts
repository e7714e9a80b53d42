/** The page's client of the admin API (RAGFlow's envelope {code, message, data}) and of GET /status. */

export interface Provider {
  id: string
  name: string
  description: string
  tags: string[]
}

export interface FieldSpec {
  type: 'string' | 'integer' | 'boolean' | 'json'
  required?: boolean
  label?: string
  placeholder?: string
  default?: unknown
  min?: number
  max?: number
  description?: string
  secret?: boolean
  options?: string[]
  scope?: 'runtime' | 'deployment'
  readonly?: boolean
  multiline?: boolean
}

export type Schema = Record<string, FieldSpec>

export interface StoredConfig {
  provider_type: string
  config: Record<string, unknown>
  environment?: Record<string, string>
}

export interface TestReport {
  success: boolean
  message: string
  details: {exit_code: number | null; execution_time: number | null; stdout: string; stderr: string}
}

export interface Artifact {
  name: string
  mime_type: string
  size: number
  content_b64: string
}

export interface RunResult {
  status: string
  stdout: string
  stderr: string
  exit_code: number
  detail?: string | null
  time_used_ms?: number
  result?: {present: boolean; value: unknown; type: string}
  artifacts?: Artifact[]
}

export interface PoolStats {
  language: string
  size: number
  ready: number
  busy: number
  creating: number
  waiting: number
  rejected: number
  lastError: string | null
}

export interface StatusDocument {
  status: string
  phase: string
  reason: string | null
  startedAt: string
  uptimeSeconds: number
  pools: PoolStats[]
  admission: {limit: number; live: number; executing: number; queued: number; rejected: number}
  runs: {total: number; byStatus: Record<string, number>}
}

/** An answer that is not RAGFlow's success: the message is the server's (RAGFlow's text). */
export class ApiError extends Error {
  constructor(message: string, readonly status: number) {
    super(message)
  }
}

export class AdminApi {
  constructor(private readonly token: string, private readonly base = '/api/v1/admin/sandbox') {}

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown, url = `${this.base}${path}`): Promise<T> {
    const headers: Record<string, string> = {authorization: `Bearer ${this.token}`, accept: 'application/json'}
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(url, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)})
    let json: {code?: number; message?: string; data?: T; error?: string} = {}
    try {
      json = await res.json()
    } catch {
      throw new ApiError(`${method} ${url}: HTTP ${res.status} without a JSON answer`, res.status)
    }
    // GET /status is the manager's own document, not the admin envelope
    if (url === '/status') {
      if (!res.ok) throw new ApiError(json.message ?? `HTTP ${res.status}`, res.status)
      return json as T
    }
    if (!res.ok || json.code !== 0) throw new ApiError(json.message ?? `HTTP ${res.status}`, res.status)
    return json.data as T
  }

  providers = () => this.call<Provider[]>('GET', '/providers')
  schema = (id: string) => this.call<Schema>('GET', `/providers/${encodeURIComponent(id)}/schema`)
  config = () => this.call<StoredConfig>('GET', '/config')
  save = (providerType: string, config: Record<string, unknown>) => this.call<StoredConfig>('POST', '/config', {provider_type: providerType, config, set_active: true})
  test = (providerType: string, config: Record<string, unknown>) => this.call<TestReport>('POST', '/test', {provider_type: providerType, config})
  run = (code: string, language: string, args: Record<string, unknown>) => this.call<{provider: string; result: RunResult}>('POST', '/run', {code, language, arguments: args})
  status = () => this.call<StatusDocument>('GET', '', undefined, '/status')
}
