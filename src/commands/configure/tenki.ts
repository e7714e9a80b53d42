import {ProviderConfigureCommand, providerFlags} from '../configure.js'

export default class ConfigureTenki extends ProviderConfigureCommand {
  static providerId = 'tenki' as const
  static flags = providerFlags('tenki')

  static description = `Configure Tenki (tenki) and save it as RAGFlow's sandbox settings.

Each run gets a disposable Tenki microVM (--image, else Tenki's default image with python3 and node; --cpu-cores, --memory-mb, --disk-size-gb, 0 = Tenki's default), with no outbound network unless --allow-outbound. The effective timeout is min(requested, --timeout); Tenki reclaims a sandbox after --max-lifetime seconds if it is not terminated after its run.

Runs go through Tenki's official SDK, @tenkicloud/sandbox, an optional dependency (as in RAGFlow): install it next to sandbox (npm install @tenkicloud/sandbox@0.5.4) before --test or a run; without it they stop with TENKI_SDK_MISSING (exit 3). The key comes from --api-key, else TENKI_API_KEY (or TENKI_AUTH_TOKEN), else the stored settings.`

  static examples = [
    {command: 'TENKI_API_KEY=tk_… <%= config.bin %> <%= command.id %> --test', description: 'key from the environment, test, save and activate'},
    {command: '<%= config.bin %> <%= command.id %> --cpu-cores 2 --memory-mb 2048 --no-activate', description: 'store resource settings without activating'},
  ]
}
