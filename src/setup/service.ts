/**
 * `runSetup`: check the host, and (with `fix`) repair what can be repaired, then check
 * again. On a ready host it only checks: nothing changes and it takes a few seconds.
 */
import {existsSync} from 'node:fs'
import {resolve} from 'node:path'

import {loadConfig} from '../config.js'
import {prerequisiteError} from '../errors.js'
import {Style} from '../style.js'
import {DEFAULT_MIN_FREE_BYTES, isLocalEndpoint, runChecks, type CheckContext} from './checks.js'
import {DAEMON_JSON} from './daemon-json.js'
import {applyFixes, DEFAULT_DOCKERD_LOG, planFixes, type FixContext} from './fixes.js'
import {realHost} from './host.js'
import type {SetupCheck, SetupOptions, SetupReport} from './types.js'

export async function runSetup(options: SetupOptions = {}): Promise<SetupReport> {
  const host = options.host ?? realHost()
  const started = host.now()
  const progress = options.onProgress ?? (() => {})
  const envFile = options.envFile === null ? null : resolve(options.envFile ?? '.env')
  const endpoint = host.docker.endpoint()
  const ctx: CheckContext = {
    host,
    runtime: options.runtime ?? 'runsc',
    // a named env file that does not exist yet: defaults + environment (never another ./.env)
    config: options.config ?? loadConfig({envFile: envFile && existsSync(envFile) ? envFile : envFile === null ? undefined : '/dev/null'}),
    envFile,
    minFreeBytes: options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES,
    isRoot: host.isRoot(),
    hasApt: (await host.which('apt-get')) !== undefined,
    localDaemon: isLocalEndpoint(endpoint),
    endpoint,
    daemonJsonPath: options.daemonJsonPath ?? DAEMON_JSON,
  }

  const first = await runChecks(ctx, (c) => progress({kind: 'check', message: checkLine(c), check: c}))
  const changed: string[] = []
  const notes: string[] = []
  const needsWork = first.checks.some((c) => !c.ok || c.warning)
  if (!options.fix || !needsWork) return report(first.checks, changed, notes, host.now() - started)

  const plan = planFixes(first.checks, first.facts, ctx)
  notes.push(...plan.notes)
  if (plan.actions.length === 0) return report(first.checks, changed, notes, host.now() - started)
  if (options.confirm && !(await options.confirm(plan.actions.map((a) => a.description)))) {
    notes.push('fixes declined: nothing was changed')
    return report(first.checks, changed, notes, host.now() - started)
  }

  const fx: FixContext = {
    ...ctx,
    dockerdLog: options.dockerdLog ?? DEFAULT_DOCKERD_LOG,
    buildSource: options.buildSource ?? 'auto',
    progress,
    changed: (what) => {
      changed.push(what)
      progress({kind: 'fix', message: what})
    },
  }
  const {failures} = await applyFixes(plan, fx)

  // check again; a failed action's error is the most useful fix text for what it targeted
  const before = new Map(first.checks.map((c) => [c.id, c]))
  const second = await runChecks(ctx, (c) => progress({kind: 'check', message: checkLine(c), check: c}))
  const checks = second.checks.map((c) => {
    const was = before.get(c.id)
    const out: SetupCheck = {...c}
    if (c.ok && was && (!was.ok || (was.warning && !c.warning))) out.fixed = true
    if (!c.ok && failures.has(c.id)) out.fix = failures.get(c.id)
    return out
  })
  return report(checks, changed, notes, host.now() - started)
}

function report(checks: SetupCheck[], changed: string[], notes: string[], durationMs: number): SetupReport {
  return {checks, changed, notes, ok: checks.every((c) => c.ok), durationMs}
}

/** `✓ title  detail` / `! title  detail — fix: …` / `✗ title  detail — fix: …` */
export function checkLine(check: SetupCheck, width = 18, look: Style = new Style(false)): string {
  const mark = look.mark(!check.ok ? 'fail' : check.warning ? 'warn' : 'ok')
  const fixed = check.fixed ? ' (fixed)' : ''
  const fix = check.fix && (!check.ok || check.warning) ? ` — fix: ${check.fix}` : ''
  return `${mark} ${check.title.padEnd(width)}${check.detail}${fixed}${fix}`
}

/** The error `sandbox setup` exits with (3) when a check fails. */
export function setupIncomplete(report: SetupReport) {
  const failed = report.checks.filter((c) => !c.ok)
  return prerequisiteError(
    `Setup incomplete: ${failed.map((c) => `${c.title} failed${c.fix ? ` (fix: ${c.fix})` : ''}`).join('; ')}`,
    'SETUP_INCOMPLETE',
    failed.map((c) => `${c.title}: ${c.fix ?? 'see the detail above'}`),
  )
}
