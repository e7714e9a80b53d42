/** the analysers (src/languages/ names one per language) */
export type PolicyLanguage = import('../languages/types.js').PolicyAnalyser

/**
 * The rule sets of the static code policy:
 * - `ragflow` (default): RAGFlow's rules, plus only the additions that close a documented
 *   bypass of one of them (docs/policy.md)
 * - `standard`: for agent-written code; files, os.path, threads and asyncio are fine,
 *   processes, native code, raw sockets and interpreter escapes are not
 * - `off`: no static check; the sandbox alone
 */
export type PolicyLevel = 'ragflow' | 'standard' | 'off'

/** What callers may pass: a level, or `on`, the old name of `ragflow` (kept for old .env files). */
export type PolicyMode = PolicyLevel | 'on'

export const POLICY_LEVELS: readonly PolicyLevel[] = ['ragflow', 'standard', 'off']

/** Every accepted spelling, for flag `options` and validation (one list, used everywhere). */
export const POLICY_MODES: readonly PolicyMode[] = ['ragflow', 'standard', 'off', 'on']

export const DEFAULT_POLICY_LEVEL: PolicyLevel = 'ragflow'

export const isPolicyMode = (value: unknown): value is PolicyMode => typeof value === 'string' && (POLICY_MODES as readonly string[]).includes(value)

/** `on` -> `ragflow`; a level stays itself. */
export const policyLevel = (mode: PolicyMode): PolicyLevel => (mode === 'on' ? 'ragflow' : mode)

/** One finding. `line` is the 1-based line of the user's code. */
export interface PolicyIssue {
  line: number
  /** RAGFlow's finding text: `Import: os`, `Call: open`, `Attribute Access: random._os` */
  message: string
  /** the rule and how to proceed, e.g. "open() is refused by the ragflow policy: …" */
  hint?: string
}

export interface PolicyResult {
  safe: boolean
  issues: PolicyIssue[]
}

/** The `--policy` flag's help text (run, start). */
export const POLICY_FLAG_DESCRIPTION =
  'static code policy: ragflow (default; RAGFlow-compatible rules, also accepted as on), standard (for agent-written code: files, os.path, threads allowed; processes, sockets, native code refused) or off (rely on the sandbox alone)'
