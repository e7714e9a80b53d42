/** The languages the engine runs, their aliases and file extensions. */
import {extname} from 'node:path'

import {configError} from '../errors.js'

export type Language = 'python' | 'nodejs'

export interface LanguageSpec {
  id: Language
  label: string
  aliases: string[]
  extensions: string[]
}

export const LANGUAGES: Record<Language, LanguageSpec> = {
  python: {id: 'python', label: 'Python', aliases: ['python', 'python3', 'py'], extensions: ['.py']},
  nodejs: {id: 'nodejs', label: 'Node.js', aliases: ['nodejs', 'javascript', 'js', 'node'], extensions: ['.js', '.mjs', '.cjs']},
}


/** "javascript" → "nodejs"; undefined when unknown. */
export function normalizeLanguage(name: string | undefined | null): Language | undefined {
  const n = String(name ?? '').trim().toLowerCase()
  return Object.values(LANGUAGES).find((l) => l.aliases.includes(n))?.id
}

export function requireLanguage(name: string): Language {
  const lang = normalizeLanguage(name)
  if (!lang) {
    throw configError(`Unknown language "${name}". Supported: python, nodejs (alias javascript)`, 'UNKNOWN_LANGUAGE')
  }
  return lang
}

export function languageForFile(file: string): Language {
  const ext = extname(file).toLowerCase()
  const lang = Object.values(LANGUAGES).find((l) => l.extensions.includes(ext))
  if (!lang) {
    const known = Object.values(LANGUAGES).map((l) => `${l.extensions.join(' ')} (${l.label})`).join(', ')
    throw configError(`Cannot tell the language of "${file}" from its extension "${ext || '(none)'}". Supported: ${known}`, 'UNKNOWN_EXTENSION', ['pass --language python or --language nodejs'])
  }
  return lang.id
}
