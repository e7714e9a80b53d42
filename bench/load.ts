/**
 * The manager under load (loopback only):
 *   1. sequential POST /run of a trivial Python and Node.js main, p50/p95/p99 (warm: the next
 *      request is sent once the pool is full again, as in the engine bench) — optionally paired
 *      with an in-process engine run before each request (same machine, same moment)
 *   2. throughput, errors (5xx, dropped connections, -10 answers) and manager RSS at 5, 10 and
 *      50 concurrent clients, `seconds` per point
 * `startManagerForBench()` starts a real manager (`sandbox start` in a temporary state
 * directory on a free port) and measures start-to-first-run.
 */
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {Agent, request} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {loadConfig} from '../src/config.js'
import {Engine} from '../src/engine/engine.js'
import type {Language} from '../src/engine/languages.js'
import {stopManager} from '../src/supervisor/manage.js'
import {parseMetrics, sumMetric} from '../src/server/metrics.js'
import {managerFiles} from '../src/server/state.js'
import {freePort} from '../test/helpers/ports.js'
import {pct} from './measure.js'

const TRIVIAL: Record<Language, string> = {
  python: 'def main():\n    return 1\n',
  nodejs: 'module.exports.main = () => 1\n',
  typescript: 'export const main = (): number => 1\n',
}

export interface LoadOptions {
  endpoint: string
  token?: string
  /** length of each concurrency point */
  seconds: number
  /** sequential runs per language (default 100) */
  sequentialRuns?: number
  concurrency?: number[]
  /** pair each sequential Python run with an in-process engine run (HTTP overhead) */
  engineBaseline?: boolean
  log?: (line: string) => void
}

interface Percentiles {
  p50: number
  p95: number
  p99: number
  n: number
}

export interface ConcurrencyFigures {
  clients: number
  seconds: number
  requests: number
  success: number
  throughput: number
  busy: number
  otherErrors: number
  http5xx: number
  http4xx: number
  dropped: number
  latency: Percentiles
  maxRssMB: number | null
}

export interface LoadFigures {
  endpoint: string
  sequential: Record<string, Percentiles>
  engineBaseline?: {engine: Percentiles; http: Percentiles; overheadP50Ms: number}
  concurrency: ConcurrencyFigures[]
  rssIdleMB: number | null
}

const stats = (v: number[]): Percentiles => ({p50: round(pct(v, 50)), p95: round(pct(v, 95)), p99: round(pct(v, 99)), n: v.length})
const round = (n: number) => Math.round(n * 100) / 100

function assertLoopback(endpoint: string): void {
  const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '')
  if (!['127.0.0.1', '::1', 'localhost'].includes(host)) throw new Error(`load bench targets loopback only, not ${endpoint}`)
}

interface Answer {
  status: number
  body: string
}

function post(endpoint: string, path: string, body: string | undefined, agent: Agent, token?: string, timeoutMs = 120_000): Promise<Answer> {
  const url = new URL(path, endpoint)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port,
        path: url.pathname,
        method: body === undefined ? 'GET' : 'POST',
        agent,
        headers: {
          ...(body === undefined ? {} : {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)}),
          ...(token ? {authorization: `Bearer ${token}`} : {}),
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8')}))
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(body)
  })
}

const runBody = (language: Language) => JSON.stringify({code_b64: Buffer.from(TRIVIAL[language]).toString('base64'), language, arguments: {}})

async function metrics(endpoint: string, agent: Agent, token?: string) {
  const res = await post(endpoint, '/metrics', undefined, agent, token)
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`)
  return parseMetrics(res.body)
}

async function waitPoolFull(endpoint: string, agent: Agent, language: Language, token?: string): Promise<void> {
  for (;;) {
    const s = await metrics(endpoint, agent, token)
    if (sumMetric(s, 'sandbox_pool_ready', {language}) >= sumMetric(s, 'sandbox_pool_size', {language})) return
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function waitEngineFull(engine: Engine, language: Language): Promise<void> {
  for (;;) {
    const p = engine.status().pools.find((x) => x.language === language)
    if (!p || p.ready >= p.size) return
    await new Promise((r) => setTimeout(r, 20))
  }
}

export async function loadBench(opts: LoadOptions): Promise<LoadFigures> {
  assertLoopback(opts.endpoint)
  const log = opts.log ?? ((l: string) => console.log(l))
  const runs = opts.sequentialRuns ?? 100
  const figures: LoadFigures = {endpoint: opts.endpoint, sequential: {}, concurrency: [], rssIdleMB: null}
  const agent = new Agent({keepAlive: true, maxSockets: 64})
  const rss = async () => sumMetric(await metrics(opts.endpoint, agent, opts.token), 'process_resident_memory_bytes') / 1024 / 1024

  log(`  sequential POST /run, ${runs} per language (each sent when the pool is full again)`)
  for (const language of ['python', 'nodejs'] as Language[]) {
    const times: number[] = []
    for (let i = 0; i < runs; i++) {
      await waitPoolFull(opts.endpoint, agent, language, opts.token)
      const t0 = performance.now()
      const res = await post(opts.endpoint, '/run', runBody(language), agent, opts.token)
      times.push(performance.now() - t0)
      const r = JSON.parse(res.body) as {status: string; stderr: string}
      if (res.status !== 200 || r.status !== 'success') throw new Error(`POST /run ${language} failed: HTTP ${res.status} ${r.status} ${r.stderr}`)
    }
    figures.sequential[language] = stats(times)
    log(`  POST /run ${language.padEnd(6)}  p50 ${figures.sequential[language].p50} ms  p95 ${figures.sequential[language].p95} ms  p99 ${figures.sequential[language].p99} ms`)
  }

  if (opts.engineBaseline) {
    const config = loadConfig()
    const engine = new Engine({config, languages: ['python']})
    await engine.start()
    try {
      const e: number[] = []
      const h: number[] = []
      // both pools full before every single measurement (a replacement being created costs CPU),
      // and the order alternates so neither side always goes first
      const quiet = async () => {
        await waitEngineFull(engine, 'python')
        await waitPoolFull(opts.endpoint, agent, 'python', opts.token)
      }
      const viaEngine = async () => {
        await quiet()
        const t0 = performance.now()
        const r = await engine.run({language: 'python', code: TRIVIAL.python})
        e.push(performance.now() - t0)
        if (r.status !== 'success') throw new Error(`engine run failed: ${r.status} ${r.stderr}`)
      }
      const viaHttp = async () => {
        await quiet()
        const t0 = performance.now()
        const res = await post(opts.endpoint, '/run', runBody('python'), agent, opts.token)
        h.push(performance.now() - t0)
        if (res.status !== 200) throw new Error(`POST /run answered ${res.status}`)
      }
      for (let i = 0; i < runs; i++) {
        if (i % 2) {
          await viaEngine()
          await viaHttp()
        } else {
          await viaHttp()
          await viaEngine()
        }
      }
      figures.engineBaseline = {engine: stats(e), http: stats(h), overheadP50Ms: round(pct(h, 50) - pct(e, 50))}
      log(
        `  paired Python runs: engine.run p50 ${figures.engineBaseline.engine.p50} ms, POST /run p50 ${figures.engineBaseline.http.p50} ms → HTTP overhead ${figures.engineBaseline.overheadP50Ms} ms`,
      )
    } finally {
      await engine.stop()
    }
  }

  await waitPoolFull(opts.endpoint, agent, 'python', opts.token)
  figures.rssIdleMB = round(await rss())
  for (const clients of opts.concurrency ?? [5, 10, 50]) {
    await waitPoolFull(opts.endpoint, agent, 'python', opts.token)
    const point = await concurrencyPoint(opts, clients, rss)
    figures.concurrency.push(point)
    log(
      `  ${String(clients).padStart(2)} clients: ${point.throughput} runs/s · p50 ${point.latency.p50} ms p99 ${point.latency.p99} ms · ` +
        `-10 ${point.busy} · 5xx ${point.http5xx} · dropped ${point.dropped} · other errors ${point.otherErrors} · RSS max ${point.maxRssMB} MB`,
    )
  }
  agent.destroy()
  return figures
}

async function concurrencyPoint(opts: LoadOptions, clients: number, rss: () => Promise<number>): Promise<ConcurrencyFigures> {
  const agent = new Agent({keepAlive: true, maxSockets: clients})
  const f: ConcurrencyFigures = {
    clients,
    seconds: opts.seconds,
    requests: 0,
    success: 0,
    throughput: 0,
    busy: 0,
    otherErrors: 0,
    http5xx: 0,
    http4xx: 0,
    dropped: 0,
    latency: stats([]),
    maxRssMB: null,
  }
  const latencies: number[] = []
  const deadline = performance.now() + opts.seconds * 1000
  let sampling = true
  let maxRss = 0
  const sampler = (async () => {
    while (sampling) {
      maxRss = Math.max(maxRss, await rss().catch(() => 0))
      await new Promise((r) => setTimeout(r, 500))
    }
  })()
  const t0 = performance.now()
  await Promise.all(
    Array.from({length: clients}, async (_, i) => {
      const language: Language = i % 5 === 4 ? 'nodejs' : 'python'
      while (performance.now() < deadline) {
        const s = performance.now()
        f.requests++
        try {
          const res = await post(opts.endpoint, '/run', runBody(language), agent, opts.token)
          latencies.push(performance.now() - s)
          if (res.status >= 500) f.http5xx++
          else if (res.status >= 400) f.http4xx++
          else {
            const r = JSON.parse(res.body) as {status: string; exit_code: number}
            if (r.status === 'success') f.success++
            else if (r.exit_code === -10) f.busy++
            else f.otherErrors++
          }
        } catch {
          f.dropped++
        }
      }
    }),
  )
  const elapsed = (performance.now() - t0) / 1000
  sampling = false
  await sampler
  agent.destroy()
  f.throughput = round(f.success / elapsed)
  f.latency = stats(latencies)
  f.maxRssMB = maxRss ? round(maxRss) : null
  return f
}

/** argv of the CLI: compiled when dist/ exists (what users run), else through tsx */
function cli(): string[] {
  return existsSync('dist/commands/start.js') ? ['bin/run.js'] : ['bin/dev.js']
}

export {freePort}

export interface BenchManager {
  endpoint: string
  token?: string
  /** `sandbox start` (background, default pool) until it printed the endpoint, ms */
  startMs: number
  /** from invoking `sandbox start` to the first successful POST /run (Python), ms */
  startToFirstRunMs: number
  stop: () => Promise<void>
}

/** Start a real manager with `sandbox start` in a temporary state dir on a free port. */
export async function startManagerForBench(options: {poolSize?: number; token?: string} = {}): Promise<BenchManager> {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-bench-'))
  const port = await freePort()
  const env = {...process.env, SANDBOX_STATE_DIR: dir, ...(options.token ? {SANDBOX_API_TOKEN: options.token} : {})}
  const args = [...cli(), 'start', '--port', String(port), '--json', ...(options.poolSize ? ['--pool-size', String(options.poolSize)] : [])]
  const t0 = performance.now()
  const child = spawn(process.execPath, args, {env, stdio: ['ignore', 'pipe', 'pipe']})
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr.on('data', (c: Buffer) => (out += c.toString()))
  const code = await new Promise<number | null>((r) => child.on('exit', r))
  const startMs = performance.now() - t0
  if (code !== 0) throw new Error(`sandbox start failed (exit ${code}):\n${out}`)
  const endpoint = `http://127.0.0.1:${port}`
  const agent = new Agent({keepAlive: false})
  for (;;) {
    const res = await post(endpoint, '/run', runBody('python'), agent, options.token)
    const r = JSON.parse(res.body) as {status: string}
    if (res.status === 200 && r.status === 'success') break
    if (performance.now() - t0 > 120_000) throw new Error(`no successful run: ${res.body}`)
  }
  const startToFirstRunMs = performance.now() - t0
  const files = managerFiles(dir)
  return {
    endpoint,
    token: options.token,
    startMs: Math.round(startMs),
    startToFirstRunMs: Math.round(startToFirstRunMs),
    stop: async () => {
      await stopManager({files})
      rmSync(dir, {recursive: true, force: true})
    },
  }
}

/** `node --import tsx bench/load.ts`: start a manager, load it, print and stop. */
async function standalone(): Promise<void> {
  const seconds = Number(process.env.BENCH_SECONDS ?? 10)
  const manager = await startManagerForBench()
  console.log(`manager: sandbox start ${manager.startMs} ms, start to first run ${manager.startToFirstRunMs} ms (${manager.endpoint})`)
  try {
    const figures = await loadBench({endpoint: manager.endpoint, seconds, sequentialRuns: Number(process.env.BENCH_RUNS ?? 100), engineBaseline: process.env.BENCH_ENGINE !== '0'})
    console.log(JSON.stringify({startMs: manager.startMs, startToFirstRunMs: manager.startToFirstRunMs, ...figures}, null, 2))
  } finally {
    await manager.stop()
  }
}

if (process.argv[1]?.endsWith('bench/load.ts')) await standalone()
