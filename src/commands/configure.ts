import {Flags, type Interfaces} from '@oclif/core'

import {BaseCommand, ValueFlags} from '../base-command.js'
import {loadConfig, parseMemory} from '../config.js'
import {ExitCode, SandboxError, configError, errorMessage, usageError} from '../errors.js'
import {style} from '../style.js'
import {
  assertValid,
  coerceField,
  fieldHints,
  findProvider,
  flagName,
  listProviders,
  maskConfig,
  mentionedFields,
  PROVIDERS,
  readSettingsSnapshot,
  resolveConfig,
  saveProviderConfig,
  schemaErrors,
  settingsInUse,
  testConnection,
  validationErrors,
  type ConfigSchema,
  type FieldSpec,
  type ProbeReport,
  type ProviderConfig,
  type ProviderDefinition,
  type ProviderEvent,
  type ProviderId,
} from '../providers/index.js'

/** What every configure command returns (its --json output). */
export interface ConfigureResult {
  provider: ProviderId
  name: string
  saved: boolean
  activated: boolean
  /** settings database (password masked) */
  location: string | null
  kind: string | null
  /** the saved config, secrets masked */
  config: ProviderConfig
  test: Pick<ProbeReport, 'success' | 'message' | 'details'> | null
  notes: string[]
}

export const dbFlag = ValueFlags.dbUrl({
  description:
    'settings database: sqlite:///abs/path.db, mysql://user:pass@host:port/db or postgres://user:pass@host:port/db (default SANDBOX_DB_URL, else a SQLite file in the data directory)',
})

/** Flags shared by `sandbox configure` and `sandbox configure <provider>`. */
export const saveFlags = {
  db: dbFlag,
  test: Flags.boolean({description: "run RAGFlow's test-connection probe (a small main() returning a value) before saving; a failing test is not saved", default: false}),
  force: Flags.boolean({description: 'save even when --test fails', default: false}),
  activate: Flags.boolean({description: 'make this the active provider (sandbox.provider_type); --no-activate only stores its settings', default: true, allowNo: true}),
}

/** One flag per schema field: --access-key-id, --timeout, … (values are checked with RAGFlow's messages, exit 4). */
export function fieldFlags(schema: ConfigSchema): Interfaces.FlagInput {
  const flags: Interfaces.FlagInput = {}
  for (const [name, spec] of Object.entries(schema)) {
    // read-only deployment fields come from the environment, never from a flag
    if (spec.readonly) continue
    const parts = [spec.label + (spec.required ? ' (required)' : '')]
    if (spec.description) parts.push(spec.description)
    if (spec.options) parts.push(`one of ${spec.options.join(', ')}`)
    if (spec.min !== undefined || spec.max !== undefined) parts.push(`${spec.min ?? '…'}..${spec.max ?? '…'}`)
    if (spec.default !== undefined) parts.push(`default ${JSON.stringify(spec.default)}`)
    if (spec.env?.length) parts.push(`env ${spec.env.join(' or ')}`)
    if (spec.secret) parts.push('prefer the environment variable: flags show up in the process list')
    const description = parts.join('; ')
    flags[flagName(name)] =
      spec.type === 'boolean'
        ? Flags.boolean({description, allowNo: true, helpGroup: 'PROVIDER'})
        : Flags.string({description, helpGroup: 'PROVIDER', parse: async (input, _ctx, flag) => checkedFlagValue(name, spec, input, `--${flag.name}`)})
  }
  return flags
}

/** A field's flag value of the wrong type or format (`--timeout abc`, `--memory 5x`) is a usage error (exit 2) naming the flag. */
function checkedFlagValue(name: string, spec: FieldSpec, input: string, flag: string): string {
  if (spec.format === 'memory') parseMemory(input, flag)
  try {
    coerceField(name, spec, input)
  } catch (error) {
    throw usageError(`Invalid ${flag} "${input}": ${errorMessage(error).replace(/^Field '[^']+' /, '')}`, 'INVALID_FLAG_VALUE')
  }
  return input
}

/** Provider warnings during a connection test (the local provider's "NO sandbox") go to stderr. */
const warnOnStderr = (e: ProviderEvent) => {
  if (e.level === 'warn' || e.level === 'error') process.stderr.write(`${e.message}\n`)
}

export const interactive = () => Boolean(process.stdin.isTTY && process.stdout.isTTY)

function cancelled(): SandboxError {
  return new SandboxError('Cancelled; nothing was saved', {code: 'CANCELLED', exit: ExitCode.USAGE})
}

/** Ctrl+C in a prompt → CANCELLED (nothing saved). */
export async function ask<T>(prompt: () => Promise<T>): Promise<T> {
  try {
    return await prompt()
  } catch (error) {
    if ((error as Error)?.name === 'ExitPromptError' || (error as Error)?.name === 'AbortPromptError') throw cancelled()
    throw error
  }
}

/** Prompt for one field; `current` is shown as the default (secrets: Enter keeps it, nothing echoed). */
export async function askField(name: string, spec: FieldSpec, current: unknown): Promise<unknown> {
  const {confirm, input, password, select} = await import('@inquirer/prompts')
  const label = `${spec.label}${spec.required ? '' : ' (optional)'}`
  const check = (raw: string): true | string => {
    if (raw.trim() === '') return spec.required && (current === undefined || current === '') ? `${spec.label} is required` : true
    try {
      const value = coerceField(name, spec, raw)
      const errors = schemaErrors({[name]: spec}, {[name]: value})
      return errors.length ? errors.join('; ') : true
    } catch (error) {
      return errorMessage(error)
    }
  }
  if (spec.type === 'boolean') {
    return ask(() => confirm({message: label, default: current === undefined ? Boolean(spec.default) : Boolean(current)}))
  }
  if (spec.options?.length) {
    const choices = spec.options.map((o) => ({value: o, name: o}))
    const initial = typeof current === 'string' && spec.options.includes(current) ? current : (spec.default as string | undefined)
    return ask(() => select({message: label, choices, default: initial}))
  }
  if (spec.secret) {
    const has = typeof current === 'string' && current !== ''
    const answer = await ask(() => password({message: has ? `${label} [set; Enter keeps it]` : label, mask: '*', validate: (v) => (v === '' && has ? true : check(v))}))
    return answer === '' ? current : coerceField(name, spec, answer)
  }
  const hint = spec.placeholder && (current === undefined || current === '') ? ` (e.g. ${spec.placeholder})` : ''
  const answer = await ask(() =>
    input({
      message: `${label}${hint}`,
      default: current === undefined || current === null || current === '' ? undefined : String(current),
      validate: check,
    }),
  )
  return answer.trim() === '' ? current : coerceField(name, spec, answer)
}

/** The stored sandbox.<id> config, without creating a settings file that does not exist yet. */
export async function storedConfig(db: string | undefined, definition: ProviderDefinition): Promise<{stored: ProviderConfig | undefined; active?: string; location?: string}> {
  if (!settingsInUse(db)) return {stored: undefined}
  const snapshot = await readSettingsSnapshot(db)
  return {stored: snapshot.settings.configs[definition.id], active: snapshot.settings.providerType, location: snapshot.location}
}

/** Flags values of the schema fields (undefined when not given). */
export function explicitFromFlags(schema: ConfigSchema, flags: Record<string, unknown>): ProviderConfig {
  const out: ProviderConfig = {}
  for (const name of Object.keys(schema)) {
    const value = flags[flagName(name)]
    if (value !== undefined) out[name] = value
  }
  return out
}

/** The rows a save writes, for people: "sandbox.e2b (json)" */
export const rowNames = (definition: ProviderDefinition, activate: boolean) => [`sandbox.${definition.id}`, ...(activate ? ['sandbox.provider_type'] : [])].join(' and ')

/**
 * Shared flow of `sandbox configure <provider>`: resolve flags > environment > stored > defaults
 * (resolveConfig),
 * prompt for missing required values on a terminal (error listing them otherwise), validate,
 * optionally test, save.
 */
export async function configureProvider(
  command: BaseCommand<typeof BaseCommand> & {jsonEnabled(): boolean},
  definition: ProviderDefinition,
  flags: {db?: string; test: boolean; force: boolean; activate: boolean} & Record<string, unknown>,
): Promise<ConfigureResult> {
  const explicit = explicitFromFlags(definition.schema, flags)
  const {stored} = await storedConfig(flags.db, definition)
  const resolved = resolveConfig(definition.schema, {explicit, stored})
  let config = resolved.config

  const missing = Object.entries(definition.schema).filter(([name, spec]) => spec.required && (config[name] === undefined || config[name] === ''))
  if (missing.length) {
    if (!interactive() || command.jsonEnabled()) {
      throw configError(`Missing required ${definition.name} setting${missing.length === 1 ? '' : 's'}: ${missing.map(([n]) => n).join(', ')}`, 'MISSING_SETTINGS', [
        ...missing.map(([name, spec]) => `${spec.label}: --${flagName(name)}${spec.env?.length ? ` or ${spec.env.join(' / ')}` : ''}`),
        'No terminal to ask on: pass every required value as a flag or an environment variable',
      ])
    }
    for (const [name, spec] of missing) config = {...config, [name]: await askField(name, spec, undefined)}
  }

  assertValid(definition, config, resolved.envNames)
  return finishConfigure(command, definition, config, flags)
}

/** Test (optional), save, report. Nothing is written when the test fails without --force. */
export async function finishConfigure(
  command: BaseCommand<typeof BaseCommand> & {jsonEnabled(): boolean},
  definition: ProviderDefinition,
  config: ProviderConfig,
  flags: {db?: string; test: boolean; force: boolean; activate: boolean; 'allow-unsandboxed'?: boolean},
  options: {report?: ProbeReport} = {},
): Promise<ConfigureResult> {
  const log = (line: string) => {
    if (!command.jsonEnabled()) command.log(line)
  }
  const notes: string[] = []
  let test: ProbeReport | null = options.report ?? null
  if (flags.test) {
    if (!command.jsonEnabled()) process.stderr.write(`Testing ${definition.name} with RAGFlow's probe…\n`)
    test = await testConnection(definition, config, {sandboxConfig: loadConfig({envFile: undefined}), allowUnsandboxed: flags['allow-unsandboxed'], onEvent: warnOnStderr})
    log(`${style().mark(test.success ? 'ok' : 'fail')} ${test.message}`)
    if (!test.success && !flags.force) {
      const exit = test.error && test.error.exit !== ExitCode.CONFIG ? test.error.exit : ExitCode.REMOTE
      throw new SandboxError(`The ${definition.name} connection test failed; nothing was saved. ${test.message}`, {
        code: 'PROVIDER_TEST_FAILED',
        exit: exit as 3 | 4 | 6,
        suggestions: [...(test.error?.suggestions ?? []), 'Fix the settings and retry, or save anyway with --force'],
      })
    }
    if (!test.success) notes.push('saved although the connection test failed (--force)')
  }
  const saved = await saveProviderConfig({db: flags.db, definition, config, activate: flags.activate, allowUnsandboxed: flags['allow-unsandboxed']})
  notes.push(...(definition.notes?.(config) ?? []))
  if (definition.id === 'docker' && flags.activate) {
    notes.push('RAGFlow itself does not know the docker provider: for RAGFlow, run `sandbox start` and `sandbox configure self-managed`')
  }
  const masked = maskConfig(definition.schema, config)
  log(`${style().mark('ok')} Saved ${rowNames(definition, flags.activate)} in ${saved.location}`)
  if (flags.activate) log(`  ${definition.name} (${definition.id}) is now the active provider`)
  const width = Math.max(...Object.keys(masked).map((k) => k.length), 0)
  for (const [key, value] of Object.entries(masked)) log(`  ${key.padEnd(width)}  ${typeof value === 'string' ? value : JSON.stringify(value)}`)
  for (const note of notes) log(`  note: ${note}`)
  return {
    provider: definition.id,
    name: definition.name,
    saved: true,
    activated: flags.activate,
    location: saved.location,
    kind: saved.kind,
    config: masked,
    test: test ? {success: test.success, message: test.message, details: test.details} : null,
    notes,
  }
}

export default class Configure extends BaseCommand<typeof Configure> {
  static description = `Choose and configure the sandbox provider interactively, then save it where RAGFlow reads it.

Asks for the provider (docker, self_managed, aliyun_codeinterpreter, e2b, local, ssh, tenki, ucloud_agent_sandbox), then for each of its
settings (defaults shown, secrets typed without echo), validates them with RAGFlow's rules,
offers RAGFlow's connection test, and saves the sandbox.<provider> and sandbox.provider_type rows
of the system_settings table (SQLite by default; MySQL/PostgreSQL with --db or SANDBOX_DB_URL).

Needs a terminal. In scripts and CI use the subcommands with flags or environment variables:
sandbox configure aliyun | e2b | self-managed | docker | local | ssh | tenki | ucloud-agent-sandbox, sandbox configure show,
sandbox configure use.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'interactive setup, saved in the local SQLite settings file'},
    {command: '<%= config.bin %> <%= command.id %> --db mysql://root:infini_rag_flow@127.0.0.1:5455/rag_flow', description: "write into RAGFlow's own MySQL database"},
    {
      command: '<%= config.bin %> configure aliyun --access-key-id LTAI… --account-id 123… --test',
      description: 'non-interactive (CI): one provider, secrets from AGENTRUN_ACCESS_KEY_SECRET',
    },
  ]

  static flags = {
    db: dbFlag,
    provider: Flags.string({
      description:
        'skip the first question: docker, self_managed (self-managed), aliyun_codeinterpreter (aliyun), e2b, local (NO sandbox; activating it needs SANDBOX_ALLOW_LOCAL_PROVIDER=on), ssh, tenki or ucloud_agent_sandbox (ucloud-agent-sandbox)',
    }),
  }

  async run(): Promise<ConfigureResult> {
    const flags = this.flags
    if (!interactive() || this.jsonEnabled()) {
      throw configError('`sandbox configure` asks questions and needs a terminal (stdin and stdout must be a TTY)', 'NO_TERMINAL', [
        'Use the non-interactive subcommands with flags or environment variables:',
        '  sandbox configure aliyun --access-key-id … --account-id …   (secret: AGENTRUN_ACCESS_KEY_SECRET)',
        '  sandbox configure e2b                                         (key: E2B_API_KEY)',
        '  sandbox configure self-managed --endpoint http://host:9385',
        '  sandbox configure docker',
        '  sandbox configure ssh --host … --username … --known-hosts FILE   (password: SSH_PASSWORD)',
        '  sandbox configure tenki                                       (key: TENKI_API_KEY)',
        '  sandbox configure ucloud-agent-sandbox                        (key: UCLOUD_SANDBOX_API_KEY)',
        '  sandbox configure use <provider> · sandbox configure show',
      ])
    }
    const {confirm, select} = await import('@inquirer/prompts')

    let snapshotActive: string | undefined
    let location: string | undefined
    const configs: Record<string, ProviderConfig> = {}
    if (settingsInUse(flags.db)) {
      const snapshot = await readSettingsSnapshot(flags.db)
      snapshotActive = snapshot.settings.providerType
      location = snapshot.location
      Object.assign(configs, snapshot.settings.configs)
    }
    this.log(`Sandbox provider settings — ${location ?? 'a new local settings file'}`)

    let definition: ProviderDefinition
    if (flags.provider) {
      const found = findProvider(flags.provider)
      if (!found)
        throw configError(`Unknown provider "${flags.provider}"`, 'UNKNOWN_PROVIDER', [
          `Known: ${listProviders()
            .map((p) => p.id)
            .join(', ')}`,
        ])
      definition = found
    } else {
      const current = findProvider(snapshotActive)?.id ?? 'docker'
      const id = await ask(() =>
        select<ProviderId>({
          message: 'Which provider runs the code?',
          choices: listProviders().map((p) => ({value: p.id, name: `${p.name} (${p.id})${p.id === snapshotActive ? ' — active' : ''}`, description: p.description})),
          default: current,
        }),
      )
      definition = PROVIDERS[id]
    }

    // current values (shown as the defaults of the questions): environment > stored > defaults
    let {config} = resolveConfig(definition.schema, {stored: configs[definition.id]})
    // advanced fields are asked when set, or once a validation message is about them (an STS key's token)
    const askAdvanced = new Set<string>()
    for (let round = 1; ; round++) {
      const next: ProviderConfig = {}
      for (const [name, spec] of Object.entries(definition.schema)) {
        if (spec.readonly) {
          if (config[name] !== undefined) next[name] = config[name]
          continue
        }
        if (spec.advanced && !askAdvanced.has(name) && (config[name] === undefined || config[name] === '')) continue
        const value = await askField(name, spec, config[name])
        if (value !== undefined && value !== '') next[name] = value
      }
      config = next
      const errors = validationErrors(definition, config)
      if (errors.length === 0) break
      this.log(errors.map((e) => `${style().mark('fail')} ${e}`).join('\n'))
      for (const hint of fieldHints(definition, errors)) this.log(`  ${hint}`)
      for (const name of mentionedFields(definition, errors)) askAdvanced.add(name)
      if (round >= 3 || !(await ask(() => confirm({message: 'Edit the settings again?', default: true})))) {
        throw configError(`Invalid ${definition.name} configuration: ${errors.join('; ')}; nothing was saved`, 'INVALID_PROVIDER_CONFIG')
      }
    }

    const runTest = await ask(() => confirm({message: 'Run a connection test now (runs a small program)?', default: true}))
    let force = false
    let report: ProbeReport | undefined
    if (runTest) {
      this.log(`Testing ${definition.name}…`)
      report = await testConnection(definition, config, {sandboxConfig: loadConfig({envFile: undefined}), onEvent: warnOnStderr})
      this.log(`${style().mark(report.success ? 'ok' : 'fail')} ${report.message}`)
      for (const s of report.error?.suggestions ?? []) this.log(`  ${s}`)
      if (!report.success) {
        force = await ask(() => confirm({message: 'The test failed. Save these settings anyway?', default: false}))
        if (!force) throw new SandboxError(`The ${definition.name} connection test failed; nothing was saved`, {code: 'PROVIDER_TEST_FAILED', exit: ExitCode.REMOTE})
      }
    }
    const activate = await ask(() => confirm({message: `Save and make ${definition.name} the active provider?`, default: true}))
    if (!activate) {
      const store = await ask(() => confirm({message: 'Save the settings without making the provider active?', default: false}))
      if (!store) {
        this.log('Nothing was saved.')
        return {
          provider: definition.id,
          name: definition.name,
          saved: false,
          activated: false,
          location: location ?? null,
          kind: null,
          config: maskConfig(definition.schema, config),
          test: null,
          notes: [],
        }
      }
    }
    return finishConfigure(this as never, definition, config, {db: flags.db, test: false, force, activate}, {report})
  }
}

/**
 * The base of `sandbox configure aliyun|e2b|self-managed|docker|local|ssh|tenki|ucloud-agent-sandbox`. A subcommand sets
 * providerId and `flags = providerFlags(id)` (one flag per schema field plus
 * --db/--test/--force/--activate), a description and examples.
 */
export abstract class ProviderConfigureCommand extends BaseCommand<typeof ProviderConfigureCommand> {
  static providerId: ProviderId

  async run(): Promise<ConfigureResult> {
    const definition = PROVIDERS[(this.constructor as typeof ProviderConfigureCommand).providerId]
    return configureProvider(this as never, definition, this.flags as never)
  }
}

export function providerFlags(id: ProviderId): Interfaces.FlagInput {
  return {...saveFlags, ...fieldFlags(PROVIDERS[id].schema)}
}
