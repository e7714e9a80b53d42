/**
 * The local executor: the engine on this host (gVisor containers through the Docker daemon).
 * - oneShotExecutor: `sandbox run` — an Engine with a pool of zero and auto-removed containers,
 *   started per run while the policy gate looks at the code; close() removes what is left.
 * - poolExecutor: the manager and `sandbox test` — an Engine with its warm pools, owned by the
 *   caller (who starts it) unless `owned`.
 */
import type {SandboxConfig} from '../config.js'
import {parseMemory} from '../config.js'
import {Engine, type EngineEvent, type RunRequest as EngineRunRequest} from '../engine/engine.js'
import type {RunResult} from '../engine/result.js'
import {configError} from '../errors.js'
import type {Executor, GatedRequest} from '../run/executor.js'

export function runtimeLabel(runtime: 'runsc' | 'runc' | null): string {
  return runtime === 'runc' ? 'runtime runc (NO gVisor)' : runtime ? 'gVisor' : 'docker'
}

/** what the engine gets of a gated request (the verdict, not the policy: the gate is the pipeline's) */
function engineRequest(r: GatedRequest): EngineRunRequest {
  return {language: r.language, code: r.code, arguments: r.arguments, timeoutSeconds: r.timeoutSeconds, verdict: r.verdict, onOutput: r.onOutput, signal: r.signal}
}

export interface OneShotOptions {
  config: SandboxConfig
  onEvent?: (event: EngineEvent) => void
}

class OneShotExecutor implements Executor {
  readonly gate = 'here' as const
  private runtime: 'runsc' | 'runc' | null = null
  /** engines of runs not yet closed, and their stop in progress */
  private readonly engines = new Map<Engine, Promise<void> | undefined>()

  constructor(private readonly options: OneShotOptions) {}

  private stop(engine: Engine, deadlineMs?: number): Promise<void> {
    let stopping = this.engines.get(engine)
    if (!stopping) this.engines.set(engine, (stopping = engine.stop(deadlineMs)))
    return stopping
  }

  async run(request: GatedRequest): Promise<RunResult> {
    const {signal} = request
    signal?.throwIfAborted()
    const memory = request.memory ?? this.options.config.memory
    const config = memory === this.options.config.memory ? this.options.config : {...this.options.config, memory, memoryBytes: parseMemory(memory, 'memory')}
    const engine = new Engine({config, languages: [request.language], poolSize: 0, autoRemove: true, onEvent: this.options.onEvent})
    this.engines.set(engine, undefined)
    let started = false
    // aborting stops the engine at once: the container is removed, the run returns what it has
    // (or rejects with the reason when it had not started); before start() has finished the
    // engine has no pool yet: it is stopped right after
    const onAbort = () => {
      if (started) void this.stop(engine, 0)
    }
    signal?.addEventListener('abort', onAbort, {once: true})
    try {
      // the gate's verdict is being reached while the engine checks the daemon and the images;
      // code it refuses never gets a container (a refusal changes nothing)
      await engine.start({waitReady: false})
      started = true
      this.runtime = engine.status().runtime
      signal?.throwIfAborted()
      const refused = await request.verdict
      if (refused) {
        await this.stop(engine, 0)
        return refused
      }
      const result = await engine.run(engineRequest(request))
      const stopping = this.engines.get(engine)
      if (stopping) await stopping
      return result
    } catch (error) {
      await this.stop(engine, 0).catch(() => {})
      throw error
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  runtimeLabel(): string {
    return runtimeLabel(this.runtime)
  }

  /** removes the runs' containers; call after showing the result */
  async close(): Promise<void> {
    await Promise.all([...this.engines.keys()].map((e) => this.stop(e)))
  }
}

export function oneShotExecutor(options: OneShotOptions): Executor {
  return new OneShotExecutor(options)
}

class PoolExecutor implements Executor {
  readonly gate = 'here' as const

  constructor(
    readonly engine: Engine,
    private readonly owned: boolean,
  ) {}

  async run(request: GatedRequest): Promise<RunResult> {
    // a warm container was built with the engine's memory limit: never run under another one silently
    if (request.memory !== undefined && parseMemory(request.memory, 'memory') !== this.engine.config.memoryBytes) {
      throw configError(`This engine's containers have the memory limit ${this.engine.config.memory}; a run cannot ask for ${request.memory}`, 'MEMORY_NOT_SUPPORTED')
    }
    return this.engine.run(engineRequest(request))
  }

  runtimeLabel(): string {
    return runtimeLabel(this.engine.status().runtime)
  }

  async close(): Promise<void> {
    if (this.owned) await this.engine.stop()
  }
}

/** An engine with warm pools as an executor; `owned`: close() stops it (else its owner does). */
export function poolExecutor(engine: Engine, options: {owned?: boolean} = {}): Executor & {engine: Engine} {
  return new PoolExecutor(engine, options.owned ?? false)
}
