import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {startInBackground, startInDocker, stopManager, type StartResult, type StopResult} from '../server/control.js'
import {checkTokenKept, launchConfig, launchForRestart} from '../server/lifecycle.js'
import {checkManagerConfig} from '../server/manager.js'
import {readState} from '../server/state.js'
import {configFromFlags, managerFlags, RUNC_WARNING, settingsFromFlags} from './start.js'

export default class Restart extends BaseCommand<typeof Restart> {
  static description = `stop the executor manager (graceful) and start it again in the background

Keeps what \`sandbox start\` was told: its flags and the SANDBOX_* variables of its environment
(recorded in the state directory), and reads the same .env file again, so an edited .env takes
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
    const previous = readState()
    const launch = launchForRestart(previous?.launch, settingsFromFlags(flags), process.env)
    const config = launchConfig(launch)
    checkManagerConfig(config)
    checkTokenKept(previous, config)
    const docker = flags.docker || previous?.mode === 'docker'
    const network = flags.network ?? (previous?.mode === 'docker' ? previous.network : undefined)
    const image = flags.image ?? (previous?.mode === 'docker' ? previous.image : undefined) ?? process.env.SANDBOX_EXECUTOR_MANAGER_IMAGE
    const stop = await stopManager({deadlineMs: flags['stop-timeout'] * 1000, onProgress: (m) => this.progress(m)})
    if (!this.jsonEnabled()) this.log(stop.wasRunning ? `Stopped the manager in ${(stop.stoppedInMs / 1000).toFixed(1)} s` : 'The manager was not running')
    if (config.allowRunc && !this.jsonEnabled()) process.stderr.write(`${RUNC_WARNING}\n`)
    const start = docker
      ? await startInDocker({config, launch, network, image, waitMs: flags.wait * 1000, onProgress: (m) => this.progress(m)})
      : await startInBackground({launch, config, waitMs: flags.wait * 1000})
    if (!this.jsonEnabled()) {
      const took = start.startedInMs === null ? '' : ` in ${(start.startedInMs / 1000).toFixed(1)} s`
      this.log(`Manager ready at ${start.endpoint} (${start.mode === 'docker' ? 'container sandbox-executor-manager' : `pid ${start.pid}`})${took}`)
      for (const w of start.warnings) process.stderr.write(`${w}\n`)
    }
    return {stop, start}
  }
}
