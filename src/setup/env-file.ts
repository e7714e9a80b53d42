/**
 * `.env` written from templates/env.template with the defaults of src/config.ts. Values are
 * written in the form the reader (src/dotenv.ts) reads back unchanged: quoted when they hold
 * spaces, `#`, quotes or line breaks. `sandbox setup` writes the file with mode 0600, since it
 * may come to hold SANDBOX_API_TOKEN and AGENTRUN_* secrets.
 */
import {readFileSync} from 'node:fs'

import {DEFAULTS} from '../config.js'
import {formatEnvValue} from '../dotenv.js'
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
