/**
 * `.env` written from templates/env.template with the defaults of src/config.ts. Values are
 * written in the form the reader (src/dotenv.ts) reads back unchanged: quoted when they hold
 * spaces, `#`, quotes or line breaks. `sandbox setup` writes the file with mode 0600, since it
 * may come to hold SANDBOX_API_TOKEN and AGENTRUN_* secrets.
 */
import {readFileSync, statSync} from 'node:fs'

import {DEFAULTS} from '../config.js'
import {formatEnvValue, parseEnv} from '../dotenv.js'
import {packagePath} from '../paths.js'

/** Mode of a `.env` this toolkit writes: owner read/write only. */
export const ENV_FILE_MODE = 0o600

export const ENV_TEMPLATE = packagePath('templates', 'env.template')

/**
 * Replace `{{name}}` placeholders (which stand where a value goes, after `KEY=`) with values
 * (DEFAULTS by default), each written so that parseEnv reads it back unchanged; an unknown
 * placeholder throws.
 */
export function renderEnvTemplate(template: string, values: Record<string, string | number> = DEFAULTS): string {
  return template.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (_, key: string) => {
    if (!(key in values)) throw new Error(`env template: unknown placeholder {{${key}}}`)
    return formatEnvValue(String(values[key]))
  })
}

export function defaultEnvText(): string {
  return renderEnvTemplate(readFileSync(ENV_TEMPLATE, 'utf8'))
}

/** Variables whose values are secrets when they stand in a `.env` (tokens, keys, a database URL with its password). */
export const SECRET_ENV_VARS = [
  'SANDBOX_API_TOKEN',
  'SANDBOX_DB_URL',
  'AGENTRUN_ACCESS_KEY_SECRET',
  'AGENTRUN_SECURITY_TOKEN',
  'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
  'ALIBABA_CLOUD_SECURITY_TOKEN',
  'E2B_API_KEY',
] as const

/**
 * Why an existing `.env` exposes secrets: it sets one of SECRET_ENV_VARS and users other than
 * its owner may read it. undefined when it is private, holds no secret, or cannot be read.
 * Setup never rewrites an existing `.env`, so this is reported (with `chmod 600` as the fix).
 */
export function envFileExposure(path: string): string | undefined {
  let mode: number
  let vars: Record<string, string>
  try {
    mode = statSync(path).mode & 0o777
    if ((mode & 0o077) === 0) return undefined
    vars = parseEnv(readFileSync(path, 'utf8'))
  } catch {
    return undefined
  }
  const secrets = SECRET_ENV_VARS.filter((name) => (vars[name] ?? '').trim() !== '')
  if (secrets.length === 0) return undefined
  return `${path} sets ${secrets.join(', ')} but other users may read it (mode ${mode.toString(8).padStart(4, '0')})`
}
