/**
 * Alibaba Cloud OpenAPI signature V3 (ACS3-HMAC-SHA256), as the official SDKs compute it
 * (@alicloud/openapi-util getAuthorization) and as documented in "Request syntax and
 * signature method V3":
 *
 *   CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n SignedHeaders \n HexSHA256(body)
 *   StringToSign     = "ACS3-HMAC-SHA256" \n HexSHA256(CanonicalRequest)
 *   Signature        = Hex(HMAC-SHA256(AccessKeySecret, StringToSign))
 *   Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<h1;h2>,Signature=<sig>
 *
 * Signed headers: host, content-type and every x-acs-* header, lower-cased and sorted.
 */
import {createHash, createHmac, randomBytes} from 'node:crypto'

export const ACS3 = 'ACS3-HMAC-SHA256'

/** RFC 3986 percent-encoding (encodeURIComponent plus ! ' ( ) *). */
export function percentEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

export const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')

/** yyyy-MM-ddTHH:mm:ssZ */
export function acsDate(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** key=value pairs sorted by key, both RFC 3986 encoded. */
export function canonicalQuery(query: Record<string, string | undefined>): string {
  return Object.keys(query)
    .filter((k) => query[k] !== undefined)
    .sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(query[k] ?? '')}`)
    .join('&')
}

export function canonicalHeaders(headers: Record<string, string>): {canonical: string; signed: string} {
  const picked = new Map<string, string[]>()
  for (const [name, value] of Object.entries(headers)) {
    const key = name.toLowerCase()
    if (key === 'host' || key === 'content-type' || key.startsWith('x-acs-')) {
      picked.set(key, [...(picked.get(key) ?? []), String(value).trim()])
    }
  }
  const keys = [...picked.keys()].sort()
  return {canonical: keys.map((k) => `${k}:${picked.get(k)!.sort().join(',')}\n`).join(''), signed: keys.join(';')}
}

export interface SignInput {
  method: string
  /** already percent-encoded path, e.g. /2025-09-10/templates/ragflow-python-default */
  path: string
  query?: Record<string, string | undefined>
  /** every header that will be sent (host, content-type, x-acs-*) */
  headers: Record<string, string>
  body: string | Buffer
  accessKeyId: string
  accessKeySecret: string
}

export function canonicalRequest(input: Omit<SignInput, 'accessKeyId' | 'accessKeySecret'>): {text: string; signed: string} {
  const {canonical, signed} = canonicalHeaders(input.headers)
  const text = [input.method.toUpperCase(), input.path || '/', canonicalQuery(input.query ?? {}), canonical, signed, sha256Hex(input.body)].join('\n')
  return {text, signed}
}

export function authorization(input: SignInput): string {
  const {text, signed} = canonicalRequest(input)
  const stringToSign = `${ACS3}\n${sha256Hex(text)}`
  const signature = createHmac('sha256', input.accessKeySecret).update(stringToSign).digest('hex')
  return `${ACS3} Credential=${input.accessKeyId},SignedHeaders=${signed},Signature=${signature}`
}

/**
 * Headers of a signed ROA call: host, x-acs-action, x-acs-version, x-acs-date,
 * x-acs-signature-nonce, x-acs-content-sha256 (and x-acs-accesskey-id plus x-acs-security-token
 * for STS credentials), then Authorization.
 */
export function signedHeaders(options: {
  method: string
  url: URL
  action: string
  version: string
  body: string
  accessKeyId: string
  accessKeySecret: string
  securityToken?: string
  date?: Date
  nonce?: string
}): Record<string, string> {
  const headers: Record<string, string> = {
    host: options.url.host,
    'x-acs-action': options.action,
    'x-acs-version': options.version,
    'x-acs-date': acsDate(options.date),
    'x-acs-signature-nonce': options.nonce ?? randomBytes(16).toString('hex'),
    'x-acs-content-sha256': sha256Hex(options.body),
    accept: 'application/json',
  }
  if (options.body) headers['content-type'] = 'application/json'
  // temporary (STS) credentials, as the official SDKs send them (@alicloud/openapi-client):
  // both headers are x-acs-* and therefore part of the signed headers
  if (options.securityToken) {
    headers['x-acs-accesskey-id'] = options.accessKeyId
    headers['x-acs-security-token'] = options.securityToken
  }
  const query: Record<string, string> = {}
  for (const [k, v] of options.url.searchParams) query[k] = v
  headers.authorization = authorization({
    method: options.method,
    path: options.url.pathname,
    query,
    headers,
    body: options.body,
    accessKeyId: options.accessKeyId,
    accessKeySecret: options.accessKeySecret,
  })
  return headers
}
