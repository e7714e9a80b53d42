/**
 * The `.env` format, read and written by one module: the rules of dotenv (motdotla/dotenv,
 * the format Node's `--env-file` and `util.parseEnv` also follow).
 *
 * Reading (`parseEnv`):
 * - `KEY=value` lines; `export KEY=value` is the same; spaces around `=` are ignored; keys are
 *   letters, digits, `_`, `.` and `-`; a later line wins; lines that are not assignments are ignored.
 * - `#` starts a comment: a whole line, or the rest of an unquoted value (`A=1 # note` → `1`,
 *   `A=a#b` → `a`). Unquoted values are trimmed; `A=` is the empty string.
 * - A value in double, single or back quotes is taken as written between them (spaces and
 *   `#` kept), and may be followed by spaces and a comment (`A="s3cr3t" # token` → `s3cr3t`).
 *   Quoted values may span lines. Only in double quotes are `\n` and `\r` expanded to a
 *   newline and a carriage return; nothing else is an escape (a quote inside the same quotes
 *   ends the value unless a backslash precedes it, and the backslash stays).
 * - A quote without its closing quote is an ordinary character of an unquoted value.
 * - CRLF and CR line ends are read as LF.
 *
 * Node 20's own `util.parseEnv` is not used: on this Node it reads `export  A=1` as the key
 * " A", swallows the line after an indented comment, and drops values with an unmatched
 * quote, so its results would depend on the Node version.
 *
 * Writing (`formatEnvValue`) picks the form that `parseEnv` reads back as the same string.
 */
import {configError} from './errors.js'

const QUOTES = new Set(['"', "'", '`'])
const ASSIGNMENT = /^[ \t]*(?:export[ \t]+)?([\w.-]+)(?:[ \t]*=[ \t]*|:[ \t]+)/
const REST_OF_LINE_OK = /^[ \t]*(?:#[^\n]*)?(?:\n|$)/

export function parseEnv(text: string): Record<string, string> {
  const src = text.replace(/\r\n?/g, '\n')
  const out: Record<string, string> = {}
  let pos = 0
  while (pos < src.length) {
    const lineEnd = indexOrEnd(src, '\n', pos)
    const line = src.slice(pos, lineEnd)
    const m = ASSIGNMENT.exec(line)
    if (!m) {
      pos = lineEnd + 1
      continue
    }
    const key = m[1]
    const valueStart = pos + m[0].length
    const quoted = QUOTES.has(src[valueStart]) ? readQuoted(src, valueStart) : undefined
    if (quoted) {
      out[key] = quoted.value
      pos = quoted.end
      continue
    }
    out[key] = unquoted(src.slice(valueStart, indexOrEnd(src, '#', valueStart, lineEnd)))
    pos = lineEnd + 1
  }
  return out
}

const indexOrEnd = (text: string, needle: string, from: number, end = text.length) => {
  const i = text.indexOf(needle, from)
  return i === -1 || i > end ? end : i
}

/**
 * A quoted value starting at `start` (the opening quote): the longest body whose closing
 * quote is followed only by spaces and an optional comment on its line. Inside the body, the
 * quote character may appear only after a backslash. Returns where the next line starts.
 */
function readQuoted(src: string, start: number): {value: string; end: number} | undefined {
  const quote = src[start]
  // candidate closing quotes: every escaped quote up to the first unescaped one, and that one
  const candidates: number[] = []
  for (let i = start + 1; i < src.length; i++) {
    if (src[i] !== quote) continue
    candidates.push(i)
    if (src[i - 1] !== '\\') break
  }
  for (const close of candidates.reverse()) {
    const rest = REST_OF_LINE_OK.exec(src.slice(close + 1, indexOrEnd(src, '\n', close + 1) + 1))
    if (!rest) continue
    const body = src.slice(start + 1, close)
    return {value: quote === '"' ? expand(body) : body, end: close + 1 + rest[0].length}
  }
  return undefined
}

/** An unquoted value: trimmed; one that starts and ends with the same quote loses them (dotenv). */
function unquoted(raw: string): string {
  const value = raw.trim()
  if (value.length >= 2 && QUOTES.has(value[0]) && value.at(-1) === value[0]) {
    const body = value.slice(1, -1)
    return value[0] === '"' ? expand(body) : body
  }
  return value
}

const expand = (body: string) => body.replace(/\\n/g, '\n').replace(/\\r/g, '\r')

const BARE = /^[\w./:@%+,=~^-]+$/

/**
 * `value` as it must stand after `KEY=` for parseEnv to read back exactly `value`: bare when
 * it has no spaces, quotes, `#`, `\` or line breaks; else the first of single quotes (taken
 * literally), double quotes, back quotes, double quotes with \r and \n escapes that reads back
 * identically (each form is checked by parsing it). Throws ENV_VALUE_UNWRITABLE (exit 4) for
 * the rare value no form can carry (one with every kind of quote and a line break).
 */
export function formatEnvValue(value: string): string {
  if (value === '' || BARE.test(value)) return value
  // a carriage return survives only as the \r escape of double quotes (line ends are read as LF)
  const escaped = `"${value.replace(/\r/g, '\\r').replace(/\n/g, '\\n')}"`
  for (const candidate of [`'${value}'`, `"${value}"`, `\`${value}\``, escaped]) {
    if (parseEnv(`K=${candidate}\n`).K === value) return candidate
  }
  throw configError('This value cannot be written to a .env file (it contains every kind of quote)', 'ENV_VALUE_UNWRITABLE')
}

/** One `KEY=value` line (without the newline). */
export function formatEnvLine(key: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw configError(`Invalid .env variable name ${JSON.stringify(key.slice(0, 64))}`, 'INVALID_ENV_NAME')
  return `${key}=${formatEnvValue(value)}`
}
