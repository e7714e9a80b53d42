/**
 * Targets the suite runs against: the in-process engine, a manager endpoint (RAGFlow's
 * POST /run wire protocol, optional bearer token), or any object with a `run` method
 * (provider adapters).
 */
import type {SandboxConfig} from '../config.js'
import {Engine, type EngineEvent} from '../engine/engine.js'
import type {Language} from '../engine/languages.js'
import {EXIT, runnerError, type RunResult} from '../engine/result.js'
import {poolExecutor} from '../executors/local.js'
import {ManagerClient, ManagerError, ManagerExecutor, parseRunAnswer} from '../executors/manager-client.js'
import {providerExecutor} from '../executors/provider.js'
import {managerBase} from '../net.js'
import {errorMessage, remoteError} from '../errors.js'
import {warmUpPolicy} from '../policy/index.js'
import {Pipeline} from '../run/pipeline.js'
import {applyRunSettings, resolveRunSettings} from '../run/settings.js'
import type {PolicyMode, PolicySupport, RunOptions, SuiteTarget, TargetInfo} from './types.js'

// ------------------------------------------------------------------ engine

export interface EngineTargetOptions {
  config: SandboxConfig
  /** test-only weakening: 'runc' runs without gVisor */
  runtime?: 'runsc' | 'runc'
  /** test-only weakening: e.g. 'host' or 'bridge' */
  network?: string
  /** warm containers per language (default 2) */
  poolSize?: number
  onEvent?: (event: EngineEvent) => void
}

/** Start an engine (both languages) and wrap it as a target. Throws the engine's SandboxErrors (exit 3). */
export async function startEngineTarget(options: EngineTargetOptions): Promise<SuiteTarget> {
  const engine = new Engine({
    config: options.config,
    languages: ['python', 'nodejs'],
    poolSize: options.poolSize ?? 2,
    runtime: options.runtime,
    network: options.network,
    onEvent: options.onEvent,
  })
  try {
    // the policy's parsers load while the containers start, so the first case does not pay for them
    await Promise.all([engine.start(), options.config.codePolicy === 'off' ? undefined : warmUpPolicy().catch(() => {})])
  } catch (error) {
    await engine.stop().catch(() => {})
    throw error
  }
  const runtime = engine.status().runtime
  const weakened = [runtime === 'runc' ? 'NO gVisor' : undefined, options.network && options.network !== 'none' ? `network ${options.network}` : undefined].filter(Boolean)
  const info: TargetInfo = {
    kind: 'engine',
    label: `in-process engine (${runtime ?? 'unknown runtime'}${weakened.length ? `; WEAKENED: ${weakened.join(', ')}` : ''})`,
    runtime,
    policy: 'per-request',
    perRunTimeout: true,
  }
  return pipelineTarget(new Pipeline(poolExecutor(engine, {owned: true}), {timeoutSeconds: options.config.timeoutSeconds, policy: options.config.codePolicy}), info)
}

/** A pipeline (limits, policy gate, executor) as a suite target. */
export function pipelineTarget(pipeline: Pipeline, info: TargetInfo | (() => TargetInfo)): SuiteTarget {
  return {
    info: typeof info === 'function' ? info : () => info,
    run: (language, code, args, opts) => pipeline.run({language, code, arguments: args, timeoutSeconds: opts?.timeoutSeconds, policy: opts?.policy}),
    close: () => pipeline.close(),
  }
}

// ------------------------------------------------------------------ any runner (providers)

/** The smallest thing a provider adapter has to offer. */
export interface SimpleRunner {
  run(language: Language, code: string, args: Record<string, unknown>, options?: RunOptions): Promise<RunResult>
  close?(): Promise<void>
}

export function targetFromRunner(runner: SimpleRunner, info: Partial<TargetInfo> & {label: string}): SuiteTarget {
  const full: TargetInfo = {kind: 'provider', runtime: null, policy: 'on', perRunTimeout: false, ...info}
  return {info: () => full, run: (l, c, a, o) => runner.run(l, c, a, o), close: async () => runner.close?.()}
}

// ------------------------------------------------------------------ providers

export interface ProviderTargetOptions {
  /** provider id or alias (docker, self_managed, aliyun_codeinterpreter, e2b) */
  provider: string
  /** settings database (default: SANDBOX_DB_URL / the toolkit's SQLite) */
  db?: string
  config: SandboxConfig
  onEvent?: (event: EngineEvent) => void
}

/**
 * A provider from the registry, configured from the settings database. `docker` is the
 * in-process engine (warm pool). Other providers run RAGFlow's lifecycle per run (create,
 * execute, destroy); the code policy is applied here, before the code leaves this process,
 * as `sandbox run --provider` does — a remote side may add its own (detected with two probes).
 */
export async function startProviderTarget(options: ProviderTargetOptions): Promise<SuiteTarget> {
  const {selectProvider} = await import('../providers/settings.js')
  const selection = await selectProvider({provider: options.provider, db: options.db})
  if (selection.definition.id === 'docker') {
    // this host's engine, with the stored docker limits where no flag or variable set one (as `sandbox run`)
    const config = applyRunSettings(options.config, resolveRunSettings(options.config, selection.config))
    return startEngineTarget({config, onEvent: options.onEvent})
  }
  const onEvent = options.onEvent
  const executor = providerExecutor(selection.definition.create(selection.config, {sandboxConfig: options.config, onEvent: onEvent ? (e) => onEvent({...e}) : undefined}))
  const pipeline = new Pipeline(executor, {timeoutSeconds: options.config.timeoutSeconds, policy: options.config.codePolicy})
  let policy: PolicySupport
  try {
    policy = await detectPolicySupport((mode) => pipeline.run({language: 'python', code: POLICY_PROBE, arguments: {}, policy: mode}))
  } catch (error) {
    await pipeline.close().catch(() => {})
    throw error
  }
  const runtime = executor.runtimeLabel()
  return pipelineTarget(pipeline, {kind: 'provider', label: `provider ${selection.definition.id} (${runtime})`, runtime, policy, perRunTimeout: true})
}

// ------------------------------------------------------------------ endpoint

export interface EndpointTargetOptions {
  /** base URL of a manager (http://127.0.0.1:9385) or its /run URL */
  url: string
  token?: string
  /** per request; default 120 s */
  requestTimeoutMs?: number
}

export function endpointUrls(url: string): {base: string; run: string; health: string} {
  const base = managerBase(url)
  return {base, run: `${base}/run`, health: `${base}/healthz`}
}

/** A /run response body as a RunResult (the one parser, manager-client.ts); a body that is none becomes an internal error. */
export function parseRunResponse(body: unknown): RunResult {
  try {
    return parseRunAnswer(body)
  } catch {
    return runnerError(EXIT.INTERNAL_ERROR, `unexpected response body: ${String(JSON.stringify(body)).slice(0, 200)}`, 'bad_response')
  }
}

class EndpointTarget implements SuiteTarget {
  private policySupport: PolicySupport = 'on'
  private readonly urls: ReturnType<typeof endpointUrls>
  private readonly client: ManagerClient
  private readonly pipeline: Pipeline
  private readonly executor: ManagerExecutor

  constructor(private readonly options: EndpointTargetOptions) {
    this.urls = endpointUrls(options.url)
    this.client = new ManagerClient({url: this.urls.base, token: options.token, timeoutSeconds: (options.requestTimeoutMs ?? 120_000) / 1000, maxRetries: 0})
    this.executor = new ManagerExecutor(this.client)
    // the manager applies its own limits and policy: the pipeline checks the code size, and a
    // policy is forwarded only when this target names one (a manager known to honour it)
    this.pipeline = new Pipeline(this.executor, {timeoutSeconds: 0})
  }

  info(): TargetInfo {
    return {kind: 'endpoint', label: this.urls.base, runtime: null, policy: this.policySupport, perRunTimeout: false}
  }

  /** POST /run; throws only for authentication problems, everything else becomes a RunResult. */
  async post(language: Language, code: string, args: Record<string, unknown>, policy?: PolicyMode): Promise<RunResult> {
    try {
      return await this.pipeline.run({language, code, arguments: args, policy})
    } catch (error) {
      if (!(error instanceof ManagerError)) throw error
      const status = error.answer?.status
      if (status === 403 && policy && isPolicyRefusal(error.answer!.body)) throw new PolicyOverrideRefused()
      if (error.code === 'MANAGER_UNAUTHORIZED') {
        throw remoteError(`The manager at ${this.urls.base} refused the request (HTTP ${status})`, 'ENDPOINT_UNAUTHORIZED', [
          this.options.token ? 'check the token (--token or SANDBOX_API_TOKEN)' : "pass the manager's token with --token (or SANDBOX_API_TOKEN)",
        ])
      }
      if (status !== undefined && status !== 200) return runnerError(EXIT.INTERNAL_ERROR, `HTTP ${status}: ${error.answer!.body.slice(0, 500)}`, `http_${status}`)
      if (error.code === 'MANAGER_BAD_RESPONSE') return runnerError(EXIT.INTERNAL_ERROR, error.message, 'bad_response')
      return runnerError(EXIT.INTERNAL_ERROR, `request to ${this.urls.run} failed: ${errorMessage(error)}`, 'request_failed')
    }
  }

  run(language: Language, code: string, args: Record<string, unknown>, options?: RunOptions): Promise<RunResult> {
    return this.post(language, code, args, this.policySupport === 'per-request' ? options?.policy : undefined)
  }

  /**
   * Reachability, then which policy modes the manager offers (two tiny probes). A manager
   * started with --allow-policy-override honours the `policy` field (per-request: every case
   * runs); one without refuses the field (403), and its fixed policy is probed without it.
   */
  async connect(): Promise<void> {
    const health = await this.client.health(10_000)
    if (!health.reachable) {
      throw remoteError(`Cannot reach the manager at ${this.urls.base}: ${health.error}`, 'ENDPOINT_UNREACHABLE', [
        'start it with `sandbox start`',
        'check the address and port (--endpoint)',
      ])
    }
    try {
      this.policySupport = await detectPolicySupport((policy) => this.post('python', POLICY_PROBE, {}, policy))
    } catch (error) {
      if (!(error instanceof PolicyOverrideRefused)) throw error
      const fixed = await this.post('python', POLICY_PROBE, {})
      this.policySupport = detectFixedPolicy(fixed)
    }
  }

  async close(): Promise<void> {}
}

/** The manager refused the `policy` field itself (it was not started with --allow-policy-override). */
class PolicyOverrideRefused extends Error {
  constructor() {
    super('the manager does not accept a per-request policy')
  }
}

function isPolicyRefusal(text: string): boolean {
  try {
    return (JSON.parse(text) as {field?: unknown}).field === 'policy'
  } catch {
    return false
  }
}

/** The fixed policy of a manager, from the probe sent without a policy field. */
export function detectFixedPolicy(r: RunResult): PolicySupport {
  if (r.exit_code === EXIT.UNSAFE_CODE) return 'on'
  if (r.status === 'success') return 'off'
  throw remoteError(`The target cannot run a trivial program: ${r.status} (${r.exit_code}) ${r.stderr.slice(0, 300)}`, 'ENDPOINT_NOT_READY', [
    'check `sandbox status` and the manager log (`sandbox logs`)',
  ])
}

/** Refused by every policy level but off (ragflow and standard both refuse subprocess), harmless when it runs. */
export const POLICY_PROBE = 'import subprocess\n\ndef main():\n    return subprocess.__name__\n'

/**
 * Ask twice, once per mode: a manager that honours a per-request policy answers differently;
 * one that does not shows its fixed mode. Throws when the probe cannot run at all.
 */
export async function detectPolicySupport(run: (policy: PolicyMode) => Promise<RunResult>): Promise<PolicySupport> {
  const off = await run('off')
  const on = await run('on')
  const refused = (r: RunResult) => r.exit_code === EXIT.UNSAFE_CODE
  const ran = (r: RunResult) => r.status === 'success'
  for (const r of [off, on]) {
    if (!refused(r) && !ran(r)) {
      throw remoteError(`The target cannot run a trivial program: ${r.status} (${r.exit_code}) ${r.stderr.slice(0, 300)}`, 'ENDPOINT_NOT_READY', [
        'check `sandbox status` and the manager log (`sandbox logs`)',
      ])
    }
  }
  if (ran(off) && refused(on)) return 'per-request'
  if (ran(off) && ran(on)) return 'off'
  return 'on'
}

export async function connectEndpoint(options: EndpointTargetOptions): Promise<SuiteTarget> {
  const target = new EndpointTarget(options)
  await target.connect()
  return target
}
