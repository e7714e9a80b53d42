/**
 * The admin API's run dependency until the pipeline's executor lands: one run through a
 * provider's lifecycle (src/providers/execute.ts runWithProvider: policy, create, execute,
 * destroy). The manager can pass its own executor instead; this adapter is the only place
 * that knows how a provider is built from a config.
 */
import type {SandboxConfig} from '../config.js'
import type {RunResult} from '../engine/result.js'
import {runWithProvider} from '../providers/execute.js'
import type {ProviderEvent} from '../providers/types.js'
import type {AdminRun, AdminRunRequest} from './service.js'

export function providerRun(sandboxConfig: SandboxConfig, options: {onEvent?: (event: ProviderEvent) => void; allowUnsandboxed?: boolean} = {}): AdminRun {
  return async (request: AdminRunRequest): Promise<RunResult> => {
    const provider = request.provider.create(request.config, {sandboxConfig, onEvent: options.onEvent, allowUnsandboxed: options.allowUnsandboxed})
    const run = await runWithProvider(provider, {
      code: request.code,
      language: request.language,
      arguments: request.arguments,
      timeoutSeconds: request.timeoutSeconds,
      policy: sandboxConfig.codePolicy,
    })
    // the answer waits for cleanup here: an admin request is rare, and nothing may outlive it
    await run.dispose()
    return run.result
  }
}
