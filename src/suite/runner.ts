/** Runs cases against a target with bounded concurrency and reports pass/fail/skip per case. */
import {randomBytes} from 'node:crypto'

import {runnerError, EXIT, type RunResult} from '../engine/result.js'
import {errorMessage} from '../errors.js'
import {allCases} from './cases/index.js'
import {prepareHost, startListener, type RunningListener} from './fixtures.js'
import type {CaseContext, CasePolicy, CaseReport, CaseRun, HostFacts, PolicyMode, PolicySupport, SuiteCase, SuiteEvent, SuiteReport, SuiteTarget, TargetInfo} from './types.js'

export const CANARY_NAME = 'SANDBOX_SUITE_CANARY'

/** Put a random canary into `env` (the manager's / engine's environment) unless one is set; return it. */
export function ensureCanary(env: NodeJS.ProcessEnv = process.env): string {
  if (!env[CANARY_NAME]) env[CANARY_NAME] = `canary-${randomBytes(12).toString('hex')}`
  return env[CANARY_NAME]!
}

/**
 * Keep the cases whose id or tags match one of `only` (comma lists allowed; an id prefix
 * ending in '-' or '*' matches many). Unknown selectors are returned so callers can complain.
 */
export function selectCases(cases: SuiteCase[], only: string[] = []): {cases: SuiteCase[]; unknown: string[]} {
  const selectors = only
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean)
  if (!selectors.length) return {cases, unknown: []}
  const matches = (c: SuiteCase, s: string) => c.id === s || c.tags.includes(s) || (/[-*]$/.test(s) && c.id.startsWith(s.replace(/\*$/, '')))
  const unknown = selectors.filter((s) => !cases.some((c) => matches(c, s)))
  return {cases: cases.filter((c) => selectors.some((s) => matches(c, s))), unknown}
}

/** How a case's policy need maps onto what the target offers. */
export function policyFor(need: CasePolicy, support: PolicySupport): {policy?: PolicyMode; skip?: string} {
  if (need === 'any') return {}
  if (support === 'per-request') return {policy: need}
  if (support === need) return {}
  return need === 'off'
    ? {
        skip: 'sandbox-boundary probe, but the target enforces the code policy on every run (start the manager with --allow-policy-override and an API token, and pass --token: every case then runs; docs/security.md)',
      }
    : {skip: 'code-policy case, but the target runs every program with the policy off'}
}

export interface RunSuiteOptions {
  target: SuiteTarget
  /** default: every case */
  cases?: SuiteCase[]
  /** runs in flight at once; default 2 */
  concurrency?: number
  /** the canary value in the target's environment, when known */
  canary?: string
  onEvent?: (event: SuiteEvent) => void
  /** override host facts (tests) */
  host?: HostFacts
}

/** rough cost, to start the long cases first (the report keeps the declared order) */
function weight(c: SuiteCase): number {
  const limitBound = c.tags.includes('timeout') || c.tags.includes('memory') || c.tags.includes('processes') ? (c.timeoutSeconds ?? 10) : 1
  return limitBound + (c.followUp ? 1 : 0)
}

const withGuard = (p: Promise<RunResult>, seconds: number): Promise<RunResult> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(runnerError(EXIT.INTERNAL_ERROR, `no answer within ${seconds} s`, 'suite_timeout')), seconds * 1000)
    timer.unref()
    p.then(
      (r) => {
        clearTimeout(timer)
        resolve(r)
      },
      (error) => {
        clearTimeout(timer)
        resolve(runnerError(EXIT.INTERNAL_ERROR, `the target threw: ${errorMessage(error)}`, 'target_error'))
      },
    )
  })

async function runOne(target: SuiteTarget, info: TargetInfo, c: SuiteCase, host: HostFacts, canary: string | undefined): Promise<CaseReport> {
  const ctx: CaseContext = {token: `t${randomBytes(8).toString('hex')}`, canary, canaryName: CANARY_NAME, host, listeners: {}}
  const base = {id: c.id, title: c.title, tags: c.tags, language: c.language}
  const skip = (why: string): CaseReport => ({...base, outcome: 'skip', why, ms: 0, result: null, followUp: null})
  const need = policyFor(c.policy ?? 'off', info.policy)
  if (need.skip) return skip(need.skip)
  const followNeed = c.followUp ? policyFor(c.followUp.policy ?? c.policy ?? 'off', info.policy) : undefined
  if (followNeed?.skip) return skip(`follow-up run: ${followNeed.skip}`)
  const custom = c.skip?.(ctx, info)
  if (custom) return skip(custom)

  const running: RunningListener[] = []
  try {
    for (const kind of c.listeners ?? []) {
      try {
        const l = await startListener(kind)
        running.push(l)
        ctx.listeners[kind] = l.state
      } catch (error) {
        return skip(`cannot start a ${kind} listener on the host's loopback: ${errorMessage(error)}`)
      }
    }
    const args = (run: Pick<CaseRun, 'arguments'>) => (typeof run.arguments === 'function' ? run.arguments(ctx) : (run.arguments ?? {}))
    const guard = (c.timeoutSeconds ?? 60) + 90
    const started = performance.now()
    const result = await withGuard(target.run(c.language, c.code, args(c), {timeoutSeconds: c.timeoutSeconds, policy: need.policy}), guard)
    let followUp: RunResult | null = null
    if (c.followUp) {
      followUp = await withGuard(target.run(c.followUp.language, c.followUp.code, args(c.followUp), {policy: followNeed?.policy}), guard)
      ctx.followUp = followUp
    }
    const ms = Math.round(performance.now() - started)
    let verdict
    try {
      verdict = c.expect(result, ctx)
    } catch (error) {
      verdict = {ok: false, why: `the expectation threw: ${errorMessage(error)}`}
    }
    return {...base, outcome: verdict.ok ? 'pass' : 'fail', why: verdict.why, ms, result, followUp}
  } finally {
    await Promise.allSettled(running.map((l) => l.close()))
  }
}

export async function runSuite(options: RunSuiteOptions): Promise<SuiteReport> {
  const {target} = options
  const cases = options.cases ?? allCases()
  const info = target.info()
  const concurrency = Math.max(1, options.concurrency ?? 2)
  const hostFixture = options.host ? undefined : prepareHost()
  const host = options.host ?? hostFixture!.facts
  const started = performance.now()
  const reports = new Array<CaseReport>(cases.length)
  const order = cases.map((c, i) => ({c, i})).sort((a, b) => weight(b.c) - weight(a.c) || a.i - b.i)
  let next = 0
  let done = 0
  options.onEvent?.({type: 'start', total: cases.length, target: info})
  try {
    const worker = async () => {
      while (next < order.length) {
        const {c, i} = order[next++]
        reports[i] = await runOne(target, info, c, host, options.canary)
        done++
        options.onEvent?.({type: 'case', report: reports[i], done, total: cases.length})
      }
    }
    await Promise.all(Array.from({length: Math.min(concurrency, cases.length)}, () => worker()))
  } finally {
    hostFixture?.dispose()
  }
  return {
    target: info,
    passed: reports.filter((r) => r.outcome === 'pass').length,
    failed: reports.filter((r) => r.outcome === 'fail').length,
    skipped: reports.filter((r) => r.outcome === 'skip').length,
    total: reports.length,
    durationMs: Math.round(performance.now() - started),
    results: reports,
  }
}
