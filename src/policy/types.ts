export type PolicyLanguage = 'python' | 'nodejs'
export type PolicyMode = 'on' | 'off'

/** One finding. `line` is the 1-based line of the user's code. */
export interface PolicyIssue {
  line: number
  message: string
}

export interface PolicyResult {
  safe: boolean
  issues: PolicyIssue[]
}
