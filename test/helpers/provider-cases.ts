/** Checks every provider that runs Node.js code must pass, given the test's way to run code on it. */
import {expect} from 'vitest'

import type {RunResult} from '../../src/engine/result.js'
import type {Language} from '../../src/engine/languages.js'

export type RunOn = (language: Language, code: string, options?: {arguments?: Record<string, unknown>}) => Promise<{result: RunResult}>

/** Node.js: main's value and console.log come back; a thrown error is a program_error with its message */
export async function expectNodeResultAndProgramError(run: RunOn): Promise<void> {
  const ok = await run('nodejs', 'async function main(args) { console.log("js", args.n); return {double: args.n * 2} }\n', {arguments: {n: 21}})
  expect(ok.result.status).toBe('success')
  expect(ok.result.stdout).toBe('js 21\n')
  expect(ok.result.result?.value).toEqual({double: 42})
  const bad = await run('nodejs', 'function main() { throw new TypeError("nope") }\n')
  expect(bad.result.status).toBe('program_error')
  expect(bad.result.detail).toContain('nope')
}
