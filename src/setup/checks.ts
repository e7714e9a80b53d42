/**
 * The host checks of `sandbox setup`, in dependency order. Each produces one SetupCheck
 * and records what it learnt (Facts) for the fix planner.
 *
 * Order: os, docker-installed, docker-daemon, runsc-installed, runsc-registered, disk,
 * env-file, images, isolation, memory. The isolation and memory probes run *in* the
 * Python base image, so images come before them; disk comes before images (builds need it).
 */
import type {SandboxConfig} from '../config.js'
import type {DaemonInfo} from '../docker/client.js'
import {errorMessage} from '../errors.js'
import {RUNTIMES} from '../languages/index.js'
import {envFileExposure} from './env-file.js'
import type {CheckId, ImageState, SetupCheck, SetupHost} from './types.js'

export const CHECK_TITLES: Record<CheckId, string> = {
  os: 'Linux kernel',
  'docker-installed': 'Docker installed',
  'docker-daemon': 'Docker daemon',
  'runsc-installed': 'runsc installed',
  'runsc-registered': 'runsc registered',
  disk: 'Free disk',
  'env-file': '.env file',
  images: 'Base images',
  isolation: 'gVisor isolation',
  memory: 'Memory limits',
  'runsc-backend': 'runsc backend',
}

/** the checks of every host; 'runsc-backend' is added only when the runsc backend is the one in use */
export const CHECK_ORDER = (Object.keys(CHECK_TITLES) as CheckId[]).filter((id) => id !== 'runsc-backend')

/** the checks setup makes for a backend, in order */
export const checkOrderFor = (backend: string): CheckId[] => (backend === 'runsc' ? [...CHECK_ORDER, 'runsc-backend'] : CHECK_ORDER)

/** Docker API 1.40 = Docker 19.03, the oldest daemon with everything the engine uses */
export const MIN_API_VERSION = '1.40'
export const MIN_KERNEL = [4, 14] as const
export const DEFAULT_MIN_FREE_BYTES = 5 * 1024 ** 3
/** below this a build cannot succeed: fail rather than warn */
export const HARD_MIN_FREE_BYTES = 1024 ** 3
export const PROBE_MEMORY_BYTES = 64 * 1024 ** 2
export const PROBE_ALLOC_MB = 200
const PROBE_TIMEOUT_MS = 30_000
const LOCAL_ENDPOINTS = new Set(['unix:///var/run/docker.sock', 'unix:///run/docker.sock'])

export interface CheckContext {
  host: SetupHost
  runtime: string
  config: SandboxConfig
  /** null: no .env check */
  envFile: string | null
  minFreeBytes: number
  isRoot: boolean
  hasApt: boolean
  /** the endpoint is this machine's default socket, so setup may start/configure dockerd */
  localDaemon: boolean
  endpoint: string
  daemonJsonPath: string
}

export interface Facts {
  dockerdPath?: string
  runscPath?: string
  info?: DaemonInfo
  daemonError?: string
  registered?: boolean
  images?: ImageState[]
  imagesError?: string
  /** runsc refused to start a container because it wanted a network namespace */
  isolationNetworkError?: boolean
  envMissing?: boolean
}

export const isLocalEndpoint = (endpoint: string) => LOCAL_ENDPOINTS.has(endpoint)

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((n) => Number.parseInt(n, 10) || 0)
  const pb = b.split('.').map((n) => Number.parseInt(n, 10) || 0)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

export const formatBytes = (n: number) => (n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GB` : `${Math.round(n / 1024 ** 2)} MB`)

const firstLine = (s: string) =>
  s
    .split('\n')
    .map((l) => l.trim())
    .find(Boolean) ?? ''
const lastLines = (s: string, n = 3) => s.trim().split('\n').slice(-n).join(' | ').trim()

/** How to get a root-only fix done, phrased for who is running. */
function bySetup(ctx: CheckContext, what: string): string {
  return `run \`sandbox setup --yes\` as root (${what})`
}

function installFix(ctx: CheckContext, pkg: string, manual: string): string {
  return ctx.hasApt ? bySetup(ctx, `apt-get install -y ${pkg}`) : manual
}

function daemonFix(ctx: CheckContext): string {
  if (!ctx.localDaemon) return `start the Docker daemon at ${ctx.endpoint}, or unset DOCKER_HOST to use this machine's daemon`
  return bySetup(ctx, 'starts dockerd: systemctl start docker, or dockerd in the background')
}

function registerFix(ctx: CheckContext): string {
  const what = `adds runtimes.${ctx.runtime} with runtimeArgs ["--network=none"] to ${ctx.daemonJsonPath} and reloads dockerd`
  if (!ctx.localDaemon) return `register gVisor's runsc as runtime "${ctx.runtime}" in the daemon.json of the daemon at ${ctx.endpoint}`
  return bySetup(ctx, what)
}

const needDaemon = 'not checked: the Docker daemon is not reachable'
const needDaemonFix = 'fix the Docker daemon first'

export async function runChecks(ctx: CheckContext, onCheck: (check: SetupCheck) => void = () => {}): Promise<{checks: SetupCheck[]; facts: Facts}> {
  const {host, runtime, config} = ctx
  const facts: Facts = {}
  const checks: SetupCheck[] = []
  const add = (id: CheckId, ok: boolean, detail: string, fix?: string, warning?: boolean) => {
    const check: SetupCheck = {id, title: CHECK_TITLES[id], ok, detail}
    if (fix && (!ok || warning)) check.fix = fix
    if (warning) check.warning = true
    checks.push(check)
    onCheck(check)
  }

  // --- os
  const platform = host.platform()
  if (platform === 'linux') {
    const release = host.kernelRelease()
    const [major, minor] = release.split(/[.-]/).map((n) => Number.parseInt(n, 10) || 0)
    const recent = major > MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor >= MIN_KERNEL[1])
    const distro = await host.distro()
    add(
      'os',
      recent,
      `Linux ${release}${distro ? `, ${distro}` : ''}${recent ? '' : ` (gVisor needs ${MIN_KERNEL.join('.')} or newer)`}`,
      `upgrade the kernel to ${MIN_KERNEL.join('.')} or newer`,
    )
  } else {
    add('os', false, `${platform}: sandbox needs Linux`, 'use a Linux host (Debian or Ubuntu) with kernel 4.14 or newer')
  }

  // --- daemon first (docker-installed may pass on a remote daemon), reported in order below
  facts.dockerdPath = await host.which('dockerd')
  try {
    await host.docker.ping(3000)
    facts.info = await host.docker.info()
  } catch (error) {
    facts.daemonError = errorMessage(error)
  }

  // --- docker-installed
  if (facts.dockerdPath) add('docker-installed', true, facts.dockerdPath)
  else if (facts.info) add('docker-installed', true, `dockerd not in PATH; the daemon at ${ctx.endpoint} answers`)
  else
    add(
      'docker-installed',
      false,
      'dockerd not found',
      installFix(ctx, 'docker.io', "install Docker Engine with your distribution's packages (https://docs.docker.com/engine/install/)"),
    )

  // --- docker-daemon
  if (facts.info) {
    const {serverVersion, apiVersion} = facts.info
    const apiOk = compareVersions(apiVersion, MIN_API_VERSION) >= 0
    add(
      'docker-daemon',
      apiOk,
      `Docker ${serverVersion}, API ${apiVersion} at ${ctx.endpoint}${apiOk ? '' : ` (API ${MIN_API_VERSION} or newer needed)`}`,
      installFix(ctx, 'docker.io', 'upgrade Docker Engine to 19.03 or newer'),
    )
  } else {
    const denied = /EACCES|permission denied/i.test(facts.daemonError ?? '')
    add(
      'docker-daemon',
      false,
      facts.daemonError ?? `no answer at ${ctx.endpoint}`,
      denied ? 'run as root, or add this user to the docker group (`usermod -aG docker $USER`, then log in again)' : daemonFix(ctx),
    )
  }

  // --- runsc-installed
  facts.runscPath = await host.which('runsc')
  if (facts.runscPath) {
    const v = await host.run(facts.runscPath, ['--version'], {timeoutMs: 10_000})
    add('runsc-installed', true, `${facts.runscPath}${v.code === 0 && firstLine(v.stdout) ? ` (${firstLine(v.stdout)})` : ''}`)
  } else {
    add('runsc-installed', false, 'runsc (gVisor) not found', installFix(ctx, 'runsc', "install gVisor's runsc (https://gvisor.dev/docs/user_guide/install/)"))
  }

  // --- runsc-registered
  if (facts.info) {
    facts.registered = facts.info.runtimes.includes(runtime)
    add(
      'runsc-registered',
      facts.registered,
      facts.registered
        ? `runtime "${runtime}" (runtimes: ${facts.info.runtimes.join(', ')})`
        : `runtime "${runtime}" is not registered with Docker (runtimes: ${facts.info.runtimes.join(', ') || 'none'})`,
      registerFix(ctx),
    )
  } else {
    add('runsc-registered', false, needDaemon, needDaemonFix)
  }

  // --- disk
  const rootDir = facts.info?.dockerRootDir ?? '/var/lib/docker'
  const free = await host.freeBytes(rootDir)
  if (free === undefined) {
    add('disk', true, `${rootDir} is not on this machine; free space not checked`)
  } else {
    const diskFix = `free space on the file system holding ${rootDir} (e.g. \`docker system prune\`)`
    if (free < HARD_MIN_FREE_BYTES) add('disk', false, `${formatBytes(free)} free in ${rootDir}: too little to build images`, diskFix)
    else if (free < ctx.minFreeBytes) add('disk', true, `${formatBytes(free)} free in ${rootDir} (less than ${formatBytes(ctx.minFreeBytes)})`, diskFix, true)
    else add('disk', true, `${formatBytes(free)} free in ${rootDir}`)
  }

  // --- env-file
  if (ctx.envFile !== null) {
    facts.envMissing = !(await host.exists(ctx.envFile))
    if (facts.envMissing) add('env-file', true, `${ctx.envFile} missing; built-in defaults apply`, '`sandbox setup --yes` writes it from templates/env.template', true)
    else {
      const exposed = envFileExposure(ctx.envFile)
      if (exposed) add('env-file', true, exposed, `chmod 600 ${ctx.envFile}`, true)
      else add('env-file', true, ctx.envFile)
    }
  }

  // --- images
  if (facts.info) {
    try {
      facts.images = await host.docker.imageStatus(config)
      const bad = facts.images.filter((s) => !s.present || !s.current)
      add(
        'images',
        bad.length === 0,
        bad.length === 0
          ? facts.images.map((s) => `${s.image}`).join(', ') + ' current'
          : bad.map((s) => (s.present ? `${s.image} stale${s.reason ? ` (${s.reason})` : ''}` : `${s.image} missing`)).join('; '),
        'run `sandbox setup --yes` (builds them) or `sandbox build`',
      )
    } catch (error) {
      facts.imagesError = errorMessage(error)
      add('images', false, `cannot inspect images: ${facts.imagesError}`, 'run `sandbox setup --yes` (builds them) or `sandbox build`')
    }
  } else {
    add('images', false, needDaemon, needDaemonFix)
  }

  // --- isolation + memory: one container each under the runtime, run side by side
  // the probes run python3: they need the Python runtime's image
  const python = facts.images?.find((s) => s.image === config.pythonImage || s.language === RUNTIMES.python.id)
  const blocker = !facts.info
    ? [needDaemon, needDaemonFix]
    : !facts.registered
      ? [`not checked: runtime "${runtime}" is not registered`, 'register it first (see runsc registered)']
      : !python?.present
        ? [`not checked: needs the Python base image ${config.pythonImage}`, 'build the images first (see Base images)']
        : undefined
  if (blocker) {
    add('isolation', false, blocker[0], blocker[1])
    add('memory', false, blocker[0], blocker[1])
    return {checks, facts}
  }

  const hostRelease = host.kernelRelease()
  const [iso, mem] = await Promise.allSettled([
    host.docker.probe({
      image: config.pythonImage,
      runtime,
      cmd: ['python3', '-c', 'import os;print(os.uname().release)'],
      timeoutMs: PROBE_TIMEOUT_MS,
    }),
    host.docker.probe({
      image: config.pythonImage,
      runtime,
      memory: PROBE_MEMORY_BYTES,
      // bytes() of a repeated pattern touches every page, so the allocation is real
      cmd: ['python3', '-c', `b = b"x" * (${PROBE_ALLOC_MB} * 1024 * 1024); print(len(b))`],
      timeoutMs: PROBE_TIMEOUT_MS,
    }),
  ])

  const networkFix = registerFix(ctx)
  if (iso.status === 'rejected') {
    const msg = errorMessage(iso.reason)
    facts.isolationNetworkError = /network/i.test(msg)
    add('isolation', false, `cannot start a container under ${runtime}: ${msg}`, facts.isolationNetworkError ? networkFix : registerFix(ctx))
  } else {
    const r = iso.value
    const kernel = r.stdout.trim()
    if (r.exitCode === 0 && kernel && kernel !== hostRelease) {
      add('isolation', true, `container kernel ${kernel} (gVisor), host ${hostRelease}`)
    } else if (r.exitCode === 0) {
      add('isolation', false, `the container sees the host kernel ${hostRelease}: runtime "${runtime}" does not isolate`, `register gVisor's runsc as runtime "${runtime}"`)
    } else {
      facts.isolationNetworkError = /network/i.test(r.stderr)
      add(
        'isolation',
        false,
        `probe under ${runtime} exited ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}: ${lastLines(r.stderr) || 'no output'}`,
        facts.isolationNetworkError ? networkFix : 'see the Docker daemon log; `sandbox setup --yes` re-registers runsc',
      )
    }
  }

  if (mem.status === 'rejected') {
    add('memory', false, `cannot start a container with a memory limit: ${errorMessage(mem.reason)}`, 'see the Docker daemon log')
  } else {
    const r = mem.value
    const limit = formatBytes(PROBE_MEMORY_BYTES)
    if (r.oomKilled || r.exitCode === 137) {
      add('memory', true, `a ${limit} container allocating ${PROBE_ALLOC_MB} MB was OOM-killed (exit ${r.exitCode})`)
    } else {
      const cgroup = facts.info?.memoryLimit === false ? '; Docker reports no memory cgroup support' : ''
      add(
        'memory',
        false,
        `a ${limit} container allocating ${PROBE_ALLOC_MB} MB ended with exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}, not an OOM kill${cgroup}`,
        'enable the memory cgroup (kernel command line `cgroup_enable=memory swapaccount=1`) and restart Docker',
      )
    }
  }

  // --- runsc-backend (only when the runsc backend is chosen): gVisor driven directly, without Docker
  if (config.backend === 'runsc') {
    const {runscProblems} = await import('../backends/runsc/host.js')
    const problems = runscProblems()
    add(
      'runsc-backend',
      problems.length === 0,
      problems.length ? problems.map((p) => p.message).join('; ') : 'runsc, root and a cgroup v1 memory controller; each image is exported to a root filesystem at the first start',
      problems.flatMap((p) => p.suggestions).join('; '),
    )
  }

  return {checks, facts}
}
