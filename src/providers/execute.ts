/**
 * One run through a provider, RAGFlow's lifecycle: policy check, create instance, execute,
 * destroy (always). The caller shows the result first and then calls dispose(), so cleanup
 * (container removal, remote sandbox deletion) does not delay the answer.
 */
import type {RunResult} from '../engine/result.js'
import type {PolicyMode} from '../policy/types.js'
import {policyRefusal} from './policy.js'
import type {ExecuteRequest, ProviderId, SandboxProvider} from './types.js'

export interface ProviderRun {
  result: RunResult
  provider: ProviderId
  runtime: string
  dispose(): Promise<void>
}

export async function runWithProvider(provider: SandboxProvider, request: ExecuteRequest & {policy: PolicyMode}): Promise<ProviderRun> {
  // the docker provider's engine applies the policy itself; every other provider checks here,
  // before the code leaves this process
  if (provider.id !== 'docker') {
    const refused = await policyRefusal(request.code, request.language, request.policy)
    if (refused) return {result: refused, provider: provider.id, runtime: provider.runtimeLabel(), dispose: () => provider.close()}
  }
  const instance = await provider.createInstance(request.language)
  let result: RunResult
  try {
    result = await provider.executeCode(instance, request)
  } catch (error) {
    await provider.destroyInstance(instance)
    await provider.close()
    throw error
  }
  let disposed = false
  return {
    result,
    provider: provider.id,
    runtime: provider.runtimeLabel(),
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
  /** the user opted in to the unsandboxed local provider (`--allow-unsandboxed`) */
  allowUnsandboxed?: boolean
}): Promise<ProviderRun & {source: 'flag' | 'settings' | 'default'}> {
  const {selectProvider} = await import('./settings.js')
  const selection = await selectProvider({provider: options.provider, db: options.db, allowUnsandboxed: options.allowUnsandboxed})
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
  })
  return {...run, source: selection.source}
}
