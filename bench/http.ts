/**
 * The manager's HTTP layer on its own: sequential POST /run against createManagerServer with an
 * engine that answers at once (no container), over one keep-alive connection. What is left is the
 * cost of the HTTP layer per run (parse, validate, auth, metrics, serialise), p50/p95/p99, and the
 * CPU time per run (client and server together, in this process; steadier than wall time on a busy host).
 * `node --import tsx bench/http.ts` (BENCH_RUNS, default 5000; BENCH_JSON=path).
 */
import {writeFileSync} from 'node:fs'
import {Agent, request} from 'node:http'

import type {EngineStatus, RunRequest} from '../src/engine/engine.js'
import {emptyResult, type RunResult} from '../src/engine/result.js'
import {createManagerServer} from '../src/server/http.js'
import {createLogger} from '../src/server/logger.js'
import {pct} from './measure.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 5000)

const engine = {
  async run(req: RunRequest): Promise<RunResult> {
    return emptyResult({stdout: 'hi\n', result: {present: true, value: req.arguments ?? null, type: 'json'}})
  },
  status(): EngineStatus {
    return {runtime: 'runsc', backend: 'runsc', healthy: true, reason: null, pools: [], admission: {limit: 4, live: 0, evictions: 0, executing: 0, queued: 0, rejected: 0}}
  },
}

const round = (n: number) => Math.round(n * 1000) / 1000

function post(port: number, body: string, agent: Agent, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/run',
        agent,
        headers: {'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}`},
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

const token = 'bench-token'
const server = createManagerServer({engine, logger: createLogger({write: () => {}}), token})
const {port} = await server.listen('127.0.0.1', 0)
const agent = new Agent({keepAlive: true, maxSockets: 1})
const body = JSON.stringify({code_b64: Buffer.from('def main(name):\n    return name\n').toString('base64'), language: 'python', arguments: {name: 'World'}})
for (let i = 0; i < 500; i++) await post(port, body, agent, token)
const times: number[] = []
const cpu0 = process.cpuUsage()
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now()
  const status = await post(port, body, agent, token)
  times.push(performance.now() - t0)
  if (status !== 200) throw new Error(`POST /run answered ${status}`)
}
const cpu = process.cpuUsage(cpu0)
agent.destroy()
await server.close(1000)
const figures = {
  runs: RUNS,
  p50: round(pct(times, 50)),
  p95: round(pct(times, 95)),
  p99: round(pct(times, 99)),
  mean: round(times.reduce((a, b) => a + b, 0) / times.length),
  cpuMsPerRun: round((cpu.user + cpu.system) / 1000 / RUNS),
}
console.log(
  `HTTP layer alone (instant engine), ${RUNS} sequential POST /run: p50 ${figures.p50} ms  p95 ${figures.p95} ms  p99 ${figures.p99} ms  mean ${figures.mean} ms  CPU ${figures.cpuMsPerRun} ms/run`,
)
if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(figures, null, 2))
