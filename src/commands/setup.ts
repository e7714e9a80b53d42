import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {ExitCode} from '../errors.js'
import {checkLine, runSetup, setupIncomplete} from '../setup/index.js'
import {style} from '../style.js'
import type {SetupReport} from '../setup/index.js'

export type SetupResult = SetupReport & {
  /** present when a check failed (exit code 3), same shape as other commands' JSON errors */
  error?: {code: string; exit: number; message: string; suggestions: string[]}
}

export default class Setup extends BaseCommand<typeof Setup> {
  static description = [
    'check this host for Docker, gVisor (runsc), memory limits, disk and base images, and fix what can be fixed',
    '',
    'Every check prints one line, with its fix when it fails. With --yes (or after a confirm in a terminal) setup fixes what it can on Debian/Ubuntu as root: installs docker.io and runsc with apt, starts the Docker daemon (systemd, or dockerd in the background), registers runsc in /etc/docker/daemon.json keeping other settings, writes .env from the template when it is missing, and builds missing base images.',
    '',
    'Without a terminal and without --yes it only checks. A ready host changes nothing. Exit code 3 when a check still fails.',
  ].join('\n')

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'check the host, change nothing'},
    {command: '<%= config.bin %> <%= command.id %> --yes', description: 'check and fix (as root on Debian/Ubuntu)'},
    {command: '<%= config.bin %> <%= command.id %> --yes --env-file deploy/.env', description: 'write the .env somewhere else'},
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'the report as data'},
  ]

  static flags = {
    yes: Flags.boolean({char: 'y', description: 'fix what can be fixed without asking', default: false}),
    'env-file': Flags.string({description: '.env to check and write when missing (default ./.env)'}),
    offline: Flags.boolean({description: 'build missing images from Debian packages only (no registry)', default: false}),
  }

  async run(): Promise<SetupResult> {
    const {flags} = this
    const human = !this.jsonEnabled()
    const interactive = !flags.yes && human && Boolean(process.stdin.isTTY)
    let fixing = false

    const report = await runSetup({
      fix: flags.yes || interactive,
      envFile: flags['env-file'],
      buildSource: flags.offline ? 'offline' : 'auto',
      confirm: interactive ? (plan) => this.confirmFixes(plan) : undefined,
      onProgress: (event) => {
        if (!human) return
        if (event.kind === 'check') {
          // the first pass is shown live; after fixes the final report is printed below
          if (!fixing) this.log(event.check ? checkLine(event.check, undefined, style()) : event.message)
        } else if (event.kind === 'log') {
          if (flags.verbose && event.message.trim()) this.progress(event.message.trimEnd())
        } else {
          fixing = true
          this.progress(`  ${event.message}`)
        }
      },
    })

    if (human) {
      if (fixing) {
        this.log('')
        for (const check of report.checks) this.log(checkLine(check, undefined, style()))
      }
      for (const note of report.notes) this.log(`note: ${note}`)
      if (report.changed.length > 0) this.log(`changed: ${report.changed.join('; ')}`)
      else if (report.ok) this.log(report.checks.some((c) => c.warning) ? 'nothing changed' : 'no changes needed')
      if (report.ok) this.log(`host ready (${(report.durationMs / 1000).toFixed(1)} s)`)
    }

    if (report.ok) return report
    const error = setupIncomplete(report)
    if (human) throw error
    process.exitCode = ExitCode.PREREQUISITE
    return {...report, error: {code: error.code, exit: error.exit, message: error.message, suggestions: error.suggestions}}
  }

  private async confirmFixes(plan: string[]): Promise<boolean> {
    this.log('')
    this.log('setup can fix this by:')
    for (const step of plan) this.log(`  - ${step}`)
    const {confirm} = await import('@inquirer/prompts')
    return confirm({message: 'apply these fixes?', default: true})
  }
}
