/**
 * The provider executor: RAGFlow's lifecycle for a configured provider (self_managed,
 * aliyun_codeinterpreter, e2b, local…) — create an instance, execute, destroy it. The code
 * leaves this process only after the pipeline's gate has let it through. An instance is
 * destroyed after its run without delaying the answer; close() waits for those and releases
 * the provider.
 */
import type {RunResult} from '../engine/result.js'
import type {SandboxProvider} from '../providers/types.js'
import type {Executor, GatedRequest} from '../run/executor.js'

/** how long an aborted run may take to clean up before it is abandoned */
const ABANDON_AFTER_MS = 15_000

/** Rejects with the signal's reason when it aborts (never resolves otherwise). */
function aborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    if (!signal) return
    if (signal.aborted) reject(signal.reason)
    else signal.addEventListener('abort', () => reject(signal.reason), {once: true})
  })
}

class ProviderExecutor implements Executor {
  readonly gate = 'here' as const
  private readonly destroying = new Set<Promise<unknown>>()
  private closed: Promise<void> | undefined

  constructor(readonly provider: SandboxProvider) {}

  async run(request: GatedRequest): Promise<RunResult> {
    request.signal?.throwIfAborted()
    const refused = await request.verdict
    if (refused) return refused
    const {provider} = this
    const instance = await provider.createInstance(request.language)
    let execution: Promise<RunResult> | undefined
    try {
      request.signal?.throwIfAborted()
      execution = provider.executeCode(instance, {
        code: request.code,
        language: request.language,
        arguments: request.arguments ?? undefined,
        timeoutSeconds: request.timeoutSeconds,
        policy: request.policy,
        onOutput: request.onOutput,
        signal: request.signal,
      })
      const abort = aborted(request.signal)
      abort.catch(() => {})
      return await Promise.race([execution, abort])
    } catch (error) {
      if (execution && request.signal?.aborted) {
        // a provider that watches the signal stops what it started and then settles; one that
        // does not is abandoned after a while. The instance is destroyed either way.
        let timer: NodeJS.Timeout | undefined
        await Promise.race([execution.catch(() => {}), new Promise((r) => (timer = setTimeout(r, ABANDON_AFTER_MS)))]).finally(() => clearTimeout(timer))
      }
      throw error
    } finally {
      const destroy = provider.destroyInstance(instance).catch(() => false)
      this.destroying.add(destroy)
      void destroy.finally(() => this.destroying.delete(destroy))
    }
  }

  runtimeLabel(): string {
    return this.provider.runtimeLabel()
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await Promise.allSettled([...this.destroying])
      await this.provider.close()
    })()
    return this.closed
  }
}

export function providerExecutor(provider: SandboxProvider): Executor & {provider: SandboxProvider} {
  return new ProviderExecutor(provider)
}
