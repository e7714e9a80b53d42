/**
 * The language registry: every language the toolkit runs, its aliases and file extensions,
 * and the runtimes (image + runner) they run on. A Language without a descriptor, or a
 * RuntimeId without one, does not compile.
 */
import {extname} from 'node:path'

import {configError} from '../errors.js'
import {nodejs, nodejsRuntime} from './nodejs/index.js'
import {python, pythonRuntime} from './python/index.js'
import type {Language, LanguageSpec, PreparedCode, RuntimeId, RuntimeSpec} from './types.js'
import {typescript} from './typescript/index.js'

export type {DockerfileContribution, DockerfileKit, ImageExtras, Language, LanguageSpec, PolicyAnalyser, PreparedCode, RuntimeId, RuntimeSpec, WrapperKind} from './types.js'

export const LANGUAGES: Record<Language, LanguageSpec> = {python, nodejs, typescript}

export const RUNTIMES: Record<RuntimeId, RuntimeSpec> = {python: pythonRuntime, nodejs: nodejsRuntime}

/** every language id, in the registry's order */
export const LANGUAGE_IDS = Object.keys(LANGUAGES) as Language[]

/** every runtime id (one base image each), in the registry's order */
export const RUNTIME_IDS = Object.keys(RUNTIMES) as RuntimeId[]

export const languageSpec = (language: Language): LanguageSpec => LANGUAGES[language]

/** The source that runs for `code` in `language` (TypeScript: the JavaScript esbuild makes of it), and where its lines came from. */
export const prepareCode = (language: Language, code: string): PreparedCode => LANGUAGES[language].prepare?.(code) ?? {code, originalLine: (line) => line}

/** The source that runs for `code` in `language`. */
export const runnableCode = (language: Language, code: string): string => prepareCode(language, code).code

/** The image a runtime (or a language's runtime) runs in, from the configuration. */
export const imageOf = (config: Pick<import('../config.js').SandboxConfig, 'nodejsImage' | 'pythonImage'>, runtime: RuntimeId): string => config[RUNTIMES[runtime].image.configKey]

/** "python, nodejs (alias javascript), typescript (alias ts)": for messages and help */
export const SUPPORTED_LANGUAGES = LANGUAGE_IDS.map((id) => {
  // the alias that is another name, not a spelling of the id (javascript, ts; not python3, py)
  const alias = LANGUAGES[id].aliases.find((a) => !a.startsWith(id) && !id.startsWith(a))
  return alias ? `${id} (alias ${alias})` : id
}).join(', ')

/** "javascript" → "nodejs", "ts" → "typescript"; undefined when unknown. */
export function normalizeLanguage(name: string | undefined | null): Language | undefined {
  const n = String(name ?? '')
    .trim()
    .toLowerCase()
  return LANGUAGE_IDS.find((id) => LANGUAGES[id].aliases.includes(n))
}

export function requireLanguage(name: string): Language {
  const lang = normalizeLanguage(name)
  if (!lang) {
    throw configError(`Unknown language "${name}". Supported: ${SUPPORTED_LANGUAGES}`, 'UNKNOWN_LANGUAGE')
  }
  return lang
}

export function languageForFile(file: string): Language {
  const ext = extname(file).toLowerCase()
  const lang = LANGUAGE_IDS.find((id) => LANGUAGES[id].extensions.includes(ext))
  if (!lang) {
    const known = LANGUAGE_IDS.map((id) => `${LANGUAGES[id].extensions.join(' ')} (${LANGUAGES[id].label})`).join(', ')
    throw configError(`Cannot tell the language of "${file}" from its extension "${ext || '(none)'}". Supported: ${known}`, 'UNKNOWN_EXTENSION', [
      `pass --language ${LANGUAGE_IDS.join(' or --language ')}`,
    ])
  }
  return lang
}
