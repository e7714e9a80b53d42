export {aliyunDefinition, ALIYUN_MAX_TIMEOUT, ALIYUN_REGIONS, parseResults} from './aliyun.js'
export {dockerDefinition} from './docker.js'
export {e2bDefinition} from './e2b.js'
export {assertLocalAllowed, LOCAL_OPT_IN_ENV, LOCAL_WARNING, localDefinition, localProviderAllowed} from './local.js'
export {openExecutor, runOnExecutor, runSelected, runWithProvider, type ProviderRun} from './execute.js'
export {policyRefusal} from '../engine/policy-gate.js'
export {PROBE_CODE, PROBE_TIMEOUT_SECONDS, probeReport, testConnection, type ProbeReport} from './probe.js'
export {DEFAULT_PROVIDER, findProvider, listProviders, PROVIDER_IDS, PROVIDERS, providerNames, requireProvider} from './registry.js'
export {remoteResult} from './result.js'
export {
  assertValid,
  envOriginHints,
  type ConfigOrigin,
  coerceField,
  fieldHints,
  flagName,
  maskConfig,
  maskSecret,
  mentionedFields,
  ragflowSchema,
  resolveConfig,
  schemaErrors,
  secretValues,
  storableConfig,
  validationErrors,
} from './schema.js'
export {DEFAULT_MANAGER_ENDPOINT, selfManagedDefinition} from './self-managed.js'
export {sshDefinition, validateSshConfig} from './ssh.js'
export {setTenkiSdkLoader, TENKI_SDK, TENKI_SDK_VERSION, tenkiDefinition, validateTenkiConfig, type TenkiSdk} from './tenki.js'
export {UCLOUD_DEFAULT_REGION, UCLOUD_DOMAIN_SUFFIX, ucloudDefinition, validateUCloudConfig} from './ucloud.js'
export {
  activateProvider,
  readSettingsSnapshot,
  resolveSettingsTargetSafe,
  saveProviderConfig,
  selectProvider,
  settingsInUse,
  withSettings,
  type ProviderSelection,
  type SettingsSnapshot,
} from './settings.js'
export type * from './types.js'
export {ARTIFACTS_MARKER, ERROR_MARKER, extractWrapperOutput, wrapCode} from './wrapper.js'
