import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {labelNodes} from '../../swarm/service.js'
import {DEFAULT_NODE_LABEL} from '../../swarm/stack.js'

export default class SwarmLabel extends BaseCommand<typeof SwarmLabel> {
  static description = `mark swarm nodes as sandbox hosts (or unmark them with --remove)

A labelled node runs one manager of the stack (after \`sandbox swarm deploy\`, at once when the
stack exists). The node needs Docker with runsc registered and the images (\`sandbox swarm images\`).`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> node1 node2', description: 'two sandbox hosts'},
    {command: '<%= config.bin %> <%= command.id %> node2 --remove', description: 'drain node2 of its manager'},
  ]

  static strict = false

  static args = {
    node: Args.string({description: 'node id or hostname (several allowed)', required: true}),
  }

  static flags = {
    label: Flags.string({description: 'the label', default: DEFAULT_NODE_LABEL}),
    remove: Flags.boolean({description: 'remove the label instead', default: false}),
  }

  async run(): Promise<{nodes: string[]; label: string; removed: boolean}> {
    const {argv} = await this.parse(SwarmLabel)
    const nodes = await labelNodes(argv as string[], {label: this.flags.label, remove: this.flags.remove})
    if (!this.jsonEnabled()) this.log(`${this.flags.remove ? 'Unlabelled' : 'Labelled'} ${nodes.join(', ')} (${this.flags.label}=true)`)
    return {nodes, label: this.flags.label, removed: this.flags.remove}
  }
}
