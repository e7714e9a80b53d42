/**
 * The admin API's run dependency: one run of the request's provider and settings through the run
 * pipeline (src/providers/execute.ts: the provider's executor — docker: this host's engine; the
 * others: RAGFlow's lifecycle — behind the one policy gate). The answer waits for cleanup: an
 * admin request is rare, and nothing may outlive it.
 */
import type {SandboxConfig} from '../config.js'
import type {RunResult} from '../engine/result.js'
import {openExecutor, runOnExecutor} from '../providers/execute.js'
import type {ProviderEvent} from '../providers/types.js'
import type {AdminRun, AdminRunRequest} from './service.js'

export function providerRun(sandboxConfig: SandboxConfig, options: {onEvent?: (event: ProviderEvent) => void; allowUnsandboxed?: boolean} = {}): AdminRun {
  return async (request: AdminRunRequest): Promise<RunResult> => {
    const executor = openExecutor(request.provider, request.config, {sandboxConfig, onEvent: options.onEvent, allowUnsandboxed: options.allowUnsandboxed})
    const run = await runOnExecutor(executor, request.provider.id, {
      code: request.code,
      language: request.language,
      arguments: request.arguments,
      timeoutSeconds: request.timeoutSeconds,
      policy: sandboxConfig.codePolicy,
    })
    await run.dispose()
    return run.result
  }
}
