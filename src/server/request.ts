/**
 * Validation of POST /run bodies (RAGFlow's CodeExecutionRequest): `code_b64` (strict
 * base64 of UTF-8 source), `language` (python | nodejs, alias javascript | typescript, alias ts; default python),
 * `arguments` (object or null; default {}). Extra fields are ignored, as RAGFlow does, except
 * our own `policy` (a per-request code policy, honoured only by a manager started with
 * --allow-policy-override; http.ts refuses it otherwise). RAGFlow never sends it.
 * Malformed requests are answered 422/413 and never run.
 */
import {normalizeLanguage, SUPPORTED_LANGUAGES, type Language} from '../engine/languages.js'
import type {PolicyLevel, PolicyMode} from '../policy/types.js'
import {RUN_LIMITS} from '../run/request.js'

/** the run contract's limits (src/run/request.ts): the same code size as `sandbox run` and the suite */
export const LIMITS = RUN_LIMITS

export interface RunRequestBody {
  language: Language
  code: string
  arguments: Record<string, unknown>
  codeBytes: number
  /** the `policy` field as sent (validated), undefined when absent or null */
  policy?: PolicyOverride
}

/**
 * Code policy levels a request may ask for, and the engine mode each runs under. `ragflow`
 * and `standard` are the policy module's level names (`on` is the old name of `ragflow`);
 * until the engine knows `standard` it runs under the stricter RAGFlow rules, never looser.
 */
export const POLICY_OVERRIDES = {off: 'off', on: 'ragflow', ragflow: 'ragflow', standard: 'standard'} as const satisfies Record<PolicyMode, PolicyLevel>
export type PolicyOverride = keyof typeof POLICY_OVERRIDES

export class RequestError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 413 | 415 | 422,
    message: string,
    /** which field was wrong, RAGFlow/FastAPI style location */
    readonly field?: string,
  ) {
    super(message)
  }

  toJSON(): Record<string, unknown> {
    return {error: HTTP_REASONS[this.status] ?? 'error', message: this.message, ...(this.field ? {field: this.field} : {})}
  }
}

export const HTTP_REASONS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable_entity',
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Python's base64.b64decode(s, validate=True): alphabet only, correct padding. */
export function decodeStrictBase64(input: string): Buffer | undefined {
  if (input.length % 4 !== 0 || !BASE64.test(input)) return undefined
  return Buffer.from(input, 'base64')
}

const utf8 = new TextDecoder('utf-8', {fatal: true})

/**
 * POST /run's body as JSON schema: what the route documents (and OpenAPI will show). Every body
 * parseRunRequest accepts matches it; parseRunRequest's checks are stricter (strict base64, UTF-8,
 * sizes, known languages) and give RAGFlow's messages, so they run first.
 */
export const RUN_BODY_SCHEMA = {
  type: 'object',
  required: ['code_b64'],
  properties: {
    code_b64: {type: 'string', description: 'base64 (standard alphabet, padded) of the UTF-8 source, which defines main'},
    language: {type: ['string', 'null'], description: 'python (default) or nodejs; alias javascript'},
    arguments: {type: ['object', 'null'], description: 'keyword arguments of main', additionalProperties: true},
    policy: {type: ['string', 'null'], enum: [...Object.keys(POLICY_OVERRIDES), null], description: 'per-request code policy (only with --allow-policy-override and the token)'},
  },
  additionalProperties: true,
} as const

/** Parse and validate one /run body. Throws RequestError (never runs anything). */
export function parseRunRequest(body: Buffer | string, limits: {maxCodeBytes: number} = LIMITS): RunRequestBody & {wire: Record<string, unknown>} {
  const text = typeof body === 'string' ? body : decodeUtf8(body, 'Request body is not valid UTF-8')
  if (!text.trim()) throw new RequestError(422, 'Request body is empty: send a JSON object {"code_b64": ..., "language": ..., "arguments": ...}')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    // the parser's own message quotes the body: never echo or log user input
    throw new RequestError(422, 'Request body is not valid JSON')
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new RequestError(422, 'Request body must be a JSON object {"code_b64": ..., "language": ..., "arguments": ...}')
  }
  const obj = parsed as Record<string, unknown>

  const rawLanguage = obj.language
  let language: Language = 'python'
  if (rawLanguage !== undefined && rawLanguage !== null) {
    if (typeof rawLanguage !== 'string') throw new RequestError(422, `language must be a string: ${SUPPORTED_LANGUAGES}`, 'language')
    const lang = normalizeLanguage(rawLanguage)
    if (!lang) throw new RequestError(422, `Unsupported language ${quoteInput(rawLanguage)}: use ${SUPPORTED_LANGUAGES}`, 'language')
    language = lang
  }

  const b64 = obj.code_b64
  if (b64 === undefined || b64 === null) throw new RequestError(422, 'code_b64 is required: the base64 of the UTF-8 source', 'code_b64')
  if (typeof b64 !== 'string') throw new RequestError(422, 'code_b64 must be a string: the base64 of the UTF-8 source', 'code_b64')
  if (b64.length > Math.ceil(limits.maxCodeBytes / 3) * 4) {
    throw new RequestError(413, `Code is too large: at most ${limits.maxCodeBytes} bytes after base64 decoding`, 'code_b64')
  }
  const bytes = decodeStrictBase64(b64)
  if (!bytes) throw new RequestError(422, 'Invalid base64 encoding in code_b64 (standard alphabet, padded, no whitespace)', 'code_b64')
  if (bytes.length > limits.maxCodeBytes) {
    throw new RequestError(413, `Code is too large: at most ${limits.maxCodeBytes} bytes after base64 decoding`, 'code_b64')
  }
  const code = decodeUtf8(bytes, 'code_b64 does not decode to UTF-8 text', 'code_b64')
  if (!code.trim()) throw new RequestError(422, 'code_b64 decodes to empty code: the code must define main', 'code_b64')

  const args = obj.arguments
  if (args !== undefined && args !== null && (typeof args !== 'object' || Array.isArray(args))) {
    throw new RequestError(422, 'arguments must be a JSON object (or null)', 'arguments')
  }
  const policy = parsePolicyField(obj.policy)
  return {language, code, arguments: (args ?? {}) as Record<string, unknown>, codeBytes: bytes.length, ...(policy ? {policy} : {}), wire: obj}
}

function parsePolicyField(value: unknown): PolicyOverride | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string' || !Object.hasOwn(POLICY_OVERRIDES, value)) {
    throw new RequestError(422, `policy must be one of ${Object.keys(POLICY_OVERRIDES).join(', ')} (or absent: the manager's own policy)`, 'policy')
  }
  return value as PolicyOverride
}

/** Control characters, and the invisible ones that reorder or hide text (bidi controls, zero-width, line/paragraph separators). */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/gu

/**
 * A caller's value, safe to quote in an error message (and so in the 422 body and the log):
 * unprintable characters removed, at most `max` code points (then "…"), in JSON string
 * quotes with `"` and `\` escaped.
 */
export function quoteInput(value: string, max = 32): string {
  const chars = [...value.replace(UNPRINTABLE, '')]
  const shown = chars.length > max ? `${chars.slice(0, max).join('')}…` : chars.join('')
  return JSON.stringify(shown)
}

function decodeUtf8(buf: Uint8Array, message: string, field?: string): string {
  try {
    return utf8.decode(buf)
  } catch {
    throw new RequestError(422, message, field)
  }
}
