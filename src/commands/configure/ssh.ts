import {ProviderConfigureCommand, providerFlags} from '../configure.js'

export default class ConfigureSsh extends ProviderConfigureCommand {
  static providerId = 'ssh' as const
  static flags = providerFlags('ssh')

  static description = `Configure RAGFlow's SSH provider (ssh): code is uploaded to a temporary directory on a remote host and run there.

The host key is checked before anything is sent: against ~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts and --known-hosts (a file, or its lines); an unknown, changed or revoked key is refused (exit 4). Authentication is by password or private key (PEM/OpenSSH text or a path on this host, with --passphrase if encrypted); no agent. The effective timeout is min(requested, --timeout), and at the timeout the remote process group is killed; the workspace under --work-dir is removed after each run.

Each value comes from its flag, else its SSH_* variable (SSH_HOST, SSH_PORT, SSH_USERNAME, SSH_PASSWORD, SSH_PRIVATE_KEY or SSH_PRIVATE_KEY_PATH, SSH_PASSPHRASE, SSH_KNOWN_HOSTS, …), else the stored settings. The code runs as that account on that host, with no sandbox beyond it: use a dedicated low-privilege account.`

  static examples = [
    {
      command: 'SSH_PASSWORD=… <%= config.bin %> <%= command.id %> --host 10.0.0.5 --username runner --known-hosts /etc/ragflow/ssh_known_hosts --test',
      description: 'password from the environment, test, save and activate',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --host 10.0.0.5 --username runner --private-key ~/.ssh/runner_ed25519 --python-bin /usr/bin/python3',
      description: 'key authentication',
    },
  ]
}
