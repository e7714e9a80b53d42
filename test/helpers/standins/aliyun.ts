/**
 * A loopback stand-in for Aliyun AgentRun (API 2025-09-10), following its documented API:
 *
 * control plane (ROA, every request signed with ACS3-HMAC-SHA256 — verified here with an
 * implementation independent of src/providers/aliyun-signature.ts):
 *   GET    /2025-09-10/templates/{name}      GetTemplate      404 TemplateNotFound when missing
 *   POST   /2025-09-10/templates             CreateTemplate
 *   GET    /2025-09-10/templates             ListTemplates
 *   POST   /2025-09-10/sandboxes             CreateSandbox
 *   GET    /2025-09-10/sandboxes/{id}        GetSandbox
 *   DELETE /2025-09-10/sandboxes/{id}        DeleteSandbox
 *   GET    /2025-09-10/agents/accessToken    GetAccessToken (resourceId, resourceType=sandbox)
 *   answers {code: "SUCCESS", requestId, data}; errors {code, message, requestId}
 * data plane (header Agentrun-Access-Token from GetAccessToken):
 *   POST   /sandboxes/{id}/contexts/execute  {code, language, timeout} → {results:[{type,text}|…, {type:"endOfExecution",status}], contextId}
 *   GET    /sandboxes/{id}/health
 *
 * Code runs for real in our gVisor engine (launcher.ts).
 */
import {createHash, createHmac, randomBytes, randomUUID, timingSafeEqual} from 'node:crypto'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import {readBody, replyJson as reply} from './http.js'
import {runScript} from './launcher.js'

export interface AliyunStandIn {
  controlEndpoint: string
  dataEndpoint: string
  accessKeyId: string
  accessKeySecret: string
  accountId: string
  templates: Map<string, Record<string, unknown>>
  /** live sandboxes by id */
  sandboxes: Map<string, {templateName: string; token: string}>
  /** "Action" for control calls, "ExecuteCode" for data calls, in order */
  calls: string[]
  /** every signature failure seen */
  rejected: string[]
  close(): Promise<void>
}

const VERSION = '2025-09-10'

/** RFC 3986: unreserved characters stay, everything else %XX (upper case). */
function rfc3986(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((b) => {
      const c = String.fromCharCode(b)
      return /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
    })
    .join('')
}

export interface SignedRequest {
  method?: string
  /** path and query as sent */
  url?: string
  /** lower-case names */
  headers: Record<string, string | string[] | undefined>
}

/**
 * Verify an ACS3-HMAC-SHA256 request as the gateway would (written from the V3 signature
 * documentation, independently of src/providers/aliyun-signature.ts); returns an error code
 * or undefined when the signature is valid.
 */
export function verifyAcs3(req: SignedRequest, body: Buffer, keyId: string, secret: string, securityToken?: string): string | undefined {
  const auth = String(req.headers.authorization ?? '')
  const m = /^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$/.exec(auth)
  if (!m) return 'MissingAuthorization'
  if (m[1] !== keyId) return 'InvalidAccessKeyId.NotFound'
  const signed = m[2].split(';')
  const required = ['host', 'x-acs-action', 'x-acs-content-sha256', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-version']
  // temporary (STS) credentials: the token travels in x-acs-security-token, signed like every x-acs-* header
  if (securityToken !== undefined) required.push('x-acs-security-token')
  for (const name of required) {
    if (!signed.includes(name)) return name === 'x-acs-security-token' ? 'InvalidSecurityToken.Missing' : `MissingSignedHeader.${name}`
  }
  if (securityToken !== undefined && req.headers['x-acs-security-token'] !== securityToken) return 'InvalidSecurityToken.Mismatch'
  if (securityToken === undefined && req.headers['x-acs-security-token'] !== undefined) return 'InvalidSecurityToken.Unexpected'
  if (req.headers['x-acs-accesskey-id'] !== undefined && req.headers['x-acs-accesskey-id'] !== keyId) return 'InvalidAccessKeyId.Mismatch'
  // every x-acs-* header that was sent must be signed
  for (const name of Object.keys(req.headers)) if (name.startsWith('x-acs-') && !signed.includes(name)) return `UnsignedHeader.${name}`
  const bodyHash = createHash('sha256').update(body).digest('hex')
  if (req.headers['x-acs-content-sha256'] !== bodyHash) return 'ContentSha256Mismatch'
  const date = Date.parse(String(req.headers['x-acs-date'] ?? ''))
  if (!Number.isFinite(date) || Math.abs(Date.now() - date) > 15 * 60 * 1000) return 'InvalidTimeStamp.Expired'
  const [rawPath, rawQuery = ''] = (req.url ?? '/').split('?')
  const query = rawQuery
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const [k, v = ''] = pair.split('=')
      return [rfc3986(decodeURIComponent(k)), rfc3986(decodeURIComponent(v))] as const
    })
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
  const headers = [...signed]
    .sort()
    .map((name) => `${name}:${String(req.headers[name] ?? '').trim()}\n`)
    .join('')
  const canonical = `${req.method}\n${rawPath}\n${query}\n${headers}\n${signed.join(';')}\n${bodyHash}`
  const stringToSign = `ACS3-HMAC-SHA256\n${createHash('sha256').update(canonical).digest('hex')}`
  const expected = createHmac('sha256', secret).update(stringToSign).digest()
  if (!timingSafeEqual(expected, Buffer.from(m[3], 'hex'))) return 'SignatureDoesNotMatch'
  return undefined
}

export async function startAliyunStandIn(
  options: {accessKeyId?: string; accessKeySecret?: string; accountId?: string; /** temporary credentials: the token every control call must carry */ securityToken?: string} = {},
): Promise<AliyunStandIn> {
  const accessKeyId = options.accessKeyId ?? `${options.securityToken === undefined ? 'LTAI5t' : 'STS.NT'}${randomBytes(9).toString('hex')}`
  const accessKeySecret = options.accessKeySecret ?? randomBytes(15).toString('base64')
  const accountId = options.accountId ?? '1234567890123456'
  const templates = new Map<string, Record<string, unknown>>()
  const sandboxes = new Map<string, {templateName: string; token: string}>()
  const calls: string[] = []
  const rejected: string[] = []
  const ok = (res: ServerResponse, data: unknown) => reply(res, 200, {code: 'SUCCESS', requestId: randomUUID(), data})
  const fail = (res: ServerResponse, status: number, code: string, message: string) => reply(res, status, {code, message, requestId: randomUUID()})

  async function control(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req)
    const url = new URL(req.url ?? '/', 'http://control')
    const action = String(req.headers['x-acs-action'] ?? '')
    const problem = verifyAcs3(req, body, accessKeyId, accessKeySecret, options.securityToken)
    if (problem) {
      rejected.push(`${action}: ${problem}`)
      return fail(res, problem.startsWith('InvalidAccessKeyId') ? 404 : 403, problem, `The request signature does not conform to Aliyun standards (${problem})`)
    }
    if (req.headers['x-acs-version'] !== VERSION) return fail(res, 400, 'InvalidVersion', `unsupported version ${req.headers['x-acs-version']}`)
    calls.push(action)
    const payload = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {}
    const path = url.pathname
    const route = (method: string, pattern: RegExp, expected: string) => {
      const m = req.method === method ? pattern.exec(path) : null
      if (m && action !== expected) throw Object.assign(new Error(`x-acs-action ${action} does not match ${expected}`), {status: 400})
      return m
    }
    let m: RegExpExecArray | null
    if ((m = route('GET', /^\/2025-09-10\/templates\/([^/]+)$/, 'GetTemplate'))) {
      const t = templates.get(decodeURIComponent(m[1]))
      return t ? ok(res, t) : fail(res, 404, 'TemplateNotFound', `template ${decodeURIComponent(m[1])} does not exist`)
    }
    if ((m = route('POST', /^\/2025-09-10\/templates$/, 'CreateTemplate'))) {
      const name = String(payload.templateName ?? '')
      if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(name)) return fail(res, 400, 'InvalidParameter', 'templateName is invalid')
      if (payload.templateType !== 'CodeInterpreter') return fail(res, 400, 'InvalidParameter', 'templateType must be CodeInterpreter')
      if (templates.has(name)) return fail(res, 409, 'TemplateAlreadyExists', `template ${name} exists`)
      const t = {...payload, templateId: randomUUID(), status: 'READY', createdAt: new Date().toISOString()}
      templates.set(name, t)
      return ok(res, t)
    }
    if ((m = route('GET', /^\/2025-09-10\/templates$/, 'ListTemplates'))) return ok(res, {items: [...templates.values()], totalCount: templates.size})
    if ((m = route('POST', /^\/2025-09-10\/sandboxes$/, 'CreateSandbox'))) {
      const name = String(payload.templateName ?? '')
      if (!templates.has(name)) return fail(res, 404, 'TemplateNotFound', `template ${name} does not exist`)
      const id = `01${randomBytes(12).toString('hex').toUpperCase()}`
      sandboxes.set(id, {templateName: name, token: randomBytes(24).toString('base64url')})
      return ok(res, {sandboxId: id, templateName: name, status: 'READY', sandboxIdleTimeoutSeconds: payload.sandboxIdleTimeoutSeconds})
    }
    if ((m = route('GET', /^\/2025-09-10\/sandboxes\/([^/]+)$/, 'GetSandbox'))) {
      const s = sandboxes.get(m[1])
      return s ? ok(res, {sandboxId: m[1], templateName: s.templateName, status: 'READY'}) : fail(res, 404, 'SandboxNotFound', `sandbox ${m[1]} not found`)
    }
    if ((m = route('DELETE', /^\/2025-09-10\/sandboxes\/([^/]+)$/, 'DeleteSandbox'))) {
      if (!sandboxes.delete(m[1])) return fail(res, 404, 'SandboxNotFound', `sandbox ${m[1]} not found`)
      return ok(res, {sandboxId: m[1], status: 'TERMINATED'})
    }
    if ((m = route('GET', /^\/2025-09-10\/agents\/accessToken$/, 'GetAccessToken'))) {
      const id = url.searchParams.get('resourceId') ?? ''
      if (url.searchParams.get('resourceType') !== 'sandbox') return fail(res, 400, 'InvalidParameter', 'resourceType must be sandbox')
      const s = sandboxes.get(id)
      return s ? ok(res, {accessToken: s.token, resourceId: id}) : fail(res, 404, 'SandboxNotFound', `sandbox ${id} not found`)
    }
    return fail(res, 404, 'NotFound', `no route ${req.method} ${path}`)
  }

  async function data(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req)
    const url = new URL(req.url ?? '/', 'http://data')
    const m = /^\/sandboxes\/([^/]+)\/(contexts\/execute|health)$/.exec(url.pathname)
    const sandbox = m ? sandboxes.get(decodeURIComponent(m[1])) : undefined
    if (!m || !sandbox) return fail(res, 404, 'SandboxNotFound', `no sandbox for ${url.pathname}`)
    if (req.headers['agentrun-access-token'] !== sandbox.token) return fail(res, 401, 'Unauthorized', 'invalid Agentrun-Access-Token')
    if (m[2] === 'health') return reply(res, 200, {status: 'ok'})
    calls.push('ExecuteCode')
    const payload = JSON.parse(body.toString('utf8') || '{}') as {code?: string; language?: string; timeout?: number}
    if (payload.language !== 'python' && payload.language !== 'javascript') return fail(res, 400, 'InvalidParameter', `language must be 'python' or 'javascript'`)
    const timeout = Math.min(Math.max(1, Number(payload.timeout ?? 30)), 30)
    const outcome = await runScript(payload.language === 'python' ? 'python' : 'nodejs', String(payload.code ?? ''), timeout)
    const results: Array<Record<string, unknown>> = []
    if (outcome.stdout) results.push({type: 'stdout', text: outcome.stdout})
    if (outcome.timedOut) {
      results.push({type: 'endOfExecution', status: 'timeout'})
    } else if (outcome.exitCode !== 0) {
      // a notebook kernel reports the exception as an error item, not as stderr
      const lines = outcome.stderr.trim().split('\n')
      const last = lines[lines.length - 1] ?? ''
      const colon = last.indexOf(': ')
      results.push({type: 'error', name: colon > 0 ? last.slice(0, colon) : 'Error', value: colon > 0 ? last.slice(colon + 2) : last, traceback: outcome.stderr.replace(/\n$/, '')})
      results.push({type: 'endOfExecution', status: 'error'})
    } else {
      if (outcome.stderr) results.push({type: 'stderr', text: outcome.stderr})
      results.push({type: 'result', text: 'None'})
      results.push({type: 'endOfExecution', status: 'ok'})
    }
    return reply(res, 200, {results, contextId: `kernel-${randomUUID()}`})
  }

  const serve = (handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Server =>
    createServer((req, res) => {
      handler(req, res).catch((error: Error & {status?: number}) => {
        if (!res.headersSent) fail(res, error.status ?? 500, 'InternalError', error.message)
        else res.destroy()
      })
    })
  const controlServer = serve(control)
  const dataServer = serve(data)
  await Promise.all([controlServer, dataServer].map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))))
  const port = (s: Server) => (s.address() as AddressInfo).port
  return {
    controlEndpoint: `http://127.0.0.1:${port(controlServer)}`,
    dataEndpoint: `http://127.0.0.1:${port(dataServer)}`,
    accessKeyId,
    accessKeySecret,
    accountId,
    templates,
    sandboxes,
    calls,
    rejected,
    close: async () => {
      await Promise.all(
        [controlServer, dataServer].map(
          (s) =>
            new Promise<void>((resolve) => {
              s.closeAllConnections()
              s.close(() => resolve())
            }),
        ),
      )
    },
  }
}
