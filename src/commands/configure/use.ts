import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {configError} from '../../errors.js'
import {
  activateProvider,
  assertLocalAllowed,
  envOriginHints,
  fieldHints,
  providerNames,
  requireProvider,
  resolveConfig,
  settingsInUse,
  readSettingsSnapshot,
  validationErrors,
} from '../../providers/index.js'
import {dbFlag} from '../configure.js'

export interface UseResult {
  active_provider: string
  name: string
  location: string
  /** validation problems of its stored settings (only with --force) */
  problems: string[]
  notes: string[]
}

export default class ConfigureUse extends BaseCommand<typeof ConfigureUse> {
  static description = `Make a provider the active one (writes only sandbox.provider_type).

Its settings must already be valid (stored with \`sandbox configure <provider>\`, or supplied by
environment variables and defaults); --force switches anyway.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> --provider self_managed', description: 'switch RAGFlow and `sandbox run` to the executor manager'},
    {command: '<%= config.bin %> <%= command.id %> docker', description: 'the same with a positional argument'},
  ]

  static args = {
    provider: Args.string({description: 'provider id or alias (same as --provider)', required: false}),
  }

  static flags = {
    provider: Flags.string({description: `provider: ${providerNames()}`}),
    db: dbFlag,
    force: Flags.boolean({description: "switch even when the provider's settings do not validate", default: false}),
    'allow-unsandboxed': Flags.boolean({
      description: 'allow making local the active provider: it runs code on this host with NO sandbox (same as SANDBOX_ALLOW_LOCAL_PROVIDER=on)',
      default: false,
    }),
  }

  async run(): Promise<UseResult> {
    const name = this.flags.provider ?? this.args.provider
    if (!name) {
      throw configError('Which provider? Pass --provider <id>', 'MISSING_PROVIDER', [`Known providers: ${providerNames()}`, 'e.g. sandbox configure use --provider self_managed'])
    }
    if (this.flags.provider && this.args.provider && requireProvider(this.flags.provider).id !== requireProvider(this.args.provider).id) {
      throw configError(`--provider ${this.flags.provider} and the argument ${this.args.provider} disagree`, 'CONFLICTING_PROVIDER')
    }
    const definition = requireProvider(name)
    if (definition.id === 'local') assertLocalAllowed({allowUnsandboxed: this.flags['allow-unsandboxed'], where: ' (making it the active provider)'})
    const stored = settingsInUse(this.flags.db) ? (await readSettingsSnapshot(this.flags.db)).settings.configs[definition.id] : undefined
    const {config, envNames} = resolveConfig(definition.schema, {stored})
    const problems = validationErrors(definition, config)
    if (problems.length && !this.flags.force) {
      throw configError(`${definition.name} is not configured well enough to be used: ${problems.join('; ')}`, 'INVALID_PROVIDER_CONFIG', [
        ...envOriginHints(definition, problems, envNames),
        ...fieldHints(definition, problems),
        `Configure it first: sandbox configure ${definition.command}`,
        'Or switch anyway with --force',
      ])
    }
    const {location} = await activateProvider(this.flags.db, definition, {allowUnsandboxed: this.flags['allow-unsandboxed']})
    const notes: string[] = []
    if (definition.id === 'local') notes.push(...(definition.notes?.(config) ?? []))
    if (definition.id === 'docker') notes.push('RAGFlow itself does not know the docker provider: for RAGFlow, run `sandbox start` and `sandbox configure self-managed`')
    if (!this.jsonEnabled()) {
      this.log(`✓ ${definition.name} (${definition.id}) is now the active provider (sandbox.provider_type in ${location})`)
      for (const p of problems) this.log(`  ✗ ${p}`)
      for (const n of notes) this.log(`  note: ${n}`)
    }
    return {active_provider: definition.id, name: definition.name, location, problems, notes}
  }
}
