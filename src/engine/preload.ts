/**
 * Runners ready for data science. A runtime whose runner descriptor has a `preload` (Python:
 * numpy, pandas, matplotlib) gets a second, small pool (SANDBOX_PRELOAD_POOL_SIZE) of runners
 * that imported those modules before they announced readiness (~1 s of CPU each under gVisor).
 * That pool is filled only with idle capacity (ContainerBudget, idle-only members), so it never
 * takes a slot or CPU that plain refills and runs want; under load its idle runners are the
 * first to be evicted. A job goes to a preloaded runner when its code imports one of the
 * runtime's triggers (read from the parse tree the code policy uses) and one is ready at that
 * moment; otherwise it runs on a plain runner, as any other job. docs/benchmarks.md measures it.
 */
import type {PolicyAnalyser} from '../languages/types.js'
import {pythonImports} from '../policy/python.js'
import {LANGUAGES, runnableCode, type Language} from './languages.js'

/** code longer than this is not parsed for routing (the policy sends such programs to its workers): it runs on a plain runner */
export const PRELOAD_ROUTING_MAX_CHARS = 100_000

/** the top-level modules code imports, per analyser (none: that language is never routed) */
const IMPORTS: Record<PolicyAnalyser, ((code: string) => Promise<Set<string>>) | undefined> = {
  python: pythonImports,
  nodejs: undefined,
}

/** Whether this job would gain from a preloaded runner: its code imports one of its runtime's preload triggers. */
export async function wantsPreloaded(language: Language, code: string): Promise<boolean> {
  const spec = LANGUAGES[language]
  const preload = spec?.runtime.runner.preload
  const imports = spec ? IMPORTS[spec.policy] : undefined
  if (!preload || !imports || code.length > PRELOAD_ROUTING_MAX_CHARS) return false
  const found = await imports(runnableCode(language, code)).catch(() => new Set<string>())
  return preload.triggers.some((name) => found.has(name))
}
