/** Arguments for main(): `--arg k=v` (JSON when the value parses as JSON) and `--args-json JSON|@file`. */
import {existsSync, readFileSync} from 'node:fs'

import {ExitCode, SandboxError} from './errors.js'

const usage = (message: string, code = 'INVALID_ARGUMENT') => new SandboxError(message, {code, exit: ExitCode.USAGE})

export function parseArgPair(pair: string): [string, unknown] {
  const eq = pair.indexOf('=')
  if (eq <= 0) throw usage(`Malformed --arg "${pair}": use --arg name=value (value is JSON when it parses as JSON, e.g. count=3, flag=true)`)
  const key = pair.slice(0, eq).trim()
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw usage(`Malformed --arg "${pair}": "${key}" is not a valid argument name`)
  const raw = pair.slice(eq + 1)
  try {
    return [key, JSON.parse(raw)]
  } catch {
    return [key, raw]
  }
}

export function parseArgsJson(input: string): Record<string, unknown> {
  let text = input
  if (input.startsWith('@')) {
    const file = input.slice(1)
    if (!existsSync(file)) throw usage(`--args-json: file ${file} does not exist`, 'FILE_NOT_FOUND')
    text = readFileSync(file, 'utf8')
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw usage(`--args-json is not valid JSON: ${(error as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw usage('--args-json must be a JSON object, e.g. {"name": "World"}')
  return value as Record<string, unknown>
}

/** --args-json first, then each --arg on top. */
export function buildArguments(pairs: string[] = [], json?: string): Record<string, unknown> {
  const args: Record<string, unknown> = json ? parseArgsJson(json) : {}
  for (const pair of pairs) {
    const [k, v] = parseArgPair(pair)
    args[k] = v
  }
  return args
}
