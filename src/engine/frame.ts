/**
 * The runner's control frame: its limits, its schema, and the host-side check of every field.
 *
 * Everything in a frame comes from inside the sandbox and is treated as data the user's code
 * could have written (code can learn the frame's nonce): the frame may say what `main` returned,
 * how it failed and which files it left, never how long the run took or how much memory it used
 * (the engine measures those from outside). A frame of the wrong shape is malformed; a frame of
 * the right shape over one of the caps below is an output limit.
 */

/** Default cap of main's return value, as compact JSON in UTF-8 (SANDBOX_MAX_RESULT_BYTES). */
export const DEFAULT_MAX_RESULT_BYTES = 4 * 1024 * 1024

/**
 * Artifact caps. Reachable within the default 256 MiB memory limit: the runner holds the files'
 * bytes, their base64 and the frame at once (about 4x the total) next to the interpreter.
 */
export const ARTIFACT_CAPS = {files: 10, fileBytes: 10 * 1024 * 1024, totalBytes: 16 * 1024 * 1024} as const

/**
 * How deep main's return value may nest. The host serialises the value again (the size check,
 * the HTTP answer, --json) with JSON.stringify, which recurses: 5,000 nested lists overflowed
 * the host's stack and a successful run came back as an internal error. Python's json cannot
 * write more than about 1,000 levels under its default recursion limit; deeper is an output limit.
 */
export const MAX_RESULT_DEPTH = 1000

/** true when `value` nests containers deeper than `max` levels (walked without recursion) */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!
    if (typeof v !== 'object' || v === null) continue
    if (depth > max) return true
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1])
  }
  return false
}

/** Whether a parsed JSON value holds a number JSON.parse could not carry (an integer like 10**400 becomes Infinity). */
export function holdsInfiniteNumber(value: unknown): boolean {
  const stack: unknown[] = [value]
  while (stack.length > 0) {
    const v = stack.pop()
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return true
    } else if (typeof v === 'object' && v !== null) for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push(child)
  }
  return false
}

export interface FrameLimits {
  maxResultBytes: number
  maxArtifacts: number
  maxArtifactBytes: number
  maxArtifactTotalBytes: number
  maxNameChars: number
  maxErrorChars: number
  maxErrorTypeChars: number
  maxNotes: number
  maxNoteChars: number
}

export function frameLimits(maxResultBytes = DEFAULT_MAX_RESULT_BYTES): FrameLimits {
  return {
    maxResultBytes,
    maxArtifacts: ARTIFACT_CAPS.files,
    maxArtifactBytes: ARTIFACT_CAPS.fileBytes,
    maxArtifactTotalBytes: ARTIFACT_CAPS.totalBytes,
    maxNameChars: 255,
    // the runners' own bounds: an error message of 4,000 characters (as the remote wrapper's), an
    // error type "Name:CODE" of a name of at most 100 characters and a code of at most 64
    maxErrorChars: 4000,
    maxErrorTypeChars: 100 + 1 + 64,
    maxNotes: 64,
    maxNoteChars: 1024,
  }
}

const base64Length = (bytes: number) => Math.ceil(bytes / 3) * 4

/**
 * Largest control frame (its base64 text) a runner can honestly produce under these limits:
 * the result (the runner measures it in the encoding it writes), the artifacts' base64, every
 * bounded string at 6 bytes a character (a JSON escape), and the frame's own keys. The host
 * stops reading a frame at this size (about 36 MB with the defaults).
 */
export function maxFrameBytes(l: FrameLimits): number {
  const artifacts = base64Length(l.maxArtifactTotalBytes) + l.maxArtifacts * (l.maxNameChars * 6 + 64)
  const strings = (l.maxErrorChars + l.maxErrorTypeChars + l.maxNotes * (l.maxNoteChars + 2)) * 6
  return base64Length(l.maxResultBytes + artifacts + strings + 4096)
}

/** What the runner writes to the job: the same limits, in the runner's words. */
export function runnerLimits(l: FrameLimits): Record<string, number> {
  return {
    max_result_bytes: l.maxResultBytes,
    max_error_chars: l.maxErrorChars,
    max_error_type_chars: l.maxErrorTypeChars,
    max_notes: l.maxNotes,
    max_note_chars: l.maxNoteChars,
  }
}

export interface ControlFrame {
  ok: boolean
  result: {present: boolean; value: unknown; type: 'json'} | null
  error: string | null
  /** exception class (Python) or error name[:code] (Node), e.g. "PermissionError", "Error:ECONNREFUSED" */
  error_type: string | null
  /** the exit status the program ended with, as the OS reports it (0 when main returned) */
  exit_code: number
  artifacts: Array<{name: string; size: number; content_b64: string}>
  notes: string[]
}

/** The error_type a runner reports when it refused to send main's value because it is over the result cap. */
export const RESULT_LIMIT_ERROR_TYPE = 'ResultLimitExceeded'

export type FrameCheck =
  | {kind: 'ok'; frame: ControlFrame}
  /** wrong shape: the runner's report cannot be used */
  | {kind: 'malformed'; reason: string}
  /** right shape, over a cap */
  | {kind: 'limit'; detail: string}

const KEYS = new Set(['ok', 'result', 'error', 'error_type', 'exit_code', 'artifacts', 'notes'])
/** both runners always send every field */
const REQUIRED = [...KEYS]
const ARTIFACT_KEYS = ['name', 'size', 'content_b64']
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const sameKeys = (o: Record<string, unknown>, keys: string[]) => {
  const own = Object.keys(o)
  return own.length === keys.length && keys.every((k) => Object.hasOwn(o, k))
}

/** Check a decoded frame (the value JSON.parse gave) against the schema and the caps. */
export function checkControlFrame(raw: unknown, l: FrameLimits): FrameCheck {
  const bad = (reason: string): FrameCheck => ({kind: 'malformed', reason})
  if (!isPlainObject(raw)) return bad('the frame is not a JSON object')
  const unknown = Object.keys(raw).filter((k) => !KEYS.has(k))
  if (unknown.length)
    return bad(
      `unknown field(s) ${unknown
        .slice(0, 5)
        .map((k) => JSON.stringify(k.slice(0, 40)))
        .join(', ')}`,
    )
  const missing = REQUIRED.filter((k) => !Object.hasOwn(raw, k))
  if (missing.length) return bad(`missing field(s) ${missing.join(', ')}`)
  const {ok, result, error, artifacts, notes} = raw
  const errorType = raw.error_type
  if (typeof ok !== 'boolean') return bad('ok must be a boolean')
  if (result !== null) {
    if (!isPlainObject(result) || !sameKeys(result, ['present', 'value', 'type'])) return bad('result must be null or {present, value, type}')
    if (typeof result.present !== 'boolean') return bad('result.present must be a boolean')
    if (result.type !== 'json') return bad('result.type must be "json"')
  }
  if (error !== null && typeof error !== 'string') return bad('error must be a string or null')
  if (typeof error === 'string' && error.length > l.maxErrorChars) return bad(`error is longer than ${l.maxErrorChars} characters`)
  if (errorType !== null && typeof errorType !== 'string') return bad('error_type must be a string or null')
  if (typeof errorType === 'string' && errorType.length > l.maxErrorTypeChars) return bad(`error_type is longer than ${l.maxErrorTypeChars} characters`)
  const code = raw.exit_code
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 0 || code > 255) return bad('exit_code must be an integer from 0 to 255')
  if (!Array.isArray(notes)) return bad('notes must be a list')
  if (notes.length > l.maxNotes) return bad(`more than ${l.maxNotes} notes`)
  for (const n of notes) {
    if (typeof n !== 'string') return bad('notes must be strings')
    if (n.length > l.maxNoteChars) return bad(`a note is longer than ${l.maxNoteChars} characters`)
  }
  if (!Array.isArray(artifacts)) return bad('artifacts must be a list')
  let total = 0
  for (const a of artifacts) {
    if (!isPlainObject(a) || !sameKeys(a, ARTIFACT_KEYS)) return bad('each artifact must be {name, size, content_b64}')
    if (typeof a.name !== 'string' || a.name.length === 0 || a.name.length > l.maxNameChars) return bad(`an artifact name must be a string of 1 to ${l.maxNameChars} characters`)
    if (typeof a.size !== 'number' || !Number.isSafeInteger(a.size) || a.size < 0) return bad('an artifact size must be a whole number')
    if (typeof a.content_b64 !== 'string' || a.content_b64.length % 4 !== 0 || !BASE64.test(a.content_b64)) return bad('an artifact content must be base64')
    const bytes = (a.content_b64.length / 4) * 3 - (a.content_b64.endsWith('==') ? 2 : a.content_b64.endsWith('=') ? 1 : 0)
    if (bytes > l.maxArtifactBytes) return {kind: 'limit', detail: `an artifact of ${bytes} bytes is over the ${l.maxArtifactBytes}-byte limit per artifact`}
    total += bytes
  }
  if (artifacts.length > l.maxArtifacts) return {kind: 'limit', detail: `${artifacts.length} artifacts, over the limit of ${l.maxArtifacts}`}
  if (total > l.maxArtifactTotalBytes) return {kind: 'limit', detail: `${total} bytes of artifacts, over the ${l.maxArtifactTotalBytes}-byte total limit`}
  if (result !== null) {
    if (nestsDeeperThan(result.value, MAX_RESULT_DEPTH)) return {kind: 'limit', detail: `main() returned a value nested deeper than ${MAX_RESULT_DEPTH} levels`}
    const size = Buffer.byteLength(JSON.stringify(result.value) ?? 'null', 'utf8')
    if (size > l.maxResultBytes) return {kind: 'limit', detail: resultLimitDetail(size, l.maxResultBytes)}
  }
  const frame: ControlFrame = {
    ok,
    result: result === null ? null : {present: result.present as boolean, value: result.value, type: 'json'},
    error: error as string | null,
    error_type: errorType as string | null,
    exit_code: code,
    artifacts: artifacts as ControlFrame['artifacts'],
    notes: notes as string[],
  }
  return {kind: 'ok', frame}
}

export const resultLimitDetail = (size: number, max: number) => `main() returned ${size} bytes, over the ${max}-byte result limit (SANDBOX_MAX_RESULT_BYTES)`

/**
 * Collects one frame's base64 text as it streams in, decoding it in 4-character groups
 * (the host keeps the decoded bytes only) and refusing anything that is not base64.
 */
export class FrameDecoder {
  private carry = ''
  private readonly parts: Buffer[] = []
  private ended = false
  invalid = false

  push(text: Buffer): void {
    if (this.invalid || text.length === 0) return
    const s = this.carry + text.toString('latin1')
    const whole = s.length - (s.length % 4)
    const head = s.slice(0, whole)
    this.carry = s.slice(whole)
    // base64 characters only; '=' only as the padding of the last group
    if (/[^A-Za-z0-9+/=]/.test(s) || /=[^=]/.test(s) || (this.ended && s.length)) {
      this.invalid = true
      return
    }
    const eq = head.indexOf('=')
    if (eq >= 0) {
      if (eq < head.length - 2 || this.carry.length) {
        this.invalid = true
        return
      }
      this.ended = true
    }
    if (head.length) this.parts.push(Buffer.from(head, 'base64'))
  }

  /** the decoded frame, or undefined when it was not valid base64 */
  finish(): Buffer | undefined {
    if (this.invalid || this.carry.length) return undefined
    return Buffer.concat(this.parts)
  }
}

/** Decode and check a complete frame. */
export function parseControlFrame(decoded: Buffer | undefined, l: FrameLimits): FrameCheck {
  if (!decoded) return {kind: 'malformed', reason: 'the frame is not base64'}
  let raw: unknown
  try {
    raw = JSON.parse(decoded.toString('utf8'))
  } catch {
    return {kind: 'malformed', reason: 'the frame is not JSON'}
  }
  return checkControlFrame(raw, l)
}
