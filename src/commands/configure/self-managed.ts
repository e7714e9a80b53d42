import {ProviderConfigureCommand, providerFlags} from '../configure.js'

export default class ConfigureSelfManaged extends ProviderConfigureCommand {
  static providerId = 'self_managed' as const
  static flags = providerFlags('self_managed')

  static description = `Configure the self-managed executor manager (self_managed) and save it as RAGFlow's sandbox settings.

The endpoint is the manager's URL (\`sandbox start\` listens on http://127.0.0.1:9385 by default; RAGFlow's compose stack uses http://sandbox-executor-manager:9385). max_retries is used for connection errors and 502/503/504 answers, never once the code may have started. --api-token (or SANDBOX_API_TOKEN) is sent as "Authorization: Bearer" when the manager requires a token.

Flags beat the environment (SANDBOX_EXECUTOR_MANAGER_URL, SANDBOX_API_TOKEN, …), which beats the stored settings.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> --endpoint http://127.0.0.1:9385 --test', description: 'the manager on this host'},
    {
      command: '<%= config.bin %> <%= command.id %> --endpoint http://sandbox-executor-manager:9385 --db mysql://root:pw@127.0.0.1:5455/rag_flow',
      description: "what RAGFlow's containers should use, in RAGFlow's MySQL",
    },
  ]
}
