/**
 * vitest globalSetup: before integration tests, make sure this host is ready (Docker
 * daemon, runsc registered with --network=none, memory limits, base images) by running
 * the setup service with fixes on. On a ready host that only checks (a few seconds).
 * A host that cannot be made ready fails the run loudly, naming the failed checks; it
 * never skips tests.
 *
 * Cheap for unit-only runs: the decision uses vitest's own file filtering. The CLI
 * filters (positional arguments of `vitest run ...`) are read from process.argv and
 * given to `project.globTestFiles`, which applies the same include/exclude globs and
 * filter matching vitest uses to pick the files; setup runs only when one of the
 * selected files lives under test/integration/. (vitest does not hand the CLI filters
 * to globalSetup in any other public place.) `vitest run test/unit` or
 * `vitest run test/unit/x.test.ts` skip it; `vitest run` and `npm test` run it.
 * Unknown option values that end up as filters only widen the selection, so the
 * mistake possible here is doing setup once too often, never skipping it wrongly.
 */
import {execFileSync} from 'node:child_process'
import {sep} from 'node:path'

import type {TestProject} from 'vitest/node'

import {checkLine, runSetup} from '../src/setup/index.js'

/** vitest's subcommands; everything else positional is a file filter */
const SUBCOMMANDS = new Set(['run', 'watch', 'dev', 'related', 'bench', 'list'])

export function cliFilters(argv: string[]): string[] {
  const cli = argv.findIndex((a) => /vitest(\.mjs|\.js)?$/.test(a) || a.endsWith(`vitest${sep}vitest.mjs`))
  const args = cli === -1 ? [] : argv.slice(cli + 1)
  return args.filter((a) => !a.startsWith('-') && !SUBCOMMANDS.has(a))
}

export default async function globalSetup(project: TestProject): Promise<() => Promise<void>> {
  const {testFiles} = await project.globTestFiles(cliFilters(process.argv))
  const integration = testFiles.some((f) => f.split(sep).join('/').includes('/test/integration/'))
  if (!integration) return async () => {}

  const started = Date.now()
  // the CLI (bin/run.js), the manager image and the SDK's package run dist/: compile it from the
  // current sources once for the whole run (type errors fail `npm run typecheck`, not this)
  try {
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], {stdio: 'pipe'})
  } catch (error) {
    const out = String((error as {stdout?: Buffer}).stdout ?? '')
    if (!out.includes('error TS')) throw error
  }
  process.stderr.write(`[global-setup] dist/ compiled in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
  // no .env check: the tests must not depend on (or create) a .env in the work tree
  const report = await runSetup({
    fix: true,
    envFile: null,
    onProgress: (e) => {
      if (e.kind === 'fix' || e.kind === 'step') process.stderr.write(`[global-setup] ${e.message}\n`)
    },
  })
  if (!report.ok) {
    const lines = report.checks.map((c) => checkLine(c)).join('\n')
    const notes = report.notes.map((n) => `note: ${n}`).join('\n')
    throw new Error(`This host is not ready for the integration tests (sandbox setup):\n${lines}\n${notes}`)
  }
  if (report.changed.length > 0) process.stderr.write(`[global-setup] changed: ${report.changed.join('; ')}\n`)
  process.stderr.write(`[global-setup] host ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)

  // nothing to undo: the daemon, runsc registration and images stay for the next run
  return async () => {}
}
