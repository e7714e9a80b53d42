/**
 * The policy gate: the one place where the static code policy turns into RAGFlow's -999 answer.
 * Called from one place only, the run pipeline (src/run/pipeline.ts), for every path: `sandbox run`,
 * POST /run and `sandbox test`; executors receive its verdict (the engine waits for it).
 */
import type {Language} from './languages.js'
import {EXIT, runnerError, type RunResult} from './result.js'
import {formatPolicyIssues, inspectCode, UNSAFE_CODE_DETAIL, type PolicyMode} from '../policy/index.js'

/** RAGFlow's -999 "Code is unsafe" result when the policy refuses the code, else undefined. */
export async function policyRefusal(code: string, language: Language, mode: PolicyMode): Promise<RunResult | undefined> {
  if (mode === 'off') return undefined
  const verdict = await inspectCode(code, language, mode)
  if (verdict.safe) return undefined
  return runnerError(EXIT.UNSAFE_CODE, formatPolicyIssues(verdict.issues), UNSAFE_CODE_DETAIL)
}
