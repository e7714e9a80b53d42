/**
 * Swarm scale-out for real: two Docker engines in network namespaces on this machine form a
 * swarm; `sandbox swarm images|label|deploy` put one manager on each node behind one endpoint;
 * Python and Node.js runs through it land on both nodes; stopping node2's engine under load
 * loses no request that had not started and the endpoint keeps answering; then the stack,
 * the engines, the namespaces and their folders are removed.
 *
 * This kernel has no IP_VS, so Swarm's routing mesh cannot run here (see docs/scale-out.md,
 * "Docker Swarm"): the stack is deployed with `--endpoint gateway`.
 */
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createCluster, destroyCluster, formSwarm, namespacedDockerMissing, nodeDocker, stopEngine, type NamespacedCluster} from '../helpers/namespaced-docker.js'
import {closedLoop, runOnce, type RunAnswer} from '../helpers/swarm-load.js'
import {deploySandboxStack, requireBaseImages, sandboxCli, sandboxOk, type SwarmStack} from '../helpers/swarm-stack.js'

const PORT = 19385

let cluster: NamespacedCluster | undefined
let stack: SwarmStack
let endpoint = ''
let stateDir = ''
const t0 = performance.now()
/** how long each setup step took (shown; the file's budget is a few minutes) */
const lap = (step: string) => console.log(`[swarm] ${step} at ${((performance.now() - t0) / 1000).toFixed(1)} s`)
const sandbox = (args: string[], dockerHost?: string) => sandboxCli(args, stateDir, dockerHost)
const expectOk = (args: string[], dockerHost?: string) => sandboxOk(args, stateDir, dockerHost)

describe.sequential('Docker Swarm scale-out on namespaced engines', () => {
  beforeAll(async () => {
    const missing = namespacedDockerMissing()
    if (missing) throw new Error(`This test needs namespaced Docker engines: ${missing}`)
    requireBaseImages()
    stateDir = mkdtempSync(join(tmpdir(), 'sandbox-swarm-state-'))
    cluster = await createCluster(2)
    formSwarm(cluster)
    lap('two engines in a swarm')
    stack = await deploySandboxStack(cluster, {stateDir, port: PORT, poolSize: 2, log: lap})
    expect(stack.deployed).toMatchObject({stack: 'sandbox', endpoint: 'gateway', nodes: ['node1', 'node2']})
    endpoint = stack.endpoint
  })

  afterAll(async () => {
    if (cluster) {
      const n1 = cluster.nodes[0]
      // the stack first (its managers remove their sandboxes), then the engines and namespaces
      await sandbox(['swarm', 'remove', '--timeout', '60'], n1.dockerHost)
      const left = nodeDocker(n1, ['ps', '-aq', '--filter', 'label=io.sandbox.managed=true']).trim()
      await destroyCluster(cluster)
      lap('everything removed')
      expect(left).toBe('')
      expect(existsSync(cluster.dir)).toBe(false)
    }
    if (stateDir) rmSync(stateDir, {recursive: true, force: true})
  })

  it('deploy refuses a second deployment and changes nothing', async () => {
    const r = await sandbox(['swarm', 'deploy', '--endpoint', 'gateway', '--port', String(PORT)], cluster!.nodes[0].dockerHost)
    expect(r.code).toBe(4)
    expect(r.json.error?.code).toBe('SWARM_STACK_EXISTS')
    expect(await stack.healthyManagers()).toHaveLength(2)
  })

  it('runs Python and Node.js through the one endpoint, and both nodes serve', async () => {
    const seen = new Set<string>()
    const answers: RunAnswer[] = []
    for (let i = 0; i < 20 && (seen.size < 2 || answers.length < 4); i++) {
      const a = await runOnce(endpoint, i % 2 === 0 ? 'python' : 'nodejs')
      answers.push(a)
      if (a.host) seen.add(a.host)
    }
    for (const a of answers) expect(a, JSON.stringify(a)).toMatchObject({ok: true, http: 200, status: 'success', value: 42})
    expect([...seen].sort()).toEqual(['node1', 'node2'])
  })

  it('swarm status shows the manager of each node', async () => {
    const s = await expectOk(['swarm', 'status', '--endpoint', endpoint], cluster!.nodes[0].dockerHost)
    expect(s.deployed).toBe(true)
    expect(s.nodes.map((n: {hostname: string; labelled: boolean}) => [n.hostname, n.labelled]).sort()).toEqual([
      ['node1', true],
      ['node2', true],
    ])
    const managers = s.tasks.filter((t: {name: string}) => t.name.startsWith('sandbox_manager.'))
    expect(managers.map((t: {node: string}) => t.node).sort()).toEqual(['node1', 'node2'])
    expect(s.gateway.backends.filter((b: {healthy: boolean}) => b.healthy)).toHaveLength(2)
  })

  it("stopping node2's engine under load: the endpoint keeps answering and no request that had not started is lost", async () => {
    const [, n2] = cluster!.nodes
    let stopping: Promise<void> | undefined
    let stoppedAfter = -1
    let stoppedAt = Number.POSITIVE_INFINITY
    const load = await closedLoop(endpoint, 4, (answers) => {
      if (!stopping && answers.length >= 8) {
        stopping = stopEngine(n2).then(() => {
          stoppedAfter = answers.length
          stoppedAt = performance.now()
        })
      }
      // go on until 12 answers came after node2's engine was gone
      return stoppedAfter >= 0 && answers.length >= stoppedAfter + 12
    })
    await stopping
    const failed = load.answers.filter((a) => !a.ok)
    // a request that failed must have been running on node2 when it went (started, so not repeated):
    // not a refused connection, not a "no runner took it" answer, and at most one per client
    for (const a of failed) {
      expect(a.startedAt, JSON.stringify(a)).toBeLessThan(stoppedAt)
      expect(a.error, JSON.stringify(a)).toBeNull()
      expect(a.exitCode, JSON.stringify(a)).not.toBe(-10)
      expect(a.host === 'node2' || a.http === 502, JSON.stringify(a)).toBe(true)
    }
    expect(failed.length).toBeLessThanOrEqual(4)
    const after = load.answers.filter((a) => a.startedAt > stoppedAt)
    expect(after.length).toBeGreaterThanOrEqual(8)
    for (const a of after) expect(a, JSON.stringify(a)).toMatchObject({ok: true, host: 'node1'})
    expect(load.byHost.node2 ?? 0).toBeGreaterThan(0)
  })
})
