/** Small helpers for writing cases: code templates and checks over RunResult. */
import {EXIT, type RunResult} from '../engine/result.js'
import type {Verdict} from './types.js'

/** Remove the common indentation and the blank first/last lines; always ends with one newline. */
export function dedent(text: string): string {
  let lines = text.split('\n')
  if (lines.length && lines[0].trim() === '') lines = lines.slice(1)
  while (lines.length && lines.at(-1)!.trim() === '') lines.pop()
  const indents = lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length)
  const indent = indents.length ? Math.min(...indents) : 0
  return lines.map((l) => l.slice(indent)).join('\n') + '\n'
}

/**
 * Code template: raw (backslashes reach the program as written) and dedented.
 * Substitutions must be single-line.
 */
export const code = (strings: TemplateStringsArray, ...values: unknown[]): string => dedent(String.raw(strings, ...values))

export const pass = (why: string): Verdict => ({ok: true, why})
export const fail = (why: string): Verdict => ({ok: false, why})

const clip = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s)

/** One line describing a result, for failure messages. */
export function brief(r: RunResult): string {
  const parts = [`status=${r.status}`, `exit=${r.exit_code}`]
  if (r.detail) parts.push(`detail=${JSON.stringify(clip(r.detail, 120))}`)
  if (r.result?.present) parts.push(`value=${clip(safeJson(r.result.value), 300)}`)
  if (r.stderr) parts.push(`stderr=${JSON.stringify(clip(r.stderr.trim(), 300))}`)
  return parts.join(' ')
}

export function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}

/** main's return value, or undefined when the run did not return one. */
export function valueOf(r: RunResult): unknown {
  return r.status === 'success' && r.result?.present ? r.result.value : undefined
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * The run succeeded and main returned an object; `check` inspects it and returns true,
 * or a string saying what is wrong.
 */
export function expectValue(r: RunResult, check: (v: Record<string, unknown>) => true | string, okWhy = 'as expected'): Verdict {
  if (r.status !== 'success') return fail(`the probe did not run to completion: ${brief(r)}`)
  const v = valueOf(r)
  if (!isObject(v)) return fail(`main returned ${clip(safeJson(v))}, expected an object`)
  const outcome = check(v)
  return outcome === true ? pass(okWhy) : fail(`${outcome} — probe said ${clip(safeJson(v), 600)}`)
}

export function isTimeout(r: RunResult): boolean {
  return r.status === 'resource_limit_exceeded' && r.exit_code === EXIT.TIMEOUT && r.resource_limit_type === 'time'
}

export function isMemoryLimit(r: RunResult): boolean {
  if (r.exit_code === EXIT.OUT_OF_MEMORY) return true
  if (r.status === 'resource_limit_exceeded' && r.resource_limit_type === 'memory') return true
  return r.status !== 'success' && /\bMemoryError\b|JavaScript heap out of memory|ERR_OUT_OF_MEMORY|Array buffer allocation failed|Cannot allocate memory/.test(r.stderr)
}

export function expectTimeout(r: RunResult): Verdict {
  if (!isTimeout(r)) return fail(`expected a time limit (-124): ${brief(r)}`)
  if (!/Execution timeout/.test(r.stderr)) return fail(`-124 without RAGFlow's "Execution timeout" stderr: ${brief(r)}`)
  return pass(`stopped at the time limit (-124) after ${Math.round(r.time_used_ms ?? 0)} ms`)
}

export function expectMemoryLimit(r: RunResult): Verdict {
  if (!isMemoryLimit(r)) return fail(`expected the memory limit to stop it (-137 or MemoryError): ${brief(r)}`)
  return pass(r.exit_code === EXIT.OUT_OF_MEMORY ? 'killed at the memory limit (-137)' : `stopped by the memory limit (${r.status}, exit ${r.exit_code})`)
}

/** Refused by the static policy with RAGFlow's answer; `lines` must all appear in stderr. */
export function expectUnsafe(r: RunResult, lines: Array<string | RegExp> = []): Verdict {
  if (r.status !== 'program_runner_error' || r.exit_code !== EXIT.UNSAFE_CODE) return fail(`expected refusal by the code policy (-999): ${brief(r)}`)
  if (r.detail !== 'Code is unsafe') return fail(`-999 with detail ${JSON.stringify(r.detail)}, expected "Code is unsafe"`)
  const got = r.stderr.split('\n')
  if (!got.every((l) => /^Line -?\d+: \S/.test(l))) return fail(`stderr is not RAGFlow's "Line N: issue" lines: ${JSON.stringify(clip(r.stderr))}`)
  for (const want of lines) {
    // a finding may carry the rule and how to proceed after it: `Line 2: Import: os (… refused by the ragflow policy …)`
    const found = typeof want === 'string' ? got.some((l) => l === want || l.startsWith(`${want} (`)) : got.some((l) => want.test(l))
    if (!found) return fail(`stderr lacks ${JSON.stringify(String(want))}: ${JSON.stringify(clip(r.stderr))}`)
  }
  return pass(`refused (-999): ${clip(got.join(' | '), 160)}`)
}

export function expectSuccess(r: RunResult, check?: (value: unknown, r: RunResult) => true | string): Verdict {
  if (r.status !== 'success') return fail(`expected success: ${brief(r)}`)
  if (check) {
    const outcome = check(r.result?.present ? r.result.value : undefined, r)
    if (outcome !== true) return fail(outcome)
  }
  return pass('ran and returned the expected value')
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const bb = b as unknown[]
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]))
  }
  const ka = Object.keys(a as object).sort()
  const kb = Object.keys(b as object).sort()
  return deepEqual(ka, kb) && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}
