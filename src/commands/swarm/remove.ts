import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {DEFAULT_STACK, removeStack} from '../../swarm/service.js'

export default class SwarmRemove extends BaseCommand<typeof SwarmRemove> {
  static description = `remove the Swarm stack and wait until its services and network are gone

Each manager stops gracefully (runs in flight finish, up to 30 s) and removes its sandbox
containers. Not deployed: says so (exit code 0). Images and node labels stay.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'remove the stack named sandbox'},
    {command: '<%= config.bin %> <%= command.id %> --stack sbx --json', description: 'another stack; the result as JSON'},
  ]

  static flags = {
    stack: Flags.string({description: 'stack name', default: DEFAULT_STACK}),
    timeout: Flags.integer({char: 't', description: 'seconds to wait for the services to go', default: 90, min: 1}),
  }

  async run(): Promise<{stack: string; removed: boolean; seconds: number}> {
    const result = await removeStack(this.flags.stack, {timeoutMs: this.flags.timeout * 1000, onProgress: (m) => this.progress(m)})
    if (!this.jsonEnabled()) this.log(result.removed ? `Removed stack ${result.stack} in ${result.seconds} s` : `Stack ${result.stack} is not deployed`)
    return result
  }
}
