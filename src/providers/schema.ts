/**
 * Config schemas: coercion of text input (flags, environment, prompts), RAGFlow's generic
 * validation (SandboxMgr.set_config) with its messages, defaults, and masking for display.
 */
import {configError, errorMessage} from '../errors.js'
import {maskDbUrl} from '../settings/url.js'
import type {ConfigSchema, FieldSpec, ProviderConfig, ProviderDefinition} from './types.js'

export const MASK = '****'

/** `****` plus the last four characters for long values; `****` alone for short ones. */
export function maskSecret(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '')
  if (text.length === 0) return ''
  return text.length >= 16 ? `${MASK}${text.slice(-4)}` : MASK
}

/** First four and last four characters of an identifier such as an AccessKey ID. */
export function maskPartial(value: unknown): string {
  const text = String(value ?? '')
  if (text.length <= 10) return MASK
  return `${text.slice(0, 4)}${MASK}${text.slice(-4)}`
}

/** Display copy of a config: secrets masked, partial identifiers half-masked, other fields as they are. */
export function maskConfig(schema: ConfigSchema, config: ProviderConfig): ProviderConfig {
  const out: ProviderConfig = {}
  for (const [key, value] of Object.entries(config)) {
    const spec = schema[key]
    if (value === undefined) continue
    if (spec?.secret || (!spec && /secret|token|password|api_key|apikey/i.test(key))) out[key] = value === '' ? '' : maskSecret(value)
    else if (spec?.partial) out[key] = maskPartial(value)
    // a password inside a URL (http://user:pw@host) is a secret too
    else out[key] = typeof value === 'string' && value.includes('@') ? maskDbUrl(value) : value
  }
  return out
}

/** Every secret value in a config (to check output never contains them). */
export function secretValues(schema: ConfigSchema, config: ProviderConfig): string[] {
  return Object.entries(schema)
    .filter(([key, spec]) => spec.secret && typeof config[key] === 'string' && (config[key] as string).length > 0)
    .map(([key]) => config[key] as string)
}

const invalidField = (message: string) => configError(message, 'INVALID_PROVIDER_CONFIG')

/**
 * Text (flag, environment variable, prompt answer) → the field's type.
 * Throws INVALID_PROVIDER_CONFIG (exit 4) with RAGFlow's type message.
 */
export function coerceField(name: string, spec: FieldSpec, raw: unknown): unknown {
  if (raw === undefined || raw === null) return undefined
  switch (spec.type) {
    case 'integer': {
      if (typeof raw === 'number') {
        if (Number.isInteger(raw)) return raw
        throw invalidField(`Field '${name}' must be an integer`)
      }
      const text = String(raw).trim()
      if (!/^[+-]?\d+$/.test(text)) throw invalidField(`Field '${name}' must be an integer`)
      return Number(text)
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return raw
      const text = String(raw).trim().toLowerCase()
      if (['1', 'true', 'yes', 'on', 'y'].includes(text)) return true
      if (['0', 'false', 'no', 'off', 'n'].includes(text)) return false
      throw invalidField(`Field '${name}' must be a boolean`)
    }
    case 'json': {
      if (typeof raw !== 'string') return raw
      try {
        return JSON.parse(raw)
      } catch {
        throw invalidField(`Field '${name}' must be valid JSON`)
      }
    }
    default:
      return typeof raw === 'string' ? raw.trim() : String(raw)
  }
}

/** RAGFlow's SandboxMgr.set_config field checks, in schema order; returns its messages. */
export function schemaErrors(schema: ConfigSchema, config: ProviderConfig): string[] {
  const errors: string[] = []
  for (const [name, spec] of Object.entries(schema)) {
    const value = config[name]
    const missing = value === undefined || value === null || (typeof value === 'string' && value.trim() === '')
    if (missing) {
      if (spec.required) errors.push(`Required field '${name}' is missing`)
      continue
    }
    if (spec.type === 'integer') {
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        errors.push(`Field '${name}' must be an integer`)
        continue
      }
      if (spec.min !== undefined && value < spec.min) errors.push(`Field '${name}' must be >= ${spec.min}`)
      if (spec.max !== undefined && value > spec.max) errors.push(`Field '${name}' must be <= ${spec.max}`)
    } else if (spec.type === 'string' && typeof value !== 'string') {
      errors.push(`Field '${name}' must be a string`)
    } else if (spec.type === 'boolean' && typeof value !== 'boolean') {
      errors.push(`Field '${name}' must be a boolean`)
    }
  }
  return errors
}

/**
 * Full validation as RAGFlow's admin does it on save: generic schema checks, then the
 * provider's own rules ("Provider validation failed: …"). Returns all messages, [] when valid.
 */
export function validationErrors(definition: ProviderDefinition, config: ProviderConfig): string[] {
  const errors = schemaErrors(definition.schema, config)
  if (errors.length) return errors
  const custom = definition.validate(config)
  return custom ? [`Provider validation failed: ${custom}`] : []
}

/**
 * Throw INVALID_PROVIDER_CONFIG (exit 4) listing every problem, with the flags/variables that
 * fix them; `envNames` (from resolveConfig) adds which variable supplied a wrong value.
 */
export function assertValid(definition: ProviderDefinition, config: ProviderConfig, envNames: Record<string, string> = {}): void {
  const errors = validationErrors(definition, config)
  if (errors.length === 0) return
  throw configError(`Invalid ${definition.name} configuration: ${errors.join('; ')}`, 'INVALID_PROVIDER_CONFIG', [
    ...envOriginHints(definition, errors, envNames),
    ...fieldHints(definition, errors),
  ])
}

/** A provider's own rules when it is created: a message (validate's, null when fine) is INVALID_PROVIDER_CONFIG (exit 4), "Invalid <name> configuration: …". */
export function assertRules(name: string, message: string | null): void {
  if (message) throw configError(`Invalid ${name} configuration: ${message}`, 'INVALID_PROVIDER_CONFIG')
}

/** The schema fields that validation messages are about, in schema order. */
export function mentionedFields(definition: ProviderDefinition, messages: string[]): string[] {
  return Object.keys(definition.schema).filter((name) => messages.some((m) => m.includes(`'${name}'`) || messageMentions(m, name)))
}

/** "--access-key-id or AGENTRUN_ACCESS_KEY_ID" lines for the fields named in the messages. */
export function fieldHints(definition: ProviderDefinition, messages: string[]): string[] {
  const hints: string[] = []
  const mentioned = new Set(mentionedFields(definition, messages))
  for (const [name, spec] of Object.entries(definition.schema)) {
    if (!mentioned.has(name)) continue
    const sources = [`--${flagName(name)}`, ...(spec.env ?? [])].join(' or ')
    const range = spec.min !== undefined || spec.max !== undefined ? ` (${spec.min ?? '…'}..${spec.max ?? '…'})` : ''
    const options = spec.options ? ` (one of: ${spec.options.join(', ')})` : ''
    hints.push(`${spec.label}${range}${options}: set it with ${sources}`)
  }
  if (hints.length === 0) hints.push(`Run \`sandbox configure ${definition.command} --help\` for the accepted values`)
  return hints
}

function messageMentions(message: string, field: string): boolean {
  const words: Record<string, RegExp> = {
    access_key_id: /AccessKey ID/i,
    account_id: /Account ID/i,
    region: /region/i,
    timeout: /Timeout/,
    endpoint: /endpoint/i,
    pool_size: /Pool size/i,
    max_retries: /retries/i,
    security_token: /security token/i,
  }
  return words[field]?.test(message) ?? false
}

/** The config as it is written to sandbox.<id>: read-only deployment fields left out (they are facts of the deployment, read from its environment). */
export function storableConfig(schema: ConfigSchema, config: ProviderConfig): ProviderConfig {
  return Object.fromEntries(Object.entries(config).filter(([name]) => !schema[name]?.readonly))
}

/** field_name → flag-name */
export const flagName = (field: string) => field.replace(/_/g, '-')

/** Where a resolved value came from: a flag or prompt, an environment variable, the stored row, the schema default. */
export type ConfigOrigin = 'explicit' | 'env' | 'stored' | 'default'

/**
 * The one resolution of a provider config, used by every command that reads provider
 * settings (`configure <provider>`, `configure`, `configure show`, `configure use`, `run`,
 * `test`): explicit values (flags, prompt answers) first, then the field's environment
 * variables (first set one wins), then the stored sandbox.<id> row, then the schema default.
 * The stored value is only the default for what neither flags nor the environment give, so
 * a rotated AGENTRUN_ACCESS_KEY_ID replaces the stored key (and a bad one is refused, not
 * silently shadowed). Only schema fields are kept, in schema order; empty values count as
 * not given. `envNames` says which variable supplied each env value (for error messages).
 * Throws INVALID_PROVIDER_CONFIG (exit 4) when a flag or variable does not have the field's
 * type, naming the variable.
 */
export function resolveConfig(
  schema: ConfigSchema,
  sources: {explicit?: ProviderConfig; stored?: ProviderConfig; env?: NodeJS.ProcessEnv; defaults?: boolean},
): {config: ProviderConfig; origin: Record<string, ConfigOrigin>; envNames: Record<string, string>} {
  const env = sources.env ?? process.env
  const config: ProviderConfig = {}
  const origin: Record<string, ConfigOrigin> = {}
  const envNames: Record<string, string> = {}
  const present = (v: unknown) => v !== undefined && v !== null && !(typeof v === 'string' && v.trim() === '')
  for (const [name, spec] of Object.entries(schema)) {
    const explicit = sources.explicit?.[name]
    if (present(explicit)) {
      config[name] = coerceField(name, spec, explicit)
      origin[name] = 'explicit'
      continue
    }
    const envName = (spec.env ?? []).find((k) => present(env[k]))
    if (envName !== undefined) {
      try {
        config[name] = coerceField(name, spec, env[envName])
      } catch (error) {
        throw configError(`${errorMessage(error)} (from the environment variable ${envName})`, 'INVALID_PROVIDER_CONFIG', [
          `Fix or unset ${envName}, or pass --${flagName(name)} (a flag beats the environment)`,
        ])
      }
      origin[name] = 'env'
      envNames[name] = envName
      continue
    }
    // a row written by an older release may hold the field under its older name
    const storedName = [name, ...(spec.legacy ?? [])].find((n) => present(sources.stored?.[n]))
    const stored = storedName === undefined ? undefined : sources.stored?.[storedName]
    if (present(stored)) {
      config[name] = coerceStored(name, spec, stored)
      origin[name] = 'stored'
      continue
    }
    if (sources.defaults !== false && spec.default !== undefined) {
      config[name] = spec.default
      origin[name] = 'default'
    }
  }
  return {config, origin, envNames}
}

/** "access_key_id came from AGENTRUN_ACCESS_KEY_ID" lines for env-supplied fields that the messages name. */
export function envOriginHints(definition: ProviderDefinition, messages: string[], envNames: Record<string, string>): string[] {
  const mentioned = new Set(mentionedFields(definition, messages))
  return Object.entries(envNames)
    .filter(([name]) => mentioned.has(name))
    .map(([name, variable]) => `${name} came from the environment variable ${variable} (the environment beats the stored settings; flags beat both)`)
}

/** Stored JSON may hold "30" where 30 is meant (hand-edited rows); accept it, keep other values as stored. */
function coerceStored(name: string, spec: FieldSpec, value: unknown): unknown {
  if (spec.type === 'integer' && typeof value === 'string' && /^[+-]?\d+$/.test(value.trim())) return Number(value.trim())
  if (spec.type === 'boolean' && typeof value === 'string') {
    try {
      return coerceField(name, spec, value)
    } catch {
      return value
    }
  }
  return value
}

/** RAGFlow's schema dict as its GET /sandbox/providers/<id>/schema returns it (our extra keys left out). */
export function ragflowSchema(schema: ConfigSchema): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {}
  for (const [name, spec] of Object.entries(schema)) {
    const {env: _env, partial: _partial, advanced: _advanced, legacy: _legacy, format: _format, ...rest} = spec
    out[name] = {...rest}
  }
  return out
}
