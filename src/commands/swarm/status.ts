import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {DEFAULT_STACK, stackStatus, type SwarmStatus} from '../../swarm/service.js'
import {DEFAULT_NODE_LABEL} from '../../swarm/stack.js'

export default class SwarmStatusCommand extends BaseCommand<typeof SwarmStatusCommand> {
  static description = `the swarm's nodes, the stack's services and the manager task on each node

With --endpoint (a gateway endpoint), also each manager as the gateway sees it: healthy or
not, its node, how many requests it served.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'nodes, services and tasks'},
    {command: '<%= config.bin %> <%= command.id %> --endpoint http://10.0.0.5:9385 --json', description: "with the gateway's view, as JSON"},
  ]

  static flags = {
    stack: Flags.string({description: 'stack name', default: DEFAULT_STACK}),
    label: Flags.string({description: 'node label that marks sandbox nodes', default: DEFAULT_NODE_LABEL}),
    endpoint: Flags.string({description: 'URL of the stack endpoint (gateway mode) to ask for its managers'}),
  }

  async run(): Promise<SwarmStatus> {
    const s = await stackStatus(this.flags.stack, {label: this.flags.label, endpoint: this.flags.endpoint})
    if (!this.jsonEnabled()) {
      this.log(`Stack ${s.stack}: ${s.deployed ? 'deployed' : 'not deployed'}`)
      this.log('Nodes:')
      for (const n of s.nodes) {
        const task = s.tasks.find((t) => t.node === n.hostname && /_manager\./.test(t.name))
        const role = n.managerStatus ? `swarm ${n.managerStatus.toLowerCase()}` : 'worker'
        this.log(
          `  ${n.hostname.padEnd(20)} ${n.status.padEnd(6)} ${role.padEnd(16)} ${n.labelled ? 'sandbox' : '-'.padEnd(7)}  ${task ? `manager ${task.currentState}` : ''}`.trimEnd(),
        )
      }
      for (const svc of s.services) this.log(`Service ${svc.name}: ${svc.mode} ${svc.replicas}${svc.ports ? ` ${svc.ports}` : ''}`)
      if (s.gateway) {
        this.log(`Gateway: ${s.gateway.requests} requests, ${s.gateway.retried} sent on, ${s.gateway.failed} failed`)
        for (const b of s.gateway.backends) this.log(`  ${(b.host ?? b.address).padEnd(20)} ${b.healthy ? 'healthy' : `unhealthy (${b.lastError ?? ''})`}  served ${b.served}`)
      }
    }
    return s
  }
}
