/**
 * The programmatic API: run code from a Node.js program through this host's engine
 * (`Sandbox.local()`: gVisor containers, a warm pool) or through a running manager
 * (`Sandbox.connect(url)`), with the same call and the same result. Both go through the run
 * pipeline that `sandbox run`, POST /run and `sandbox test` use (limits, the policy gate).
 *
 *   const sandbox = await Sandbox.local()
 *   const r = await sandbox.run({language: 'python', code: 'def main(x):\n    return x * 2\n', arguments: {x: 21}})
 *   r.result?.value // 42
 *   await sandbox.close()
 */
import {loadConfig, type SandboxConfig} from './config.js'
import {Engine, type EngineEvent} from './engine/engine.js'
import type {RunResult} from './engine/result.js'
import {SandboxError} from './errors.js'
import {poolExecutor, oneShotExecutor} from './executors/local.js'
import {ManagerClient, ManagerExecutor} from './executors/manager-client.js'
import {LANGUAGE_IDS, requireLanguage, type Language} from './languages/index.js'
import {POLICY_MODES, type PolicyMode} from './policy/types.js'
import type {Executor} from './run/executor.js'
import {Pipeline} from './run/pipeline.js'
import type {OutputListener} from './run/request.js'

export interface SandboxRunRequest {
  /** python, nodejs (javascript), typescript, or an alias of them */
  language: string
  /** source that defines main: Python main(**arguments), JavaScript/TypeScript main(arguments) */
  code: string
  arguments?: Record<string, unknown>
  /** wall-clock limit in seconds (default: the sandbox's) */
  timeoutSeconds?: number
  /** stdout and stderr as they arrive (the local engine streams; a manager delivers them in the result only) */
  onOutput?: OutputListener
  /** abort to stop the run: locally its container is killed; the run then rejects with the signal's reason */
  signal?: AbortSignal
}

export interface LocalSandboxOptions {
  /** warm containers per language (default SANDBOX_EXECUTOR_MANAGER_POOL_SIZE, 2); 0: a fresh container per run, started on demand */
  poolSize?: number
  /** the languages to keep warm (default all) */
  languages?: Language[]
  /** default wall-clock limit per run, seconds (default SANDBOX_TIMEOUT, 10) */
  timeoutSeconds?: number
  /** memory limit per run, e.g. '256m' (default SANDBOX_MAX_MEMORY) */
  memory?: string
  /** the static code policy (default SANDBOX_CODE_POLICY, ragflow) */
  policy?: PolicyMode
  /** run under runc when runsc is missing: WEAKER isolation (default false) */
  allowRunc?: boolean
  /** a .env file to read settings from (default ./.env when present) */
  envFile?: string
  /** the engine's events (container starts, warnings) */
  onEvent?: (event: EngineEvent) => void
}

export interface ConnectOptions {
  /** the manager's SANDBOX_API_TOKEN, when it has one */
  token?: string
  /** default wall-clock limit per run, seconds (the manager applies its own at most) */
  timeoutSeconds?: number
}

export class Sandbox {
  private closed = false

  private constructor(
    private readonly pipeline: Pipeline,
    /** where runs go: 'local' (this host's engine) or the manager's URL */
    readonly target: string,
  ) {}

  /** An engine on this host (Docker + gVisor, as `sandbox setup` prepares it), its warm pool started. */
  static async local(options: LocalSandboxOptions = {}): Promise<Sandbox> {
    if (options.policy !== undefined && !POLICY_MODES.includes(options.policy)) {
      throw new SandboxError(`Unknown policy "${options.policy}": use ${POLICY_MODES.join(', ')}`, {code: 'INVALID_POLICY', exit: 2})
    }
    const config: SandboxConfig = loadConfig({
      envFile: options.envFile,
      overrides: {timeoutSeconds: options.timeoutSeconds, memory: options.memory, codePolicy: options.policy, allowRunc: options.allowRunc},
    })
    const poolSize = options.poolSize ?? config.poolSize
    let executor: Executor
    if (poolSize === 0) executor = oneShotExecutor({config, onEvent: options.onEvent})
    else {
      const engine = new Engine({config, poolSize, languages: options.languages ?? LANGUAGE_IDS, onEvent: options.onEvent})
      await engine.start()
      executor = poolExecutor(engine, {owned: true})
    }
    return new Sandbox(new Pipeline(executor, {timeoutSeconds: config.timeoutSeconds, policy: config.codePolicy}), 'local')
  }

  /** A running manager (`sandbox start`, or RAGFlow's sandbox-executor-manager speaking the same API). */
  static connect(url: string, options: ConnectOptions = {}): Sandbox {
    const client = new ManagerClient({url, token: options.token, timeoutSeconds: options.timeoutSeconds})
    return new Sandbox(new Pipeline(new ManagerExecutor(client), {timeoutSeconds: options.timeoutSeconds ?? 30}), client.endpoint)
  }

  /**
   * Run code. A program that fails or hits a limit is a result (status, exit_code, stdout,
   * stderr); a sandbox that cannot run it throws a SandboxError (its `code` says why).
   */
  async run(request: SandboxRunRequest): Promise<RunResult> {
    if (this.closed) throw new SandboxError('This sandbox is closed', {code: 'SANDBOX_CLOSED', exit: 2})
    const {signal} = request
    signal?.throwIfAborted()
    const running = this.pipeline.run({
      language: requireLanguage(request.language),
      code: request.code,
      arguments: request.arguments,
      timeoutSeconds: request.timeoutSeconds,
      onOutput: request.onOutput,
      signal,
    })
    if (!signal) return running
    // a remote run cannot be recalled: it is abandoned (the manager still applies its limits)
    const aborted = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), {once: true}))
    aborted.catch(() => {})
    const result = await Promise.race([running, aborted])
    signal.throwIfAborted()
    return result
  }

  /** Stop the engine and remove its containers (local), or forget the manager (remote). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.pipeline.close()
  }
}
