/**
 * One run through a provider, RAGFlow's lifecycle: policy check, create instance, execute,
 * destroy (always). The caller shows the result first and then calls dispose(), so cleanup
 * (container removal, remote sandbox deletion) does not delay the answer.
 */
import type {RunResult} from '../engine/result.js'
import type {PolicyMode} from '../policy/types.js'
import {policyRefusal} from '../engine/policy-gate.js'
import type {ExecuteRequest, ProviderId, SandboxProvider} from './types.js'

export interface ProviderRun {
  result: RunResult
  provider: ProviderId
  runtime: string
  /** whether stdout/stderr reached request.onOutput while the code ran (else they are only in the result) */
  streamed: boolean
  dispose(): Promise<void>
}

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

export async function runWithProvider(provider: SandboxProvider, request: ExecuteRequest & {policy: PolicyMode}): Promise<ProviderRun> {
  request.signal?.throwIfAborted()
  let streamed = false
  const onOutput = request.onOutput
  const tracked: ExecuteRequest = {
    ...request,
    onOutput: onOutput
      ? (stream, chunk) => {
          streamed = true
          onOutput(stream, chunk)
        }
      : undefined,
  }
  // the docker provider's engine applies the policy itself; every other provider checks here,
  // before the code leaves this process
  if (provider.id !== 'docker') {
    const refused = await policyRefusal(request.code, request.language, request.policy)
    if (refused) return {result: refused, provider: provider.id, runtime: provider.runtimeLabel(), streamed: false, dispose: () => provider.close()}
  }
  const instance = await provider.createInstance(request.language)
  let result: RunResult
  let execution: Promise<RunResult> | undefined
  try {
    request.signal?.throwIfAborted()
    execution = provider.executeCode(instance, tracked)
    const abort = aborted(request.signal)
    abort.catch(() => {})
    result = await Promise.race([execution, abort])
  } catch (error) {
    if (execution && request.signal?.aborted) {
      // a provider that watches the signal (docker) stops what it started and then settles; one
      // that does not is abandoned after a while. The instance is destroyed either way.
      let timer: NodeJS.Timeout | undefined
      await Promise.race([execution.catch(() => {}), new Promise((r) => (timer = setTimeout(r, ABANDON_AFTER_MS)))]).finally(() => clearTimeout(timer))
    }
    await provider.destroyInstance(instance)
    await provider.close()
    throw error
  }
  let disposed = false
  return {
    result,
    provider: provider.id,
    runtime: provider.runtimeLabel(),
    streamed,
    async dispose() {
      if (disposed) return
      disposed = true
      await provider.destroyInstance(instance)
      await provider.close()
    },
  }
}

/**
 * `sandbox run`'s path: pick the provider (--provider, else the active one in the settings
 * database, else docker), build it, run the code through the lifecycle.
 * timeoutSeconds: an explicit limit (flag); without one the docker or local provider's configured
 * timeout applies, else the toolkit's SANDBOX_TIMEOUT.
 */
export async function runSelected(options: {
  provider?: string
  db?: string
  sandboxConfig: import('../config.js').SandboxConfig
  language: import('../engine/languages.js').Language
  code: string
  arguments?: Record<string, unknown>
  timeoutSeconds?: number
  /** sandboxConfig.memory came from a flag and beats the docker provider's stored memory */
  explicitMemory?: boolean
  onEvent?: import('./types.js').ProviderContext['onEvent']
  onOutput?: ExecuteRequest['onOutput']
  signal?: AbortSignal
  /** the user opted in to the unsandboxed local provider (`--allow-unsandboxed`) */
  allowUnsandboxed?: boolean
}): Promise<ProviderRun & {source: 'flag' | 'settings' | 'default'}> {
  const {selectProvider} = await import('./settings.js')
  const selection = await selectProvider({provider: options.provider, db: options.db, allowUnsandboxed: options.allowUnsandboxed})
  options.signal?.throwIfAborted()
  const provider = selection.definition.create(selection.config, {
    sandboxConfig: options.sandboxConfig,
    explicitMemory: options.explicitMemory,
    onEvent: options.onEvent,
    allowUnsandboxed: options.allowUnsandboxed,
  })
  // the provider's own timeout setting is the default of a run on this host (docker, local)
  const local = selection.definition.id === 'docker' || selection.definition.id === 'local'
  const configured = local && typeof selection.config.timeout === 'number' ? selection.config.timeout : undefined
  const run = await runWithProvider(provider, {
    code: options.code,
    language: options.language,
    arguments: options.arguments,
    timeoutSeconds: options.timeoutSeconds ?? configured ?? options.sandboxConfig.timeoutSeconds,
    policy: options.sandboxConfig.codePolicy,
    onOutput: options.onOutput,
    signal: options.signal,
  })
  return {...run, source: selection.source}
}
