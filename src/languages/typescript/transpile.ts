/**
 * TypeScript → JavaScript on the host, before the code goes anywhere: esbuild's transform
 * (types stripped, nothing type-checked) to CommonJS, which the Node runner and the remote
 * wrappers (plain scripts, no ES modules) both run; code with a top-level await keeps its
 * import/export (an ES module: the Node runner runs it, a plain script cannot). Measured
 * against TypeScript's own transpileModule and the container's Node 18 (which cannot strip
 * types): docs/languages.md.
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
const cache = new Map<string, Transpiled>()

export interface Transpiled {
  code: string
  /** the TypeScript line (1-based) a line of `code` came from (the policy reports the user's lines) */
  originalLine: (line: number) => number
}

/** What esbuild makes of `code` as TypeScript, or a program that throws its syntax error. */
export function transpileTypeScript(code: string): Transpiled {
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

type EsbuildError = {text: string; location?: {line: number; column: number} | null}

function transform(code: string): Transpiled {
  const run = (format: 'cjs' | undefined): Transpiled => {
    const out = load().transformSync(code, {loader: 'ts', format, target: TRANSPILE_TARGET, sourcefile: 'main.ts', sourcemap: 'external', logLevel: 'silent'})
    const lines = sourceLines(out.map)
    // a line esbuild wrote itself (CommonJS helpers) belongs to the next line that came from the source
    return {code: out.code, originalLine: (line) => lines.slice(line - 1).find((l) => l > 0) ?? lines.findLast((l) => l > 0) ?? 1}
  }
  try {
    try {
      return run('cjs')
    } catch (error) {
      const errors = (error as {errors?: EsbuildError[]}).errors
      // CommonJS has no top-level await: such a program stays an ES module
      if (errors?.length && errors.every((e) => /top-level await/i.test(e.text))) return run(undefined)
      throw error
    }
  } catch (error) {
    const errors = (error as {errors?: EsbuildError[]}).errors
    if (!errors?.length) throw error
    const where = (e: (typeof errors)[number]) => (e.location ? `main.ts:${e.location.line}:${e.location.column + 1}: ` : '')
    const message = `TypeScript syntax error: ${errors.map((e) => where(e) + e.text).join('; ')}`
    return {code: `throw new SyntaxError(${JSON.stringify(message)})\n`, originalLine: () => errors[0].location?.line ?? 1}
  }
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/** For each generated line (0-based index), the 1-based source line of its first mapped segment; 0 when none. */
export function sourceLines(mapJson: string): number[] {
  const {mappings} = JSON.parse(mapJson) as {mappings: string}
  const out: number[] = []
  let sourceLine = 0
  for (const line of mappings.split(';')) {
    let first = 0
    for (const segment of line.split(',')) {
      if (!segment) continue
      const fields: number[] = []
      let value = 0
      let shift = 0
      for (const ch of segment) {
        const digit = BASE64.indexOf(ch)
        value += (digit & 31) << shift
        if (digit & 32) shift += 5
        else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1)
          value = 0
          shift = 0
        }
      }
      // [column, source, source line, source column, name]: fields after the first are deltas over the whole map
      if (fields.length >= 4) {
        sourceLine += fields[2]
        if (!first) first = sourceLine + 1
      }
    }
    out.push(first)
  }
  return out
}
