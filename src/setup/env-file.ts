/**
 * `.env` written from templates/env.template with the defaults of src/config.ts.
 */
import {readFileSync} from 'node:fs'

import {DEFAULTS} from '../config.js'
import {packagePath} from '../paths.js'

export const ENV_TEMPLATE = packagePath('templates', 'env.template')

/** Replace `{{name}}` placeholders with values (DEFAULTS by default); an unknown placeholder throws. */
export function renderEnvTemplate(template: string, values: Record<string, string | number> = DEFAULTS): string {
  return template.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (_, key: string) => {
    if (!(key in values)) throw new Error(`env template: unknown placeholder {{${key}}}`)
    return String(values[key])
  })
}

export function defaultEnvText(): string {
  return renderEnvTemplate(readFileSync(ENV_TEMPLATE, 'utf8'))
}
