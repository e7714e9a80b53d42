/**
 * Which provider to use and with what config: `--provider`, else the active provider in the
 * settings database (sandbox.provider_type), else docker. The config is resolveConfig's:
 * environment variables beat the stored sandbox.<id> row, schema defaults fill the gaps.
 */
import {existsSync} from 'node:fs'

import {
  openSettingsStore,
  PROVIDER_TYPE_KEY,
  readSandboxSettings,
  describeTarget,
  resolveSettingsTarget,
  writeProviderSettings,
  type SandboxSettings,
  type SettingsSource,
  type SettingsStore,
} from '../settings/index.js'
import {assertLocalAllowed} from './local.js'
import {DEFAULT_PROVIDER, PROVIDERS, requireProvider} from './registry.js'
import {assertValid, resolveConfig, storableConfig} from './schema.js'
import type {ProviderConfig, ProviderDefinition} from './types.js'

/**
 * Whether there are settings to read: a server database (--db / SANDBOX_DB_URL), or a SQLite
 * file (given or the default one) that exists. Reading never creates a SQLite file.
 */
export function settingsInUse(db?: string): boolean {
  const {target} = resolveSettingsTarget(db)
  return target.kind !== 'sqlite' || existsSync(target.path)
}

/** Where the settings live (password masked) and why, without connecting. */
export function resolveSettingsTargetSafe(db?: string): {location: string; source: SettingsSource} {
  const {target, source} = resolveSettingsTarget(db)
  return {location: describeTarget(target), source}
}

export async function withSettings<T>(db: string | undefined, fn: (store: SettingsStore) => Promise<T>): Promise<T> {
  const store = await openSettingsStore(db)
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

export interface SettingsSnapshot {
  /** masked URL or path */
  location: string
  kind: SettingsStore['kind']
  source: SettingsSource
  settings: SandboxSettings
}

/** Read every sandbox.* row. Opens the database (creating the default SQLite file's directory only). */
export async function readSettingsSnapshot(db?: string): Promise<SettingsSnapshot> {
  const {source} = resolveSettingsTarget(db)
  return withSettings(db, async (store) => ({location: store.location, kind: store.kind, source, settings: await readSandboxSettings(store)}))
}

export interface ProviderSelection {
  definition: ProviderDefinition
  config: ProviderConfig
  /** where the provider choice came from */
  source: 'flag' | 'settings' | 'default'
  /** settings database location when one was read */
  location?: string
}

/**
 * Resolve the provider for a run. Throws UNKNOWN_PROVIDER / INVALID_PROVIDER_CONFIG (exit 4)
 * and DATABASE_UNREACHABLE (exit 3) when an explicitly configured database is down.
 */
export async function selectProvider(options: {provider?: string; db?: string; env?: NodeJS.ProcessEnv; allowUnsandboxed?: boolean} = {}): Promise<ProviderSelection> {
  const explicit = options.provider ? requireProvider(options.provider) : undefined
  let snapshot: SettingsSnapshot | undefined
  if (settingsInUse(options.db)) snapshot = await readSettingsSnapshot(options.db)
  let definition = explicit
  let source: ProviderSelection['source'] = 'flag'
  if (!definition) {
    const stored = snapshot?.settings.providerType
    if (stored) {
      definition = requireProvider(stored, ` in sandbox.provider_type (${snapshot!.location})`)
      source = 'settings'
    } else {
      definition = PROVIDERS[DEFAULT_PROVIDER]
      source = 'default'
    }
  }
  // never a fallback: an active local provider without the opt-in is an error, not another provider
  if (definition.id === 'local') {
    assertLocalAllowed({
      allowUnsandboxed: options.allowUnsandboxed,
      env: options.env,
      where: source === 'settings' ? ` (sandbox.provider_type = local in ${snapshot!.location})` : ' (--provider local)',
    })
  }
  const stored = snapshot?.settings.configs[definition.id]
  try {
    const {config, envNames} = resolveConfig(definition.schema, {stored, env: options.env})
    assertValid(definition, config, envNames)
    return {definition, config, source, location: snapshot?.location}
  } catch (error) {
    const e = error as Error & {suggestions?: string[]}
    if (e.suggestions) e.suggestions.push(`Fix it with \`sandbox configure ${definition.command}\`${snapshot ? ` (settings: ${snapshot.location})` : ''}`)
    throw error
  }
}

/**
 * Validate and write sandbox.<id> (and sandbox.provider_type when activate). Nothing is
 * written when validation fails or the database cannot be reached.
 */
export async function saveProviderConfig(options: {
  db?: string
  definition: ProviderDefinition
  config: ProviderConfig
  activate: boolean
  /** making local the active provider needs the opt-in (flag or SANDBOX_ALLOW_LOCAL_PROVIDER=on) */
  allowUnsandboxed?: boolean
}): Promise<{location: string; kind: SettingsStore['kind']}> {
  assertValid(options.definition, options.config)
  if (options.activate && options.definition.id === 'local') assertLocalAllowed({allowUnsandboxed: options.allowUnsandboxed, where: ' (making it the active provider)'})
  return withSettings(options.db, async (store) => {
    await writeProviderSettings(store, options.definition.id, storableConfig(options.definition.schema, options.config), {activate: options.activate})
    return {location: store.location, kind: store.kind}
  })
}

/** Write only sandbox.provider_type. Local needs the opt-in (nothing is written without it). */
export async function activateProvider(db: string | undefined, definition: ProviderDefinition, options: {allowUnsandboxed?: boolean} = {}): Promise<{location: string}> {
  if (definition.id === 'local') assertLocalAllowed({allowUnsandboxed: options.allowUnsandboxed, where: ' (making it the active provider)'})
  return withSettings(db, async (store) => {
    await store.upsert([{name: PROVIDER_TYPE_KEY, data_type: 'string', value: definition.id}])
    return {location: store.location}
  })
}
