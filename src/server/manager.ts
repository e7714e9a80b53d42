/**
 * The executor manager in the foreground: engine + HTTP server + state files + signals.
 * `sandbox start --foreground` calls runManager(); in the background it runs in a detached
 * child process (src/server/main.ts, started by src/supervisor/process-host.ts), and in the
 * manager image as the container's main process (src/supervisor/container-host.ts).
 */

import {adminRoutes, assertAdminConfig, providerRun, type AdminRoutesOptions} from '../admin/index.js'
import type {SandboxConfig} from '../config.js'
import {Engine, type EngineEvent, type EngineOptions} from '../engine/engine.js'
import {LANGUAGE_IDS, LANGUAGES, type Language} from '../engine/languages.js'
import {configError, errorMessage, prerequisiteError} from '../errors.js'
import {closePolicyWorkers, inspectCode, warmUpPolicy} from '../policy/index.js'
import {TOOLKIT_VERSION} from '../paths.js'
import {exposureWarnings} from './auth.js'
import {createManagerServer, POLICY_OVERRIDE_NEEDS_TOKEN, type ManagerPlugin, type ManagerServer} from './http.js'
import {createLogger, type Logger} from './logger.js'
import {acquirePidFile, clientEndpoint, managerFiles, managerState, writeState, type LaunchRecord, type ManagerFiles, type ManagerMode} from './state.js'
import {effectiveSettings} from './status.js'
import {poolExecutor} from '../executors/local.js'
import {Pipeline} from '../run/pipeline.js'
import {applyRunSettings, readStoredDockerRow, resolveRunSettings, settingSources} from '../run/settings.js'

export {clientEndpoint} from './state.js'

export interface ManagerOptions {
  config: SandboxConfig
  logger?: Logger
  /** engine options beyond the config (tests: runtime, network, poolSize) */
  engine?: Partial<Pick<EngineOptions, 'runtime' | 'network' | 'poolSize' | 'allowStaleImages'>> & {languages?: Language[]}
  /** write manager.pid / manager.json in the state directory (default true) */
  stateFiles?: boolean
  files?: ManagerFiles
  /** how long in-flight runs may finish at shutdown, ms (default 15 s) */
  shutdownDeadlineMs?: number
  /** install SIGTERM/SIGINT handlers (default true) */
  handleSignals?: boolean
  /** bound on waiting for the first warm container of each language, ms (default 60 s) */
  warmupTimeoutMs?: number
  /** how it runs, as recorded in manager.json (main.ts: SANDBOX_MANAGER_MODE) */
  mode?: ManagerMode
  /**
   * the manager is this process's only engine (the manager's own process, `start --foreground`):
   * sandbox containers labelled with this pid are an earlier manager's (pids repeat in a restarted
   * container) and are removed at start. Not in tests, where several engines share a process.
   */
  ownProcess?: boolean
  /** what the start was told (recorded for `sandbox restart`) */
  launch?: LaunchRecord
  /**
   * the settings database whose sandbox.docker row gives the run limits no flag or variable set
   * (default SANDBOX_DB_URL or the local SQLite file, when it exists); false: do not read one
   */
  settingsDb?: string | false
  /** more route plugins for the HTTP server (http.ts ManagerPlugin), e.g. the admin API */
  plugins?: ManagerPlugin[]
}

/** Settings a manager refuses to start with (exit 4): checked by runManager and, earlier, by `start`. */
export function checkManagerConfig(config: SandboxConfig): void {
  assertAdminConfig(config)
  if (config.allowPolicyOverride && !config.apiToken) {
    throw configError(`Refusing --allow-policy-override (SANDBOX_ALLOW_POLICY_OVERRIDE) without an API token: ${POLICY_OVERRIDE_NEEDS_TOKEN}`, 'POLICY_OVERRIDE_NEEDS_TOKEN', [
      'set SANDBOX_API_TOKEN (in .env or the environment) and start again',
      'or leave the override off: RAGFlow never needs it',
    ])
  }
}

export interface RunningManager {
  host: string
  port: number
  endpoint: string
  engine: Engine
  server: ManagerServer
  warnings: string[]
  /** ms from process start until the manager answered healthy */
  readyAfterMs: number
  /** graceful stop: stop accepting, let runs finish (deadline), remove every container */
  stop(reason?: string): Promise<void>
  /** resolves when the manager has stopped */
  done: Promise<void>
}

export async function runManager(options: ManagerOptions): Promise<RunningManager> {
  checkManagerConfig(options.config)
  const logger = options.logger ?? createLogger()
  // the run settings as `sandbox run` resolves them: flag > environment > stored docker row > default
  const stored = options.settingsDb === false ? {why: 'not asked to read the settings database'} : await readStoredDockerRow(options.settingsDb)
  if (stored.why) logger[stored.why.startsWith('the settings database cannot') ? 'warn' : 'info'](`run settings without a stored docker row: ${stored.why}`)
  const runSettings = resolveRunSettings(options.config, stored.row)
  const config = applyRunSettings(options.config, runSettings)
  const files = options.files ?? managerFiles()
  const deadline = options.shutdownDeadlineMs ?? 15_000
  let phase: 'starting' | 'serving' | 'stopping' = 'starting'

  const engine = new Engine({
    config,
    languages: options.engine?.languages,
    poolSize: options.engine?.poolSize,
    runtime: options.engine?.runtime,
    network: options.engine?.network,
    allowStaleImages: options.engine?.allowStaleImages,
    ownProcess: options.ownProcess,
    onEvent: (e: EngineEvent) => {
      const {level, message, ...rest} = e
      logger[level](message, rest)
    },
  })
  let engineStarted!: () => void
  let engineFailed!: (e: unknown) => void
  const whenStarted = new Promise<void>((resolve, reject) => ((engineStarted = resolve), (engineFailed = reject)))
  whenStarted.catch(() => {})
  // every POST /run goes through the run pipeline: the policy gate, then the engine's warm pool
  const pipeline = new Pipeline(poolExecutor(engine), {timeoutSeconds: config.timeoutSeconds, policy: config.codePolicy})
  const server = createManagerServer({
    engine: {run: (request) => pipeline.run(request), status: () => engine.status()},
    logger,
    token: config.apiToken,
    allowPolicyOverride: config.allowPolicyOverride,
    resultInStdout: config.resultInStdout,
    settings: effectiveSettings(config),
    phase: () => phase,
    whenStarted,
    startWaitMs: config.queueTimeoutSeconds * 1000,
    plugins: [...(config.adminApi ? [adminPlugin(config, typeof options.settingsDb === 'string' ? options.settingsDb : undefined)] : []), ...(options.plugins ?? [])],
  })
  const release = options.stateFiles === false ? () => {} : acquirePidFile(files)

  // signals: during start, remembered and acted on once the engine has started (so no container leaks)
  let stopFn: ((reason: string) => Promise<void>) | undefined
  let pendingSignal: NodeJS.Signals | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    if ((stopFn && phase === 'stopping') || (!stopFn && pendingSignal)) {
      logger.warn(`second ${signal}: exiting now; leftover containers are removed by the next start or \`sandbox clean\``)
      process.exit(130)
    }
    if (stopFn) void stopFn(signal)
    else {
      pendingSignal = signal
      logger.info(`${signal} while starting: stopping once the engine has started`)
    }
  }
  const removeSignals = () => {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
  }
  if (options.handleSignals !== false) {
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  }
  const warnings = exposureWarnings(config.host, config.apiToken)
  for (const w of warnings) logger.warn(w, {host: config.host})

  let address: {host: string; port: number}
  try {
    address = await server.listen(config.host, config.port)
  } catch (error) {
    release()
    removeSignals()
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') {
      throw prerequisiteError(
        `Port ${config.port} on ${config.host} is already in use`,
        'PORT_IN_USE',
        ['stop whatever listens there, or choose another port with --port (SANDBOX_EXECUTOR_MANAGER_PORT)'],
        error,
      )
    }
    throw prerequisiteError(`Cannot listen on ${config.host}:${config.port}: ${errorMessage(error)}`, 'LISTEN_FAILED', [], error)
  }
  const endpoint = clientEndpoint(address.host, address.port)
  const settings = effectiveSettings(config)
  const state = managerState({mode: options.mode ?? 'process', pid: process.pid, address, settings: {...settings, port: address.port}, launch: options.launch, warnings})
  if (options.stateFiles !== false) writeState(state, files)
  logger.info('listening', {
    endpoint,
    host: address.host,
    port: address.port,
    pid: process.pid,
    token_required: Boolean(config.apiToken),
    max_concurrent_runs: config.maxConcurrentRuns,
    policy_override: config.allowPolicyOverride,
    version: TOOLKIT_VERSION,
    settings_sources: settingSources(runSettings),
  })

  try {
    await engine.start({waitReady: false})
    // runs that arrived meanwhile go ahead: they queue for the first warm containers
    engineStarted()
    // load the policy parsers now (tens of ms on first use) while the first containers start
    await Promise.all([firstContainers(engine, options.warmupTimeoutMs ?? 60_000), warmPolicy(config, options.engine?.languages)])
  } catch (error) {
    phase = 'stopping'
    engineFailed(error)
    logger.error('cannot start the engine', {error, code: (error as {code?: string}).code})
    await engine.stop(0).catch(() => {})
    await server.close(0)
    release()
    removeSignals()
    throw error
  }
  const status = engine.status()
  state.runtime = status.runtime
  state.backend = status.backend
  if (options.stateFiles !== false) writeState(state, files)
  phase = 'serving'
  const readyAfterMs = Math.round(performance.now())
  logger.info('ready', {
    endpoint,
    runtime: status.runtime,
    backend: status.backend,
    pools: status.pools.map((p) => ({language: p.language, size: p.size, ready: p.ready})),
    healthy: status.healthy,
    reason: status.reason ?? undefined,
    ready_after_ms: readyAfterMs,
  })

  let finished!: () => void
  const done = new Promise<void>((r) => (finished = r))
  let stopping: Promise<void> | undefined
  const stop = (reason = 'stop requested') => {
    stopping ??= (async () => {
      phase = 'stopping'
      logger.info('shutting down', {reason, in_flight: server.activeRequests, deadline_ms: deadline})
      const t0 = performance.now()
      const closing = server.close(deadline + 2000)
      await engine.stop(deadline).catch((error: unknown) => logger.error('engine stop failed', {error}))
      await closing
      await closePolicyWorkers()
      release()
      logger.info('stopped', {ms: Math.round(performance.now() - t0)})
      removeSignals()
      finished()
    })()
    return stopping
  }

  stopFn = stop
  if (pendingSignal) void stop(pendingSignal)

  return {host: address.host, port: address.port, endpoint, engine, server, warnings, readyAfterMs, stop, done}
}

async function warmPolicy(config: SandboxConfig, languages: Language[] = LANGUAGE_IDS): Promise<void> {
  if (config.codePolicy === 'off') return
  // the workers that inspect big programs off the event loop, and the parsers on it
  await Promise.all([
    warmUpPolicy({workers: true}).catch(() => undefined),
    ...languages.map((l) => inspectCode(LANGUAGES[l].warmUpCode, l, config.codePolicy).catch(() => undefined)),
  ])
}

/**
 * Wait until every pool has a warm container, or has failed once (then /healthz says why), or
 * the admission cap is full (a cap below the number of languages leaves some pools without one).
 */
async function firstContainers(engine: Engine, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const {pools, admission} = engine.status()
    // preloaded pools fill only when idle: serving never waits for them
    if (pools.every((p) => p.kind === 'preloaded' || p.ready > 0 || p.size === 0 || p.failures > 0)) return
    if (admission.live >= admission.limit && pools.every((p) => p.creating === 0)) return
    if (Date.now() > until) return
    await new Promise((r) => setTimeout(r, 10))
  }
}

/**
 * RAGFlow's admin API and the settings page (SANDBOX_ADMIN_API / start --admin; a token is
 * required), on the manager's settings database (`db`: the one it was given, else SANDBOX_DB_URL or
 * the local SQLite file)
 */
function adminPlugin(config: SandboxConfig, db: string | undefined): ManagerPlugin {
  return {plugin: adminRoutes, options: {token: config.apiToken, db, run: providerRun(config), defaultTimeoutSeconds: config.timeoutSeconds} satisfies AdminRoutesOptions}
}
