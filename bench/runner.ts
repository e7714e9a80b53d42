/**
 * `BENCH_ONLY=runner npm run bench`: what the runners cost and what the preloaded pool buys
 * (issue 15 items 2 and 3; docs/benchmarks.md, "Runners: boot cost, latency, preloading").
 *   (r1) each runner's own CPU before it announces readiness, against the bare interpreter that
 *        announces readiness the same way (`python3 -c`, `node -e`), under gVisor: the CPU
 *        of the sandbox's cgroup when it is ready, paired samples interleaved (target ≤ 50 ms)
 *   (r2) back-to-back sequential trivial Python runs, p50 (target ≤ 100 ms)
 *   (r3) warm trivial Python run after the pool refilled, p50 (target ≤ 10 ms)
 *   (r4) a pandas run with the preloaded pool refilled, p50 (target ≤ 50 ms), and the same run
 *        on a plain runner for reference
 *   (r5) trivial-run throughput at 10 closed-loop clients, preloading on vs off, ABBA twice
 *        (target: on ≥ 90 % of off), with the machine's CPU-seconds per run
 * Options (env): BENCH_BOOTS (paired boot samples, default 12), BENCH_RUNS (sequential runs,
 * default 100; pandas runs a fifth of it), BENCH_SECONDS (per throughput point, default 10).
 */
import {readFileSync} from 'node:fs'

import {BACKEND_IDS, type BackendId, loadBackend} from '../src/backends/index.js'
import type {SandboxConfig} from '../src/config.js'
import {Engine, runnerCommand} from '../src/engine/engine.js'
import type {RuntimeId} from '../src/engine/languages.js'
import type {Runner} from '../src/engine/runner.js'
import {closedLoop, type LoopResult, pct, sumLoops} from './measure.js'

const BOOTS = Number(process.env.BENCH_BOOTS ?? 12)
const RUNS = Number(process.env.BENCH_RUNS ?? 100)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)

const TRIVIAL = 'def main():\n    return 1\n'
const PANDAS = 'import pandas as pd\n\ndef main():\n    frame = pd.DataFrame({"x": [1, 2, 3]})\n    return int(frame["x"].sum())\n'
/** the bare interpreter, announcing readiness as a runner does and then blocking on stdin */
const BARE: Record<RuntimeId, string[]> = {
  python: ['python3', '-c', "import os; os.write(2, b'__SANDBOX_READY__\\n'); os.read(0, 1)"],
  nodejs: ['node', '-e', "require('fs').writeSync(2, '__SANDBOX_READY__\\n'); require('fs').readSync(0, Buffer.alloc(1))"],
}
const RUNNER_ENV = ['HOME=/tmp', 'TMPDIR=/tmp', 'MPLBACKEND=Agg', 'MPLCONFIGDIR=/tmp/matplotlib', 'PYTHONIOENCODING=utf-8', 'LANG=C.UTF-8']

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]
const ms = (n: number) => `${n.toFixed(1)} ms`
const verdict = (ok: boolean) => (ok ? 'ok' : 'OVER TARGET')

/** CPU milliseconds a sandbox's cgroup has used (cgroup v1 cpuacct, or v2 cpu.stat): a docker container's or a runsc sandbox's */
function cgroupCpuMs(id: string): number {
  for (const [file, parse] of [
    [`/sys/fs/cgroup/cpuacct/sandbox-runsc/${id}/cpuacct.usage`, (t: string) => Number(t) / 1e6],
    [`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, (t: string) => Number(t) / 1e6],
    [`/sys/fs/cgroup/cpu,cpuacct/docker/${id}/cpuacct.usage`, (t: string) => Number(t) / 1e6],
    [`/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`, (t: string) => Number(/usage_usec (\d+)/.exec(t)?.[1]) / 1e3],
  ] as const) {
    try {
      const v = parse(readFileSync(file, 'utf8'))
      if (Number.isFinite(v)) return v
    } catch {
      // next layout
    }
  }
  throw new Error(`cannot read the CPU use of container ${id} from its cgroup`)
}

async function bootCost(config: SandboxConfig, backendId: BackendId) {
  console.log(`\n(r1) runner CPU before readiness vs the bare interpreter under gVisor, ${BOOTS} paired samples each (${backendId} backend, cgroup CPU at readiness)`)
  const backend = await loadBackend(backendId)
  await backend.preflight({config, runtimes: ['python', 'nodejs']})
  const boot = async (runtime: RuntimeId, command: string[]) => {
    const runner: Runner = await backend.createRunner({
      runtime,
      image: runtime === 'python' ? config.pythonImage : config.nodejsImage,
      command,
      env: RUNNER_ENV,
      owner: 'bench-runner',
      memoryBytes: config.memoryBytes,
    })
    try {
      return cgroupCpuMs(runner.id)
    } finally {
      await runner.remove()
    }
  }
  const out: Record<string, unknown> = {}
  for (const runtime of ['python', 'nodejs'] as RuntimeId[]) {
    const bare: number[] = []
    const runner: number[] = []
    for (let i = 0; i < BOOTS; i++) {
      bare.push(await boot(runtime, BARE[runtime]))
      runner.push(await boot(runtime, runnerCommand(runtime)))
    }
    const extra = median(runner.map((r, i) => r - bare[i]))
    console.log(
      `  ${runtime.padEnd(7)} bare ${ms(median(bare)).padStart(9)}  runner ${ms(median(runner)).padStart(9)}  → runner's own cost ${ms(extra)} (median of paired differences${runtime === 'python' ? `; target ≤ 50 ms) ${verdict(extra <= 50)}` : '; no target)'}`,
    )
    out[runtime] = {bareMs: median(bare), runnerMs: median(runner), extraMs: extra}
  }
  await backend.removeOwned('bench-runner')
  return out
}

async function waitFull(engine: Engine): Promise<void> {
  while (!engine.status().pools.every((p) => p.ready >= p.size)) await new Promise((r) => setTimeout(r, 20))
}

/**
 * Latencies of one figure and the runs that failed: a failed run is reported with the figure
 * (one slow phase of the machine must not abort the rest of the bench), never counted in it.
 */
class Samples {
  readonly ms: number[] = []
  readonly failed: string[] = []

  async time(engine: Engine, code: string, timeoutSeconds?: number): Promise<void> {
    const t0 = performance.now()
    const r = await engine.run({language: 'python', code, timeoutSeconds})
    if (r.status === 'success') this.ms.push(performance.now() - t0)
    else this.failed.push(`${r.status}${r.detail ? ` (${r.detail})` : ''}: ${r.stderr.trim().split('\n').pop() ?? ''}`)
  }

  /** "" when every run succeeded, else how many failed and the first failure */
  get failures(): string {
    return this.failed.length ? `  ${this.failed.length} FAILED, first: ${this.failed[0]}` : ''
  }

  p(percentile: number): number {
    return pct(this.ms, percentile)
  }

  /** the figure as BENCH_JSON records it */
  get summary(): {p50: number; p95: number; n: number; failed: number} {
    return {p50: this.p(50), p95: this.p(95), n: this.ms.length, failed: this.failed.length}
  }
}

async function latency(config: SandboxConfig) {
  const engine = new Engine({config: {...config, queueTimeoutSeconds: 60}, languages: ['python'], preloadPoolSize: 1})
  await engine.start()
  const out: Record<string, unknown> = {}
  try {
    await waitFull(engine)
    console.log(`\n(r2) back-to-back sequential trivial Python runs (the next sent when the last answered), ${RUNS} runs, pool ${config.poolSize}, ${config.backend} backend`)
    const b2b = new Samples()
    for (let i = 0; i < RUNS; i++) await b2b.time(engine, TRIVIAL)
    console.log(`  p50 ${ms(b2b.p(50))}  p95 ${ms(b2b.p(95))}  (target p50 ≤ 100 ms) ${verdict(b2b.p(50) <= 100)}${b2b.failures}`)
    out.backToBack = b2b.summary

    const warmRuns = Math.max(10, Math.round(RUNS / 3))
    console.log(`\n(r3) warm trivial Python run, pools refilled before each, ${warmRuns} runs`)
    const warm = new Samples()
    for (let i = 0; i < warmRuns; i++) {
      await waitFull(engine)
      await warm.time(engine, TRIVIAL)
    }
    console.log(`  p50 ${ms(warm.p(50))}  p95 ${ms(warm.p(95))}  (target p50 ≤ 10 ms) ${verdict(warm.p(50) <= 10)}${warm.failures}`)
    out.warm = warm.summary

    const pandasRuns = Math.max(5, Math.round(RUNS / 5))
    console.log(`\n(r4) a pandas run (import pandas, a 3-row DataFrame), pools refilled before each, ${pandasRuns} runs`)
    const pre = new Samples()
    const servedBefore = engine.status().pools.find((p) => p.kind === 'preloaded')?.served ?? 0
    for (let i = 0; i < pandasRuns; i++) {
      await waitFull(engine)
      await pre.time(engine, PANDAS)
    }
    const served = (engine.status().pools.find((p) => p.kind === 'preloaded')?.served ?? 0) - servedBefore
    console.log(
      `  preloaded runner: p50 ${ms(pre.p(50))}  p95 ${ms(pre.p(95))}  (${served}/${pandasRuns} on preloaded runners; target p50 ≤ 50 ms) ${verdict(pre.p(50) <= 50)}${pre.failures}`,
    )
    out.pandasPreloaded = {...pre.summary, onPreloaded: served}
  } finally {
    await engine.stop()
  }
  // the same job on plain runners: what it costs without preloading, so it gets time to finish
  // (the import alone took 1.1-8.5 s of wall time on this machine; the default limit is 10 s)
  const plainEngine = new Engine({config, languages: ['python'], preloadPoolSize: 0})
  await plainEngine.start()
  try {
    const plain = new Samples()
    for (let i = 0; i < 5; i++) {
      await waitFull(plainEngine)
      await plain.time(plainEngine, PANDAS, 60)
    }
    const pre = (out.pandasPreloaded as {p50: number}).p50
    console.log(`  plain runner:     p50 ${ms(plain.p(50))} (5 runs) → preloading makes it ${(plain.p(50) / pre).toFixed(0)}× faster${plain.failures}`)
    out.pandasPlain = plain.summary
  } finally {
    await plainEngine.stop()
  }
  return out
}

/**
 * Preloading on and off in alternated rounds, ABBA twice: a preloaded runner is filled only with
 * idle capacity, so under this load the only difference is the one made at start; what the rounds
 * have to cancel is this machine's drift (10-50 % within minutes), which one ABBA did not.
 */
const PRELOAD_ORDER = ['off', 'on', 'on', 'off', 'on', 'off', 'off', 'on'] as const

async function preloadLoop(config: SandboxConfig, preloadPoolSize: number, seconds: number) {
  const engine = new Engine({config: {...config, queueTimeoutSeconds: 60}, poolSize: 4, languages: ['python'], preloadPoolSize})
  await engine.start()
  try {
    await waitFull(engine)
    return await closedLoop(10, seconds, async () => (await engine.run({language: 'python', code: TRIVIAL})).status === 'success')
  } finally {
    await engine.stop()
  }
}

async function throughput(config: SandboxConfig) {
  console.log(`\n(r5) trivial Python runs/s at 10 closed-loop clients, preloading on vs off (rounds ${PRELOAD_ORDER.join(', ')}, ${SECONDS / 2}s each, pool 4)`)
  const rounds = {on: [] as LoopResult[], off: [] as LoopResult[]}
  for (const mode of PRELOAD_ORDER) {
    const r = await preloadLoop(config, mode === 'on' ? 1 : 0, SECONDS / 2)
    rounds[mode].push(r)
    console.log(
      `  preload ${mode.padEnd(3)}: ${(r.completed / r.seconds).toFixed(2)} runs/s (${r.errors} failed), ${(r.cpuSeconds / Math.max(1, r.completed)).toFixed(2)} CPU-s per run`,
    )
  }
  const sum = {on: sumLoops(rounds.on), off: sumLoops(rounds.off)}
  const rate = (m: 'on' | 'off') => sum[m].completed / sum[m].seconds
  const ratio = rate('on') / rate('off')
  console.log(`  → preload on / off = ${ratio.toFixed(2)} (target ≥ 0.90) ${verdict(ratio >= 0.9)}`)
  return {
    on: {rate: rate('on'), failed: sum.on.errors, cpuPerRun: sum.on.cpuSeconds / Math.max(1, sum.on.completed)},
    off: {rate: rate('off'), failed: sum.off.errors, cpuPerRun: sum.off.cpuSeconds / Math.max(1, sum.off.completed)},
    ratio,
  }
}

/** the `runner` part of `npm run bench` */
export async function runnerBench(config: SandboxConfig): Promise<Record<string, unknown>> {
  const boot: Record<string, unknown> = {}
  for (const id of BACKEND_IDS) boot[id] = await bootCost(config, id)
  return {boot, ...(await latency(config)), throughput: await throughput(config)}
}
