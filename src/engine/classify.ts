/** Map what happened in a run to RAGFlow's status / exit code / detail fields. */
import type {ControlFrame} from './output.js'
import {emptyResult, EXIT, MIME_TYPES, type RunResult} from './result.js'
import {quote, UNPRINTABLE} from '../text.js'

export interface ClassifyInput {
  stdout: string
  stderr: string
  control: ControlFrame | undefined
  markerResult: RunResult['result'] | undefined
  exitCode: number
  oomKilled: boolean
  timedOut: boolean
  outputOverflow: boolean
  wallMs: number
  timeoutSeconds: number
  memoryBytes: number
  maxOutputBytes: number
}

/** Map what happened to RAGFlow's status / exit code / detail fields. */
export function classify(i: ClassifyInput): RunResult {
  const time = i.control?.time_used_ms ?? Math.round(i.wallMs * 1000) / 1000
  const memory = i.control?.memory_used_kb ?? null
  const base = {stdout: i.stdout, time_used_ms: time, memory_used_kb: memory}
  if (i.timedOut) {
    return emptyResult({...base, status: 'resource_limit_exceeded', exit_code: EXIT.TIMEOUT, stderr: joinLines(i.stderr, 'Execution timeout'), detail: `Execution timeout after ${i.timeoutSeconds}s`, resource_limit_type: 'time', time_used_ms: Math.round(i.wallMs)})
  }
  if (i.oomKilled || (i.exitCode === 137 && !i.control && !i.outputOverflow)) {
    return emptyResult({...base, status: 'resource_limit_exceeded', exit_code: EXIT.OUT_OF_MEMORY, stderr: joinLines(i.stderr, 'Memory limit exceeded (killed by OOM)'), detail: 'Memory limit exceeded', resource_limit_type: 'memory', memory_used_kb: Math.round(i.memoryBytes / 1024)})
  }
  if (i.outputOverflow) {
    return emptyResult({...base, status: 'resource_limit_exceeded', exit_code: EXIT.OUTPUT_LIMIT, stderr: joinLines(i.stderr, `[output truncated: more than ${i.maxOutputBytes} bytes; the run was stopped]`), detail: 'Output limit exceeded', resource_limit_type: 'output'})
  }
  const notes = i.control?.notes?.length ? i.control.notes.join('\n') : ''
  if (i.control?.ok) {
    // the control frame comes from inside the sandbox: never trust what it says about files
    const {artifacts, rejected} = checkArtifacts(i.control.artifacts)
    return emptyResult({...base, status: 'success', exit_code: 0, stderr: joinLines(i.stderr, [notes, ...rejected].filter(Boolean).join('\n')), result: i.control.result ?? i.markerResult ?? null, artifacts})
  }
  if (!i.control && i.exitCode === 0) {
    return emptyResult({...base, status: 'success', exit_code: 0, stderr: i.stderr, result: i.markerResult ?? null})
  }
  const exitCode = i.exitCode === 0 ? 1 : i.exitCode
  const stderr = i.control ? i.stderr : joinLines(i.stderr, `The program ended without a result (exit code ${i.exitCode})`)
  const known = classifyStderr(stderr)
  if (known) return emptyResult({...base, ...known, exit_code: exitCode, stderr})
  if (!i.control && i.exitCode > 128) {
    return emptyResult({...base, status: 'runtime_error', exit_code: exitCode, stderr, detail: `killed by signal ${i.exitCode - 128}`, runtime_error_type: 'signalled'})
  }
  return emptyResult({...base, status: 'program_error', exit_code: exitCode, stderr, detail: i.control?.error ?? null, runtime_error_type: 'nonzero_exit'})
}

/**
 * RAGFlow's reading of a failed program's stderr (plus network errors, which RAGFlow never
 * produced because its sandboxes had a network). Shared by the engine and remote providers.
 */
export function classifyStderr(stderr: string): Pick<RunResult, 'status' | 'detail' | 'resource_limit_type' | 'unauthorized_access_type'> | undefined {
  if (/\bMemoryError\b|ERR_OUT_OF_MEMORY|JavaScript heap out of memory/.test(stderr)) {
    return {status: 'resource_limit_exceeded', detail: 'Memory limit exceeded', resource_limit_type: 'memory', unauthorized_access_type: null}
  }
  if (/Network is unreachable|ENETUNREACH|EAI_AGAIN|Temporary failure in name resolution|getaddrinfo/.test(stderr)) {
    return {status: 'unauthorized_access', detail: 'Network access is not allowed in the sandbox', resource_limit_type: null, unauthorized_access_type: 'network_access'}
  }
  if (/Permission denied|EACCES|Read-only file system|EROFS/.test(stderr)) {
    return {status: 'unauthorized_access', detail: 'File access is not allowed', resource_limit_type: null, unauthorized_access_type: 'file_access'}
  }
  if (/Operation not permitted|EPERM/.test(stderr)) {
    return {status: 'unauthorized_access', detail: 'Operation not permitted in the sandbox', resource_limit_type: null, unauthorized_access_type: 'disallowed_syscall'}
  }
  return undefined
}

export function joinLines(a: string, b: string): string {
  if (!b) return a
  if (!a) return b
  return a.endsWith('\n') ? a + b : `${a}\n${b}`
}

export const ARTIFACT_LIMITS = {maxFiles: 10, maxBytes: 10 * 1024 * 1024} as const

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
