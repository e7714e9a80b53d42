/**
 * RAGFlow's "Test Connection" (SandboxMgr.test_connection, HEAD): run a small main() that
 * prints a few lines and TEST_PASSED and returns {"ok": true, "provider_test": "TEST_PASSED"};
 * success = exit code 0 and TEST_PASSED in stdout. The message has RAGFlow's format.
 */
import {errorMessage, isSandboxError} from '../errors.js'
import type {RunResult} from '../engine/result.js'
import {openExecutor, runOnExecutor} from './execute.js'
import type {ProviderConfig, ProviderContext, ProviderDefinition} from './types.js'

/** RAGFlow HEAD's probe, character for character (admin/server/services.py; variables, not `2 + 2`, which the policy refuses) */
export const PROBE_CODE = `
import json
import math


def main() -> dict:
    left = 2
    right = 2
    print(f"2 + 2 = {left + right}")
    print(f"JSON dump: {json.dumps({'test': 'data', 'value': 123})}")
    print(f"Math.sqrt(16) = {math.sqrt(16)}")
    print("TEST_PASSED")
    return {"ok": True, "provider_test": "TEST_PASSED"}
`

export const PROBE_TIMEOUT_SECONDS = 10

export interface ProbeReport {
  success: boolean
  message: string
  details: {exit_code: number | null; execution_time: number | null; stdout: string; stderr: string}
  /** the SandboxError code when the probe could not run at all */
  error?: {code: string; exit: number; message: string; suggestions: string[]}
  result?: RunResult
}

/** RAGFlow's preview: the first 200 characters and "..." (always appended) */
const clip = (text: string) => `${text.slice(0, 200)}...`

/** RAGFlow's report of a probe that ran: success = exit code 0 and TEST_PASSED in stdout. */
export function probeReport(result: RunResult, elapsedMs: number): ProbeReport {
  const seconds = (result.time_used_ms ?? elapsedMs) / 1000
  const success = result.exit_code === 0 && result.stdout.includes('TEST_PASSED')
  let message = `Test ${success ? 'PASSED' : 'FAILED'} | Exit code: ${result.exit_code} | Execution time: ${seconds.toFixed(2)}s`
  if (result.stdout.trim()) message += ` | Output: ${clip(result.stdout.trim())}`
  if (result.stderr.trim()) message += ` | Errors: ${clip(result.stderr.trim())}`
  return {success, message, details: {exit_code: result.exit_code, execution_time: seconds, stdout: result.stdout, stderr: result.stderr}, result}
}

export async function testConnection(definition: ProviderDefinition, config: ProviderConfig, context: ProviderContext): Promise<ProbeReport> {
  const started = performance.now()
  try {
    const executor = openExecutor(definition, config, context)
    const run = await runOnExecutor(executor, definition.id, {code: PROBE_CODE, language: 'python', timeoutSeconds: PROBE_TIMEOUT_SECONDS, policy: 'on'})
    await run.dispose()
    return probeReport(run.result, performance.now() - started)
  } catch (error) {
    const e = isSandboxError(error) ? error : undefined
    return {
      success: false,
      message: `Connection test failed: ${errorMessage(error)}`,
      details: {exit_code: null, execution_time: null, stdout: '', stderr: ''},
      error: e
        ? {code: e.code, exit: e.exit, message: e.message, suggestions: e.suggestions}
        : {code: 'PROVIDER_TEST_FAILED', exit: 6, message: errorMessage(error), suggestions: []},
    }
  }
}
