/** Which OCI runtime runs user code. */
import {prerequisiteError} from '../errors.js'

export const RUNC_WARNING =
  'WARNING: running WITHOUT gVisor (runtime runc): user code shares the host kernel. Only seccomp, dropped capabilities, limits and no network separate it from the host.'

/** runsc when registered; runc only when forced or explicitly allowed. Never silently. */
export function chooseRuntime(runtimes: string[], options: {allowRunc: boolean; forced?: 'runsc' | 'runc'}): 'runsc' | 'runc' {
  if (options.forced === 'runc') return 'runc'
  if (runtimes.includes('runsc')) return 'runsc'
  if (options.allowRunc && options.forced !== 'runsc') return 'runc'
  throw prerequisiteError('gVisor (runsc) is not registered as a Docker runtime: refusing to run untrusted code without it', 'RUNSC_MISSING', [
    'run `sandbox setup --yes` to install and register runsc',
    'or accept weaker isolation explicitly: --allow-runc (SANDBOX_ALLOW_RUNC=true)',
  ])
}
