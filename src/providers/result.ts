/**
 * Outcome of a script run by a remote provider → RunResult, with the same status rules the
 * engine uses (src/engine/classify.ts) so results compare across providers.
 */
import {classifyStderr, joinLines} from '../engine/classify.js'
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
  if (exitCode === 137) {
    return emptyResult({
      ...base,
      status: 'resource_limit_exceeded',
      exit_code: EXIT.OUT_OF_MEMORY,
      stderr: joinLines(stderr, 'Memory limit exceeded (killed by OOM)'),
      detail: 'Memory limit exceeded',
      resource_limit_type: 'memory',
    })
  }
  const known = classifyStderr(stderr)
  if (known) return emptyResult({...base, ...known, exit_code: exitCode, stderr})
  return emptyResult({...base, status: 'program_error', exit_code: exitCode, stderr, detail: lastLine(stderr), runtime_error_type: 'nonzero_exit'})
}
