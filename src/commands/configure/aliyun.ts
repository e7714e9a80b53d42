import {ProviderConfigureCommand, providerFlags} from '../configure.js'

export default class ConfigureAliyun extends ProviderConfigureCommand {
  static providerId = 'aliyun_codeinterpreter' as const
  static flags = providerFlags('aliyun_codeinterpreter')

  static description = `Configure Aliyun AgentRun Code Interpreter (aliyun_codeinterpreter) and save it as RAGFlow's sandbox settings.

Each value comes from its flag, else its environment variable (AGENTRUN_ACCESS_KEY_ID, AGENTRUN_ACCESS_KEY_SECRET, AGENTRUN_ACCOUNT_ID, AGENTRUN_REGION, AGENTRUN_TEMPLATE_NAME, AGENTRUN_TIMEOUT, AGENTRUN_SECURITY_TOKEN), else the stored settings, else the default: a rotated AGENTRUN_ACCESS_KEY_ID replaces the stored key.

RAGFlow's rules apply: the AccessKey ID starts with LTAI, the account ID is required, the region is one of cn-hangzhou, cn-beijing, cn-shanghai, cn-shenzhen, cn-guangzhou, and the timeout is 1..30 seconds. Temporary (STS) credentials are accepted too: an AccessKey ID starting with STS. together with its security token.

Without a terminal, a missing required value is an error (exit 4) that names the flag or variable to set.`

  static examples = [
    {
      command: 'AGENTRUN_ACCESS_KEY_SECRET=… <%= config.bin %> <%= command.id %> --access-key-id LTAI5t… --account-id 1234567890 --region cn-shanghai --test',
      description: 'CI: secret from the environment, test the connection, save and activate',
    },
    {command: '<%= config.bin %> <%= command.id %> --timeout 20 --db postgres://ragflow:pw@db:5432/rag_flow', description: "change one value in RAGFlow's PostgreSQL settings"},
    {
      command: 'AGENTRUN_ACCESS_KEY_ID=STS.… AGENTRUN_ACCESS_KEY_SECRET=… AGENTRUN_SECURITY_TOKEN=… <%= config.bin %> <%= command.id %>',
      description: 'temporary (STS) credentials from AssumeRole, over the stored ones',
    },
  ]
}
