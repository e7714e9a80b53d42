/**
 * TypeScript → JavaScript on the host, before the code goes anywhere: esbuild's transform
 * (types stripped, nothing type-checked, import/export left as written so the Node runner
 * tells CommonJS from an ES module as for JavaScript). Measured against TypeScript's own
 * transpileModule and the container's Node 18 (which cannot strip types): docs/languages.md.
 *
 * Type errors do not block (as with tsx and esbuild); code esbuild cannot parse becomes a
 * one-line program that throws the SyntaxError with esbuild's message, so the engine, the
 * remote wrappers and the policy all see the same thing run and fail the same way.
 */
import {createRequire} from 'node:module'

type Esbuild = typeof import('esbuild')

let esbuild: Esbuild | undefined
// loaded on first use: every command imports the language registry, few run TypeScript
const load = (): Esbuild => (esbuild ??= createRequire(import.meta.url)('esbuild') as Esbuild)

/** the Node.js in the images is Debian's 18: nothing newer may be emitted */
export const TRANSPILE_TARGET = 'node18'

/** The policy and the engine ask for the same code one after the other: keep the last few answers. */
const CACHE_ENTRIES = 8
const cache = new Map<string, string>()

/** What esbuild makes of `code` as TypeScript, or a program that throws its syntax error. */
export function transpileTypeScript(code: string): string {
  const hit = cache.get(code)
  if (hit !== undefined) {
    cache.delete(code)
    cache.set(code, hit)
    return hit
  }
  const out = transform(code)
  cache.set(code, out)
  if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!)
  return out
}

function transform(code: string): string {
  try {
    return load().transformSync(code, {loader: 'ts', target: TRANSPILE_TARGET, sourcefile: 'main.ts', logLevel: 'silent'}).code
  } catch (error) {
    const errors = (error as {errors?: Array<{text: string; location?: {line: number; column: number} | null}>}).errors
    if (!errors?.length) throw error
    const where = (e: (typeof errors)[number]) => (e.location ? `main.ts:${e.location.line}:${e.location.column + 1}: ` : '')
    const message = `TypeScript syntax error: ${errors.map((e) => where(e) + e.text).join('; ')}`
    return `throw new SyntaxError(${JSON.stringify(message)})\n`
  }
}
