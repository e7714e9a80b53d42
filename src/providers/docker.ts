/**
 * `docker`: the in-process engine on this host (gVisor containers, no manager needed).
 * The default provider. The engine applies the code policy itself.
 */
import {randomUUID} from 'node:crypto'

import {parseMemory, type SandboxConfig} from '../config.js'
import {runOneShot} from '../engine/oneshot.js'
import type {Language} from '../engine/languages.js'
import type {RunResult} from '../engine/result.js'
import type {ExecuteRequest, HealthStatus, ProviderConfig, ProviderContext, ProviderDefinition, SandboxInstance, SandboxProvider} from './types.js'

export const dockerDefinition: ProviderDefinition = {
  id: 'docker',
  command: 'docker',
  aliases: ['engine'],
  name: 'Docker (gVisor, this host)',
  description: 'Runs code in throw-away gVisor containers on this host through the in-process engine; no manager needed',
  tags: ['self-hosted', 'local', 'gvisor'],
  schema: {
    timeout: {
      type: 'integer',
      required: false,
      label: 'Execution Timeout (seconds)',
      min: 1,
      max: 3600,
      description: 'Wall-clock limit per run when `sandbox run --timeout` is not given (default SANDBOX_TIMEOUT, 10 s)',
    },
    memory: {
      type: 'string',
      required: false,
      label: 'Memory Limit',
      placeholder: '256m',
      description: 'Memory limit per run, e.g. 256m or 1g (default SANDBOX_MAX_MEMORY, 256m)',
    },
    allow_runc: {
      type: 'boolean',
      required: false,
      label: 'Allow runc',
      default: false,
      description: 'Run without gVisor when runsc is missing (WEAKER isolation)',
    },
  },
  validate(config) {
    if (config.memory !== undefined && config.memory !== '') {
      try {
        parseMemory(String(config.memory), 'memory')
      } catch (error) {
        return (error as Error).message
      }
    }
    return null
  },
  create: (config, context) => new DockerProvider(config, context),
}

interface DockerInstance extends SandboxInstance {
  metadata: {language: Language; dispose?: () => Promise<void>}
}

class DockerProvider implements SandboxProvider {
  readonly id = 'docker' as const
  private readonly config: SandboxConfig
  private runtime: string | null = null

  constructor(
    private readonly settings: ProviderConfig,
    private readonly context: ProviderContext,
  ) {
    const base = context.sandboxConfig
    const memory = !context.explicitMemory && typeof settings.memory === 'string' && settings.memory ? settings.memory : undefined
    this.config = {
      ...base,
      ...(memory ? {memory, memoryBytes: parseMemory(memory, 'memory')} : {}),
      allowRunc: base.allowRunc || settings.allow_runc === true,
    }
  }

  async createInstance(language: Language): Promise<SandboxInstance> {
    return {instanceId: randomUUID(), provider: 'docker', status: 'running', metadata: {language}}
  }

  async executeCode(instance: SandboxInstance, request: ExecuteRequest): Promise<RunResult> {
    const run = await runOneShot({
      config: this.config,
      language: request.language,
      code: request.code,
      arguments: request.arguments,
      timeoutSeconds: request.timeoutSeconds,
      policy: request.policy ?? this.config.codePolicy,
      onEvent: (e) => this.context.onEvent?.({level: e.level, message: e.message}),
      onOutput: request.onOutput,
      signal: request.signal,
    })
    this.runtime = run.runtime
    ;(instance as DockerInstance).metadata.dispose = run.dispose
    return run.result
  }

  async destroyInstance(instance: SandboxInstance): Promise<boolean> {
    const dispose = (instance as DockerInstance).metadata.dispose
    if (!dispose) return true
    delete (instance as DockerInstance).metadata.dispose
    try {
      await dispose()
      return true
    } catch (error) {
      this.context.onEvent?.({level: 'warn', message: `container cleanup failed: ${(error as Error).message}`})
      return false
    }
  }

  async healthCheck(): Promise<HealthStatus> {
    const {daemonInfo} = await import('../docker/client.js')
    try {
      const info = await daemonInfo()
      const runsc = info.runtimes.includes('runsc')
      if (!runsc && !this.config.allowRunc) return {healthy: false, detail: 'the Docker daemon has no runsc runtime (run `sandbox setup`)'}
      return {healthy: true, detail: `Docker daemon reachable, runtime ${runsc ? 'runsc' : 'runc'}`}
    } catch (error) {
      return {healthy: false, detail: (error as Error).message}
    }
  }

  supportedLanguages(): string[] {
    return ['python', 'nodejs', 'javascript']
  }

  runtimeLabel(): string {
    return this.runtime === 'runc' ? 'runtime runc (NO gVisor)' : this.runtime ? 'gVisor' : 'docker'
  }

  async close(): Promise<void> {}
}
