/** Map what happened in a run to RAGFlow's status / exit code / detail fields. */
import type {ControlFrame} from './output.js'
import {emptyResult, EXIT, MIME_TYPES, type RunResult} from './result.js'

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
    const artifacts = i.control.artifacts.map((a) => ({name: a.name, mime_type: MIME_TYPES[a.name.split('.').pop()!.toLowerCase()] ?? 'application/octet-stream', size: a.size, content_b64: a.content_b64}))
    return emptyResult({...base, status: 'success', exit_code: 0, stderr: joinLines(i.stderr, notes), result: i.control.result ?? i.markerResult ?? null, artifacts})
  }
  if (!i.control && i.exitCode === 0) {
    return emptyResult({...base, status: 'success', exit_code: 0, stderr: i.stderr, result: i.markerResult ?? null})
  }
  const exitCode = i.exitCode === 0 ? 1 : i.exitCode
  const stderr = i.control ? i.stderr : joinLines(i.stderr, `The program ended without a result (exit code ${i.exitCode})`)
  if (/\bMemoryError\b|ERR_OUT_OF_MEMORY|JavaScript heap out of memory/.test(stderr)) {
    return emptyResult({...base, status: 'resource_limit_exceeded', exit_code: exitCode, stderr, detail: 'Memory limit exceeded', resource_limit_type: 'memory'})
  }
  if (/Network is unreachable|ENETUNREACH|EAI_AGAIN|Temporary failure in name resolution|getaddrinfo/.test(stderr)) {
    return emptyResult({...base, status: 'unauthorized_access', exit_code: exitCode, stderr, detail: 'Network access is not allowed in the sandbox', unauthorized_access_type: 'network_access'})
  }
  if (/Permission denied|EACCES|Read-only file system|EROFS/.test(stderr)) {
    return emptyResult({...base, status: 'unauthorized_access', exit_code: exitCode, stderr, detail: 'File access is not allowed', unauthorized_access_type: 'file_access'})
  }
  if (/Operation not permitted|EPERM/.test(stderr)) {
    return emptyResult({...base, status: 'unauthorized_access', exit_code: exitCode, stderr, detail: 'Operation not permitted in the sandbox', unauthorized_access_type: 'disallowed_syscall'})
  }
  if (!i.control && i.exitCode > 128) {
    return emptyResult({...base, status: 'runtime_error', exit_code: exitCode, stderr, detail: `killed by signal ${i.exitCode - 128}`, runtime_error_type: 'signalled'})
  }
  return emptyResult({...base, status: 'program_error', exit_code: exitCode, stderr, detail: i.control?.error ?? null, runtime_error_type: 'nonzero_exit'})
}

function joinLines(a: string, b: string): string {
  if (!b) return a
  if (!a) return b
  return a.endsWith('\n') ? a + b : `${a}\n${b}`
}
