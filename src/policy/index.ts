/**
 * Static code policy: a RAGFlow-compatible "is this code safe to run" check, at a level
 * (ragflow, standard, off; see types.ts and docs/policy.md).
 *
 * Defence in depth only. The isolation boundary is gVisor, no network, a read-only root,
 * a non-root user and the resource limits; this check refuses the obvious ways to reach the
 * OS (and the published bypasses) early, with a clear message.
 *
 * Callers turn an unsafe result into status `program_runner_error`, exit code -999,
 * detail UNSAFE_CODE_DETAIL and stderr `formatPolicyIssues(result.issues)`.
 */
import {configError} from '../errors.js'
import {LANGUAGES, normalizeLanguage, prepareCode, SUPPORTED_LANGUAGES, type Language} from '../languages/index.js'
import {inspectWithinBudget, warmUpPolicyWorkers} from './pool.js'
import {pythonParser} from './python.js'
import {policyLevel, type PolicyIssue, type PolicyLanguage, type PolicyMode, type PolicyResult} from './types.js'

export {DEFAULT_POLICY_LEVEL, isPolicyMode, POLICY_LEVELS, POLICY_MODES, policyLevel} from './types.js'
export type {PolicyIssue, PolicyLanguage, PolicyLevel, PolicyMode, PolicyResult} from './types.js'
export {closePolicyWorkers, DEFAULT_POLICY_BUDGET, policyBudget, setPolicyBudget, type PolicyBudget} from './pool.js'

/**
 * Load the Python parser now (about 50 ms, once per process) instead of on the first
 * request; with `workers`, also start the policy worker threads that inspect big programs
 * (the manager does; a one-shot `sandbox run` does not need them). Optional: inspectCode
 * loads everything lazily. Throws like inspectCode when the parser cannot load.
 */
export async function warmUpPolicy(options: {workers?: boolean} = {}): Promise<void> {
  await pythonParser()
  if (options.workers) await warmUpPolicyWorkers()
}

export const UNSAFE_CODE_DETAIL = 'Code is unsafe'

/** More findings than this are summarised in one last issue (a 1 MB paste of `import os`…). */
export const MAX_POLICY_ISSUES = 100

/**
 * Inspect `code` at `mode` (`on` is `ragflow`). Mode 'off' returns safe without parsing. Code
 * that does not parse is not refused for that reason (the runtime reports the syntax error
 * with its line); forbidden constructs found in the parts that do parse are still refused.
 * Big programs are inspected in worker threads within a time and size budget (pool.ts);
 * over budget is a refusal.
 *
 * The policy reads what actually runs: the language's prepared source (TypeScript: the
 * JavaScript esbuild makes of it), with the analyser its descriptor names.
 *
 * Throws SandboxError POLICY_PARSER_UNAVAILABLE (exit 3) if the Python parser cannot load
 * (fail closed), and POLICY_UNSUPPORTED_LANGUAGE (exit 4) for another language.
 */
export async function inspectCode(code: string, language: Language | PolicyLanguage, mode: PolicyMode = 'ragflow'): Promise<PolicyResult> {
  const level = policyLevel(mode)
  if (level === 'off') return {safe: true, issues: []}
  const lang = normalizeLanguage(language)
  if (!lang) {
    throw configError(`Unsupported language for security analysis: ${String(language)}`, 'POLICY_UNSUPPORTED_LANGUAGE', [`Use ${SUPPORTED_LANGUAGES}`])
  }
  const prepared = prepareCode(lang, code)
  // findings name the caller's lines (TypeScript: mapped back from the JavaScript that runs)
  const issues = (await inspectWithinBudget(prepared.code, LANGUAGES[lang].policy, level)).map((issue) => ({...issue, line: prepared.originalLine(issue.line)}))
  if (issues.length === 0) return {safe: true, issues: []}
  return {safe: false, issues: tidy(issues)}
}

/** Sort by line (stable), drop exact duplicates, cap the count. */
function tidy(issues: PolicyIssue[]): PolicyIssue[] {
  const seen = new Set<string>()
  const unique = issues
    .map((issue, index) => ({issue, index}))
    .sort((a, b) => a.issue.line - b.issue.line || a.index - b.index)
    .map(({issue}) => issue)
    .filter((issue) => {
      const key = `${issue.line}\u0000${issue.message}`
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
  if (unique.length <= MAX_POLICY_ISSUES) return unique
  const kept = unique.slice(0, MAX_POLICY_ISSUES)
  const rest = unique.length - MAX_POLICY_ISSUES
  kept.push({line: unique[MAX_POLICY_ISSUES].line, message: `${rest} more issue${rest === 1 ? '' : 's'} not shown`})
  return kept
}

/**
 * RAGFlow's stderr text: one `Line N: <issue>` per issue, joined by \n. The first finding of
 * each kind also says which rule refused it and how to proceed: `Line 3: Call: open (open() is
 * refused by the ragflow policy: …)`; later findings of the same kind are the bare line.
 */
export function formatPolicyIssues(issues: PolicyIssue[]): string {
  const explained = new Set<string>()
  return issues
    .map((issue) => {
      const line = `Line ${issue.line}: ${issue.message}`
      if (!issue.hint || explained.has(issue.hint)) return line
      explained.add(issue.hint)
      return `${line} (${issue.hint})`
    })
    .join('\n')
}
