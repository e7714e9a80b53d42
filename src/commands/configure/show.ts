import {BaseCommand} from '../../base-command.js'
import {errorMessage} from '../../errors.js'
import {
  findProvider,
  maskConfig,
  readSettingsSnapshot,
  resolveSettingsTargetSafe,
  settingsInUse,
  validationErrors,
  resolveConfig,
  type ProviderConfig,
} from '../../providers/index.js'
import {dbFlag} from '../configure.js'

interface ShownProvider {
  id: string
  name: string | null
  active: boolean
  /** stored config, secrets masked */
  config: ProviderConfig
  /** RAGFlow's validation messages for the config a command here would use (flags aside: environment > stored > defaults) */
  problems: string[]
  /** fields whose value comes from an environment variable of this shell, which beats the stored value: field → variable */
  env_overrides: Record<string, string>
}

export interface ShowResult {
  location: string | null
  kind: string | null
  source: 'flag' | 'env' | 'default'
  exists: boolean
  active_provider: string
  /** settings: sandbox.provider_type; default: no row, `sandbox run` uses docker */
  active_source: 'settings' | 'default'
  providers: ShownProvider[]
  /** sandbox.* rows whose value is not a JSON object */
  invalid_rows: string[]
}

export default class ConfigureShow extends BaseCommand<typeof ConfigureShow> {
  static description = `Show the sandbox provider settings (secrets masked) and which provider is active.

Reads the sandbox.provider_type and sandbox.<provider> rows of the system_settings table, from the
local SQLite file or the database given with --db / SANDBOX_DB_URL. Never creates anything.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'the local settings'},
    {command: '<%= config.bin %> <%= command.id %> --db mysql://root:pw@127.0.0.1:5455/rag_flow --json', description: "RAGFlow's settings as JSON (secrets masked)"},
  ]

  static flags = {db: dbFlag}

  async run(): Promise<ShowResult> {
    const {db} = this.flags
    const source = resolveSettingsTargetSafe(db)
    if (!settingsInUse(db)) {
      const result: ShowResult = {
        location: source.location,
        kind: 'sqlite',
        source: source.source,
        exists: false,
        active_provider: 'docker',
        active_source: 'default',
        providers: [],
        invalid_rows: [],
      }
      if (!this.jsonEnabled()) {
        this.log(`No settings yet (${source.location}).`)
        this.log("Active provider: docker (default: this host's engine). Configure one with `sandbox configure`.")
      }
      return result
    }
    const snapshot = await readSettingsSnapshot(db)
    const active = snapshot.settings.providerType
    const ids = new Set([...(active ? [active] : []), ...Object.keys(snapshot.settings.configs)])
    const providers: ShownProvider[] = [...ids].sort().map((id) => {
      const definition = findProvider(id)
      const stored = snapshot.settings.configs[id] ?? {}
      if (!definition)
        return {id, name: null, active: id === active, config: maskConfig({}, stored), problems: [`unknown provider "${id}" (not supported by this toolkit)`], env_overrides: {}}
      let problems: string[]
      let envNames: Record<string, string> = {}
      try {
        const resolved = resolveConfig(definition.schema, {stored})
        envNames = resolved.envNames
        problems = validationErrors(definition, resolved.config)
      } catch (error) {
        problems = [errorMessage(error)]
      }
      return {id, name: definition.name, active: id === active, config: maskConfig(definition.schema, stored), problems, env_overrides: envNames}
    })
    const result: ShowResult = {
      location: snapshot.location,
      kind: snapshot.kind,
      source: snapshot.source,
      exists: true,
      active_provider: active ?? 'docker',
      active_source: active ? 'settings' : 'default',
      providers,
      invalid_rows: snapshot.settings.invalid,
    }
    if (!this.jsonEnabled()) {
      this.log(`Settings: ${snapshot.location} (${snapshot.kind}${snapshot.source === 'default' ? ', default file' : snapshot.source === 'env' ? ', SANDBOX_DB_URL' : ''})`)
      this.log(`Active provider: ${active ?? 'docker'}${active ? '' : ' (no sandbox.provider_type row: default)'}`)
      for (const p of providers) {
        this.log('')
        this.log(`${p.id}${p.name ? ` — ${p.name}` : ''}${p.active ? '  [active]' : ''}`)
        const entries = Object.entries(p.config)
        const width = Math.max(0, ...entries.map(([k]) => k.length))
        if (entries.length === 0) this.log('  (empty: environment variables and defaults apply)')
        for (const [key, value] of entries) this.log(`  ${key.padEnd(width)}  ${typeof value === 'string' ? value : JSON.stringify(value)}`)
        for (const [field, variable] of Object.entries(p.env_overrides)) this.log(`  (${field}: ${variable} from the environment is used instead of the stored value)`)
        for (const problem of p.problems) this.log(`  ✗ ${problem}`)
      }
      for (const row of snapshot.settings.invalid) this.log(`\n${row}: value is not a JSON object (RAGFlow treats it as {})`)
    }
    return result
  }
}
