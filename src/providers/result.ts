/**
 * Outcome of a script run by a remote provider → RunResult, with the same status rules the
 * engine uses (src/engine/classify.ts) so results compare across providers.
 */
import {emptyResult, EXIT, type RunResult} from '../engine/result.js'
import {extractWrapperOutput} from './wrapper.js'

export interface RemoteOutcome {
  stdout: string
  stderr: string
  /** process exit code (1 for a notebook-style error) */
  exitCode: number
  timedOut: boolean
  timeoutSeconds: number
  wallMs: number
}

const joinLines = (a: string, b: string) => (!b ? a : !a ? b : a.endsWith('\n') ? a + b : `${a}\n${b}`)

function lastLine(text: string): string | null {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean)
  return lines.length ? lines[lines.length - 1].slice(0, 500) : null
}

export function remoteResult(outcome: RemoteOutcome): RunResult {
  const {stdout, result, artifacts, rejected} = extractWrapperOutput(outcome.stdout)
  const time = Math.round(outcome.wallMs * 1000) / 1000
  const base = {stdout, time_used_ms: time}
  if (outcome.timedOut) {
    return emptyResult({
      ...base,
      status: 'resource_limit_exceeded',
      exit_code: EXIT.TIMEOUT,
      stderr: joinLines(outcome.stderr, 'Execution timeout'),
      detail: `Execution timeout after ${outcome.timeoutSeconds}s`,
      resource_limit_type: 'time',
    })
  }
  if (outcome.exitCode === 0) {
    return emptyResult({...base, status: 'success', exit_code: 0, stderr: joinLines(outcome.stderr, rejected.join('\n')), result: result ?? null, artifacts})
  }
  const exitCode = outcome.exitCode
  const stderr = outcome.stderr
  if (exitCode === 137 || /\bMemoryError\b|ERR_OUT_OF_MEMORY|JavaScript heap out of memory/.test(stderr)) {
    const oom = exitCode === 137
    return emptyResult({
      ...base,
      status: 'resource_limit_exceeded',
      exit_code: oom ? EXIT.OUT_OF_MEMORY : exitCode,
      stderr: oom ? joinLines(stderr, 'Memory limit exceeded (killed by OOM)') : stderr,
      detail: 'Memory limit exceeded',
      resource_limit_type: 'memory',
    })
  }
  if (/Permission denied|EACCES|Read-only file system|EROFS/.test(stderr)) {
    return emptyResult({...base, status: 'unauthorized_access', exit_code: exitCode, stderr, detail: 'File access is not allowed', unauthorized_access_type: 'file_access'})
  }
  if (/Operation not permitted|EPERM/.test(stderr)) {
    return emptyResult({...base, status: 'unauthorized_access', exit_code: exitCode, stderr, detail: 'Operation not permitted in the sandbox', unauthorized_access_type: 'disallowed_syscall'})
  }
  return emptyResult({...base, status: 'program_error', exit_code: exitCode, stderr, detail: lastLine(stderr), runtime_error_type: 'nonzero_exit'})
}
