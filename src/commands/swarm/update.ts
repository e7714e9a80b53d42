import {BaseCommand} from '../../base-command.js'
import {prerequisiteError} from '../../errors.js'
import {deployStack, stackStatus, type DeployResult} from '../../swarm/service.js'
import {describeDeploy, stackFlags, stackOptions} from './deploy.js'

export default class SwarmUpdate extends BaseCommand<typeof SwarmUpdate> {
  static description = `change a deployed Swarm stack (image, settings, port, endpoint, labelled nodes)

Re-deploys the stack with the given flags (the same as \`sandbox swarm deploy\`; flags not
given take their defaults again). Swarm rolls the managers one node at a time and rolls
back when the new task does not become healthy. Newly labelled nodes get a manager; nodes
whose label was removed lose theirs.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> --image sandbox-executor-manager:0.2.0', description: 'roll out a new manager image'},
    {command: '<%= config.bin %> <%= command.id %> --pool-size 8', description: 'more warm containers on every node'},
  ]

  static flags = stackFlags

  async run(): Promise<DeployResult> {
    const options = stackOptions(this.flags)
    const current = await stackStatus(options.name)
    if (!current.deployed) {
      throw prerequisiteError(`Stack ${options.name} is not deployed`, 'SWARM_STACK_MISSING', ['deploy it with `sandbox swarm deploy`'])
    }
    const result = await deployStack(options, (m) => this.progress(m))
    if (!this.jsonEnabled()) this.log(describeDeploy(result))
    return result
  }
}
