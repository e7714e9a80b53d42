import {Flags} from '@oclif/core'

import {BaseCommand, ValueFlags} from '../base-command.js'
import {loadConfig} from '../config.js'
import {ExitCode} from '../errors.js'
import {managerStatus, type StatusReport} from '../supervisor/status.js'

export default class Status extends BaseCommand<typeof Status> {
  static description = `show whether the executor manager runs, where, and how it is doing

Endpoint, pid, uptime, health, settings, warm pools (ready, busy, being created, queued),
admission (live containers against the cap, runs executing, queued, refused), run counts by
status, memory, and warnings (no API token on a public address, runc instead of gVisor, stale
files). Figures come from the manager's GET /status; its token is --token or SANDBOX_API_TOKEN
(.env or environment). Without --endpoint: the manager of this state directory; with it: any
manager at that address. Exit code 0 when the manager runs and is healthy, 6 when it is not
running, unreachable or unhealthy.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'human summary'},
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'everything as JSON (for monitoring scripts)'},
    {command: '<%= config.bin %> <%= command.id %> --env-file deploy/.env', description: 'read the API token from another .env'},
    {command: '<%= config.bin %> <%= command.id %> --endpoint http://10.0.0.5:9385 --token "$SANDBOX_API_TOKEN"', description: 'any manager, by its address'},
  ]

  static flags = {
    'env-file': Flags.string({description: 'read SANDBOX_API_TOKEN from this .env file (default ./.env when present)'}),
    endpoint: ValueFlags.endpoint({description: 'ask the manager at this URL (e.g. http://127.0.0.1:9385) instead of the one of this state directory'}),
    token: Flags.string({description: 'bearer token for GET /status (default SANDBOX_API_TOKEN)'}),
  }

  async run(): Promise<StatusReport> {
    let token = this.flags.token
    if (token === undefined) {
      try {
        token = loadConfig({envFile: this.flags['env-file']}).apiToken
      } catch {
        token = process.env.SANDBOX_API_TOKEN
      }
    }
    const report = await managerStatus({token, endpoint: this.flags.endpoint})
    if (!report.running || !report.healthy) process.exitCode = ExitCode.REMOTE
    if (this.jsonEnabled()) return report

    if (!report.running && this.flags.endpoint) {
      this.log(`Manager: not reachable at ${report.endpoint}`)
    } else if (!report.running) {
      this.log(`Manager: not running${report.notRunning ? ` ${report.notRunning}` : ''}`)
      this.log('  start it with `sandbox start`')
    } else {
      const health = report.healthy ? 'healthy' : `UNHEALTHY: ${report.health?.body?.reason ?? report.health?.error ?? 'no answer'}`
      this.log(`Manager: running (${health}) at ${report.endpoint}`)
      // only what is known: without GET /status's answer (no token) a remote manager tells its health alone
      const facts = [
        report.where ?? (report.pid === null ? null : `pid ${report.pid}`),
        report.uptimeSeconds === null ? null : `up ${formatUptime(report.uptimeSeconds)}`,
        report.runtime && `runtime ${report.runtime}`,
        report.backend && `backend ${report.backend}`,
        report.version && `version ${report.version}`,
        report.tokenRequired === null ? null : `token ${report.tokenRequired ? 'required' : 'not required'}`,
      ].filter((f) => f)
      if (facts.length) this.log(`  ${facts.join(' · ')}`)
      for (const p of report.pools) {
        this.log(
          `  ${p.language.padEnd(7)} ${p.kind === 'preloaded' ? 'preloaded pool (numpy, pandas, matplotlib; filled when idle)' : 'pool'}: ${p.ready}/${p.size} ready, ${p.busy} busy, ${p.creating} starting, ${p.waiting} queued · ${p.created} created, ${p.failures} failed${p.served === undefined ? '' : `, ${p.served} served`}${p.abandoned ? `, ${p.abandoned} abandoned for waiting runs` : ''}`,
        )
      }
      const st = report.settings
      if (st) {
        this.log(
          `  settings: pool ${st.poolSize}/language · timeout ${st.timeoutSeconds}s · memory ${st.memory} · policy ${st.codePolicy}${st.allowPolicyOverride ? ' (per-request override on)' : ''} · queue ${st.queueTimeoutSeconds}s${st.resultInStdout ? ' · result also on stdout (SANDBOX_RESULT_IN_STDOUT)' : ''}${st.adminApi ? ' · admin API and page at /admin/' : ''}`,
        )
      }
      const a = report.admission
      if (a) this.log(`  admission: ${a.live}/${a.limit} containers live · ${a.executing} running · ${a.queued} queued · ${a.rejected} refused (-10)`)
      if (report.statusRead) {
        const by = Object.entries(report.runs.byStatus)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')
        this.log(
          `  runs: ${report.runs.total}${by ? ` (${by})` : ''} · no container (-10): ${report.runs.busy} · rejected (4xx): ${report.rejected} · in flight: ${report.inFlight ?? '?'}`,
        )
      }
      if (report.rssBytes !== null) this.log(`  memory: ${(report.rssBytes / 1024 / 1024).toFixed(1)} MB RSS`)
      if (report.logFile) this.log(`  log: ${report.logFile}`)
    }
    for (const w of report.warnings) process.stderr.write(`${w.startsWith('WARNING') ? w : `warning: ${w}`}\n`)
    return report
  }
}

export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86_400)
  const h = Math.floor((seconds % 86_400) / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  return d ? `${d}d${h}h` : h ? `${h}h${m}m` : m ? `${m}m${s}s` : `${s}s`
}
