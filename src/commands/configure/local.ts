import {Flags} from '@oclif/core'

import {LOCAL_OPT_IN_ENV} from '../../providers/index.js'
import {ProviderConfigureCommand, providerFlags} from '../configure.js'

export default class ConfigureLocal extends ProviderConfigureCommand {
  static providerId = 'local' as const
  static flags = {
    ...providerFlags('local'),
    'allow-unsandboxed': Flags.boolean({
      description: `allow local, which runs code on this host with NO sandbox (same as ${LOCAL_OPT_IN_ENV}=on); needed to activate or --test it`,
      default: false,
    }),
  }

  static description = `Configure RAGFlow's local provider (local): code runs as a plain child process on THIS host, with NO sandbox.

Only rlimits apply (CPU time = timeout+1 s, memory = max_memory_mb as address space for Python and as data size
for Node.js, file size = max_artifact_bytes, 64 open files); the process group is killed at the timeout. No gVisor,
no network or filesystem isolation: use it only for code you trust, under a low-privilege account.
Making it active, testing it and every run need an explicit opt-in: --allow-unsandboxed or ${LOCAL_OPT_IN_ENV}=on;
a stored sandbox.provider_type=local without it is refused (exit 4), never replaced by another provider.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> --allow-unsandboxed --timeout 20 --max-memory-mb 1024', description: 'store and activate local with tighter limits'},
    {command: '<%= config.bin %> <%= command.id %> --no-activate --work-dir /var/tmp/codeexec', description: 'store its settings only (no opt-in needed)'},
  ]
}
