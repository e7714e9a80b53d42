/**
 * What RAGFlow's ssh, tenki and ucloud_agent_sandbox providers share: their limit checks (with
 * RAGFlow's messages) and the result of a run whose whole output comes back
 * at once, with the configured output and artifact caps applied.
 */
import type {RunResult} from '../engine/result.js'
import {remoteResult} from './result.js'
import type {ProviderConfig} from './types.js'

/** RAGFlow's checks of the given limits (absent ones are fine): "{key} must be an integer", "… greater than 0", max_artifacts "… greater than or equal to 0". */
export function limitError(config: ProviderConfig, keys: readonly string[]): string | null {
  for (const key of keys) {
    if (config[key] === undefined || config[key] === '') continue
    const value = Number(config[key])
    if (!Number.isInteger(value)) return `${key} must be an integer`
    if (key === 'max_artifacts' && value < 0) return 'max_artifacts must be greater than or equal to 0'
    if (key !== 'max_artifacts' && value <= 0) return `${key} must be greater than 0`
  }
  return null
}

export interface WholeOutput {
  stdout: string
  stderr: string
  exitCode: number
  timedOut: boolean
}

/**
 * remoteResult for an SDK that returns the whole output after the run: more than maxOutput bytes
 * is an output limit (stdout cut to the cap), and the wrapper's artifacts are cut to the
 * configured count and size.
 */
export function cappedRemoteResult(
  outcome: WholeOutput,
  caps: {timeoutSeconds: number; wallMs: number; maxOutput: number; maxArtifacts: number; maxArtifactBytes: number},
): RunResult {
  const overflow = Buffer.byteLength(outcome.stdout) + Buffer.byteLength(outcome.stderr) > caps.maxOutput
  const result = remoteResult({
    ...outcome,
    stdout: overflow ? Buffer.from(outcome.stdout).subarray(0, caps.maxOutput).toString('utf8') : outcome.stdout,
    stderr: overflow ? '' : outcome.stderr,
    timeoutSeconds: caps.timeoutSeconds,
    wallMs: caps.wallMs,
    outputOverflow: overflow,
    maxOutputBytes: caps.maxOutput,
  })
  result.artifacts = result.artifacts.filter((a) => a.size <= caps.maxArtifactBytes).slice(0, caps.maxArtifacts)
  return result
}
