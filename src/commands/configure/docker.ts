import {ProviderConfigureCommand, providerFlags} from '../configure.js'

export default class ConfigureDocker extends ProviderConfigureCommand {
  static providerId = 'docker' as const
  static flags = providerFlags('docker')

  static description = `Use this host's engine (docker provider: gVisor containers, no manager) for \`sandbox run\`.

Optional settings: a default timeout and memory limit for runs, and whether runc may replace a missing
runsc. RAGFlow itself cannot use this provider; for RAGFlow run \`sandbox start\` and configure self-managed.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'make docker the active provider'},
    {command: '<%= config.bin %> <%= command.id %> --timeout 30 --memory 512m --test', description: 'raise the defaults and try them'},
  ]
}
