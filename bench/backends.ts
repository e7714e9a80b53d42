/**
 * `BENCH_ONLY=backends`: the docker and runsc backends side by side, in one run.
 *   1. raw churn, 4 at a time: `docker run --rm --runtime=runsc … true`; runsc directly with our
 *      hardened bundle (`true`, then `python3 -c pass`)
 *   2. one sandbox per run, no pool (an Engine with pool size 0, 4 clients): our runner plus a
 *      trivial job, on each backend
 *   3. the manager (`sandbox start --backend <id>`, pool size 4) on each backend, closed-loop
 *      clients POSTing a trivial Python main: 1, 10 and 50 clients; both managers up, each point
 *      measured in alternated rounds (docker, runsc, runsc, docker), each started once both managers
 *      are idle with full pools (the refill after a round is not counted in the next one's)
 * Every point: runs/s, errors, and CPU-seconds of the whole machine per completed run (from
 * /proc/stat). Prints the runsc/docker ratios; "must show": manager at 10 clients >= 2x.
 */
import {spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {Agent, request} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {cgroupPathOf, createMemoryCgroup, removeMemoryCgroup} from '../src/backends/runsc/cgroup.js'
import {findRunsc} from '../src/backends/runsc/index.js'
import {ensureRootfs} from '../src/backends/runsc/rootfs.js'
import {runscFlags} from '../src/backends/runsc/sandbox.js'
import {buildSpec} from '../src/backends/runsc/spec.js'
import {loadConfig, type SandboxConfig} from '../src/config.js'
import {Engine} from '../src/engine/engine.js'
import {runProgram} from '../src/exec.js'
import type {StatusDocument} from '../src/server/status.js'
import {type BenchManager, startManagerForBench} from './load.js'
import {closedLoop, type LoopResult, processCpuSeconds, sumLoops} from './measure.js'

const TRIVIAL = 'def main():\n    return 1\n'

export interface Point {
  label: string
  runsPerSecond: number
  completed: number
  errors: number
  cpuSecondsPerRun: number
  /** the manager process's own CPU-s per run (its children, the sandboxes, not included) */
  managerCpuSecondsPerRun?: number
}

/** the backends compared, in the order their lines are printed */
const BACKENDS = ['docker', 'runsc'] as const
type Backend = (typeof BACKENDS)[number]

/**
 * The managers' rounds, alternated docker, runsc, runsc, docker with both managers up: this
 * machine's speed drifts by 10-50 % within minutes, and one round each after the other measured
 * the drift as much as the backends.
 */
const MANAGER_ORDER: readonly Backend[] = ['docker', 'runsc', 'runsc', 'docker']

/** `sandbox start --backend <backend>` for the bench (a temporary state directory), with the manager's pid from /status */
async function startManagerOn(backend: Backend): Promise<BenchManager & {pid: number}> {
  const previous = process.env.SANDBOX_BACKEND
  process.env.SANDBOX_BACKEND = backend
  let manager: BenchManager
  try {
    manager = await startManagerForBench({poolSize: 4})
  } finally {
    if (previous === undefined) delete process.env.SANDBOX_BACKEND
    else process.env.SANDBOX_BACKEND = previous
  }
  const {pid} = (await (await fetch(`${manager.endpoint}/status`)).json()) as {pid: number}
  return {...manager, pid}
}

/** each manager round's warm-up, not counted: its full pool's warm runners are used up in it */
const MANAGER_WARMUP_SECONDS = 2

/** how long a manager may take to refill its pools between rounds */
const QUIET_TIMEOUT_MS = 120_000

/**
 * Until the manager at `endpoint` is idle: nothing running, waiting, being created or removed,
 * every plain pool full. A round starts only when both managers are: otherwise the refill that
 * follows one manager's round (a pool's worth of boots: 2-4 CPU-s through Docker) runs during the
 * other's round and is counted as the other's. Returns the ms waited, or null when it stayed busy.
 */
async function untilQuiet(endpoint: string): Promise<number | null> {
  const t0 = performance.now()
  while (performance.now() - t0 < QUIET_TIMEOUT_MS) {
    const status = (await (await fetch(`${endpoint}/status`)).json()) as StatusDocument
    const ready = status.pools.reduce((sum, p) => sum + p.ready, 0)
    const settled = status.pools.every((p) => p.busy === 0 && p.creating === 0 && p.waiting === 0 && (p.kind === 'preloaded' || p.ready >= p.size))
    if (settled && status.inFlight === 0 && status.admission.live === ready) return performance.now() - t0
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return null
}

/** `clients` closed loops of `once` for `seconds`, printed; runs/s and CPU-s per completed run. */
async function loadPoint(label: string, clients: number, seconds: number, once: () => Promise<boolean>): Promise<Point> {
  return printPoint(label, await closedLoop(clients, seconds, once))
}

/** A point printed; `managerCpuPerRun`: the manager process's own share of the CPU-s per run. */
function printPoint(label: string, loop: LoopResult, managerCpuPerRun?: number): Point {
  const {completed, errors, seconds: elapsed, cpuSeconds} = loop
  const point: Point = {label, runsPerSecond: completed / elapsed, completed, errors, cpuSecondsPerRun: completed ? cpuSeconds / completed : NaN}
  if (managerCpuPerRun !== undefined) point.managerCpuSecondsPerRun = managerCpuPerRun
  const share = managerCpuPerRun === undefined ? '' : ` (manager process ${managerCpuPerRun.toFixed(3)})`
  console.log(
    `  ${label.padEnd(58)} ${point.runsPerSecond.toFixed(2).padStart(6)} runs/s  ${point.cpuSecondsPerRun.toFixed(3)} CPU-s/run${share}${errors ? `  ${errors} errors` : ''}`,
  )
  return point
}

function exitOf(command: string, args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {stdio: 'ignore'})
    child.once('error', () => resolve(-1))
    child.once('exit', (code) => resolve(code))
  })
}

/** A bundle of our spec for `args` (shared by the runs of one point; each run has its own id and cgroup). */
function rawBundle(config: SandboxConfig, rootfs: {path: string; env: string[]}, args: string[], dir: string): string {
  const bundle = join(dir, args.join('-').replace(/[^a-z0-9-]/gi, '_'))
  mkdirSync(bundle, {recursive: true})
  const spec = buildSpec({rootfs: rootfs.path, args, imageEnv: rootfs.env, env: [], memoryBytes: config.memoryBytes, cgroupsPath: '/placeholder', annotations: {}})
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec))
  return bundle
}

let rawCount = 0
async function rawRunsc(runsc: string, root: string, template: string, config: SandboxConfig): Promise<boolean> {
  // each run: its own bundle (its cgroup path) and memory cgroup, as the backend does
  const id = `bench-${process.pid}-${rawCount++}`
  const bundle = join(root, 'bundles', id)
  mkdirSync(bundle, {recursive: true})
  const spec = JSON.parse(readFileSync(join(template, 'config.json'), 'utf8')) as {linux: {cgroupsPath: string}}
  spec.linux.cgroupsPath = cgroupPathOf(id)
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec))
  createMemoryCgroup(id, config.memoryBytes)
  try {
    return (await exitOf(runsc, [...runscFlags(join(root, 'state')), 'run', '--bundle', bundle, id])) === 0
  } finally {
    removeMemoryCgroup(id)
    rmSync(bundle, {recursive: true, force: true})
  }
}

/**
 * How many times one `runsc run` starts the runsc binary (each start runs its Go package init:
 * CPUID queries that exit to the hypervisor on a VM, seccheck's tables): the CLI, the gofer
 * and its re-exec after dropping capabilities, the sandbox and its re-exec after chroot, and the
 * helper that unmounts /proc; counted with strace for runsc 0.0~20221219 (docs/benchmarks.md)
 */
const RUNSC_STARTS_PER_SANDBOX = 6

/**
 * CPU-s per `runsc --version` (the binary's start-up alone), one at a time: the children's own
 * user + system time as a shell's `times` reports it, so that the rest of the machine is not counted
 */
async function runscStartUpCpuSeconds(runsc: string, times = 30): Promise<number> {
  const script = `i=0; while [ $i -lt ${times} ]; do "$0" --version >/dev/null; i=$((i+1)); done; times`
  const {stdout} = await runProgram('/bin/sh', ['-c', script, runsc], {timeoutMs: 60_000})
  // the second line: the children's user and system time, e.g. "0m0.120s 0m0.104s"
  const children = stdout.trim().split('\n').at(-1) ?? ''
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, [, m, s]) => sum + Number(m) * 60 + Number(s), 0)
  return seconds / times
}

function post(endpoint: string, body: string, agent: Agent): Promise<{status: number; body: string}> {
  return new Promise((resolve, reject) => {
    const req = request(`${endpoint}/run`, {method: 'POST', agent, headers: {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)}}, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body: text}))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

export async function backendsBench(options: {seconds: number}): Promise<Record<string, unknown>> {
  const {seconds} = options
  const config = loadConfig()
  const runsc = findRunsc()
  if (!runsc) throw new Error('runsc is not installed (apt-get install runsc)')
  const rootfs = await ensureRootfs(config.pythonImage)
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-bench-runsc-'))
  mkdirSync(join(dir, 'state'))
  const points: Record<string, Point> = {}
  try {
    console.log(`\n(backends) docker vs runsc, ${seconds}s per point; CPU-s = whole machine per completed run`)
    console.log(' raw churn, 4 at a time')
    points.dockerRunTrue = await loadPoint('docker run --rm --runtime=runsc … true', 4, seconds, async () => {
      return (await exitOf('docker', ['run', '--rm', '--runtime=runsc', '--network=none', config.pythonImage, 'true'])) === 0
    })
    const templates = {true: rawBundle(config, rootfs, ['true'], dir), pass: rawBundle(config, rootfs, ['python3', '-c', 'pass'], dir)}
    points.runscTrue = await loadPoint('runsc run, our bundle (read-only, uid 65534, cgroup), true', 4, seconds, () => rawRunsc(runsc, dir, templates.true, config))
    points.runscPass = await loadPoint('runsc run, our bundle, python3 -c pass', 4, seconds, () => rawRunsc(runsc, dir, templates.pass, config))
    const startUp = await runscStartUpCpuSeconds(runsc)
    console.log(
      `  runsc's own start-up (runsc --version, one at a time): ${(startUp * 1000).toFixed(1)} ms CPU; × ${RUNSC_STARTS_PER_SANDBOX} starts per sandbox = ${((RUNSC_STARTS_PER_SANDBOX * startUp) / points.runscTrue.cpuSecondsPerRun).toFixed(2)} of the true sandbox's CPU`,
    )

    console.log(' one sandbox per run (engine, no pool), our runner + a trivial job, 4 clients')
    for (const backend of BACKENDS) {
      const engine = new Engine({config: {...config, backend, queueTimeoutSeconds: 60}, poolSize: 0, languages: ['python']})
      await engine.start()
      try {
        points[`${backend}Runner`] = await loadPoint(
          `${backend} backend: runner + trivial job`,
          4,
          seconds,
          async () => (await engine.run({language: 'python', code: TRIVIAL})).status === 'success',
        )
      } finally {
        await engine.stop()
      }
    }

    console.log(
      ` the manager (sandbox start --backend <id> --pool-size 4), closed-loop clients; both managers up, ${MANAGER_ORDER.join(', ')} rounds of ${seconds / 2}s per point, each started with both idle and counted after ${MANAGER_WARMUP_SECONDS}s of warm-up`,
    )
    const body = JSON.stringify({code_b64: Buffer.from(TRIVIAL).toString('base64'), language: 'python', arguments: {}})
    const managers: Partial<Record<Backend, BenchManager & {pid: number}>> = {}
    const agent = new Agent({keepAlive: true, maxSockets: 64})
    try {
      for (const backend of BACKENDS) managers[backend] = await startManagerOn(backend)
      for (const clients of [1, 10, 50]) {
        const rounds = {docker: [] as LoopResult[], runsc: [] as LoopResult[]}
        const managerCpu = {docker: 0, runsc: 0}
        for (const backend of MANAGER_ORDER) {
          const {endpoint, pid} = managers[backend]!
          for (const other of BACKENDS)
            if ((await untilQuiet(managers[other]!.endpoint)) === null) console.log(`  (the ${other} manager was still busy after ${QUIET_TIMEOUT_MS / 1000} s)`)
          let cpu0 = 0
          rounds[backend].push(
            await closedLoop(
              clients,
              seconds / 2,
              async () => {
                const answer = await post(endpoint, body, agent)
                return answer.status === 200 && (JSON.parse(answer.body) as {status: string}).status === 'success'
              },
              {warmupSeconds: MANAGER_WARMUP_SECONDS, onCounting: () => (cpu0 = processCpuSeconds(pid))},
            ),
          )
          managerCpu[backend] += processCpuSeconds(pid) - cpu0
        }
        for (const backend of BACKENDS) {
          const loop = sumLoops(rounds[backend])
          points[`${backend}Manager${clients}`] = printPoint(`${backend} manager, ${clients} client(s)`, loop, loop.completed ? managerCpu[backend] / loop.completed : NaN)
        }
      }
    } finally {
      agent.destroy()
      for (const manager of Object.values(managers)) await manager.stop()
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
  const ratio = (a: string, b: string) => points[a].runsPerSecond / points[b].runsPerSecond
  const ratios = {
    rawChurn: ratio('runscTrue', 'dockerRunTrue'),
    runner: ratio('runscRunner', 'dockerRunner'),
    manager1: ratio('runscManager1', 'dockerManager1'),
    manager10: ratio('runscManager10', 'dockerManager10'),
    manager50: ratio('runscManager50', 'dockerManager50'),
    cpuPerRunManager10: points.runscManager10.cpuSecondsPerRun / points.dockerManager10.cpuSecondsPerRun,
  }
  console.log(' runsc / docker')
  console.log(`  raw churn (true) ${ratios.rawChurn.toFixed(2)}x; runner + job, no pool ${ratios.runner.toFixed(2)}x`)
  console.log(`  manager: 1 client ${ratios.manager1.toFixed(2)}x, 10 clients ${ratios.manager10.toFixed(2)}x (must show >= 2), 50 clients ${ratios.manager50.toFixed(2)}x`)
  console.log(`  CPU-s per run at 10 clients: ${ratios.cpuPerRunManager10.toFixed(2)}x of docker's`)
  return {points, ratios}
}
