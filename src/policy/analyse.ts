/**
 * One inspection, the same wherever it runs (inline on the caller's thread or in a policy
 * worker): pick the analyser for the language and level. No budgets here; see pool.ts.
 */
import {configError} from '../errors.js'
import {inspectJavaScript} from './javascript.js'
import {inspectPython} from './python.js'
import type {PolicyIssue, PolicyLanguage} from './types.js'

export type InspectedLevel = 'ragflow' | 'standard'

/** One analyser per PolicyLanguage (each language's descriptor names its analyser: src/languages/). */
const ANALYSERS: Record<PolicyLanguage, (code: string, level: InspectedLevel) => Promise<PolicyIssue[]> | PolicyIssue[]> = {
  python: inspectPython,
  nodejs: inspectJavaScript,
}

export async function analyse(code: string, language: PolicyLanguage, level: InspectedLevel): Promise<PolicyIssue[]> {
  const analyser = Object.hasOwn(ANALYSERS, language) ? ANALYSERS[language] : undefined
  if (!analyser) throw configError(`Unsupported language for security analysis: ${String(language)}`, 'POLICY_UNSUPPORTED_LANGUAGE', ['Use python or nodejs'])
  return analyser(code, level)
}
