/**
 * Part `scale-out` (BENCH_ONLY=scale-out): a two-node swarm of namespaced Docker engines on
 * this machine (test/helpers/namespaced-docker.ts), the `sandbox` stack deployed with the
 * gateway endpoint (no IP_VS here) and each node's manager also published on its node (host
 * mode). Measured in one run:
 *   1. runs/s and latency, 4 closed-loop clients alternating Python and Node.js, straight to
 *      node1's manager vs through the swarm endpoint (two rounds each, interleaved): the cost of
 *      the endpoint. The two nodes share this machine's cores, so the endpoint cannot add
 *      capacity here; per-host scaling comes from the load model (docs/scale-out.md).
 *   2. the share of runs each node served through the endpoint.
 *   3. failover: node2's engine stopped under load; failed requests (must be only ones that
 *      were running on node2), answers after the stop, and who served them.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {createCluster, destroyCluster, formSwarm, stopEngine} from '../test/helpers/namespaced-docker.js'
import {closedLoop, runOnce, type LoadResult} from '../test/helpers/swarm-load.js'
import {deploySandboxStack, requireBaseImages, sandboxCli} from '../test/helpers/swarm-stack.js'
import {pct} from './measure.js'

const PORT = 19385
const NODE_PORT = 19386
const CLIENTS = 4

function summary(r: LoadResult) {
  const ms = r.answers.filter((a) => a.ok).map((a) => a.ms)
  return {
    runsPerSecond: r.runsPerSecond,
    p50: ms.length ? pct(ms, 50) : 0,
    p95: ms.length ? pct(ms, 95) : 0,
    failed: r.answers.filter((a) => !a.ok).length,
    n: r.answers.length,
    byHost: r.byHost,
  }
}

export async function scaleOutBench({seconds}: {seconds: number}): Promise<Record<string, unknown>> {
  console.log(`\n(scale-out) two namespaced engines in a swarm, ${CLIENTS} clients, ${seconds}s per point`)
  requireBaseImages()
  const stateDir = mkdtempSync(join(tmpdir(), 'sandbox-bench-swarm-'))
  const t0 = performance.now()
  const cluster = await createCluster(2)
  try {
    formSwarm(cluster)
    const stack = await deploySandboxStack(cluster, {stateDir, port: PORT, poolSize: 4, nodePort: NODE_PORT})
    console.log(`  swarm up and both managers healthy in ${((performance.now() - t0) / 1000).toFixed(0)} s`)
    const direct = `http://${cluster.nodes[0].ip}:${NODE_PORT}`
    for (let i = 0; i < 8; i++) await runOnce(stack.endpoint, i % 2 ? 'nodejs' : 'python')
    const rounds: Array<{direct: ReturnType<typeof summary>; endpoint: ReturnType<typeof summary>}> = []
    for (let round = 0; round < 2; round++) {
      const d = summary(await closedLoop(direct, CLIENTS, (_a, elapsed) => elapsed > seconds * 1000))
      const e = summary(await closedLoop(stack.endpoint, CLIENTS, (_a, elapsed) => elapsed > seconds * 1000))
      rounds.push({direct: d, endpoint: e})
    }
    const mean = (f: (r: (typeof rounds)[number]) => number) => rounds.reduce((n, r) => n + f(r), 0) / rounds.length
    const directRate = mean((r) => r.direct.runsPerSecond)
    const endpointRate = mean((r) => r.endpoint.runsPerSecond)
    const served: Record<string, number> = {}
    for (const r of rounds) for (const [h, n] of Object.entries(r.endpoint.byHost)) served[h] = (served[h] ?? 0) + n
    const total = Object.values(served).reduce((a, b) => a + b, 0)
    const cost = 1 - endpointRate / directRate
    for (const [i, r] of rounds.entries()) {
      console.log(
        `  round ${i + 1}: direct to node1 ${r.direct.runsPerSecond.toFixed(2)} runs/s (p50 ${r.direct.p50.toFixed(0)} ms, p95 ${r.direct.p95.toFixed(0)} ms, ${r.direct.failed} failed); ` +
          `endpoint ${r.endpoint.runsPerSecond.toFixed(2)} runs/s (p50 ${r.endpoint.p50.toFixed(0)} ms, p95 ${r.endpoint.p95.toFixed(0)} ms, ${r.endpoint.failed} failed)`,
      )
    }
    console.log(`  → endpoint / direct = ${(endpointRate / directRate).toFixed(2)} (endpoint cost ${(cost * 100).toFixed(1)}% of runs/s; target ≤ 10%)`)
    console.log(
      `  → share served through the endpoint: ${Object.entries(served)
        .map(([h, n]) => `${h} ${((n / total) * 100).toFixed(0)}%`)
        .join(', ')}`,
    )

    // failover: stop node2's engine a third of the way in
    let stopping: Promise<void> | undefined
    let stoppedAt = Number.POSITIVE_INFINITY
    let stopStarted = 0
    let stoppedAfter = -1
    const fo = await closedLoop(stack.endpoint, CLIENTS, (answers, elapsed) => {
      if (!stopping && elapsed > (seconds * 1000) / 3) {
        stopStarted = performance.now()
        stopping = stopEngine(cluster.nodes[1]).then(() => {
          stoppedAt = performance.now()
          stoppedAfter = answers.length
        })
      }
      // the point lasts `seconds`, and at least 12 answers come after node2's engine is gone
      return stoppedAfter >= 0 && elapsed > seconds * 1000 && answers.length >= stoppedAfter + 12
    })
    await stopping
    const failed = fo.answers.filter((a) => !a.ok)
    const after = fo.answers.filter((a) => a.startedAt > stoppedAt)
    const refusedToClient = fo.answers.filter((a) => a.error !== null).length
    const notStarted = fo.answers.filter((a) => a.exitCode === -10).length
    const lastNode2 = Math.max(0, ...fo.answers.filter((a) => a.host === 'node2').map((a) => a.startedAt + a.ms))
    const failover = {
      requests: fo.answers.length,
      failed: failed.length,
      failedStartedBeforeStop: failed.filter((a) => a.startedAt < stoppedAt).length,
      connectionErrors: refusedToClient,
      notStartedAnswers: notStarted,
      answersAfterStop: after.length,
      answersAfterStopOk: after.filter((a) => a.ok).length,
      engineStopMs: stoppedAt - stopStarted,
      lastNode2AnswerAfterStopBeganMs: lastNode2 ? lastNode2 - stopStarted : null,
      runsPerSecond: fo.runsPerSecond,
      byHost: fo.byHost,
    }
    console.log(
      `  failover: ${failover.requests} requests, ${failover.failed} failed (${failover.failedStartedBeforeStop} of them running when node2 went), ` +
        `${failover.connectionErrors} connection errors, ${failover.notStartedAnswers} not-started answers; after the stop ${failover.answersAfterStopOk}/${failover.answersAfterStop} ok; ` +
        `node2's engine took ${(failover.engineStopMs / 1000).toFixed(1)} s to stop`,
    )
    await sandboxCli(['swarm', 'remove'], stateDir, cluster.nodes[0].dockerHost)
    return {
      clients: CLIENTS,
      seconds,
      rounds,
      directRunsPerSecond: directRate,
      endpointRunsPerSecond: endpointRate,
      endpointCost: cost,
      share: Object.fromEntries(Object.entries(served).map(([h, n]) => [h, n / total])),
      failover,
    }
  } finally {
    await destroyCluster(cluster)
    rmSync(stateDir, {recursive: true, force: true})
  }
}
