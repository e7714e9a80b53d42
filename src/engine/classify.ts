/**
 * Map what happened in a run to RAGFlow's status / exit code / detail fields.
 *
 * Facts decide, in this order: the limits the host enforced (time, output, memory: the
 * container's OOM flag), then whether the program completed (main returned, or it exited
 * with status 0 on purpose), then the runner's own record of the exception that ended it
 * (its type, e.g. "PermissionError:EACCES" or "Error:ECONNREFUSED"), then the exit status
 * and signal. stderr TEXT is only read to label a run that failed without any record (the
 * process died before its runner could report): it never turns a completed run into a
 * failure and never overrides what the runner recorded.
 */
import {constants} from 'node:os'

import {ARTIFACT_CAPS, type ControlFrame, holdsInfiniteNumber} from './frame.js'
import {emptyResult, EXIT, MIME_TYPES, type RunResult} from './result.js'
import {quote, UNPRINTABLE} from '../text.js'

export interface ClassifyInput {
  stdout: string
  stderr: string
  control: ControlFrame | undefined
  markerResult: RunResult['result'] | undefined
  exitCode: number
  /** the daemon's OOM flag; undefined when it could not be asked */
  oomKilled: boolean | undefined
  timedOut: boolean
  outputOverflow: boolean
  /** which cap stopped the run (default: the stdout+stderr cap) and the line appended to stderr ('' for none) */
  outputLimitDetail?: string
  outputLimitNote?: string
  /** the host's wall clock for the job */
  wallMs: number
  /** the container's peak memory measured from outside (cgroup), null when unavailable */
  memoryKb: number | null
  timeoutSeconds: number
  memoryBytes: number
  maxOutputBytes: number
}

/**
 * What the runner (or a remote provider's wrapper) recorded about the exception that ended
 * the program. `type` is "Name" or "Name:CODE": Python's class name plus the errno name of an
 * OSError (the system error at the root of the exception chain), Node's `error.name` plus its
 * `code` (or the code at the root of its `cause` chain).
 */
export interface ErrorRecord {
  type: string | null
  message: string | null
}

/** The facts about how a program ended, from the engine or a remote provider. */
export interface OutcomeFacts {
  /** the user's stderr */
  stderr: string
  /** the exit status: the runner's recorded one when it reported, else the process's */
  exitCode: number
  /** main returned, or the program exited with status 0 on purpose (sys.exit(0), process.exit(0)) */
  completed: boolean
  /** the runner's record of the exception; undefined when nothing recorded why the program ended */
  record: ErrorRecord | undefined
  /** the platform's OOM flag; undefined when the platform does not say (exit 137 then reads as OOM, as RAGFlow reads it) */
  oomKilled: boolean | undefined
  timedOut: boolean
  outputOverflow: boolean
  /** which cap stopped the run (default: the stdout+stderr cap) and the line appended to stderr ('' for none) */
  outputLimitDetail?: string
  outputLimitNote?: string
  timeoutSeconds: number
  maxOutputBytes: number
  /** a runner was expected to report: say so when it did not */
  expectRecord?: boolean
}

export type Outcome = Pick<RunResult, 'status' | 'exit_code' | 'stderr' | 'detail' | 'resource_limit_type' | 'unauthorized_access_type' | 'runtime_error_type'>

export type Label = Pick<RunResult, 'status' | 'detail' | 'resource_limit_type' | 'unauthorized_access_type'>

export const LABELS = {
  memory: {status: 'resource_limit_exceeded', detail: 'Memory limit exceeded', resource_limit_type: 'memory', unauthorized_access_type: null},
  network: {status: 'unauthorized_access', detail: 'Network access is not allowed in the sandbox', resource_limit_type: null, unauthorized_access_type: 'network_access'},
  file: {status: 'unauthorized_access', detail: 'File access is not allowed', resource_limit_type: null, unauthorized_access_type: 'file_access'},
  syscall: {status: 'unauthorized_access', detail: 'Operation not permitted in the sandbox', resource_limit_type: null, unauthorized_access_type: 'disallowed_syscall'},
} as const satisfies Record<string, Label>

/** errno / getaddrinfo / Node codes of a refused, unreachable or unresolvable network */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'EADDRNOTAVAIL',
  'EAI_AGAIN',
  'EAI_NONAME',
  'EAI_NODATA',
  'EAI_FAIL',
  'EAI_ADDRFAMILY',
  'ENOTFOUND',
])
/** exception types that are network failures whatever their code (Python's socket.gaierror / herror) */
const NETWORK_TYPES = new Set(['ConnectionRefusedError', 'gaierror', 'herror'])
const FILE_CODES = new Set(['EACCES', 'EROFS'])
const SYSCALL_CODES = new Set(['EPERM'])
const MEMORY_CODES = new Set(['ENOMEM', 'ERR_MEMORY_ALLOCATION_FAILED', 'ERR_OUT_OF_MEMORY'])
const MEMORY_TYPES = new Set(['MemoryError'])

/** Split "Name:CODE" (either part may be missing). */
export function parseErrorType(type: string | null | undefined): {name: string | null; code: string | null} {
  if (typeof type !== 'string' || !type) return {name: null, code: null}
  const at = type.lastIndexOf(':')
  if (at < 0) return {name: type, code: null}
  return {name: type.slice(0, at) || null, code: type.slice(at + 1) || null}
}

/** The label a runner-recorded exception type earns; undefined for an ordinary program error. */
export function labelFromErrorRecord(record: ErrorRecord): Label | undefined {
  const {name, code} = parseErrorType(record.type)
  if ((code && MEMORY_CODES.has(code)) || (name && MEMORY_TYPES.has(name))) return LABELS.memory
  // V8's own message when an ArrayBuffer cannot be allocated
  if (name === 'RangeError' && /^Array buffer allocation failed/.test(record.message ?? '')) return LABELS.memory
  if ((code && NETWORK_CODES.has(code)) || (name && NETWORK_TYPES.has(name))) return LABELS.network
  if (code && SYSCALL_CODES.has(code)) return LABELS.syscall
  if ((code && FILE_CODES.has(code)) || (!code && name === 'PermissionError')) return LABELS.file
  return undefined
}

/**
 * RAGFlow's reading of a failed program's stderr (plus network errors, which RAGFlow never
 * produced because its sandboxes had a network). Only for a run that failed and left no
 * record of why: never for a run that completed, never over a runner's record.
 */
export function labelFromStderr(stderr: string): Label | undefined {
  if (/\bMemoryError\b|ERR_OUT_OF_MEMORY|JavaScript heap out of memory|Array buffer allocation failed|Cannot allocate memory/.test(stderr)) return LABELS.memory
  if (
    /Network is unreachable|Connection refused|ECONNREFUSED|ENETUNREACH|EAI_AGAIN|ENOTFOUND|Temporary failure in name resolution|Name or service not known|getaddrinfo/.test(stderr)
  )
    return LABELS.network
  if (/Permission denied|EACCES|Read-only file system|EROFS/.test(stderr)) return LABELS.file
  if (/Operation not permitted|EPERM/.test(stderr)) return LABELS.syscall
  return undefined
}

function lastLine(text: string): string | null {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  return lines.length ? lines.at(-1)!.slice(0, 500) : null
}

function signalName(signal: number): string | undefined {
  return Object.entries(constants.signals).find(([, n]) => n === signal)?.[0]
}

const NONE = {detail: null, resource_limit_type: null, unauthorized_access_type: null, runtime_error_type: null} as const

/** The status, exit code, stderr and labels for how a program ended. Shared by the engine and remote providers. */
export function decideOutcome(f: OutcomeFacts): Outcome {
  if (f.timedOut) {
    return {
      ...NONE,
      status: 'resource_limit_exceeded',
      exit_code: EXIT.TIMEOUT,
      stderr: joinLines(f.stderr, 'Execution timeout'),
      detail: `Execution timeout after ${f.timeoutSeconds}s`,
      resource_limit_type: 'time',
    }
  }
  // we stopped it for its output: an OOM flag raised while it flooded is a consequence, not the cause
  if (f.outputOverflow) {
    return {
      ...NONE,
      status: 'resource_limit_exceeded',
      exit_code: EXIT.OUTPUT_LIMIT,
      stderr: joinLines(f.stderr, f.outputLimitNote ?? `[output truncated: more than ${f.maxOutputBytes} bytes; the run was stopped]`),
      detail: f.outputLimitDetail ?? 'Output limit exceeded',
      resource_limit_type: 'output',
    }
  }
  const oom = () => ({
    ...NONE,
    status: 'resource_limit_exceeded' as const,
    exit_code: EXIT.OUT_OF_MEMORY,
    stderr: joinLines(f.stderr, 'Memory limit exceeded (killed by OOM)'),
    detail: 'Memory limit exceeded',
    resource_limit_type: 'memory' as const,
  })
  if (f.oomKilled === true) return oom()
  if (f.completed) return {...NONE, status: 'success', exit_code: 0, stderr: f.stderr}
  const exitCode = f.exitCode === 0 ? 1 : f.exitCode
  if (f.record) {
    // the runner saw the exception: its type decides, whatever the program printed
    const label = labelFromErrorRecord(f.record)
    if (label) return {...NONE, ...label, exit_code: exitCode, stderr: f.stderr}
    return {...NONE, status: 'program_error', exit_code: exitCode, stderr: f.stderr, detail: f.record.message, runtime_error_type: 'nonzero_exit'}
  }
  // nothing recorded why it ended: exit status and signal decide, stderr only refines the label
  if (f.oomKilled === undefined && f.exitCode === 137) return oom()
  const stderr = f.expectRecord ? joinLines(f.stderr, `The program ended without a result (exit code ${f.exitCode})`) : f.stderr
  if (f.exitCode > 128 && f.exitCode < 128 + 65) {
    const signal = f.exitCode - 128
    if (labelFromStderr(f.stderr) === LABELS.memory) return {...NONE, ...LABELS.memory, exit_code: exitCode, stderr}
    const name = signalName(signal)
    return {...NONE, status: 'runtime_error', exit_code: exitCode, stderr, detail: `killed by signal ${signal}${name ? ` (${name})` : ''}`, runtime_error_type: 'signalled'}
  }
  const label = labelFromStderr(f.stderr)
  if (label) return {...NONE, ...label, exit_code: exitCode, stderr}
  return {...NONE, status: 'program_error', exit_code: exitCode, stderr, detail: lastLine(f.stderr), runtime_error_type: 'nonzero_exit'}
}

/** Map what happened in an engine run (the runner's control frame and the container's exit) to a RunResult. */
export function classify(i: ClassifyInput): RunResult {
  // measured by the host, never taken from the runner's report
  const base = {stdout: i.stdout, time_used_ms: Math.round(i.wallMs * 1000) / 1000, memory_used_kb: i.memoryKb}
  const c = i.control
  // the runner's frame is the record when it arrived (its exit_code checked to be 0..255 by the
  // schema, frame.ts); the container's exit status otherwise
  const exitCode = c ? (c.ok ? 0 : c.exit_code) : i.exitCode
  const outcome = decideOutcome({
    stderr: i.stderr,
    exitCode,
    completed: exitCode === 0,
    record: c && !c.ok ? {type: c.error_type, message: c.error} : undefined,
    oomKilled: i.oomKilled,
    timedOut: i.timedOut,
    outputOverflow: i.outputOverflow,
    outputLimitDetail: i.outputLimitDetail,
    outputLimitNote: i.outputLimitNote,
    timeoutSeconds: i.timeoutSeconds,
    maxOutputBytes: i.maxOutputBytes,
    expectRecord: true,
  })
  if (outcome.resource_limit_type === 'time') return emptyResult({...base, ...outcome, time_used_ms: Math.round(i.wallMs)})
  // killed at the memory limit: the peak the cgroup measured when it could be read, else the limit
  if (outcome.exit_code === EXIT.OUT_OF_MEMORY) return emptyResult({...base, ...outcome, memory_used_kb: i.memoryKb ?? Math.round(i.memoryBytes / 1024)})
  if (outcome.status !== 'success') return emptyResult({...base, ...outcome})
  if (!c) return emptyResult({...base, ...outcome, result: i.markerResult ?? null})
  // a number beyond what a JSON number carries here (±1.8e308) would come back as null: refused, as NaN is
  if (c.result?.present && holdsInfiniteNumber(c.result.value)) {
    const detail = 'main() returned a number too large for JSON (beyond ±1.8e308): return it as a string'
    return emptyResult({...base, ...NONE, status: 'program_error', exit_code: 1, stderr: joinLines(i.stderr, detail), detail, runtime_error_type: 'nonzero_exit'})
  }
  // the control frame comes from inside the sandbox: never trust what it says about files
  const notes = c.notes?.length ? c.notes.join('\n') : ''
  const {artifacts, rejected} = checkArtifacts(c.artifacts)
  return emptyResult({...base, ...outcome, stderr: joinLines(i.stderr, [notes, ...rejected].filter(Boolean).join('\n')), result: c.result ?? i.markerResult ?? null, artifacts})
}

export function joinLines(a: string, b: string): string {
  if (!b) return a
  if (!a) return b
  return a.endsWith('\n') ? a + b : `${a}\n${b}`
}

export const ARTIFACT_LIMITS = {maxFiles: ARTIFACT_CAPS.files, maxBytes: ARTIFACT_CAPS.fileBytes} as const

/** A plain file name with an allowed extension: no path separators, no "..", no leading dot, no control characters. */
export function isSafeArtifactName(name: unknown): name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 255) return false
  if (name.startsWith('.') || name.includes('/') || name.includes('\\') || name.includes('..') || UNPRINTABLE.test(name)) return false
  const ext = name.includes('.') ? name.split('.').pop()!.toLowerCase() : ''
  return ext in MIME_TYPES
}

/** Host-side validation of the artifacts a runner reported. */
export function checkArtifacts(reported: unknown): {artifacts: RunResult['artifacts']; rejected: string[]} {
  const artifacts: RunResult['artifacts'] = []
  const rejected: string[] = []
  const list = Array.isArray(reported) ? reported : []
  for (const a of list as Array<{name?: unknown; size?: unknown; content_b64?: unknown}>) {
    const label = typeof a?.name === 'string' ? a.name.slice(0, 100) : '(unnamed)'
    if (!isSafeArtifactName(a?.name)) {
      rejected.push(`artifact ${quote(label)} rejected: invalid name or type`)
      continue
    }
    if (typeof a.content_b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(a.content_b64)) {
      rejected.push(`artifact ${a.name} rejected: invalid content`)
      continue
    }
    const bytes = Buffer.from(a.content_b64, 'base64')
    if (bytes.length === 0 || bytes.length > ARTIFACT_LIMITS.maxBytes || bytes.length !== a.size) {
      rejected.push(`artifact ${a.name} rejected: size`)
      continue
    }
    if (artifacts.some((x) => x.name === a.name)) continue
    if (artifacts.length >= ARTIFACT_LIMITS.maxFiles) {
      rejected.push(`artifact ${a.name} rejected: at most ${ARTIFACT_LIMITS.maxFiles} artifacts are returned`)
      continue
    }
    const ext = a.name.split('.').pop()!.toLowerCase()
    artifacts.push({name: a.name, mime_type: MIME_TYPES[ext], size: bytes.length, content_b64: a.content_b64})
  }
  return {artifacts, rejected}
}
