/**
 * The `sandbox` stack on a namespaced swarm, set up through the real CLI (compiled bin/run.js)
 * the registry-free way: node1 gets the base images from the host engine and builds the
 * manager image on them; the other nodes get them by `sandbox swarm images`; both nodes are
 * labelled and the stack is deployed with a gateway endpoint (no IP_VS here). Used by
 * test/integration/swarm.test.ts and bench/scale-out.ts.
 */
import {execFile, execFileSync} from 'node:child_process'
import {join} from 'node:path'

import type {NamespacedCluster} from './namespaced-docker.js'

const ROOT = join(import.meta.dirname, '..', '..')
export const BASE_IMAGES = ['sandbox-base-python:latest', 'sandbox-base-nodejs:latest']

export interface CliAnswer {
  code: number
  json: any
  stderr: string
}

/** `sandbox ARGS --json` against one engine (DOCKER_HOST), with private state folders */
export function sandboxCli(args: string[], stateDir: string, dockerHost?: string): Promise<CliAnswer> {
  return new Promise((resolve) => {
    const env = {...process.env, FORCE_COLOR: '0', SANDBOX_STATE_DIR: stateDir, SANDBOX_DATA_DIR: stateDir, ...(dockerHost ? {DOCKER_HOST: dockerHost} : {})}
    execFile(process.execPath, [join(ROOT, 'bin', 'run.js'), ...args, '--json'], {env, maxBuffer: 16 * 1024 * 1024}, (error, stdout, stderr) => {
      let json: any = {}
      try {
        json = JSON.parse(stdout)
      } catch {
        /* not JSON */
      }
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, json, stderr})
    })
  })
}

export async function sandboxOk(args: string[], stateDir: string, dockerHost?: string): Promise<any> {
  const r = await sandboxCli(args, stateDir, dockerHost)
  if (r.code !== 0) throw new Error(`sandbox ${args.join(' ')} exited ${r.code}: ${JSON.stringify(r.json)} ${r.stderr.slice(-2000)}`)
  return r.json
}

/** Throws with a clear message when a base image the nodes need is not on the host engine. */
export function requireBaseImages(): void {
  for (const image of BASE_IMAGES) {
    try {
      execFileSync('docker', ['image', 'inspect', '--format', '{{.Id}}', image], {stdio: 'ignore'})
    } catch {
      throw new Error(`The base image ${image} is missing on the host engine (the nodes get it from there): run \`sandbox build\``)
    }
  }
}

/** poll a condition (the swarm converges on its own schedule), failing with what was last seen */
export async function eventually<T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs
  let last: T | undefined
  for (;;) {
    last = await probe().catch(() => last)
    if (last !== undefined && done(last)) return last
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`)
    await new Promise((r) => setTimeout(r, 1000))
  }
}

export interface SwarmStack {
  endpoint: string
  deployed: any
  /** hosts of the managers the gateway finds healthy */
  healthyManagers(): Promise<string[]>
}

/** Images to every node, labels, `sandbox swarm deploy --endpoint gateway`, and wait until every node's manager is healthy. */
export async function deploySandboxStack(
  cluster: NamespacedCluster,
  options: {stateDir: string; port: number; poolSize: number; nodePort?: number; log?: (step: string) => void},
): Promise<SwarmStack> {
  const [n1, ...others] = cluster.nodes
  const cli = (args: string[], host?: string) => sandboxOk(args, options.stateDir, host)
  await cli(['swarm', 'images', '--to', n1.dockerHost, '--image', 'sandbox-base-nodejs:latest'])
  await Promise.all([
    cli(['build', '--language', 'nodejs', '--manager'], n1.dockerHost),
    cli(['swarm', 'images', '--to', n1.dockerHost, '--image', 'sandbox-base-python:latest']),
    ...others.map((n) => cli(['swarm', 'images', '--to', n.dockerHost, ...BASE_IMAGES.flatMap((i) => ['--image', i])])),
  ])
  options.log?.('base images on every node, manager image built on node1')
  await cli(['swarm', 'images', ...others.flatMap((n) => ['--to', n.dockerHost]), '--image', 'sandbox-executor-manager:latest'], n1.dockerHost)
  options.log?.('manager image on every node')
  await cli(['swarm', 'label', ...cluster.nodes.map((n) => n.name)], n1.dockerHost)
  const deployed = await cli(
    [
      'swarm',
      'deploy',
      '--endpoint',
      'gateway',
      '--port',
      String(options.port),
      '--pool-size',
      String(options.poolSize),
      ...(options.nodePort ? ['--node-port', String(options.nodePort)] : []),
    ],
    n1.dockerHost,
  )
  options.log?.('stack deployed')
  const endpoint = `http://${n1.ip}:${options.port}`
  const healthyManagers = async () => {
    const s = await cli(['swarm', 'status', '--endpoint', endpoint], n1.dockerHost)
    return ((s.gateway?.backends ?? []) as Array<{healthy: boolean; host: string | null}>).filter((b) => b.healthy).map((b) => b.host ?? '?')
  }
  await eventually('a healthy manager on every node behind the gateway', healthyManagers, (hosts) => cluster.nodes.every((n) => hosts.includes(n.name)), 300_000)
  options.log?.('every manager healthy')
  return {endpoint, deployed, healthyManagers}
}
