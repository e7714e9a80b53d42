/**
 * `npm run bench`: figures measured in ONE run on this machine, each next to its reference.
 *   (a) warm engine runs of a trivial main (p50/p95/p99) vs the `docker exec` floor
 *   (b) cold `sandbox run examples/hello.py` vs a bare `docker run --runtime=runsc ... python3 -c pass`
 *   (c) sustained runs/s at concurrency 4 and 10 vs the raw container create/start/remove rate
 *   (d) the manager under load (bench/load.ts), when the manager is available
 * Options (env): BENCH_RUNS (warm runs per language, default 100), BENCH_SECONDS (per throughput point, default 10),
 *   (e) the docker and runsc backends side by side (bench/backends.ts): raw churn, runner + job, the manager at 1/10/50 clients
 * BENCH_JSON=path to also write the figures as JSON, BENCH_ONLY=warm,cold,throughput,load,backends,runner,startup,scale-out (or capacity) to run a subset.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, writeFileSync} from 'node:fs'

import {loadConfig} from '../src/config.js'
import {measureChurn, measureExec} from '../src/docker/measure.js'
import {Engine} from '../src/engine/engine.js'
import type {Language} from '../src/engine/languages.js'
import {pct} from './measure.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 100)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const figures: Record<string, unknown> = {}

const ms = (n: number) => `${n.toFixed(1)} ms`
const stats = (v: number[]) => ({p50: pct(v, 50), p95: pct(v, 95), p99: pct(v, 99), n: v.length})
const line = (label: string, s: {p50: number; p95: number; p99: number}) =>
  console.log(`  ${label.padEnd(34)} p50 ${ms(s.p50).padStart(9)}  p95 ${ms(s.p95).padStart(9)}  p99 ${ms(s.p99).padStart(9)}`)

const TRIVIAL: Record<Language, string> = {
  python: 'def main():\n    return 1\n',
  nodejs: 'module.exports.main = () => 1\n',
  typescript: 'export const main = (): number => 1\n',
}

async function waitPoolReady(engine: Engine): Promise<void> {
  for (;;) {
    const pools = engine.status().pools
    if (pools.every((p) => p.ready >= p.size)) return
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function warm(config: ReturnType<typeof loadConfig>) {
  console.log(`\n(a) warm engine run of a trivial main, ${RUNS} sequential runs per language (pool refilled between runs)`)
  const engine = new Engine({config: {...config, codePolicy: 'ragflow'}, poolSize: 2})
  await engine.start()
  const result: Record<string, unknown> = {}
  try {
    for (const language of ['python', 'nodejs'] as Language[]) {
      const times: number[] = []
      for (let i = 0; i < RUNS; i++) {
        await waitPoolReady(engine)
        const t0 = performance.now()
        const r = await engine.run({language, code: TRIVIAL[language]})
        times.push(performance.now() - t0)
        if (r.status !== 'success') throw new Error(`bench run failed: ${r.status} ${r.stderr}`)
      }
      result[language] = stats(times)
      line(`engine.run ${language}`, stats(times))
    }
  } finally {
    await engine.stop()
  }
  const floor = await measureExec(config.pythonImage, 'runsc', ['python3', '-c', 'pass'], Math.min(RUNS, 30))
  const floorTrue = await measureExec(config.pythonImage, 'runsc', ['true'], Math.min(RUNS, 30))
  result.execPython = stats(floor)
  result.execTrue = stats(floorTrue)
  line('docker exec python3 -c pass', stats(floor))
  line('docker exec true (floor)', stats(floorTrue))
  const py = result.python as {p50: number}
  console.log(`  → warm Python run is ${(stats(floorTrue).p50 / py.p50).toFixed(1)}× faster than the docker exec floor (p50)`)
  figures.warm = result
}

function cold(config: ReturnType<typeof loadConfig>) {
  console.log('\n(c0) cold single run (new container each time), 5 runs each, wall time')
  const bin = existsSync('dist/commands/run.js') ? ['bin/run.js'] : ['--import', 'tsx', 'bin/dev.js']
  const time = (cmd: string, args: string[]) => {
    const t0 = performance.now()
    const r = spawnSync(cmd, args, {stdio: 'pipe', encoding: 'utf8'})
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`)
    return performance.now() - t0
  }
  const sandboxRun: number[] = []
  const dockerRun: number[] = []
  for (let i = 0; i < 5; i++) {
    sandboxRun.push(time('node', [...bin, 'run', 'examples/hello.py', '--arg', 'name=World']))
    dockerRun.push(time('docker', ['run', '--rm', '--runtime=runsc', '--network=none', config.pythonImage, 'python3', '-c', 'pass']))
  }
  line('sandbox run examples/hello.py', stats(sandboxRun))
  line('docker run --runtime=runsc python3', stats(dockerRun))
  console.log(`  → cold sandbox run / bare docker run = ${(pct(sandboxRun, 50) / pct(dockerRun, 50)).toFixed(2)} (target ≤ 2)`)
  figures.cold = {sandboxRun: stats(sandboxRun), dockerRun: stats(dockerRun)}
}

async function throughput(config: ReturnType<typeof loadConfig>) {
  console.log(`\n(c) sustained throughput, ${SECONDS}s per point`)
  const raw4 = await measureChurn(config.pythonImage, 'runsc', ['true'], SECONDS, 4)
  console.log(`  raw create/start/wait/remove, 4 at a time: ${raw4.perSecond.toFixed(2)} containers/s`)
  const result: Record<string, unknown> = {raw: raw4.perSecond}
  for (const concurrency of [4, 10]) {
    const engine = new Engine({config: {...config, queueTimeoutSeconds: 60}, poolSize: 4, languages: ['python']})
    await engine.start()
    let done = 0
    let failed = 0
    const deadline = performance.now() + SECONDS * 1000
    const t0 = performance.now()
    await Promise.all(
      Array.from({length: concurrency}, async () => {
        while (performance.now() < deadline) {
          const r = await engine.run({language: 'python', code: TRIVIAL.python})
          if (r.status === 'success') done++
          else failed++
        }
      }),
    )
    const rate = done / ((performance.now() - t0) / 1000)
    await engine.stop()
    console.log(
      `  engine, concurrency ${String(concurrency).padStart(2)}: ${rate.toFixed(2)} runs/s (${failed} failed) = ${((rate / raw4.perSecond) * 100).toFixed(0)}% of raw churn`,
    )
    result[`c${concurrency}`] = {rate, failed}
  }
  figures.throughput = result
}

async function load() {
  console.log('\n(d) manager under load (sequential POST /run, then 5/10/50 concurrent clients)')
  const {loadBench, startManagerForBench} = await import('./load.js')
  const manager = await startManagerForBench()
  console.log(`  sandbox start → healthy: ${manager.startMs.toFixed(0)} ms; start → first run answered: ${manager.startToFirstRunMs.toFixed(0)} ms (target ≤ 1500 ms)`)
  try {
    figures.load = {
      startMs: manager.startMs,
      startToFirstRunMs: manager.startToFirstRunMs,
      ...(await loadBench({endpoint: manager.endpoint, seconds: SECONDS, sequentialRuns: RUNS})),
    }
  } finally {
    await manager.stop()
  }
}

const config = loadConfig()
console.log(`sandbox bench — ${new Date().toISOString()} — ${execFileSync('nproc').toString().trim()} cores, runtime runsc`)
// BENCH_ONLY=warm,cold,throughput,load,backends,runner,startup,scale-out runs a subset
const only = new Set((process.env.BENCH_ONLY ?? 'warm,cold,throughput,load,backends,runner,startup,scale-out').split(','))
if (only.has('warm')) await warm(config)
if (only.has('cold')) cold(config)
if (only.has('throughput')) await throughput(config)
if (only.has('load')) await load()
if (only.has('capacity')) figures.capacity = await (await import('./capacity.js')).capacityBench({seconds: SECONDS, log: (l) => console.log(l)})
if (only.has('backends')) figures.backends = await (await import('./backends.js')).backendsBench({seconds: SECONDS})
if (only.has('runner')) figures.runner = await (await import('./runner.js')).runnerBench(config)
if (only.has('startup')) figures.startup = await (await import('./startup.js')).startup(config)
if (only.has('scale-out')) figures.scaleOut = await (await import('./scale-out.js')).scaleOutBench({seconds: SECONDS})
if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(figures, null, 2))
