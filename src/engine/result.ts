/**
 * RAGFlow's CodeExecutionResult, the result marker, and the synthetic exit codes.
 * This shape is the wire contract of POST /run and what every provider returns.
 */
import {MAX_RESULT_DEPTH, nestsDeeperThan} from './frame.js'

export type RunStatus = 'success' | 'program_error' | 'resource_limit_exceeded' | 'unauthorized_access' | 'runtime_error' | 'program_runner_error'

export interface StructuredResult {
  present: boolean
  value: unknown
  type: 'json'
}

export interface Artifact {
  name: string
  mime_type: string
  size: number
  content_b64: string
}

export interface RunResult {
  status: RunStatus
  stdout: string
  stderr: string
  exit_code: number
  detail: string | null
  time_used_ms: number | null
  memory_used_kb: number | null
  resource_limit_type: 'time' | 'memory' | 'output' | null
  unauthorized_access_type: 'disallowed_syscall' | 'file_access' | 'network_access' | null
  runtime_error_type: 'signalled' | 'nonzero_exit' | null
  result: StructuredResult | null
  artifacts: Artifact[]
}

export const EXIT = {
  UNSAFE_CODE: -999,
  RATE_LIMITED: -429,
  NO_CONTAINER: -10,
  INTERNAL_ERROR: -3,
  TIMEOUT: -124,
  OUT_OF_MEMORY: -137,
  OUTPUT_LIMIT: -25,
  /** the runner's end-of-run report did not match its schema (program_runner_error) */
  MALFORMED_REPORT: -70,
} as const

export const RESULT_MARKER = '__RAGFLOW_RESULT__:'

export const MIME_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  csv: 'text/csv',
  json: 'application/json',
  html: 'text/html',
}

export function emptyResult(overrides: Partial<RunResult>): RunResult {
  return {
    status: 'success',
    stdout: '',
    stderr: '',
    exit_code: 0,
    detail: null,
    time_used_ms: null,
    memory_used_kb: null,
    resource_limit_type: null,
    unauthorized_access_type: null,
    runtime_error_type: null,
    result: null,
    artifacts: [],
    ...overrides,
  }
}

/** A -999/-10/-3 style answer that never ran user code. */
export function runnerError(exitCode: number, stderr: string, detail: string): RunResult {
  return emptyResult({status: 'program_runner_error', exit_code: exitCode, stderr, detail})
}

export const busyResult = (reason?: string) => runnerError(EXIT.NO_CONTAINER, reason ? `Container pool is busy: ${reason}` : 'Container pool is busy', 'no_available_container')

export const internalErrorResult = (message: string) => runnerError(EXIT.INTERNAL_ERROR, message, 'internal_error')

export function encodeResultMarker(value: unknown): string {
  return RESULT_MARKER + Buffer.from(JSON.stringify({present: true, value, type: 'json'}), 'utf8').toString('base64')
}

function decodeMarkerPayload(payload: string): StructuredResult | undefined {
  if (!payload || !/^[A-Za-z0-9+/]+={0,2}$/.test(payload) || payload.length % 4 !== 0) return undefined
  try {
    const parsed = JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as Partial<StructuredResult>
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined
    // a value the host could not serialise again is not a result (see MAX_RESULT_DEPTH)
    if (nestsDeeperThan(parsed.value, MAX_RESULT_DEPTH)) return undefined
    return {present: parsed.present !== false, value: parsed.value ?? null, type: 'json'}
  } catch {
    return undefined
  }
}

/**
 * Remove every valid result-marker line from stdout; the last valid one wins.
 * Undecodable marker lines stay in stdout. A trailing newline is kept.
 */
export function extractResultMarker(stdout: string): {stdout: string; result: StructuredResult | undefined} {
  if (!stdout.includes(RESULT_MARKER)) return {stdout, result: undefined}
  const trailing = stdout.endsWith('\n')
  const lines = (trailing ? stdout.slice(0, -1) : stdout).split('\n')
  let result: StructuredResult | undefined
  const kept: string[] = []
  for (const line of lines) {
    if (line.startsWith(RESULT_MARKER)) {
      const decoded = decodeMarkerPayload(line.slice(RESULT_MARKER.length).trim())
      if (decoded) {
        result = decoded
        continue
      }
    }
    kept.push(line)
  }
  const joined = kept.join('\n')
  return {stdout: joined && trailing ? joined + '\n' : joined, result}
}
