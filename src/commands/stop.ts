import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {ExitCode} from '../errors.js'
import type {StopResult} from '../supervisor/host.js'
import {stopManager} from '../supervisor/manage.js'

export default class Stop extends BaseCommand<typeof Stop> {
  static description = `stop the executor manager and check that no container of it remains

Sends SIGTERM: the manager stops accepting requests, lets runs in flight finish (up to --timeout),
and removes every container it owns. After --timeout it is killed (SIGKILL) and its containers
are removed from here. A manager started with --docker is stopped and its container removed.
Not running: says so (exit code 0). Exit code 3 when containers of it remain.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'stop the background manager'},
    {command: '<%= config.bin %> <%= command.id %> --timeout 60', description: 'give long runs a minute to finish'},
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'what was stopped and removed, as JSON'},
  ]

  static flags = {
    timeout: Flags.integer({char: 't', description: 'seconds to let runs in flight finish before the manager is killed', default: 20, min: 0}),
  }

  async run(): Promise<StopResult> {
    const result = await stopManager({deadlineMs: this.flags.timeout * 1000, onProgress: (m) => this.progress(m)})
    if (!this.jsonEnabled()) {
      if (!result.wasRunning) this.log(result.staleRemoved ? 'The manager was not running (removed its stale pid file)' : 'The manager is not running')
      else {
        this.log(`Stopped ${result.who} in ${(result.stoppedInMs / 1000).toFixed(1)} s${result.signal === 'SIGKILL' ? ' (killed)' : ''}`)
      }
      if (result.containersRemoved) this.log(`Removed ${result.containersRemoved} container(s) it left behind`)
      if (result.dockerChecked && result.containersRemaining === 0 && (result.wasRunning || result.staleRemoved)) this.log('No container of it remains')
      for (const w of result.warnings) this.warn(w)
      if (result.containersRemaining > 0) this.warn(`${result.containersRemaining} container(s) of the manager remain; remove them with \`sandbox clean\``)
    }
    if (result.containersRemaining > 0) process.exitCode = ExitCode.PREREQUISITE
    return result
  }
}
