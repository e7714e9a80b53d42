/**
 * The manager as the container sandbox-executor-manager (`sandbox start --docker`,
 * src/docker/manager-container.ts). No pid file: the CLI records it in manager.json (through
 * the one writer, writeState) and asks Docker whether it runs; its log is the container's.
 */
import {errorMessage, ExitCode, SandboxError} from '../errors.js'
import {exposureWarnings} from '../server/auth.js'
import {clientEndpoint, managerState, removeStateFiles, writeState} from '../server/state.js'
import {effectiveSettings} from '../server/status.js'
import type {SandboxConfig} from '../config.js'
import {ManagerClient} from '../executors/manager-client.js'
import {emptyStop, type ManagerHost, type StartRequest, type StartResult} from './host.js'
import {UNHEALTHY_GRACE_MS} from './process-host.js'

const containerModule = () => import('../docker/manager-container.js')
const LOG_SOURCE = 'docker logs sandbox-executor-manager'
const WHERE = 'container sandbox-executor-manager'

/** Environment handed to the manager container (its own settings, not the host's paths). */
export function managerContainerEnv(config: SandboxConfig): Record<string, string> {
  const env: Record<string, string> = {
    SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: String(config.poolSize),
    SANDBOX_PRELOAD_POOL_SIZE: String(config.preloadPoolSize),
    SANDBOX_BASE_PYTHON_IMAGE: config.pythonImage,
    SANDBOX_BASE_NODEJS_IMAGE: config.nodejsImage,
    SANDBOX_TIMEOUT: `${config.timeoutSeconds}`,
    SANDBOX_MAX_MEMORY: config.memory,
    SANDBOX_ENABLE_SECCOMP: String(config.enableSeccomp),
    SANDBOX_ALLOW_RUNC: String(config.allowRunc),
    SANDBOX_CODE_POLICY: config.codePolicy,
    SANDBOX_QUEUE_TIMEOUT: `${config.queueTimeoutSeconds}`,
    // the cap as computed here (the host's cores and memory), not from the container's view
    SANDBOX_MAX_CONCURRENT_RUNS: String(config.maxConcurrentRuns),
    SANDBOX_ALLOW_POLICY_OVERRIDE: String(config.allowPolicyOverride),
    SANDBOX_RESULT_IN_STDOUT: String(config.resultInStdout),
    SANDBOX_ADMIN_API: String(config.adminApi),
  }
  if (config.apiToken) env.SANDBOX_API_TOKEN = config.apiToken
  if (process.env.SANDBOX_LOG_LEVEL) env.SANDBOX_LOG_LEVEL = process.env.SANDBOX_LOG_LEVEL
  return env
}

export const containerHost: ManagerHost = {
  mode: 'docker',
  named: 'in Docker',
  startCommand: 'sandbox start --docker',

  async running(rec) {
    if (rec.state !== 'elsewhere') return undefined
    const mc = await containerModule()
    if (!(await mc.managerContainerInfo())?.running) return undefined
    const answers = (await new ManagerClient({url: rec.info.endpoint}).health(1000)).reachable
    return {pid: null, info: rec.info, answers, logFile: LOG_SOURCE, where: WHERE}
  },

  start: startContainer,

  async stop(rec, files, deadlineMs, progress) {
    const t0 = performance.now()
    const result = emptyStop()
    if (rec.state === 'none') return result
    const mc = await containerModule()
    const info = await mc.managerContainerInfo()
    Object.assign(result, {mode: 'docker', who: 'the manager container', wasRunning: Boolean(info?.running)})
    progress(`stopping the manager container (up to ${Math.round(deadlineMs / 1000)} s)`)
    const removed = await mc.removeManagerContainer(Math.ceil(deadlineMs / 1000))
    result.containersRemoved = removed.runnersRemoved
    result.containersRemaining = (await mc.managerContainerRunners()).length + ((await mc.managerContainerInfo()) ? 1 : 0)
    result.dockerChecked = true
    removeStateFiles(files)
    result.stoppedInMs = Math.round(performance.now() - t0)
    return result
  },

  async view(rec) {
    const view = {
      running: false,
      where: WHERE,
      notRunning: `(${WHERE} is not running)`,
      log: `sandbox logs (${LOG_SOURCE})`,
      container: undefined as undefined | null | {id: string; state: string; health: string | null; networks: string[]},
      warnings: [] as string[],
    }
    if (rec.state === 'none') return view
    try {
      const c = await (await containerModule()).managerContainerInfo()
      view.container = c ? {id: c.id.slice(0, 12), state: c.state, health: c.health, networks: c.networks} : null
      view.running = Boolean(c?.running)
      view.where = `container ${view.container?.id ?? '?'}${view.container?.networks.length ? ` on ${view.container.networks.join(', ')}` : ''}`
    } catch (error) {
      view.warnings.push(`cannot ask Docker about the manager container: ${errorMessage(error)}`)
    }
    return view
  },

  async logs(_files, n) {
    const mc = await containerModule()
    return {source: `container ${mc.MANAGER_CONTAINER_NAME}`, lines: await mc.managerContainerLogs(n)}
  },

  async follow(_files, onLine, signal) {
    const stop = await (await containerModule()).followManagerContainerLogs(onLine)
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), {once: true})))
    stop()
  },

  // a manager container may outlive its record (state directory removed): clean asks Docker
  async removeLeftovers(progress) {
    const mc = await containerModule()
    if (!(await mc.managerContainerInfo())) return 0
    progress('removing the manager container')
    const r = await mc.removeManagerContainer(10)
    return (r.removed ? 1 : 0) + r.runnersRemoved
  },
}

/** Run the manager as the container sandbox-executor-manager and wait until it is healthy. */
async function startContainer(request: StartRequest): Promise<StartResult> {
  const {config, files} = request
  const progress = request.onProgress ?? (() => {})
  const mc = await containerModule()
  const image = request.image ?? mc.MANAGER_IMAGE
  const endpoint = clientEndpoint(config.host, config.port)
  const started = performance.now()
  progress(`starting container ${mc.MANAGER_CONTAINER_NAME} from ${image}${request.network ? ` on network ${request.network}` : ''}`)
  const id = await mc.runManagerContainer({image, network: request.network, hostIp: config.host, hostPort: config.port, env: managerContainerEnv(config)})
  const warnings = exposureWarnings(config.host, config.apiToken)
  const state = managerState({
    mode: 'docker',
    containerId: id,
    containerName: mc.MANAGER_CONTAINER_NAME,
    network: request.network,
    image,
    address: {host: config.host, port: config.port},
    settings: effectiveSettings(config),
    launch: request.launch,
    warnings,
  })
  removeStateFiles(files)
  writeState(state, files)
  const waitMs = request.waitMs ?? 90_000
  const deadline = Date.now() + waitMs
  let reason = 'starting'
  let unhealthySince: number | undefined
  for (;;) {
    const health = await new ManagerClient({url: endpoint}).health(1000)
    if (health.healthy) break
    if (health.body?.reason) reason = health.body.reason
    const info = await mc.managerContainerInfo()
    if (health.body?.phase === 'serving') unhealthySince ??= Date.now()
    const serving = unhealthySince !== undefined && Date.now() - unhealthySince > UNHEALTHY_GRACE_MS
    if (!info?.running || serving || Date.now() > deadline) {
      const lines = await mc.managerContainerLogs(15).catch(() => [] as string[])
      await mc.removeManagerContainer(10).catch(() => {})
      removeStateFiles(files)
      const why = !info?.running
        ? `the container exited (code ${info?.exitCode ?? '?'})`
        : serving
          ? `it cannot serve: ${reason}`
          : `not healthy within ${Math.round(waitMs / 1000)} s (${reason})`
      throw new SandboxError(`The manager container did not start: ${why}${lines.length ? `. Last log lines:\n${lines.map((l) => `  ${l}`).join('\n')}` : ''}`, {
        code: 'MANAGER_START_FAILED',
        exit: ExitCode.PREREQUISITE,
        suggestions: ['build the images with `sandbox build` and `sandbox build --manager`', 'check the host with `sandbox setup`'],
      })
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  const answer = await new ManagerClient({url: endpoint, token: config.apiToken}).status()
  state.runtime = 'body' in answer ? answer.body.runtime : null
  state.backend = 'body' in answer ? (answer.body.backend ?? null) : null
  writeState(state, files)
  return {
    already: false,
    mode: 'docker',
    pid: null,
    endpoint,
    logFile: LOG_SOURCE,
    where: WHERE,
    startedInMs: Math.round(performance.now() - started),
    warnings,
    runtime: state.runtime ?? null,
    backend: state.backend ?? null,
    staleRemoved: false,
  }
}
