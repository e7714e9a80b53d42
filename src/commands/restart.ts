import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {RUNC_WARNING} from '../engine/runtime.js'
import {checkManagerConfig} from '../server/manager.js'
import {managerFiles, readState} from '../server/state.js'
import type {StartResult, StopResult} from '../supervisor/host.js'
import {startMode} from '../supervisor/hosts.js'
import {checkTokenKept, lastLaunch, launchConfig, launchForRestart} from '../supervisor/launch.js'
import {startManager, stopManager} from '../supervisor/manage.js'
import {configFromFlags, managerFlags, settingsFromFlags} from './start.js'

export default class Restart extends BaseCommand<typeof Restart> {
  static description = `stop the executor manager (graceful) and start it again in the background

Keeps what \`sandbox start\` was told: its flags and the SANDBOX_* variables of its environment
(recorded in the state directory, kept by \`sandbox stop\`), and reads the same .env file again, so an edited .env takes
effect for what no flag pinned. Flags given to restart override. The API token is never recorded:
it comes from the environment of restart or that .env file (a manager that had one is not restarted
without it). A manager that ran with --docker is started in Docker again (same network and image)
unless flags say otherwise. Use it after changing .env or rebuilding images.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'restart with the settings it was started with'},
    {command: '<%= config.bin %> <%= command.id %> --pool-size 4', description: 'restart with a bigger pool (other settings kept)'},
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'stop and start results as JSON'},
  ]

  static flags = {
    'stop-timeout': Flags.integer({description: 'seconds to let runs in flight finish before the old manager is killed', default: 20, min: 0}),
    ...managerFlags,
  }

  async run(): Promise<{stop: StopResult; start: StartResult}> {
    const {flags} = this
    // the flags on their own first: their errors name the flag
    configFromFlags(flags)
    // the last start of this state directory (kept after a stop), else the running manager's record
    const files = managerFiles()
    const previous = lastLaunch(files, readState(files))
    const launch = launchForRestart(previous?.launch, settingsFromFlags(flags), process.env)
    const config = launchConfig(launch)
    checkManagerConfig(config)
    checkTokenKept(previous, config)
    // the host it ran on, unless --docker asks for the container; its network and image with it
    const mode = flags.docker ? startMode(true) : (previous?.mode ?? startMode(false))
    const same = previous?.mode === mode
    const network = flags.network ?? (same ? previous.network : undefined)
    const image = flags.image ?? (same ? previous.image : undefined) ?? process.env.SANDBOX_EXECUTOR_MANAGER_IMAGE
    const stop = await stopManager({files, deadlineMs: flags['stop-timeout'] * 1000, onProgress: (m) => this.progress(m)})
    if (!this.jsonEnabled()) this.log(stop.wasRunning ? `Stopped the manager in ${(stop.stoppedInMs / 1000).toFixed(1)} s` : 'The manager was not running')
    const start = await startManager(mode, {files, config, launch, network, image, waitMs: flags.wait * 1000, onProgress: (m) => this.progress(m)})
    if (!this.jsonEnabled()) {
      const took = start.startedInMs === null ? '' : ` in ${(start.startedInMs / 1000).toFixed(1)} s`
      this.log(`Manager ready at ${start.endpoint} (${start.where})${took}`)
      for (const w of start.warnings) process.stderr.write(`${w}\n`)
      if (start.runtime === 'runc') process.stderr.write(`${RUNC_WARNING}\n`)
    }
    return {stop, start}
  }
}
