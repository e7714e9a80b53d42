/**
 * One inspection, the same wherever it runs (inline on the caller's thread or in a policy
 * worker): pick the analyser for the language and level. No budgets here; see pool.ts.
 */
import {configError} from '../errors.js'
import {inspectJavaScript} from './javascript.js'
import {inspectPython} from './python.js'
import type {PolicyIssue, PolicyLanguage} from './types.js'

export type InspectedLevel = 'ragflow' | 'standard'

export async function analyse(code: string, language: PolicyLanguage, level: InspectedLevel): Promise<PolicyIssue[]> {
  switch (language as string) {
    case 'python': {
      return inspectPython(code, level)
    }
    case 'nodejs':
    case 'javascript': {
      return inspectJavaScript(code, level)
    }
    default: {
      throw configError(`Unsupported language for security analysis: ${String(language)}`, 'POLICY_UNSUPPORTED_LANGUAGE', [
        'Use python or nodejs',
      ])
    }
  }
}
