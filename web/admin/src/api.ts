/** The page's client of the admin API (RAGFlow's envelope {code, message, data}) and of GET /status. */

/*
 * The server's own types (type-only imports: nothing of src/ ends up in the bundle), so the page
 * cannot drift from what the API answers.
 */
import type {AdminConfig, ProviderSummary, TestReport, TryResult} from '../../../src/admin/service.js'
import type {RunResult} from '../../../src/engine/result.js'
import type {FieldSpec} from '../../../src/providers/types.js'
import type {StatusDocument} from '../../../src/server/status.js'

export type {RunResult, StatusDocument, TestReport}
export type Provider = ProviderSummary
/** one field as GET …/schema answers it: RAGFlow's keys (HEAD's multiline included) */
export type SchemaField = Omit<FieldSpec, 'env' | 'partial' | 'advanced' | 'legacy'> & {multiline?: boolean}
export type Schema = Record<string, SchemaField>
export type StoredConfig = AdminConfig

/** An answer that is not RAGFlow's success: the message is the server's (RAGFlow's text). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message)
  }
}

export class AdminApi {
  constructor(
    private readonly token: string,
    private readonly base = '/api/v1/admin/sandbox',
  ) {}

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
  run = (code: string, language: string, args: Record<string, unknown>) => this.call<TryResult>('POST', '/run', {code, language, arguments: args})
  status = () => this.call<StatusDocument>('GET', '', undefined, '/status')
}
