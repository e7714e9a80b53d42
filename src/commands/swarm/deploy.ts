import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {configError} from '../../errors.js'
import {deployStack, localSocketGid, stackStatus, type DeployResult} from '../../swarm/service.js'
import {DEFAULT_NODE_LABEL, DEFAULT_STACK, DEFAULT_SWARM_PORT, ENDPOINT_MODES, type EndpointMode, type StackOptions} from '../../swarm/stack.js'
import {MANAGER_IMAGE} from '../../docker/manager-container.js'

/** the flags of `swarm deploy` and `swarm update` */
export const stackFlags = {
  stack: Flags.string({description: 'stack name', default: DEFAULT_STACK}),
  image: Flags.string({description: 'manager image, present on every labelled node (`sandbox swarm images`)', default: MANAGER_IMAGE}),
  port: Flags.integer({char: 'p', description: 'published port of the one endpoint', default: DEFAULT_SWARM_PORT, min: 1, max: 65535}),
  endpoint: Flags.string({
    description: 'mesh: Swarm routing mesh (needs IP_VS in the kernels); gateway: a balancer task on the swarm managers, host-mode port',
    options: [...ENDPOINT_MODES],
    default: 'mesh',
  }),
  label: Flags.string({description: 'nodes labelled <label>=true run a manager', default: DEFAULT_NODE_LABEL}),
  'pool-size': Flags.integer({description: 'warm containers per language on each node (SANDBOX_EXECUTOR_MANAGER_POOL_SIZE)', min: 0, max: 64}),
  env: Flags.string({char: 'e', description: 'KEY=VALUE setting for every manager (repeatable), e.g. SANDBOX_TIMEOUT=10s', multiple: true}),
  'socket-gid': Flags.integer({description: "group id of /var/run/docker.sock on the nodes (default: this host's socket)", min: 0}),
  'node-port': Flags.integer({description: "also publish each node's own manager on this port of its node (host mode)", min: 1, max: 65535}),
  'health-interval': Flags.integer({description: 'seconds between health checks of each manager', default: 5, min: 1, max: 300}),
}

export function stackOptions(flags: {
  stack: string
  image: string
  port: number
  endpoint: string
  label: string
  'pool-size'?: number
  env?: string[]
  'socket-gid'?: number
  'node-port'?: number
  'health-interval': number
}): StackOptions {
  const env: Record<string, string> = {}
  for (const pair of flags.env ?? []) {
    const eq = pair.indexOf('=')
    if (eq < 1) throw configError(`Invalid --env "${pair}": use KEY=VALUE`, 'SWARM_OPTIONS')
    env[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  if (flags['pool-size'] !== undefined) env.SANDBOX_EXECUTOR_MANAGER_POOL_SIZE = String(flags['pool-size'])
  return {
    name: flags.stack,
    image: flags.image,
    port: flags.port,
    endpoint: flags.endpoint as EndpointMode,
    label: flags.label,
    env,
    socketGid: flags['socket-gid'] ?? localSocketGid(),
    healthIntervalSeconds: flags['health-interval'],
    nodePort: flags['node-port'],
  }
}

export function describeDeploy(r: DeployResult): string {
  return `Stack ${r.stack}: a manager on each of ${r.nodes.join(', ')}; endpoint (${r.endpoint}) on port ${r.port} of ${r.endpoint === 'mesh' ? 'every node' : 'the swarm manager node'}`
}

export default class SwarmDeploy extends BaseCommand<typeof SwarmDeploy> {
  static description = `deploy the executor manager as a Docker Swarm stack: one manager per labelled node, one endpoint

Run on a swarm manager node (or with DOCKER_HOST set to one). Every node labelled
<label>=true (\`sandbox swarm label\`) runs one manager task on its own engine and gVisor;
the managers' health checks on /healthz keep unhealthy ones out of the endpoint. The images
must be on every labelled node first (\`sandbox swarm images\`). Refuses when the stack exists
(use \`sandbox swarm update\`) or when no node is labelled.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'routing-mesh endpoint on port 9385 of every node'},
    {command: '<%= config.bin %> <%= command.id %> --endpoint gateway --pool-size 4', description: 'without IP_VS in the kernel: a gateway task balances'},
    {command: '<%= config.bin %> <%= command.id %> -e SANDBOX_API_TOKEN=$TOKEN --json', description: 'managers that require a token; the result as JSON'},
  ]

  static flags = stackFlags

  async run(): Promise<DeployResult> {
    const options = stackOptions(this.flags)
    const current = await stackStatus(options.name)
    if (current.deployed) {
      throw configError(`Stack ${options.name} is already deployed`, 'SWARM_STACK_EXISTS', ['change it with `sandbox swarm update`', 'or remove it with `sandbox swarm remove`'])
    }
    const result = await deployStack(options, (m) => this.progress(m))
    if (!this.jsonEnabled()) this.log(describeDeploy(result))
    return result
  }
}
