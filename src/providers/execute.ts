/**
 * The run service behind `sandbox run` and `configure --test`: pick the provider, resolve the
 * run settings (src/run/settings.ts), open its executor (docker: the local engine; the others:
 * RAGFlow's provider lifecycle) and run the request through the pipeline (limits, policy gate).
 * The caller shows the result first and then calls dispose(), so cleanup (container removal,
 * remote sandbox deletion) does not delay the answer.
 */
import type {SandboxConfig} from '../config.js'
import type {Language} from '../engine/languages.js'
import type {RunResult} from '../engine/result.js'
import {configError, prerequisiteError} from '../errors.js'
import {oneShotExecutor} from '../executors/local.js'
import {ManagerClient, ManagerExecutor} from '../executors/manager-client.js'
import {providerExecutor} from '../executors/provider.js'
import type {PolicyMode} from '../policy/types.js'
import type {Executor} from '../run/executor.js'
import {Pipeline} from '../run/pipeline.js'
import type {OutputListener} from '../run/request.js'
import {applyRunSettings, resolveRunSettings, type RunSettings} from '../run/settings.js'
import type {ExecuteRequest, ProviderConfig, ProviderContext, ProviderDefinition, ProviderId, SandboxProvider} from './types.js'

export interface ProviderRun {
  result: RunResult
  provider: ProviderId
  runtime: string
  /** whether stdout/stderr reached request.onOutput while the code ran (else they are only in the result) */
  streamed: boolean
  dispose(): Promise<void>
}

/** The executor of a provider: docker runs on this host's engine (one-shot), the others through their lifecycle. */
export function openExecutor(definition: ProviderDefinition, config: ProviderConfig, context: ProviderContext): Executor {
  if (definition.id === 'docker') {
    const {onEvent} = context
    return oneShotExecutor({config: context.sandboxConfig, onEvent: onEvent ? (e) => onEvent({...e}) : undefined})
  }
  return providerExecutor(definition.create(config, context))
}

/** One request through the pipeline on an executor; dispose() closes the executor. */
export async function runOnExecutor(
  executor: Executor,
  provider: ProviderId,
  request: {code: string; language: Language; arguments?: Record<string, unknown>; timeoutSeconds: number; policy?: PolicyMode; onOutput?: OutputListener; signal?: AbortSignal},
): Promise<ProviderRun> {
  let streamed = false
  const onOutput = request.onOutput
  const pipeline = new Pipeline(executor, {timeoutSeconds: request.timeoutSeconds, policy: request.policy})
  let disposed = false
  const dispose = async () => {
    if (disposed) return
    disposed = true
    await pipeline.close()
  }
  let result: RunResult
  try {
    result = await pipeline.run({
      ...request,
      onOutput: onOutput
        ? (stream, chunk) => {
            streamed = true
            onOutput(stream, chunk)
          }
        : undefined,
    })
  } catch (error) {
    await dispose().catch(() => {})
    throw error
  }
  return {result, provider, runtime: executor.runtimeLabel(), streamed, dispose}
}

/** RAGFlow's lifecycle on a provider object, through the pipeline (policy gate first). */
export function runWithProvider(provider: SandboxProvider, request: ExecuteRequest & {policy: PolicyMode}): Promise<ProviderRun> {
  return runOnExecutor(providerExecutor(provider), provider.id, request)
}

/** Where `sandbox run` runs docker-provider code: a new container of its own (engine), or the warm pool of this host's manager. */
export type RunVia = 'engine' | 'manager'

/** --via-manager, else SANDBOX_RUN_VIA (engine | manager), else engine */
export function runVia(flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): RunVia {
  if (flag) return 'manager'
  const value = env.SANDBOX_RUN_VIA?.trim().toLowerCase()
  if (!value || value === 'engine') return 'engine'
  if (value === 'manager') return 'manager'
  throw configError(`SANDBOX_RUN_VIA must be engine or manager, not ${JSON.stringify(env.SANDBOX_RUN_VIA)}`, 'INVALID_RUN_VIA')
}

const viaManagerProvider = (provider: string) =>
  configError(`--via-manager runs the code on this host's manager (the docker provider), but the provider is ${provider}`, 'VIA_MANAGER_PROVIDER', [
    'add --provider docker, or run without --via-manager',
  ])

/** The manager recorded in this host's state directory (`sandbox start`), as an executor. */
async function hostManagerExecutor(sandboxConfig: SandboxConfig): Promise<ManagerExecutor> {
  const {managerFiles, recordedManager} = await import('../server/state.js')
  const files = managerFiles()
  const recorded = recordedManager(files)
  const endpoint = recorded.state === 'running' || recorded.state === 'elsewhere' ? recorded.info?.endpoint : undefined
  if (!endpoint) {
    throw prerequisiteError(`No executor manager runs on this host (nothing recorded in ${files.dir})`, 'MANAGER_NOT_RUNNING', [
      'start one with `sandbox start` (its warm pool then answers `sandbox run --via-manager`)',
      'or run without --via-manager / SANDBOX_RUN_VIA=manager: a new container for this run',
    ])
  }
  return new ManagerExecutor(new ManagerClient({url: endpoint, token: sandboxConfig.apiToken, timeoutSeconds: sandboxConfig.timeoutSeconds + 30}))
}

/**
 * `sandbox run`'s path: pick the provider (--provider, else the active one in the settings
 * database, else docker), resolve the run settings (flag > environment > the stored docker or
 * local row > default), run the code through the pipeline.
 */
export async function runSelected(options: {
  provider?: string
  db?: string
  /** the toolkit's settings: flags already in (loadConfig's overrides) */
  sandboxConfig: SandboxConfig
  language: Language
  code: string
  arguments?: Record<string, unknown>
  onEvent?: ProviderContext['onEvent']
  onOutput?: OutputListener
  signal?: AbortSignal
  /** the user opted in to the unsandboxed local provider (`--allow-unsandboxed`) */
  allowUnsandboxed?: boolean
  /** docker provider: run through this host's running manager (its warm pool) instead of a new container */
  via?: RunVia
}): Promise<ProviderRun & {source: 'flag' | 'settings' | 'default'; settings: RunSettings; runsOnHost: boolean}> {
  const viaManager = options.via === 'manager'
  if (viaManager && options.provider !== undefined && options.provider !== 'docker') throw viaManagerProvider(options.provider)
  const {selectProvider} = await import('./settings.js')
  const selection = await selectProvider({provider: options.provider, db: options.db, allowUnsandboxed: options.allowUnsandboxed})
  options.signal?.throwIfAborted()
  // a provider that runs on this host reads its stored limits (docker: timeout, memory, allow_runc; local: timeout)
  const {runsOnHost} = selection.definition
  const settings = resolveRunSettings(options.sandboxConfig, runsOnHost ? selection.config : undefined)
  const sandboxConfig = applyRunSettings(options.sandboxConfig, settings)
  if (viaManager && selection.definition.id !== 'docker') throw viaManagerProvider(selection.definition.id)
  if (viaManager) {
    // RAGFlow's POST /run carries no limits: the manager's own apply, whatever this run was told
    const ignored = (['timeoutSeconds', 'memory'] as const).filter((k) => settings[k].source === 'flag').map((k) => (k === 'memory' ? '--memory' : '--timeout'))
    if (ignored.length)
      options.onEvent?.({
        level: 'warn',
        message: `warning: ${ignored.join(' and ')} ${ignored.length > 1 ? 'do' : 'does'} not reach the manager (--via-manager): it runs with the limits it was started with`,
      })
  }
  const executor = viaManager
    ? await hostManagerExecutor(sandboxConfig)
    : openExecutor(selection.definition, selection.config, {sandboxConfig, onEvent: options.onEvent, allowUnsandboxed: options.allowUnsandboxed})
  const run = await runOnExecutor(executor, selection.definition.id, {
    code: options.code,
    language: options.language,
    arguments: options.arguments,
    timeoutSeconds: settings.timeoutSeconds.value,
    // a manager applies its own policy; one named by a flag is forwarded (it honours it only when started to)
    policy: viaManager && settings.codePolicy.source !== 'flag' ? undefined : settings.codePolicy.value,
    onOutput: options.onOutput,
    signal: options.signal,
  })
  return {...run, source: selection.source, settings, runsOnHost}
}
