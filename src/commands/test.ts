import {Flags} from '@oclif/core'

import {BaseCommand, ValueFlags} from '../base-command.js'
import {loadConfig} from '../config.js'
import type {RunResult} from '../engine/result.js'
import {configError} from '../errors.js'
import {style} from '../style.js'
import {
  allCases,
  CANARY_NAME,
  connectEndpoint,
  ensureCanary,
  runSuite,
  selectCases,
  startEngineTarget,
  startProviderTarget,
  type CaseReport,
  type SuiteCase,
  type SuiteReport,
  type SuiteTarget,
} from '../suite/index.js'

const MAX_TEXT = 4096

/** --json output: results without artifact contents, long output clipped */
function slim(r: RunResult | null): unknown {
  if (!r) return null
  const clip = (s: string) => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}… [${s.length - MAX_TEXT} more chars]` : s)
  return {
    ...r,
    stdout: clip(r.stdout),
    stderr: clip(r.stderr),
    artifacts: r.artifacts.map((a) => ({name: a.name, mime_type: a.mime_type, size: a.size})),
  }
}

export interface TestListOutput {
  cases: Array<{id: string; title: string; tags: string[]; language: string; policy: string}>
}

export default class Test extends BaseCommand<typeof Test> {
  static description = `Run the security and conformance suite against the sandbox.

More than 100 cases, each a small program with an expected outcome: RAGFlow's own 17
security cases, resource exhaustion (fork/thread/memory bombs, CPU spin vs sleep, output
floods, disk fill), host and secrets (files, hostname, /proc, environment, Docker socket,
capabilities, no_new_privs, uid, read-only root, mounts, devices), network (DNS, TCP/UDP to
listeners on the host's 127.0.0.1 and ::1, raw sockets, interfaces), isolation between
runs, a positive gVisor probe, artifact and protocol abuse, the static code policy, and
positive cases (numpy, pandas, matplotlib, axios, unicode, async, ES modules).

Default target: a fresh in-process engine on this host (needs Docker, runsc and the base
images). Boundary probes run with the code policy off, policy cases with it on.
--endpoint tests a running manager over HTTP; --provider a configured provider.
Exit code: 0 all passed (skips allowed), 1 a case failed, 3 sandbox not ready, 6 endpoint unreachable.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'run every case against a fresh engine on this host'},
    {command: '<%= config.bin %> <%= command.id %> --only network --only host', description: 'only the network and host cases'},
    {command: '<%= config.bin %> <%= command.id %> --endpoint http://127.0.0.1:9385 --token "$SANDBOX_API_TOKEN"', description: 'test a running manager'},
    {command: '<%= config.bin %> <%= command.id %> --list', description: 'list the cases with their tags'},
    {command: '<%= config.bin %> <%= command.id %> --json > report.json', description: 'every result as JSON'},
  ]

  static flags = {
    endpoint: ValueFlags.endpoint({description: 'test a running manager at this URL (e.g. http://127.0.0.1:9385) instead of a local engine', exclusive: ['provider']}),
    provider: ValueFlags.provider({
      description: 'test a configured provider (docker, self_managed, aliyun_codeinterpreter, e2b, ssh, tenki, ucloud_agent_sandbox; local with SANDBOX_ALLOW_LOCAL_PROVIDER=on)',
      exclusive: ['endpoint'],
    }),
    token: Flags.string({description: 'bearer token for --endpoint (default SANDBOX_API_TOKEN)'}),
    only: Flags.string({description: 'run only cases with this tag or id (repeatable, comma lists; an id prefix ending in - or * matches many)', multiple: true}),
    list: Flags.boolean({description: 'list the cases and exit', default: false}),
    concurrency: Flags.integer({description: 'runs in flight at once', default: 2, min: 1, max: 16}),
    db: ValueFlags.dbUrl({description: 'settings database URL for --provider (default SANDBOX_DB_URL or the local SQLite file)'}),
    'allow-runc': Flags.boolean({description: 'let the local engine run without gVisor when runsc is missing (the gVisor cases will then fail)', default: false}),
    'env-file': Flags.string({description: 'read settings from this .env file (default ./.env when present)'}),
    backend: ValueFlags.backend(),
  }

  async run(): Promise<unknown> {
    const {flags} = this
    const {cases, unknown} = selectCases(allCases(), flags.only)
    if (unknown.length) {
      const tags = [...new Set(allCases().flatMap((c) => c.tags))].sort()
      throw configError(`No case matches ${unknown.map((u) => `"${u}"`).join(', ')}`, 'UNKNOWN_CASE', [`tags: ${tags.join(', ')}`, 'see `sandbox test --list` for the ids'])
    }
    if (flags.list) return this.list(cases)

    const config = loadConfig({envFile: flags['env-file'], overrides: {allowRunc: flags['allow-runc'] || undefined, backend: flags.backend}})
    const onEvent = (e: {level: string; message: string}) => {
      if (e.level === 'warn' || e.level === 'error' || flags.verbose) this.progress(e.message)
    }
    let target: SuiteTarget
    let canary: string | undefined
    if (flags.endpoint) {
      // a manager started from this environment carries the same canary; else names are checked
      canary = process.env[CANARY_NAME]
      target = await connectEndpoint({url: flags.endpoint, token: flags.token ?? process.env.SANDBOX_API_TOKEN})
    } else {
      // the engine runs in this process: the canary is in the environment it could leak from
      canary = ensureCanary(process.env)
      this.progress(flags.provider ? `Preparing provider ${flags.provider}…` : 'Starting the engine (warm gVisor containers)…')
      target = flags.provider ? await startProviderTarget({provider: flags.provider, db: flags.db, config, onEvent}) : await startEngineTarget({config, onEvent})
    }

    let report: SuiteReport
    try {
      const info = target.info()
      this.progress(`Target: ${info.label} · code policy: ${info.policy} · ${cases.length} cases, ${flags.concurrency} at a time`)
      if (info.kind === 'endpoint' && info.policy !== 'per-request') {
        this.progress(
          `The manager runs every request with the code policy ${info.policy}: the ${info.policy === 'on' ? 'sandbox-boundary probes' : 'policy cases'} are skipped. To run all cases, start it with --allow-policy-override and an API token, and pass --token.`,
        )
      }
      report = await runSuite({
        target,
        cases,
        concurrency: flags.concurrency,
        canary,
        onEvent: (e) => {
          if (e.type === 'case' && !this.jsonEnabled()) this.log(line(e.report, e.done, e.total, flags.verbose))
        },
      })
    } finally {
      await target.close().catch(() => {})
    }

    if (!this.jsonEnabled()) this.summary(report)
    if (report.failed > 0) process.exitCode = 1
    return {
      ...report,
      results: report.results.map((r) => ({...r, result: slim(r.result), followUp: slim(r.followUp)})),
    }
  }

  private list(cases: SuiteCase[]): TestListOutput {
    const out = cases.map((c) => ({id: c.id, title: c.title, tags: c.tags, language: c.language, policy: c.policy ?? 'off'}))
    if (!this.jsonEnabled()) {
      const width = Math.max(...out.map((c) => c.id.length))
      for (const c of out) this.log(`${c.id.padEnd(width)}  ${c.language.padEnd(6)}  policy ${c.policy.padEnd(3)}  ${c.title}  [${c.tags.join(', ')}]`)
      this.log(`${out.length} cases`)
    }
    return {cases: out}
  }

  private summary(report: SuiteReport): void {
    const failed = report.results.filter((r) => r.outcome === 'fail')
    if (failed.length) {
      this.log('')
      this.log('Failed:')
      for (const r of failed) this.log(`  ${style().mark('fail')} ${r.id}  ${r.title}\n      ${r.why}`)
    }
    const skipped = report.results.filter((r) => r.outcome === 'skip')
    if (skipped.length) {
      const reasons = [...new Set(skipped.map((r) => r.why))]
      this.log('')
      this.log(`Skipped ${skipped.length}: ${reasons.join('; ')}`)
    }
    this.log('')
    this.log(
      `${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped of ${report.total} in ${(report.durationMs / 1000).toFixed(1)} s — ${report.target.label}`,
    )
  }
}

function line(r: CaseReport, done: number, total: number, verbose: boolean): string {
  const mark = style().mark(r.outcome === 'pass' ? 'ok' : r.outcome === 'fail' ? 'fail' : 'skip')
  const n = `[${String(done).padStart(String(total).length)}/${total}]`
  const time = r.outcome === 'skip' ? 'skipped' : `${r.ms} ms`
  const head = `${mark} ${n} ${r.id.padEnd(28)} ${r.title.length > 78 ? r.title.slice(0, 77) + '…' : r.title.padEnd(78)} ${time.padStart(8)}`
  return r.outcome === 'fail' || (verbose && r.why) ? `${head}\n      ${r.why}` : head
}
