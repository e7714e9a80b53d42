/** One run on a fresh engine (used by `sandbox run` with the docker provider). */
import type {SandboxConfig} from '../config.js'
import type {PolicyMode} from '../policy/types.js'
import {policyRefusal} from './policy-gate.js'
import {Engine, type EngineEvent, type RunRequest} from './engine.js'
import type {Language} from './languages.js'
import type {RunResult} from './result.js'

export interface OneShotRequest {
  config: SandboxConfig
  language: Language
  code: string
  arguments?: Record<string, unknown>
  timeoutSeconds?: number
  policy?: PolicyMode
  onEvent?: (e: EngineEvent) => void
  /** the user's output as it arrives (see RunRequest.onOutput) */
  onOutput?: RunRequest['onOutput']
  /**
   * aborting stops the engine at once: the container is removed, the run returns what it has
   * (or rejects with the reason when it had not started), and nothing of the engine is left
   */
  signal?: AbortSignal
}

export interface OneShotRun {
  result: RunResult
  runtime: 'runsc' | 'runc' | null
  /** removes the container; call after showing the result */
  dispose: () => Promise<void>
}

export async function runOneShot(request: OneShotRequest): Promise<OneShotRun> {
  const {signal} = request
  signal?.throwIfAborted()
  const engine = new Engine({config: request.config, languages: [request.language], poolSize: 0, autoRemove: true, onEvent: request.onEvent})
  let stopping: Promise<void> | undefined
  const stop = () => (stopping ??= engine.stop(0))
  let started = false
  const onAbort = () => {
    // before start() has finished, the engine has no pool yet: stopped right after it
    if (started) void stop()
  }
  signal?.addEventListener('abort', onAbort, {once: true})
  try {
    // the policy looks at the code while the engine checks the daemon and the images; code it
    // refuses never gets a container (a refusal changes nothing)
    const verdict = policyRefusal(request.code, request.language, request.policy ?? request.config.codePolicy)
    verdict.catch(() => {})
    await engine.start({waitReady: false})
    started = true
    signal?.throwIfAborted()
    const refused = await verdict
    if (refused) {
      await engine.stop(0)
      return {result: refused, runtime: engine.status().runtime, dispose: async () => {}}
    }
    const result = await engine.run({
      language: request.language,
      code: request.code,
      arguments: request.arguments,
      timeoutSeconds: request.timeoutSeconds,
      // checked above
      policy: 'off',
      onOutput: request.onOutput,
    })
    if (stopping) await stopping
    return {result, runtime: engine.status().runtime, dispose: () => (stopping ? stopping : engine.stop())}
  } catch (error) {
    await (stopping ?? engine.stop(0)).catch(() => {})
    throw error
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
}
