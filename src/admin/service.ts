/**
 * RAGFlow's sandbox admin operations (admin/server/services.py::SandboxMgr at HEAD), without
 * HTTP: list providers, a provider's schema, the stored config, save a config, test a
 * connection; plus ours, "try it" (a snippet through the active provider). Validation and
 * storage are the CLI's (`sandbox configure`): resolveConfig, validationErrors and
 * saveProviderConfig from src/providers — there is no second copy here.
 *
 * Differences from RAGFlow, on purpose:
 *  - secrets are masked in every answer (RAGFlow's get_config returns them in clear text); a
 *    secret left out of a save or test, or sent back exactly as masked, keeps the stored value;
 *  - a posted field fills in like `sandbox configure --<field>`: fields left out keep their
 *    environment / stored / default value, and only schema fields are written;
 *  - "Connection test failed" carries no stack trace.
 */
import {errorMessage, isSandboxError} from '../errors.js'
import type {Language} from '../engine/languages.js'
import type {RunResult} from '../engine/result.js'
import {PROBE_CODE, PROBE_TIMEOUT_SECONDS, probeReport, type ProbeReport} from '../providers/probe.js'
import {findProvider, listProviders as registryProviders} from '../providers/registry.js'
import {maskConfig, maskPartial, maskSecret, ragflowSchema, resolveConfig, schemaErrors, validationErrors} from '../providers/schema.js'
import {readSettingsSnapshot, saveProviderConfig, selectProvider, settingsInUse} from '../providers/settings.js'
import type {ConfigSchema, ProviderConfig, ProviderDefinition, ProviderId} from '../providers/types.js'

/** RAGFlow's default provider when sandbox.provider_type is missing (get_config). */
export const ADMIN_DEFAULT_PROVIDER = 'self_managed'

/** RAGFlow's AdminException: the message goes to the client in the error envelope (body code 400). */
export class AdminError extends Error {
  readonly code: 400 | 500
  constructor(message: string, code: 400 | 500 = 400) {
    super(message)
    this.name = 'AdminError'
    this.code = code
  }
}

/** One run the admin API asks for: which provider with which config, and the code. */
export interface AdminRunRequest {
  provider: ProviderDefinition
  config: ProviderConfig
  code: string
  language: Language
  arguments?: Record<string, unknown>
  timeoutSeconds: number
}

/** Runs code through a provider and returns the result (program failures are results; infrastructure failures throw). */
export type AdminRun = (request: AdminRunRequest) => Promise<RunResult>

export interface AdminServiceOptions {
  /** settings database URL (as --db; undefined: SANDBOX_DB_URL, else the default SQLite file) */
  db?: string
  /** environment that supplies provider fields (default process.env), as for `sandbox configure` */
  env?: NodeJS.ProcessEnv
  run: AdminRun
  /** wall-clock limit of a "try it" run when the request gives none, seconds */
  defaultTimeoutSeconds: number
  /** the opt-in to the unsandboxed local provider (SANDBOX_ALLOW_LOCAL_PROVIDER=on is read from env as well) */
  allowUnsandboxed?: boolean
}

export interface ProviderSummary {
  id: ProviderId
  name: string
  description: string
  tags: string[]
}

export interface AdminConfig {
  provider_type: string
  /** secrets masked */
  config: ProviderConfig
  /** ours: fields whose value the manager takes from an environment variable, which beats what is stored */
  environment?: Record<string, string>
}

export type TestReport = Pick<ProbeReport, 'success' | 'message' | 'details'>

export interface TryRequest {
  code: string
  language: Language
  arguments?: Record<string, unknown>
  timeoutSeconds?: number
}

export interface TryResult {
  provider: ProviderId
  result: RunResult
}

function requireKnown(id: string, message: string): ProviderDefinition {
  // exact ids only, like RAGFlow's registry (no aliases or command names over the API)
  const found = findProvider(id)
  if (!found || found.id !== id) throw new AdminError(`${message}: ${id}`)
  return found
}

const masked = (schema: ConfigSchema, name: string, stored: unknown): string | undefined => {
  const spec = schema[name]
  if (stored === undefined || stored === null || stored === '') return undefined
  if (spec?.secret) return maskSecret(stored)
  if (spec?.partial) return maskPartial(stored)
  return undefined
}

export class AdminService {
  constructor(private readonly options: AdminServiceOptions) {}

  private get env(): NodeJS.ProcessEnv {
    return this.options.env ?? process.env
  }

  /** GET sandbox/providers: id, name, description, tags of every provider, in registry order. */
  listProviders(): ProviderSummary[] {
    return registryProviders().map(({id, name, description, tags}) => ({id, name, description, tags: [...tags]}))
  }

  /**
   * GET sandbox/providers/<id>/schema: RAGFlow's schema dict. Read-only deployment fields carry
   * the value of this deployment (its environment) as their default, as RAGFlow's do.
   */
  providerSchema(id: string): Record<string, Record<string, unknown>> {
    const definition = requireKnown(id, 'Unknown provider')
    const schema = ragflowSchema(definition.schema)
    const readonly = Object.fromEntries(Object.entries(definition.schema).filter(([, spec]) => spec.readonly))
    const {config} = resolveConfig(readonly, {env: this.env})
    for (const [name, value] of Object.entries(config)) schema[name].default = value
    return schema
  }

  private async stored(): Promise<{providerType?: string; configs: Record<string, ProviderConfig>}> {
    if (!settingsInUse(this.options.db)) return {configs: {}}
    const {settings} = await readSettingsSnapshot(this.options.db)
    return {providerType: settings.providerType, configs: settings.configs}
  }

  /** GET sandbox/config: the active provider and its stored config, schema defaults filled in (read-only fields left out), secrets masked. */
  async getConfig(): Promise<AdminConfig> {
    try {
      const {providerType, configs} = await this.stored()
      const type = providerType ?? ADMIN_DEFAULT_PROVIDER
      const definition = findProvider(type)
      // a type this toolkit does not know is reported as stored, with its row as it is (masked by name)
      if (!definition || definition.id !== type) return {provider_type: type, config: maskConfig({}, configs[type] ?? {})}
      const editable = Object.fromEntries(Object.entries(definition.schema).filter(([, spec]) => !spec.readonly))
      const {config} = resolveConfig(editable, {stored: configs[type], env: {}})
      const {envNames} = resolveConfig(editable, {env: this.env, defaults: false})
      const out: AdminConfig = {provider_type: type, config: maskConfig(definition.schema, config)}
      if (Object.keys(envNames).length) out.environment = envNames
      return out
    } catch (error) {
      throw new AdminError(`Failed to get sandbox config: ${errorMessage(error)}`)
    }
  }

  /**
   * The config a save or test works with: the posted fields (types checked as RAGFlow does,
   * no coercion of JSON values), then environment / stored row / defaults for the rest, as
   * `sandbox configure` resolves flags. A secret sent back masked keeps the stored value.
   * Throws RAGFlow's first message(s); nothing is written.
   */
  private async resolve(providerType: string, posted: ProviderConfig): Promise<{definition: ProviderDefinition; config: ProviderConfig}> {
    const definition = requireKnown(providerType, 'Unknown provider type')
    if (posted === null || typeof posted !== 'object' || Array.isArray(posted)) throw new AdminError('config must be an object')
    const {configs} = await this.stored()
    const stored = configs[definition.id]
    const explicit: ProviderConfig = {}
    for (const [name, value] of Object.entries(posted)) {
      const spec = definition.schema[name]
      // unknown keys (another provider's fields, which RAGFlow's page can send) and read-only deployment facts are not ours to write
      if (!spec || spec.readonly) continue
      if (value !== undefined && value === masked(definition.schema, name, stored?.[name])) continue
      explicit[name] = value
    }
    const typeErrors = schemaErrors(Object.fromEntries(Object.keys(explicit).map((n) => [n, {...definition.schema[n], required: false}])), explicit)
    if (typeErrors.length) throw new AdminError(typeErrors.join('; '))
    const {config} = resolveConfig(definition.schema, {explicit, stored, env: this.env})
    return {definition, config}
  }

  /** POST sandbox/config: validate like `sandbox configure`, write sandbox.<id> (and sandbox.provider_type when set_active). */
  async setConfig(body: {provider_type: string; config?: ProviderConfig; set_active?: boolean}): Promise<AdminConfig> {
    const {definition, config} = await this.resolve(body.provider_type, body.config ?? {})
    const errors = validationErrors(definition, config)
    if (errors.length) throw new AdminError(errors.join('; '))
    try {
      await saveProviderConfig({db: this.options.db, definition, config, activate: body.set_active ?? true, allowUnsandboxed: this.options.allowUnsandboxed})
    } catch (error) {
      // the local provider's opt-in is a message for the admin, like a validation failure
      if (isSandboxError(error) && error.code === 'LOCAL_PROVIDER_NOT_ALLOWED') throw new AdminError(error.message)
      throw new AdminError(`Failed to set sandbox config: ${errorMessage(error)}`)
    }
    return {provider_type: definition.id, config: maskConfig(definition.schema, Object.fromEntries(Object.entries(config).filter(([n]) => !definition.schema[n]?.readonly)))}
  }

  /** POST sandbox/test: RAGFlow's probe through the given (unsaved) config; nothing is written. */
  async testConnection(body: {provider_type: string; config?: ProviderConfig}): Promise<TestReport> {
    const {definition, config} = await this.resolve(body.provider_type, body.config ?? {})
    const errors = validationErrors(definition, config)
    if (errors.length) throw new AdminError(errors.join('; '))
    const started = performance.now()
    try {
      const result = await this.options.run({provider: definition, config, code: PROBE_CODE, language: 'python', timeoutSeconds: PROBE_TIMEOUT_SECONDS})
      const {success, message, details} = probeReport(result, performance.now() - started)
      return {success, message, details}
    } catch (error) {
      throw new AdminError(`Connection test failed: ${errorMessage(error)}`)
    }
  }

  /** Ours (the page's "try it"): run a snippet through the active provider, as `sandbox run` picks it. */
  async tryRun(request: TryRequest): Promise<TryResult> {
    let selection
    try {
      selection = await selectProvider({db: this.options.db, env: this.env, allowUnsandboxed: this.options.allowUnsandboxed})
    } catch (error) {
      throw new AdminError(errorMessage(error))
    }
    try {
      const result = await this.options.run({
        provider: selection.definition,
        config: selection.config,
        code: request.code,
        language: request.language,
        arguments: request.arguments,
        timeoutSeconds: request.timeoutSeconds ?? this.options.defaultTimeoutSeconds,
      })
      return {provider: selection.definition.id, result}
    } catch (error) {
      throw new AdminError(`Run failed: ${errorMessage(error)}`)
    }
  }
}
