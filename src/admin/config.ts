/** Whether the admin API may be served (no HTTP imports: `sandbox start` checks it before anything starts). */
import type {SandboxConfig} from '../config.js'
import {configError} from '../errors.js'

export const ADMIN_NEEDS_TOKEN = 'The admin API changes which provider runs code and with which credentials: it needs an API token (SANDBOX_API_TOKEN) and is refused without one'

/** --admin / SANDBOX_ADMIN_API=on needs a token: INVALID config (exit 4) otherwise. */
export function assertAdminConfig(config: Pick<SandboxConfig, 'adminApi' | 'apiToken'>): void {
  if (config.adminApi && !config.apiToken) {
    throw configError(`Refusing --admin (SANDBOX_ADMIN_API=on) without an API token: ${ADMIN_NEEDS_TOKEN}`, 'ADMIN_API_NEEDS_TOKEN', [
      'Set SANDBOX_API_TOKEN (e.g. `openssl rand -hex 32`) in .env or the environment, then start again',
    ])
  }
}
