/**
 * Part `startup` of `npm run bench`: what a user waits for before their code runs.
 *   1. `sandbox --version` as a new process (target < 150 ms), next to a bare `node -e 0`, and a
 *      command that loads oclif (`sandbox run --help`)
 *   2. cold `sandbox run examples/hello.py --arg name=World` (a new process, a new container, the
 *      run, the cleanup) against a bare `docker run --rm --runtime=runsc --network=none <python
 *      image> python3 -c pass`, alternated in one loop so both see the same load; the ratio of the
 *      medians (target ≤ 1.5)
 *   3. the same run handed to a manager running on this host (`sandbox run --via-manager`, its warm
 *      pool of 2), alternated with the same bare docker run
 * Each command runs from an empty directory outside the clone with private settings and state
 * (so an active provider of the user's own settings cannot route the run elsewhere), after one
 * warm-up of each. BENCH_STARTUP_RUNS (default 20) sets the --version runs, BENCH_COLD_RUNS
 * (default 7) the cold pairs.
 */
import {spawnSync} from 'node:child_process'

import {freePort} from '../test/helpers/ports.js'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {SandboxConfig} from '../src/config.js'
import {packagePath} from '../src/paths.js'
import {pct} from './measure.js'

export interface Percentiles {
  p50: number
  p95: number
  min: number
  n: number
}

export interface StartupFigures {
  version: Percentiles
  node: Percentiles
  help: Percentiles
  /** the backend the cold run used (the host's default) */
  backend: string
  sandboxRun: Percentiles
  /** the same cold run with --backend docker */
  sandboxRunDockerBackend: Percentiles
  dockerRun: Percentiles
  /** median cold `sandbox run` / median bare `docker run` */
  coldRatio: number
  viaManager: Percentiles
  viaManagerDockerRun: Percentiles
  /** median `sandbox run --via-manager` / median bare `docker run` */
  viaManagerRatio: number
  targets: {versionMs: number; coldRatio: number}
  met: {version: boolean; coldRatio: boolean}
}

const TARGET_VERSION_MS = 150
const TARGET_COLD_RATIO = 1.5

function percentiles(values: number[]): Percentiles {
  return {p50: pct(values, 50), p95: pct(values, 95), min: Math.min(...values), n: values.length}
}

export async function startup(config: SandboxConfig, log: (line: string) => void = console.log): Promise<StartupFigures> {
  const versionRuns = Number(process.env.BENCH_STARTUP_RUNS ?? 20)
  const coldRuns = Number(process.env.BENCH_COLD_RUNS ?? 7)
  const bin = packagePath('bin', 'run.js')
  const hello = packagePath('examples', 'hello.py')
  const cwd = mkdtempSync(join(tmpdir(), 'sandbox-bench-startup-'))
  const env = {...process.env, SANDBOX_DATA_DIR: join(cwd, 'data'), SANDBOX_STATE_DIR: join(cwd, 'state'), NO_COLOR: '1'}
  const time = (command: string, args: string[]): number => {
    const t0 = performance.now()
    const r = spawnSync(command, args, {cwd, env, stdio: 'pipe', encoding: 'utf8'})
    const elapsed = performance.now() - t0
    if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr || r.stdout}`)
    return elapsed
  }
  const repeat = (n: number, command: string, args: string[]) => Array.from({length: n}, () => time(command, args))
  const ms = (n: number) => `${n.toFixed(0)} ms`.padStart(8)
  const row = (label: string, p: Percentiles) => log(`  ${label.padEnd(44)} p50 ${ms(p.p50)}  p95 ${ms(p.p95)}  min ${ms(p.min)}  (n ${p.n})`)
  const mark = (ok: boolean) => (ok ? 'met' : 'NOT met')

  try {
    log(`\n(s) start-up: sandbox --version (${versionRuns} runs) and a cold sandbox run vs a bare docker run (${coldRuns} pairs, alternated)`)
    // warm-up: the file cache, oclif's manifest (bin/manifest.js writes it when dist/ is newer), the daemon
    time(process.execPath, [bin, '--version'])
    time(process.execPath, [bin, 'run', '--help'])
    const sandboxRunArgs = [bin, 'run', hello, '--arg', 'name=World']
    const dockerRunArgs = ['run', '--rm', '--runtime=runsc', '--network=none', config.pythonImage, 'python3', '-c', 'pass']
    time(process.execPath, sandboxRunArgs)
    time('docker', dockerRunArgs)

    const node = percentiles(repeat(versionRuns, process.execPath, ['-e', '0']))
    const version = percentiles(repeat(versionRuns, process.execPath, [bin, '--version']))
    const help = percentiles(repeat(Math.max(3, Math.round(versionRuns / 4)), process.execPath, [bin, 'run', '--help']))
    row('node -e 0 (the floor)', node)
    row('sandbox --version', version)
    row('sandbox run --help (oclif and one command)', help)
    log(
      `  → sandbox --version p50 ${version.p50.toFixed(0)} ms, ${(version.p50 - node.p50).toFixed(0)} ms over node (target < ${TARGET_VERSION_MS} ms: ${mark(version.p50 < TARGET_VERSION_MS)})`,
    )

    const sandboxTimes: number[] = []
    const dockerBackendTimes: number[] = []
    const dockerTimes: number[] = []
    const onDocker = [...sandboxRunArgs, '--backend', 'docker']
    time(process.execPath, onDocker)
    for (let i = 0; i < coldRuns; i++) {
      sandboxTimes.push(time(process.execPath, sandboxRunArgs))
      dockerTimes.push(time('docker', dockerRunArgs))
      dockerBackendTimes.push(time(process.execPath, onDocker))
    }
    const sandboxRun = percentiles(sandboxTimes)
    const sandboxRunDockerBackend = percentiles(dockerBackendTimes)
    const dockerRun = percentiles(dockerTimes)
    const coldRatio = sandboxRun.p50 / dockerRun.p50
    row(`sandbox run examples/hello.py (cold, ${config.backend})`, sandboxRun)
    row('the same with --backend docker', sandboxRunDockerBackend)
    row('docker run --rm --runtime=runsc python3 -c pass', dockerRun)
    log(
      `  → cold sandbox run (${config.backend} backend, this host's default) / bare docker run = ${coldRatio.toFixed(2)} (target ≤ ${TARGET_COLD_RATIO}: ${mark(coldRatio <= TARGET_COLD_RATIO)}); with --backend docker ${(sandboxRunDockerBackend.p50 / dockerRun.p50).toFixed(2)}`,
    )

    // the manager of this host (private state directory, a free port), its warm pool answering
    const port = await freePort()
    time(process.execPath, [bin, 'start', '--port', String(port), '--pool-size', '2', '--env-file', '/dev/null', '--json'])
    const viaTimes: number[] = []
    const viaDockerTimes: number[] = []
    try {
      const viaArgs = [...sandboxRunArgs, '--via-manager']
      // the first answer comes once the pool is warm
      for (let tries = 0; ; tries++) {
        try {
          time(process.execPath, viaArgs)
          break
        } catch (error) {
          if (tries >= 30) throw error
        }
      }
      for (let i = 0; i < coldRuns; i++) {
        viaTimes.push(time(process.execPath, viaArgs))
        viaDockerTimes.push(time('docker', dockerRunArgs))
      }
    } finally {
      spawnSync(process.execPath, [bin, 'stop', '--json'], {cwd, env, stdio: 'ignore'})
    }
    const viaManager = percentiles(viaTimes)
    const viaManagerDockerRun = percentiles(viaDockerTimes)
    const viaManagerRatio = viaManager.p50 / viaManagerDockerRun.p50
    row('sandbox run --via-manager (warm pool)', viaManager)
    row('docker run --rm --runtime=runsc python3 -c pass', viaManagerDockerRun)
    log(`  → sandbox run --via-manager / bare docker run = ${viaManagerRatio.toFixed(2)} (target ≤ ${TARGET_COLD_RATIO}: ${mark(viaManagerRatio <= TARGET_COLD_RATIO)})`)
    return {
      viaManager,
      viaManagerDockerRun,
      viaManagerRatio,
      version,
      node,
      help,
      backend: config.backend,
      sandboxRun,
      sandboxRunDockerBackend,
      dockerRun,
      coldRatio,
      targets: {versionMs: TARGET_VERSION_MS, coldRatio: TARGET_COLD_RATIO},
      met: {version: version.p50 < TARGET_VERSION_MS, coldRatio: coldRatio <= TARGET_COLD_RATIO},
    }
  } finally {
    rmSync(cwd, {recursive: true, force: true})
  }
}
