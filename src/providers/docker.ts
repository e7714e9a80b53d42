/**
 * `docker`: the in-process engine on this host (gVisor containers, no manager needed), the
 * default provider. Only its definition lives here (schema and validation for `configure`,
 * the stored sandbox.docker row): a run goes to the local executor (src/executors/local.ts),
 * and the stored timeout, memory and allow_runc are resolved with the other run settings
 * (src/run/settings.ts), for `sandbox run` and the manager alike.
 */
import {parseMemory} from '../config.js'
import type {ProviderDefinition} from './types.js'

export const dockerDefinition: ProviderDefinition = {
  id: 'docker',
  runsOnHost: true,
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
      description: 'Wall-clock limit per run on this host (`sandbox run` and the manager) unless `sandbox run --timeout` or SANDBOX_TIMEOUT says otherwise (default 10 s)',
    },
    memory: {
      type: 'string',
      required: false,
      label: 'Memory Limit',
      placeholder: '256m',
      format: 'memory',
      description: 'Memory limit per run on this host, e.g. 256m or 1g, unless `sandbox run --memory` or SANDBOX_MAX_MEMORY says otherwise (default 256m)',
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
  // not a provider object: runs go to the local executor (src/executors/local.ts) through the
  // run pipeline, with these settings resolved by src/run/settings.ts
  create() {
    throw new Error('the docker provider runs on the local executor: use openExecutor (src/providers/execute.ts)')
  },
}
