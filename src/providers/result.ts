/**
 * Outcome of a script run by a remote provider → RunResult, decided by the engine's own rules
 * (decideOutcome in src/engine/classify.ts) from the facts a remote run has: the time limit,
 * the exit status, and the wrapper's record of the exception that ended main.
 */
import {checkArtifacts, decideOutcome, joinLines} from '../engine/classify.js'
import {emptyResult, type RunResult} from '../engine/result.js'
import {extractWrapperOutput} from './wrapper.js'

export interface RemoteOutcome {
  stdout: string
  stderr: string
  /** process exit code (1 for a notebook-style error) */
  exitCode: number
  timedOut: boolean
  timeoutSeconds: number
  wallMs: number
  /** the host stopped the run for its output (local provider); maxOutputBytes is that cap */
  outputOverflow?: boolean
  maxOutputBytes?: number
  /** artifacts the host collected itself (local provider), checked like a runner's report */
  artifacts?: unknown[]
}

export function remoteResult(outcome: RemoteOutcome): RunResult {
  const extracted = extractWrapperOutput(outcome.stdout)
  const {stdout, result, error} = extracted
  const host = outcome.artifacts ? checkArtifacts(outcome.artifacts) : undefined
  const artifacts = host ? host.artifacts : extracted.artifacts
  const rejected = host ? host.rejected : extracted.rejected
  const time = Math.round(outcome.wallMs * 1000) / 1000
  const decided = decideOutcome({
    stderr: outcome.stderr,
    exitCode: outcome.exitCode,
    completed: !outcome.timedOut && outcome.exitCode === 0,
    record: error,
    // remote platforms report no OOM flag: exit 137 reads as the memory limit, as RAGFlow reads it
    oomKilled: undefined,
    timedOut: outcome.timedOut,
    outputOverflow: outcome.outputOverflow === true,
    timeoutSeconds: outcome.timeoutSeconds,
    maxOutputBytes: outcome.maxOutputBytes ?? 0,
  })
  if (decided.status !== 'success') return emptyResult({stdout, time_used_ms: time, ...decided})
  return emptyResult({stdout, time_used_ms: time, ...decided, stderr: joinLines(outcome.stderr, rejected.join('\n')), result: result ?? null, artifacts})
}
