/**
 * ONE resolver of the run settings (timeout, memory, code policy, allow runc), used by
 * `sandbox run` and by the manager alike:
 *
 *   flag > environment (.env included) > stored provider setting > default
 *
 * The stored setting is the `docker` provider's row in the settings database (sandbox.docker:
 * timeout, memory, allow_runc), the provider that runs the engine on this host; `sandbox run`
 * with the local provider reads its own row's timeout the same way. loadConfig has already
 * decided flag > environment > default and recorded which (config.sources); a stored value
 * replaces only a default. Every resolved value carries its source.
 */
import {parseMemory, type RunSettingKey, type SandboxConfig} from '../config.js'
import {errorMessage} from '../errors.js'
import type {PolicyLevel} from '../policy/types.js'
import type {ProviderConfig} from '../providers/types.js'

export type SettingSource = 'flag' | 'env' | 'stored' | 'default'

export interface Resolved<T> {
  value: T
  source: SettingSource
}

export interface RunSettings {
  timeoutSeconds: Resolved<number>
  memory: Resolved<string>
  codePolicy: Resolved<PolicyLevel>
  allowRunc: Resolved<boolean>
}

/** The stored row's values for the run settings (only those it really holds). */
function storedValues(stored: ProviderConfig | undefined): Partial<Record<RunSettingKey, unknown>> {
  if (!stored) return {}
  const out: Partial<Record<RunSettingKey, unknown>> = {}
  if (typeof stored.timeout === 'number' && stored.timeout > 0) out.timeoutSeconds = stored.timeout
  if (typeof stored.memory === 'string' && stored.memory.trim()) out.memory = stored.memory.trim()
  // false is the default: a row only changes anything by allowing runc
  if (stored.allow_runc === true) out.allowRunc = true
  return out
}

export function resolveRunSettings(config: SandboxConfig, stored?: ProviderConfig): RunSettings {
  const fromStore = storedValues(stored)
  const pick = <K extends RunSettingKey>(key: K): Resolved<SandboxConfig[K]> => {
    const source = config.sources?.[key] ?? 'default'
    if (source === 'default' && fromStore[key] !== undefined) return {value: fromStore[key] as SandboxConfig[K], source: 'stored'}
    return {value: config[key], source}
  }
  return {timeoutSeconds: pick('timeoutSeconds'), memory: pick('memory'), codePolicy: pick('codePolicy'), allowRunc: pick('allowRunc')}
}

/** The config with the resolved settings in it (memoryBytes follows memory). */
export function applyRunSettings(config: SandboxConfig, settings: RunSettings): SandboxConfig {
  const memory = settings.memory.value
  return {
    ...config,
    timeoutSeconds: settings.timeoutSeconds.value,
    memory,
    memoryBytes: memory === config.memory ? config.memoryBytes : parseMemory(memory, 'the stored docker provider memory'),
    codePolicy: settings.codePolicy.value,
    allowRunc: settings.allowRunc.value,
    sources: {
      timeoutSeconds: settings.timeoutSeconds.source === 'stored' ? 'default' : settings.timeoutSeconds.source,
      memory: settings.memory.source === 'stored' ? 'default' : settings.memory.source,
      codePolicy: settings.codePolicy.source === 'stored' ? 'default' : settings.codePolicy.source,
      allowRunc: settings.allowRunc.source === 'stored' ? 'default' : settings.allowRunc.source,
    },
  }
}

/** {timeoutSeconds: 'stored', …}: the source of each setting, for GET /status and --verbose */
export function settingSources(settings: RunSettings): Record<keyof RunSettings, SettingSource> {
  return {
    timeoutSeconds: settings.timeoutSeconds.source,
    memory: settings.memory.source,
    codePolicy: settings.codePolicy.source,
    allowRunc: settings.allowRunc.source,
  }
}

/**
 * The stored `docker` row for a process that runs the engine (the manager). A missing or
 * unreadable settings database is not an error here: the row is then absent and `why` says so.
 */
export async function readStoredDockerRow(db?: string): Promise<{row?: ProviderConfig; location?: string; why?: string}> {
  try {
    const {settingsInUse, readSettingsSnapshot} = await import('../providers/settings.js')
    if (!settingsInUse(db)) return {why: 'no settings database (the default SQLite file does not exist)'}
    const snapshot = await readSettingsSnapshot(db)
    const raw = snapshot.settings.configs.docker
    if (!raw) return {location: snapshot.location, why: `no sandbox.docker row in ${snapshot.location}`}
    // the row as `sandbox run` reads it: the schema's types, no environment, no defaults
    const [{resolveConfig}, {dockerDefinition}] = await Promise.all([import('../providers/schema.js'), import('../providers/docker.js')])
    return {row: resolveConfig(dockerDefinition.schema, {stored: raw, env: {}, defaults: false}).config, location: snapshot.location}
  } catch (error) {
    return {why: `the settings database cannot be read: ${errorMessage(error)}`}
  }
}
