/**
 * SANDBOX_RESULT_IN_STDOUT: main's return value also on stdout, the way RAGFlow's runners did
 * before the structured result (agent/sandbox/executor_manager runners until the `result`
 * field, April 2026): Python `print(result)` when the result is not None — Python's str() of the
 * value, so a dict is `{'a': 1}` and RAGFlow's code component reads it back with
 * ast.literal_eval —, Node.js `console.log(result)` unless it is null.
 *
 * Host-side: the manager formats the value the engine already validated (the runner's frame,
 * checked in src/engine/frame.ts); nothing inside the sandbox decides what lands here.
 */
import {inspect} from 'node:util'

import {LANGUAGES, type Language, type LanguageSpec} from '../engine/languages.js'
import type {RunResult} from '../engine/result.js'

/** Python's repr() of a float held as a JS number: 1e-07, 1e+16, 0.1 (ints stay ints: JSON does not keep 1.0). */
function pyNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan'
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf'
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return String(n)
  const text = String(n)
  // JS writes 1e+21 / 1e-7, Python 1e+21 / 1e-07 (at least two exponent digits)
  return text.replace(/e([+-])(\d)$/, 'e$10$2')
}

/** Python's repr() of a str: single quotes unless the text has ' and no ", escapes as Python's. */
function pyString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'"
  let out = quote
  for (const ch of s) {
    const code = ch.codePointAt(0)!
    if (ch === '\\') out += '\\\\'
    else if (ch === quote) out += `\\${quote}`
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else if (ch === '\t') out += '\\t'
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`
    else if (code >= 0x80 && code < 0xa0) out += `\\x${code.toString(16).padStart(2, '0')}`
    else out += ch
  }
  return out + quote
}

/** Python's repr() of a JSON value (dict, list, str, int/float, bool, None). */
export function pythonRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None'
  if (value === true) return 'True'
  if (value === false) return 'False'
  if (typeof value === 'number') return pyNumber(value)
  if (typeof value === 'string') return pyString(value)
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(', ')}]`
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${pyString(k)}: ${pythonRepr(v)}`)
      .join(', ')}}`
  }
  return pyString(String(value))
}

/** How each old runner printed a (non-null) value; a language's descriptor names its way. */
const PRINTERS: Record<LanguageSpec['legacyStdout'], (value: unknown) => string> = {
  // print(value): a str as it is, anything else as Python's repr
  print: (value) => (typeof value === 'string' ? value : pythonRepr(value)),
  // console.log(value): a string as it is, anything else as util.inspect shows it
  'console.log': (value) => (typeof value === 'string' ? value : inspect(value)),
}

/** What the old runner printed for this return value (without the newline), or undefined when it printed nothing. */
export function legacyResultText(language: Language, value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined
  return PRINTERS[LANGUAGES[language].legacyStdout](value)
}

/** The result with main's return value appended to stdout as its own line (successful runs with a result only). */
export function withResultInStdout(language: Language, result: RunResult): RunResult {
  if (result.status !== 'success' || !result.result?.present) return result
  const text = legacyResultText(language, result.result.value)
  if (text === undefined) return result
  const stdout = result.stdout === '' || result.stdout.endsWith('\n') ? result.stdout : `${result.stdout}\n`
  return {...result, stdout: `${stdout}${text}\n`}
}
