/**
 * The run contract: ONE request type and ONE set of limits for every caller — `sandbox run`,
 * the manager's POST /run, `sandbox test` and code using the toolkit as a library.
 */
import type {Language} from '../engine/languages.js'
import {configError} from '../errors.js'
import type {PolicyMode} from '../policy/types.js'

export const RUN_LIMITS = {
  /** largest decoded source, bytes (the same for a file, a request body's code_b64, a suite case) */
  maxCodeBytes: 2 * 1024 * 1024,
  /** largest POST /run body read, bytes */
  maxBodyBytes: 8 * 1024 * 1024,
} as const

/** The same words wherever code is too large (the manager answers them with HTTP 413). */
export function codeTooLargeMessage(maxCodeBytes: number = RUN_LIMITS.maxCodeBytes): string {
  return `Code is too large: at most ${maxCodeBytes} bytes`
}

/** Throws CODE_TOO_LARGE (exit 4) when the source is over the limit; nothing runs. */
export function checkCodeSize(code: string | number, maxCodeBytes: number = RUN_LIMITS.maxCodeBytes): void {
  const bytes = typeof code === 'number' ? code : Buffer.byteLength(code, 'utf8')
  if (bytes > maxCodeBytes) throw configError(`${codeTooLargeMessage(maxCodeBytes)} (this one has ${bytes})`, 'CODE_TOO_LARGE')
}

export type OutputListener = (stream: 'stdout' | 'stderr', chunk: Buffer) => void

/** One run, as every caller asks for it. Unset limits come from the run settings (src/run/settings.ts). */
export interface RunRequest {
  language: Language
  code: string
  arguments?: Record<string, unknown> | null
  /** wall-clock limit, seconds */
  timeoutSeconds?: number
  /**
   * memory limit (docker size string, e.g. 256m). A one-shot local run builds its container with
   * it; a warm pool's containers are built already, so a pooled executor refuses another value.
   */
  memory?: string
  /** the static code policy of this run */
  policy?: PolicyMode
  /** the user's output as it arrives (executors that cannot stream deliver it in the result only) */
  onOutput?: OutputListener
  /** aborted (Ctrl-C): stop the run and remove what it created; the run then rejects or returns what it has */
  signal?: AbortSignal
}
