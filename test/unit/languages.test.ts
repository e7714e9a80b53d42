import {describe, expect, it} from 'vitest'

import {isSandboxError} from '../../src/errors.js'
import {imageOf, LANGUAGE_IDS, LANGUAGES, languageForFile, normalizeLanguage, requireLanguage, RUNTIME_IDS, RUNTIMES, runnableCode, SUPPORTED_LANGUAGES, type Language} from '../../src/languages/index.js'
import {loadConfig} from '../../src/config.js'

describe('language registry', () => {
  it('every language has a descriptor whose id is its key and whose runtime is registered', () => {
    for (const id of LANGUAGE_IDS) {
      expect(LANGUAGES[id].id).toBe(id)
      expect(LANGUAGES[id].aliases[0]).toBe(id)
      expect(RUNTIMES[LANGUAGES[id].runtime.id]).toBe(LANGUAGES[id].runtime)
    }
    expect(RUNTIME_IDS).toEqual(['python', 'nodejs'])
  })

  it('a Language without a descriptor does not compile', () => {
    // @ts-expect-error typescript is missing: the registry's type demands every Language
    const partial: Record<Language, unknown> = {python: 1, nodejs: 2}
    expect(partial).toBeDefined()
  })

  it('aliases and file extensions', () => {
    expect(normalizeLanguage('JavaScript')).toBe('nodejs')
    expect(normalizeLanguage(' ts ')).toBe('typescript')
    expect(normalizeLanguage('py')).toBe('python')
    expect(normalizeLanguage('ruby')).toBeUndefined()
    expect(languageForFile('main.ts')).toBe('typescript')
    expect(languageForFile('x/MAIN.MJS')).toBe('nodejs')
    expect(languageForFile('a.py')).toBe('python')
    expect(SUPPORTED_LANGUAGES).toBe('python, nodejs (alias javascript), typescript (alias ts)')
  })

  it('an unknown language or extension is a clear configuration error', () => {
    for (const fn of [() => requireLanguage('ruby'), () => languageForFile('main.rb')]) {
      let error: unknown
      try {
        fn()
      } catch (error_) {
        error = error_
      }
      expect(isSandboxError(error) && error.exit).toBe(4)
      expect(String((error as Error).message)).toMatch(/TypeScript|typescript/)
    }
  })

  it('TypeScript runs in the Node.js image; each runtime names its configured image', () => {
    const config = loadConfig({})
    expect(LANGUAGES.typescript.runtime.id).toBe('nodejs')
    expect(imageOf(config, 'python')).toBe(config.pythonImage)
    expect(imageOf(config, LANGUAGES.typescript.runtime.id)).toBe(config.nodejsImage)
  })

  it('only TypeScript is prepared: the others run as written', () => {
    expect(runnableCode('python', 'x: int = 1')).toBe('x: int = 1')
    expect(runnableCode('nodejs', 'const x = 1')).toBe('const x = 1')
    expect(runnableCode('typescript', 'const x: number = 1\n')).toBe('const x = 1;\n')
  })
})
