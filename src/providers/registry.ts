/** The provider registry, keyed by RAGFlow's ids (self_managed, aliyun_codeinterpreter, e2b, local, ssh, tenki, ucloud_agent_sandbox) plus ours (docker). */
import {configError} from '../errors.js'
import {aliyunDefinition} from './aliyun.js'
import {dockerDefinition} from './docker.js'
import {e2bDefinition} from './e2b.js'
import {localDefinition} from './local.js'
import {selfManagedDefinition} from './self-managed.js'
import {sshDefinition} from './ssh.js'
import {tenkiDefinition} from './tenki.js'
import {ucloudDefinition} from './ucloud.js'
import type {ProviderDefinition, ProviderId} from './types.js'

export const PROVIDERS: Record<ProviderId, ProviderDefinition> = {
  docker: dockerDefinition,
  self_managed: selfManagedDefinition,
  aliyun_codeinterpreter: aliyunDefinition,
  e2b: e2bDefinition,
  local: localDefinition,
  ssh: sshDefinition,
  tenki: tenkiDefinition,
  ucloud_agent_sandbox: ucloudDefinition,
}

/** Without any settings, `sandbox run` uses the engine on this host. */
export const DEFAULT_PROVIDER: ProviderId = 'docker'

export const PROVIDER_IDS = Object.keys(PROVIDERS) as ProviderId[]

export function listProviders(): ProviderDefinition[] {
  return PROVIDER_IDS.map((id) => PROVIDERS[id])
}

/** By id, command name or alias; case-insensitive, `-` and `_` interchangeable. */
export function findProvider(name: string | undefined | null): ProviderDefinition | undefined {
  const key = String(name ?? '')
    .trim()
    .toLowerCase()
    .replace(/-/g, '_')
  if (!key) return undefined
  return listProviders().find((p) => [p.id, p.command, ...p.aliases].some((n) => n.toLowerCase().replace(/-/g, '_') === key))
}

export function providerNames(): string {
  return listProviders()
    .map((p) => (p.command === p.id ? p.id : `${p.id} (${p.command})`))
    .join(', ')
}

/** Throws UNKNOWN_PROVIDER (exit 4) naming the known providers. */
export function requireProvider(name: string, where = ''): ProviderDefinition {
  const found = findProvider(name)
  if (found) return found
  throw configError(`Unknown sandbox provider "${name}"${where}`, 'UNKNOWN_PROVIDER', [
    `Known providers: ${providerNames()}`,
    'Configure one with `sandbox configure`, or pick one for a single run with `sandbox run --provider docker`',
  ])
}
