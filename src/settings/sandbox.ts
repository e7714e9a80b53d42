/**
 * RAGFlow's sandbox rows in system_settings:
 *   sandbox.provider_type  data_type "string"  value: the active provider id as plain text
 *   sandbox.<provider id>  data_type "json"    value: that provider's config as json.dumps text
 */
import {configError} from '../errors.js'
import {pythonJsonDumps} from './json.js'
import type {SettingsStore} from './store.js'

export const SANDBOX_PREFIX = 'sandbox.'
export const PROVIDER_TYPE_KEY = 'sandbox.provider_type'

export const providerSettingName = (providerId: string) => `${SANDBOX_PREFIX}${providerId}`

export interface SandboxSettings {
  /** value of sandbox.provider_type, trimmed; undefined when the row is missing or empty */
  providerType?: string
  /** provider id -> parsed JSON object of each sandbox.<id> row */
  configs: Record<string, Record<string, unknown>>
  /** names of sandbox.<id> rows whose value is not a JSON object (RAGFlow treats them as {}) */
  invalid: string[]
}

/** Read sandbox.provider_type and every sandbox.<id> row. */
export async function readSandboxSettings(store: SettingsStore): Promise<SandboxSettings> {
  const rows = await store.list(SANDBOX_PREFIX)
  const out: SandboxSettings = {configs: {}, invalid: []}
  for (const row of rows) {
    if (row.name === PROVIDER_TYPE_KEY) {
      const value = row.value.trim()
      if (value) out.providerType = value
      continue
    }
    const id = row.name.slice(SANDBOX_PREFIX.length)
    if (!id) continue
    let parsed: unknown
    try {
      parsed = JSON.parse(row.value)
    } catch {
      parsed = undefined
    }
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      out.configs[id] = parsed as Record<string, unknown>
    } else {
      out.invalid.push(row.name)
    }
  }
  return out
}

const PROVIDER_ID = /^[a-z][a-z0-9_]{0,118}$/

/**
 * Write sandbox.<providerId> (data_type json, value as Python's json.dumps writes it) and,
 * with activate, sandbox.provider_type = providerId (data_type string), in one transaction.
 */
export async function writeProviderSettings(store: SettingsStore, providerId: string, config: Record<string, unknown>, options: {activate: boolean}): Promise<void> {
  if (!PROVIDER_ID.test(providerId) || providerSettingName(providerId) === PROVIDER_TYPE_KEY) {
    throw configError(`Invalid provider id "${providerId}"`, 'INVALID_PROVIDER_ID', [
      'Provider ids are lower-case letters, digits and underscores, e.g. self_managed, aliyun_codeinterpreter, e2b.',
    ])
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw configError(`The configuration of provider "${providerId}" must be an object`, 'INVALID_SETTING_VALUE')
  }
  const rows = [{name: providerSettingName(providerId), data_type: 'json', value: pythonJsonDumps(config)}]
  if (options.activate) rows.push({name: PROVIDER_TYPE_KEY, data_type: 'string', value: providerId})
  await store.upsert(rows)
}
