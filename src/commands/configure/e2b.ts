import {ProviderConfigureCommand, providerFlags} from '../configure.js'

export default class ConfigureE2B extends ProviderConfigureCommand {
  static providerId = 'e2b' as const
  static flags = providerFlags('e2b')

  static description = `Configure E2B (or an E2B-compatible service) and save it as RAGFlow's sandbox settings.

The API key comes from --api-key, else E2B_API_KEY, else the stored settings; E2B_DOMAIN, E2B_API_URL, E2B_TEMPLATE and E2B_TIMEOUT likewise beat the stored values (flags beat both). Set --domain (and --api-url) for an E2B-compatible service such as Aliyun's. Code runs as python3/node scripts in the sandbox template (default: base).`

  static examples = [
    {command: 'E2B_API_KEY=e2b_… <%= config.bin %> <%= command.id %> --test', description: 'key from the environment, test, save and activate'},
    {command: '<%= config.bin %> <%= command.id %> --domain sandbox.example.com --api-url https://api.sandbox.example.com', description: 'an E2B-compatible service'},
  ]
}
