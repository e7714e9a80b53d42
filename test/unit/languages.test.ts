import {describe, expect, it} from 'vitest'

import {isSandboxError} from '../../src/errors.js'
import {
  imageOf,
  LANGUAGE_IDS,
  LANGUAGES,
  languageForFile,
  normalizeLanguage,
  prepareCode,
  requireLanguage,
  RUNTIME_IDS,
  RUNTIMES,
  runnableCode,
  SUPPORTED_LANGUAGES,
  type Language,
} from '../../src/languages/index.js'
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
    expect(prepareCode('python', 'a\nb').originalLine(2)).toBe(2)
  })
})

describe('TypeScript', () => {
  it('types are stripped, to CommonJS (what the runner and the remote wrappers both run); a top-level await stays an ES module', () => {
    const js = runnableCode('typescript', "import type {X} from 'y'\nimport {a} from 'b'\nexport function main(args: {x: number}): number {\n  return a(args.x) as number\n}\n")
    expect(js).not.toMatch(/import type|: number|as number|^import|^export/m)
    expect(js).toMatch(/require\("b"\)/)
    expect(js).toMatch(/^function main\(args\) \{/m)
    const esm = runnableCode('typescript', 'const v: number = await Promise.resolve(1)\nexport const main = (): number => v\n')
    expect(esm).toMatch(/^const v = await Promise\.resolve\(1\);\nexport const main = \(\) => v;/)
  })

  it('code esbuild cannot parse becomes a program that throws the syntax error with its line', () => {
    const js = runnableCode('typescript', 'export function main() {\n  return (1 +\n}\n')
    expect(js).toBe('throw new SyntaxError("TypeScript syntax error: main.ts:3:1: Unexpected \\"}\\"")\n')
  })

  it('the policy reads the JavaScript that runs: a type-only import is gone, a real one is refused', async () => {
    const {inspectCode} = await import('../../src/policy/index.js')
    expect((await inspectCode("import type {ChildProcess} from 'child_process'\nexport const main = (): ChildProcess | null => null\n", 'typescript')).safe).toBe(true)
    const refused = await inspectCode(
      "// a comment\ninterface A {n: number}\n\nimport {execSync} from 'child_process'\nexport const main = (): string => String(execSync('id'))\n",
      'ts' as Language,
    )
    expect(refused.safe).toBe(false)
    // the JavaScript that runs requires it (CommonJS), on the line the user wrote the import
    expect(refused.issues[0]).toMatchObject({line: 4, message: 'Require: child_process'})
  })
})
