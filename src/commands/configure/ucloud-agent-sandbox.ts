import {ProviderConfigureCommand, providerFlags} from '../configure.js'

export default class ConfigureUCloudAgentSandbox extends ProviderConfigureCommand {
  static providerId = 'ucloud_agent_sandbox' as const
  static flags = providerFlags('ucloud_agent_sandbox')

  static description = `Configure UCloud Agent Sandbox (ucloud_agent_sandbox) and save it as RAGFlow's sandbox settings.

UCloud's sandbox follows E2B's API: the code runs in a disposable sandbox created from --template (default base, with python3 and node) at <region>.sandbox.ucloudai.com (--region, default cn-wlcb; --domain or --api-url override it), through the E2B SDK. Internet access is off unless --allow-internet-access. The effective timeout is min(requested, --timeout); the sandbox lives at most --sandbox-timeout seconds and is killed after each run.

Each value comes from its flag, else its UCLOUD_SANDBOX_* variable (UCLOUD_SANDBOX_API_KEY, UCLOUD_SANDBOX_REGION, UCLOUD_SANDBOX_DOMAIN, UCLOUD_SANDBOX_API_URL, UCLOUD_SANDBOX_TEMPLATE, UCLOUD_SANDBOX_EXECUTION_TIMEOUT, UCLOUD_SANDBOX_TIMEOUT, …), else the stored settings.`

  static examples = [
    {command: 'UCLOUD_SANDBOX_API_KEY=… <%= config.bin %> <%= command.id %> --region us-ca --test', description: 'key from the environment, test, save and activate'},
    {command: '<%= config.bin %> <%= command.id %> --timeout 20 --sandbox-timeout 600 --no-activate', description: 'store tighter limits without activating'},
  ]
}
