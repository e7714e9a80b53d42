/**
 * The Swarm stack of a scale-out deployment, as a compose v3 file for `docker stack deploy`.
 *
 * `manager`: a global service (one task per node labelled `<label>=true`), each task on its
 * own node's engine through that node's /var/run/docker.sock (as `sandbox start --docker`
 * does: non-root with the socket's group, read-only root, no capabilities), its hostname the
 * node's, health-checked on /healthz so that a task that cannot serve leaves the endpoint.
 *
 * The endpoint, two ways:
 * - `mesh` (default): the manager service publishes `port` through Swarm's routing mesh
 *   (ingress, VIP). Needs IP_VS in every node's kernel.
 * - `gateway`: the manager service runs in dnsrr mode on the stack's overlay network, and a
 *   `gateway` service (same image, src/swarm/gateway.ts) on the swarm's manager nodes
 *   publishes `port` in host mode and balances over the healthy manager tasks. For kernels
 *   without IP_VS, where the mesh cannot work.
 */
import {configError} from '../errors.js'
import {MANAGER_CONTAINER_PORT, MANAGER_IMAGE} from '../docker/manager-container.js'

export const ENDPOINT_MODES = ['mesh', 'gateway'] as const
export type EndpointMode = (typeof ENDPOINT_MODES)[number]

export const DEFAULT_STACK = 'sandbox'
export const DEFAULT_NODE_LABEL = 'sandbox'
export const DEFAULT_SWARM_PORT = 9385

export interface StackOptions {
  /** stack name (service names are <stack>_manager, <stack>_gateway) */
  name?: string
  /** the manager image, present on every labelled node */
  image?: string
  /** published port of the endpoint */
  port?: number
  endpoint?: EndpointMode
  /** nodes labelled <label>=true run a manager */
  label?: string
  /** group id of /var/run/docker.sock on the nodes (the task runs as 65534:<gid>) */
  socketGid: number
  /** SANDBOX_* settings for every manager (pool size, limits, token…) */
  env?: Record<string, string>
  /** seconds between health checks (default 5) */
  healthIntervalSeconds?: number
  /** memory limit of each manager task, bytes (default 512 MiB) */
  memoryBytes?: number
  /** also publish each node's own manager on this port of its node (host mode; 0: not) */
  nodePort?: number
}

export interface ResolvedStack extends Required<Omit<StackOptions, 'env'>> {
  env: Record<string, string>
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,40}$/
const LABEL = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/

/** Check and complete the options; bad input is a configuration error and nothing is deployed. */
export function resolveStack(options: StackOptions): ResolvedStack {
  const r: ResolvedStack = {
    name: options.name ?? DEFAULT_STACK,
    image: options.image ?? MANAGER_IMAGE,
    port: options.port ?? DEFAULT_SWARM_PORT,
    endpoint: options.endpoint ?? 'mesh',
    label: options.label ?? DEFAULT_NODE_LABEL,
    socketGid: options.socketGid,
    env: options.env ?? {},
    healthIntervalSeconds: options.healthIntervalSeconds ?? 5,
    memoryBytes: options.memoryBytes ?? 512 * 1024 * 1024,
    nodePort: options.nodePort ?? 0,
  }
  if (!NAME.test(r.name)) throw configError(`Invalid stack name "${r.name}": use lower-case letters, digits, - and _ (up to 41)`, 'SWARM_OPTIONS')
  if (!LABEL.test(r.label)) throw configError(`Invalid node label "${r.label}"`, 'SWARM_OPTIONS')
  if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535) throw configError(`Invalid port ${r.port}: use 1 to 65535`, 'SWARM_OPTIONS')
  if (!Number.isInteger(r.nodePort) || r.nodePort < 0 || r.nodePort > 65535 || (r.nodePort !== 0 && r.nodePort === r.port)) {
    throw configError(`Invalid node port ${r.nodePort}: use 1 to 65535, not the endpoint's port`, 'SWARM_OPTIONS')
  }
  if (!ENDPOINT_MODES.includes(r.endpoint)) throw configError(`Invalid endpoint "${r.endpoint}": use ${ENDPOINT_MODES.join(' or ')}`, 'SWARM_OPTIONS')
  if (!Number.isInteger(r.socketGid) || r.socketGid < 0) throw configError(`Invalid socket group id ${r.socketGid}`, 'SWARM_OPTIONS')
  if (!r.image || /\s/.test(r.image)) throw configError(`Invalid image "${r.image}"`, 'SWARM_OPTIONS')
  if (!Number.isInteger(r.healthIntervalSeconds) || r.healthIntervalSeconds < 1 || r.healthIntervalSeconds > 300) {
    throw configError(`Invalid health interval ${r.healthIntervalSeconds}: use 1 to 300 seconds`, 'SWARM_OPTIONS')
  }
  for (const k of Object.keys(r.env)) if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw configError(`Invalid environment variable name "${k}"`, 'SWARM_OPTIONS')
  return r
}

const healthProbe = (port: number, path: string) =>
  `require('http').get({host:'127.0.0.1',port:${port},path:'${path}',timeout:9000},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))`

/** The compose document (JSON is YAML: `docker stack deploy -c` reads it as is). */
export function stackCompose(options: StackOptions): Record<string, unknown> {
  const r = resolveStack(options)
  const port = MANAGER_CONTAINER_PORT
  const health = (path: string, start: number) => ({
    test: ['CMD', 'node', '-e', healthProbe(port, path)],
    interval: `${r.healthIntervalSeconds}s`,
    // generous: a loaded host answers slowly, and a task killed for that serves nobody
    timeout: '10s',
    retries: 3,
    start_period: `${start}s`,
  })
  const hardening = {
    read_only: true,
    cap_drop: ['ALL'],
    security_opt: ['no-new-privileges'],
  }
  const manager: Record<string, unknown> = {
    image: r.image,
    hostname: '{{.Node.Hostname}}',
    user: `65534:${r.socketGid}`,
    environment: {
      ...r.env,
      SANDBOX_EXECUTOR_MANAGER_HOST: '0.0.0.0',
      SANDBOX_EXECUTOR_MANAGER_PORT: String(port),
      DOCKER_HOST: 'unix:///var/run/docker.sock',
      SANDBOX_MANAGER_MODE: 'docker',
    },
    volumes: [
      {type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock'},
      {type: 'tmpfs', target: '/tmp', tmpfs: {size: 64 * 1024 * 1024}},
    ],
    ...hardening,
    healthcheck: health('/healthz', 120),
    stop_grace_period: '30s',
    networks: ['sandbox'],
    deploy: {
      mode: 'global',
      endpoint_mode: r.endpoint === 'mesh' ? 'vip' : 'dnsrr',
      placement: {constraints: [`node.labels.${r.label} == true`]},
      resources: {limits: {memory: String(r.memoryBytes)}},
      restart_policy: {condition: 'any', delay: '2s'},
      update_config: {parallelism: 1, order: 'stop-first', failure_action: 'rollback', monitor: '30s'},
      labels: {'io.sandbox.managed': 'true', 'io.sandbox.role': 'manager'},
    },
  }
  const ports: Array<Record<string, unknown>> = []
  if (r.endpoint === 'mesh') ports.push({target: port, published: r.port, protocol: 'tcp', mode: 'ingress'})
  if (r.nodePort) ports.push({target: port, published: r.nodePort, protocol: 'tcp', mode: 'host'})
  if (ports.length) manager.ports = ports
  const services: Record<string, unknown> = {manager}
  if (r.endpoint === 'gateway') {
    services.gateway = {
      image: r.image,
      entrypoint: ['node', '/opt/sandbox/dist/swarm/gateway-main.js'],
      user: '65534:65534',
      environment: {SANDBOX_GATEWAY_UPSTREAM: 'tasks.manager', SANDBOX_GATEWAY_UPSTREAM_PORT: String(port), SANDBOX_GATEWAY_PORT: String(port)},
      ...hardening,
      // alive, whether or not a manager is healthy yet (its /healthz says that)
      healthcheck: health('/_gateway/status', 10),
      networks: ['sandbox'],
      ports: [{target: port, published: r.port, protocol: 'tcp', mode: 'host'}],
      deploy: {
        mode: 'replicated',
        replicas: 1,
        placement: {constraints: ['node.role == manager']},
        restart_policy: {condition: 'any', delay: '2s'},
        labels: {'io.sandbox.managed': 'true', 'io.sandbox.role': 'gateway'},
      },
    }
  }
  return {
    version: '3.8',
    services,
    networks: {sandbox: {driver: 'overlay', labels: {'io.sandbox.managed': 'true'}}},
  }
}
