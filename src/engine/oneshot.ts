/** One run on a fresh engine (used by `sandbox run` with the docker provider). */
import type {SandboxConfig} from '../config.js'
import type {PolicyMode} from '../policy/types.js'
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
}

export interface OneShotRun {
  result: RunResult
  runtime: 'runsc' | 'runc' | null
  /** removes the container; call after showing the result */
  dispose: () => Promise<void>
}

export async function runOneShot(request: OneShotRequest): Promise<OneShotRun> {
  const engine = new Engine({config: request.config, languages: [request.language], poolSize: 0, autoRemove: true, onEvent: request.onEvent})
  try {
    await engine.start({waitReady: false})
    const result = await engine.run({
      language: request.language,
      code: request.code,
      arguments: request.arguments,
      timeoutSeconds: request.timeoutSeconds,
      policy: request.policy,
      onOutput: request.onOutput,
    })
    return {result, runtime: engine.status().runtime, dispose: () => engine.stop()}
  } catch (error) {
    await engine.stop().catch(() => {})
    throw error
  }
}
