export {pythonJsonDumps} from './json.js'
export {PROVIDER_TYPE_KEY, SANDBOX_PREFIX, providerSettingName, readSandboxSettings, writeProviderSettings, type SandboxSettings} from './sandbox.js'
export {createTableStatements, settingsTimestamp, TABLE} from './schema.js'
export {
  CONNECT_TIMEOUT_MS,
  DB_URL_ENV,
  defaultSettingsPath,
  openSettingsStore,
  openTarget,
  resolveSettingsTarget,
  type SettingInput,
  type SettingRow,
  type SettingsSource,
  type SettingsStore,
} from './store.js'
export {describeTarget, maskDbUrl, parseDbUrl, type DbKind, type DbTarget, type ServerTarget, type SqliteTarget, type SslMode} from './url.js'
export {databaseError, isConnectionError} from './errors.js'
