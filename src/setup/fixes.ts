/**
 * What `sandbox setup --yes` changes, planned from the failed checks. Each action is
 * idempotent and says what it changed; nothing runs when every check passes.
 */
import {errorMessage} from '../errors.js'
import type {CheckContext, Facts} from './checks.js'
import {mergeRuntime, RUNSC_RUNTIME_ARGS} from './daemon-json.js'
import {defaultEnvText, ENV_FILE_MODE} from './env-file.js'
import {clearStalePidFile, DOCKER_PID_FILE, inspectPidFile} from './pid-file.js'
import type {CheckId, SetupCheck, SetupHost, SetupProgressEvent} from './types.js'

export const SYSTEMD_MARKER = '/run/systemd/system'
export const DEFAULT_DOCKERD_LOG = '/var/log/sandbox-dockerd.log'
const DAEMON_START_TIMEOUT_MS = 60_000
const RELOAD_TIMEOUT_MS = 10_000

export interface FixContext extends CheckContext {
  dockerdLog: string
  buildSource: 'auto' | 'online' | 'offline'
  progress: (event: SetupProgressEvent) => void
  /** append to the report's `changed` */
  changed: (what: string) => void
}

export interface FixAction {
  id: 'install' | 'daemon-json' | 'start-daemon' | 'env-file' | 'images'
  /** one line for the confirm prompt and progress */
  description: string
  needsRoot: boolean
  /** checks this action is meant to make pass */
  targets: CheckId[]
  run: (ctx: FixContext) => Promise<void>
}

export interface FixPlan {
  actions: FixAction[]
  /** why something that failed will not be fixed (not root, no apt, remote daemon) */
  notes: string[]
}

const failed = (checks: SetupCheck[], id: CheckId) => checks.some((c) => c.id === id && !c.ok)

/** Decide what to do about the failed checks. Pure: nothing runs here. */
export function planFixes(checks: SetupCheck[], facts: Facts, ctx: CheckContext): FixPlan {
  const actions: FixAction[] = []
  const notes: string[] = []
  const daemonDown = !facts.info

  const packages: string[] = []
  if (!facts.dockerdPath && ctx.localDaemon && failed(checks, 'docker-installed')) packages.push('docker.io')
  if (!facts.runscPath) packages.push('runsc')
  if (packages.length > 0) {
    if (ctx.hasApt) {
      actions.push({
        id: 'install',
        description: `apt-get update && apt-get install -y ${packages.join(' ')}`,
        needsRoot: true,
        targets: ['docker-installed', 'runsc-installed'],
        run: (fx) => installPackages(fx, packages),
      })
    } else {
      notes.push(`no apt-get on this machine: install ${packages.join(' and ')} with your distribution's packages`)
    }
  }

  const wantRegister = daemonDown || facts.registered === false || facts.isolationNetworkError === true
  if (wantRegister && (facts.runscPath || packages.includes('runsc'))) {
    if (ctx.localDaemon) {
      actions.push({
        id: 'daemon-json',
        description: `register runtime "${ctx.runtime}" (runsc, ${RUNSC_RUNTIME_ARGS.join(' ')}) in ${ctx.daemonJsonPath}${daemonDown ? '' : ' and reload dockerd'}`,
        needsRoot: true,
        targets: ['runsc-registered', 'isolation'],
        run: (fx) => registerRuntime(fx),
      })
    } else if (facts.registered === false || facts.isolationNetworkError) {
      notes.push(`the Docker daemon at ${ctx.endpoint} is not this machine's: register runsc in its daemon.json by hand`)
    }
  }

  if (daemonDown) {
    if (ctx.localDaemon) {
      actions.push({
        id: 'start-daemon',
        description: 'start the Docker daemon (systemctl when systemd runs, otherwise dockerd in the background)',
        needsRoot: true,
        targets: ['docker-daemon'],
        run: (fx) => startDaemon(fx),
      })
    } else {
      notes.push(`DOCKER_HOST=${ctx.endpoint} is not this machine's default socket: setup does not start that daemon`)
    }
  }

  if (facts.envMissing && ctx.envFile !== null) {
    const path = ctx.envFile
    actions.push({
      id: 'env-file',
      description: `write ${path} from templates/env.template`,
      needsRoot: false,
      targets: ['env-file'],
      run: (fx) => writeEnv(fx, path),
    })
  }

  const imagesBad = facts.images?.some((s) => !s.present || !s.current) || facts.imagesError !== undefined
  if (imagesBad || daemonDown) {
    actions.push({
      id: 'images',
      description: 'build missing or stale base images',
      needsRoot: false,
      targets: ['images', 'isolation', 'memory'],
      run: (fx) => buildMissingImages(fx),
    })
  }

  if (!ctx.isRoot) {
    const skipped = actions.filter((a) => a.needsRoot)
    if (skipped.length > 0) {
      notes.push(`not root: skipped ${skipped.map((a) => a.description).join('; ')}. Run \`sandbox setup --yes\` as root (e.g. with sudo) for these`)
    }
    return {actions: actions.filter((a) => !a.needsRoot), notes}
  }
  return {actions, notes}
}

// ---------------------------------------------------------------------------------------
// actions

async function installPackages(fx: FixContext, packages: string[]): Promise<void> {
  const env = {DEBIAN_FRONTEND: 'noninteractive'}
  fx.progress({kind: 'fix', message: 'apt-get update'})
  const update = await fx.host.run('apt-get', ['update'], {env})
  fx.progress({kind: 'log', message: update.stdout + update.stderr})
  if (update.code !== 0) throw new Error(`apt-get update failed (exit ${update.code}): ${tail(update.stderr)}`)
  fx.progress({kind: 'fix', message: `apt-get install -y ${packages.join(' ')}`})
  const install = await fx.host.run('apt-get', ['install', '-y', ...packages], {env})
  fx.progress({kind: 'log', message: install.stdout + install.stderr})
  if (install.code !== 0) throw new Error(`apt-get install -y ${packages.join(' ')} failed (exit ${install.code}): ${tail(install.stderr)}`)
  fx.changed(`installed ${packages.join(', ')} with apt-get`)
}

/** Merge the runtime into daemon.json; when the file changed and dockerd runs, reload it. */
export async function registerRuntime(fx: FixContext): Promise<void> {
  const {host} = fx
  const runsc = await host.which('runsc')
  if (!runsc) throw new Error('runsc is not installed')
  const existing = await host.readFile(fx.daemonJsonPath)
  const merged = mergeRuntime(existing, fx.runtime, {path: runsc, runtimeArgs: RUNSC_RUNTIME_ARGS}, fx.daemonJsonPath)
  if (!merged.changed) {
    fx.progress({kind: 'fix', message: `${fx.daemonJsonPath} already registers "${fx.runtime}"`})
  } else {
    fx.progress({kind: 'fix', message: `registering "${fx.runtime}" in ${fx.daemonJsonPath}`})
    await host.writeFile(fx.daemonJsonPath, merged.text)
    fx.changed(`registered runtime "${fx.runtime}" (${runsc} ${RUNSC_RUNTIME_ARGS.join(' ')}) in ${fx.daemonJsonPath}`)
  }
  // a daemon that is up must pick the runtime up now; a stopped one reads the file when it starts
  if (!(await answers(host, 1000))) return
  const info = await host.docker.info()
  if (info.runtimes.includes(fx.runtime) && !merged.changed) return
  await reloadDaemon(fx)
}

async function answers(host: SetupHost, timeoutMs: number): Promise<boolean> {
  try {
    await host.docker.ping(timeoutMs)
    return true
  } catch {
    return false
  }
}

/** Poll until the daemon answers; gives up early when the process we started (pid) has exited. */
async function waitForDaemon(host: SetupHost, timeoutMs: number, pid?: number): Promise<boolean> {
  const deadline = host.now() + timeoutMs
  for (;;) {
    if (await answers(host, 1000)) return true
    if (host.now() >= deadline) return false
    if (pid !== undefined && (await host.processName(pid)) === undefined) return answers(host, 1000)
    await host.sleep(250)
  }
}

async function waitForRuntime(host: SetupHost, runtime: string, timeoutMs: number): Promise<boolean> {
  const deadline = host.now() + timeoutMs
  for (;;) {
    const info = await host.docker.info().catch(() => undefined)
    if (info?.runtimes.includes(runtime)) return true
    if (host.now() >= deadline) return false
    await host.sleep(250)
  }
}

async function usesSystemd(host: SetupHost): Promise<boolean> {
  return (await host.exists(SYSTEMD_MARKER)) && (await host.which('systemctl')) !== undefined
}

async function dockerdPid(host: SetupHost): Promise<number | undefined> {
  const state = await inspectPidFile(host)
  if (state.state === 'live') return state.pid
  return state.livePids[0]
}

/** SIGHUP makes dockerd re-read daemon.json (runtimes included); restart when that is not enough. */
export async function reloadDaemon(fx: FixContext): Promise<void> {
  const {host} = fx
  if (await usesSystemd(host)) {
    fx.progress({kind: 'fix', message: 'systemctl reload docker'})
    const r = await host.run('systemctl', ['reload', 'docker'])
    if (r.code !== 0) fx.progress({kind: 'log', message: `systemctl reload docker: ${r.stderr}`})
  } else {
    const pid = await dockerdPid(host)
    if (pid === undefined) throw new Error('the Docker daemon answers but no local dockerd process was found to reload')
    fx.progress({kind: 'fix', message: `reloading dockerd (SIGHUP to pid ${pid})`})
    await host.signal(pid, 'SIGHUP')
  }
  if (await waitForRuntime(host, fx.runtime, RELOAD_TIMEOUT_MS)) {
    fx.changed(`reloaded the Docker daemon configuration`)
    return
  }
  await restartDaemon(fx)
  if (!(await waitForRuntime(host, fx.runtime, RELOAD_TIMEOUT_MS))) {
    throw new Error(`the Docker daemon restarted but does not list runtime "${fx.runtime}"; see ${fx.dockerdLog}`)
  }
}

async function restartDaemon(fx: FixContext): Promise<void> {
  const {host} = fx
  fx.progress({kind: 'fix', message: 'the reload did not register the runtime: restarting the Docker daemon'})
  if (await usesSystemd(host)) {
    const r = await host.run('systemctl', ['restart', 'docker'])
    if (r.code !== 0) throw new Error(`systemctl restart docker failed: ${tail(r.stderr)}`)
  } else {
    const old = await dockerdPid(host)
    if (old !== undefined) {
      await host.signal(old, 'SIGTERM')
      const deadline = host.now() + 30_000
      while ((await host.processName(old)) === 'dockerd') {
        if (host.now() >= deadline) throw new Error(`dockerd (pid ${old}) did not stop within 30 s`)
        await host.sleep(250)
      }
    }
    const pid = await spawnDockerd(fx)
    if (!(await waitForDaemon(host, DAEMON_START_TIMEOUT_MS, pid))) throw new Error(`the Docker daemon did not come back; see ${fx.dockerdLog}`)
  }
  if (!(await waitForDaemon(host, DAEMON_START_TIMEOUT_MS))) throw new Error(`the Docker daemon did not come back; see ${fx.dockerdLog}`)
  fx.changed('restarted the Docker daemon')
}

async function spawnDockerd(fx: FixContext): Promise<number> {
  const {host} = fx
  const cleared = await clearStalePidFile(host)
  if (cleared.state === 'stale') {
    fx.changed(`removed stale ${DOCKER_PID_FILE}${cleared.pid ? ` (pid ${cleared.pid} is not a running dockerd)` : ''}`)
  }
  const dockerd = await host.which('dockerd')
  if (!dockerd) throw new Error('dockerd is not installed')
  fx.progress({kind: 'fix', message: `starting ${dockerd} in the background (log ${fx.dockerdLog})`})
  return host.spawnDetached(dockerd, [], fx.dockerdLog)
}

export async function startDaemon(fx: FixContext): Promise<void> {
  const {host} = fx
  if (await answers(host, 1000)) return
  if (await usesSystemd(host)) {
    fx.progress({kind: 'fix', message: 'systemctl start docker'})
    const r = await host.run('systemctl', ['start', 'docker'])
    if (r.code !== 0) throw new Error(`systemctl start docker failed (exit ${r.code}): ${tail(r.stderr)}`)
    if (!(await waitForDaemon(host, DAEMON_START_TIMEOUT_MS))) throw new Error('docker.service started but the daemon does not answer; see `journalctl -u docker`')
    fx.changed('started docker.service with systemctl')
    return
  }
  const state = await inspectPidFile(host)
  if (state.state === 'live' || state.livePids.length > 0) {
    // a dockerd exists but does not answer yet (still starting?): give it time, never start a second one
    const pid = state.state === 'live' ? state.pid : state.livePids[0]
    fx.progress({kind: 'fix', message: `dockerd (pid ${pid}) is running: waiting for it to answer`})
    if (await waitForDaemon(host, DAEMON_START_TIMEOUT_MS)) return
    throw new Error(`dockerd (pid ${pid}) runs but does not answer at ${fx.endpoint}; stop it and run \`sandbox setup --yes\` again`)
  }
  const pid = await spawnDockerd(fx)
  if (!(await waitForDaemon(host, DAEMON_START_TIMEOUT_MS, pid))) {
    const log = (await host.readFile(fx.dockerdLog).catch(() => undefined)) ?? ''
    const how = (await host.processName(pid)) === undefined ? 'exited' : `did not answer within ${DAEMON_START_TIMEOUT_MS / 1000} s`
    throw new Error(`dockerd (pid ${pid}) ${how}: ${tail(log, 3)} (log ${fx.dockerdLog})`)
  }
  fx.changed(`started dockerd in the background (pid ${pid}, log ${fx.dockerdLog})`)
}

async function writeEnv(fx: FixContext, path: string): Promise<void> {
  // never overwrite: a file that appeared meanwhile wins
  if (await fx.host.exists(path)) return
  fx.progress({kind: 'fix', message: `writing ${path}`})
  await fx.host.writeFile(path, defaultEnvText(), ENV_FILE_MODE)
  fx.changed(`wrote ${path} from templates/env.template`)
}

async function buildMissingImages(fx: FixContext): Promise<void> {
  const {host, config} = fx
  // no daemon: the Docker daemon check already says so
  if (!(await answers(host, 3000))) return
  const status = await host.docker.imageStatus(config)
  const todo = status.filter((s) => !s.present || !s.current)
  if (todo.length === 0) return
  const languages = todo.map((s) => s.language)
  fx.progress({kind: 'fix', message: `building ${todo.map((s) => s.image).join(', ')}`})
  const results = await host.docker.buildImages({
    config,
    languages,
    source: fx.buildSource,
    onProgress: (e) => fx.progress({kind: e.kind === 'log' ? 'log' : 'step', message: `${e.language}: ${e.message}`}),
  })
  // an image someone else built meanwhile is reported by the builder as skipped
  const built = results.filter((r) => !r.skipped).map((r) => r.image)
  if (built.length > 0) fx.changed(`built ${built.join(', ')}`)
}

function tail(text: string, lines = 5): string {
  return text.trim().split('\n').slice(-lines).join(' | ')
}

export async function applyFixes(plan: FixPlan, fx: FixContext): Promise<{failures: Map<CheckId, string>}> {
  const failures = new Map<CheckId, string>()
  for (const action of plan.actions) {
    try {
      await action.run(fx)
    } catch (error) {
      const message = `${action.description} failed: ${errorMessage(error)}`
      fx.progress({kind: 'fix', message})
      for (const id of action.targets) if (!failures.has(id)) failures.set(id, message)
    }
  }
  return {failures}
}
