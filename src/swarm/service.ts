/**
 * Swarm scale-out: deploy, update, remove and inspect the `sandbox` stack on a swarm, through
 * the docker CLI of a swarm manager node (`docker stack deploy` reads the compose file of
 * src/swarm/stack.ts). DOCKER_HOST names the swarm manager's engine when it is not the local one.
 */
import {statSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {request} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {dockerEndpoint} from '../docker/client.js'
import {configError, prerequisiteError, remoteError} from '../errors.js'
import {runProgram} from '../exec.js'
import type {GatewayStatus} from './gateway.js'
import {DEFAULT_NODE_LABEL, DEFAULT_STACK, resolveStack, stackCompose, type EndpointMode, type StackOptions} from './stack.js'

export interface SwarmNode {
  id: string
  hostname: string
  status: string
  availability: string
  managerStatus: string
  labelled: boolean
}

export interface SwarmTask {
  id: string
  name: string
  node: string
  desiredState: string
  currentState: string
  error: string
}

export interface SwarmStatus {
  stack: string
  deployed: boolean
  nodes: SwarmNode[]
  services: Array<{name: string; mode: string; replicas: string; ports: string}>
  tasks: SwarmTask[]
  /** the gateway's view of the managers (endpoint given and the stack uses a gateway) */
  gateway: GatewayStatus | null
}

export interface DeployResult {
  stack: string
  endpoint: EndpointMode
  port: number
  image: string
  /** nodes that will run a manager */
  nodes: string[]
  services: string[]
}

async function dockerCli(args: string[], what: string): Promise<string> {
  const r = await runProgram('docker', args, {timeoutMs: 120_000})
  if (r.code === 127) throw prerequisiteError('The docker CLI is not installed: Swarm deployments use `docker stack`', 'DOCKER_CLI_MISSING', ['install docker.io'])
  if (r.code !== 0) {
    const text = (r.stderr || r.stdout).trim()
    if (/Cannot connect to the Docker daemon|connect: no such file/i.test(text)) {
      throw prerequisiteError(`Cannot reach the Docker daemon at ${dockerEndpoint()}: ${text}`, 'DOCKER_UNREACHABLE')
    }
    if (/not a swarm manager|This node is not a swarm manager/i.test(text)) {
      throw prerequisiteError(`The engine at ${dockerEndpoint()} is not a swarm manager`, 'SWARM_NOT_MANAGER', [
        'run this on a swarm manager node, or set DOCKER_HOST to one',
        'create a swarm with `docker swarm init`',
      ])
    }
    throw remoteError(`${what} failed: ${text}`, 'SWARM_COMMAND_FAILED')
  }
  return r.stdout
}

function jsonLines<T>(text: string): T[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T)
}

/** The group of the Docker socket here (the nodes are assumed alike; --socket-gid overrides). */
export function localSocketGid(): number {
  const endpoint = dockerEndpoint()
  const path = endpoint.startsWith('unix://') ? endpoint.slice('unix://'.length) : '/var/run/docker.sock'
  try {
    return statSync(path).gid
  } catch (error) {
    throw prerequisiteError(`Cannot read the Docker socket ${path} to learn its group`, 'DOCKER_SOCKET_REQUIRED', ['give the group id with --socket-gid'], error)
  }
}

/** The swarm's nodes, and which carry the sandbox label. */
export async function swarmNodes(label = DEFAULT_NODE_LABEL): Promise<SwarmNode[]> {
  const rows = jsonLines<{ID: string; Hostname: string; Status: string; Availability: string; ManagerStatus: string}>(
    await dockerCli(['node', 'ls', '--format', '{{json .}}'], 'Listing the swarm nodes'),
  )
  const labelled = new Set((await dockerCli(['node', 'ls', '-q', '--filter', `node.label=${label}=true`], 'Listing the labelled nodes')).split('\n').map((s) => s.trim()))
  return rows.map((r) => ({
    id: r.ID,
    hostname: r.Hostname,
    status: r.Status,
    availability: r.Availability,
    managerStatus: r.ManagerStatus,
    labelled: labelled.has(r.ID),
  }))
}

/** Label nodes (by id or hostname) for sandboxes, or remove the label. */
export async function labelNodes(nodes: string[], options: {label?: string; remove?: boolean} = {}): Promise<string[]> {
  const label = options.label ?? DEFAULT_NODE_LABEL
  if (!nodes.length) throw configError('Name at least one node', 'SWARM_OPTIONS')
  for (const node of nodes) {
    const args = options.remove ? ['--label-rm', label] : ['--label-add', `${label}=true`]
    await dockerCli(['node', 'update', ...args, node], `Labelling node ${node}`)
  }
  return nodes
}

/**
 * Deploy (or update in place: `docker stack deploy` rolls changed services one node at a
 * time) the stack. Refuses when no node is labelled: nothing would serve.
 */
export async function deployStack(options: StackOptions, onProgress: (message: string) => void = () => {}): Promise<DeployResult> {
  const r = resolveStack(options)
  const compose = stackCompose(r)
  const nodes = (await swarmNodes(r.label)).filter((n) => n.labelled)
  if (!nodes.length) {
    throw prerequisiteError(`No swarm node is labelled ${r.label}=true: no manager would run`, 'SWARM_NO_NODES', [
      `label the hosts that run sandboxes: \`sandbox swarm label <node>…\` (docker node update --label-add ${r.label}=true <node>)`,
    ])
  }
  // the compose file can hold SANDBOX_API_TOKEN: private folder, mode 0600, removed after
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-stack-'))
  try {
    const file = join(dir, 'stack.yml')
    writeFileSync(file, JSON.stringify(compose, null, 2), {mode: 0o600})
    onProgress(`deploying stack ${r.name} (${r.endpoint} endpoint on port ${r.port}) to ${nodes.map((n) => n.hostname).join(', ')}`)
    await dockerCli(['stack', 'deploy', '--prune', '--resolve-image', 'never', '-c', file, r.name], `Deploying stack ${r.name}`)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
  return {
    stack: r.name,
    endpoint: r.endpoint,
    port: r.port,
    image: r.image,
    nodes: nodes.map((n) => n.hostname),
    services: Object.keys(compose.services as object).map((s) => `${r.name}_${s}`),
  }
}

async function stackServices(stack: string): Promise<SwarmStatus['services']> {
  const rows = jsonLines<{Name: string; Mode: string; Replicas: string; Ports: string}>(
    await dockerCli(['stack', 'services', stack, '--format', '{{json .}}'], `Listing the services of ${stack}`).catch((error: unknown) => {
      if (/Nothing found in stack/i.test((error as Error).message)) return ''
      throw error
    }),
  )
  return rows.map((s) => ({name: s.Name, mode: s.Mode, replicas: s.Replicas, ports: s.Ports}))
}

/** Remove the stack and wait until its services and network are gone. */
export async function removeStack(
  name = DEFAULT_STACK,
  options: {timeoutMs?: number; onProgress?: (m: string) => void} = {},
): Promise<{stack: string; removed: boolean; seconds: number}> {
  const started = performance.now()
  const before = await stackServices(name)
  if (!before.length) return {stack: name, removed: false, seconds: 0}
  options.onProgress?.(`removing stack ${name} (${before.map((s) => s.name).join(', ')})`)
  await dockerCli(['stack', 'rm', name], `Removing stack ${name}`)
  const end = Date.now() + (options.timeoutMs ?? 90_000)
  for (;;) {
    const services = await stackServices(name)
    const networks = (await dockerCli(['network', 'ls', '-q', '--filter', `label=com.docker.stack.namespace=${name}`], 'Listing networks')).trim()
    // this engine's task containers too: a manager removes its sandboxes before its container goes
    const containers = (await dockerCli(['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${name}`], 'Listing containers')).trim()
    if (!services.length && !networks && !containers) break
    if (Date.now() > end) throw remoteError(`Stack ${name} was not gone after ${options.timeoutMs ?? 90_000} ms`, 'SWARM_REMOVE_TIMEOUT')
    await new Promise((r) => setTimeout(r, 500))
  }
  return {stack: name, removed: true, seconds: Math.round((performance.now() - started) / 100) / 10}
}

/** GET <endpoint>/_gateway/status (undefined when the endpoint is not a gateway). */
export function gatewayStatus(endpoint: string, timeoutMs = 3000): Promise<GatewayStatus | undefined> {
  return new Promise((resolve) => {
    const req = request(new URL('/_gateway/status', endpoint), {timeout: timeoutMs}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as GatewayStatus) : undefined)
        } catch {
          resolve(undefined)
        }
      })
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(undefined))
    req.end()
  })
}

/** Nodes, services and tasks of the stack; with `endpoint`, the gateway's view of each manager. */
export async function stackStatus(name = DEFAULT_STACK, options: {label?: string; endpoint?: string} = {}): Promise<SwarmStatus> {
  const [nodes, services] = await Promise.all([swarmNodes(options.label), stackServices(name)])
  const tasks = services.length
    ? jsonLines<{ID: string; Name: string; Node: string; DesiredState: string; CurrentState: string; Error: string}>(
        await dockerCli(['stack', 'ps', name, '--no-trunc', '--filter', 'desired-state=running', '--format', '{{json .}}'], `Listing the tasks of ${name}`),
      ).map((t) => ({id: t.ID, name: t.Name, node: t.Node, desiredState: t.DesiredState, currentState: t.CurrentState, error: t.Error}))
    : []
  const gateway = options.endpoint ? ((await gatewayStatus(options.endpoint)) ?? null) : null
  return {stack: name, deployed: services.length > 0, nodes, services, tasks, gateway}
}

export {DEFAULT_STACK}
