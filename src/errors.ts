/**
 * Errors that services throw and commands turn into exit codes.
 * Exit codes are a public contract (see README "Exit codes").
 */
export const ExitCode = {
  OK: 0,
  CODE_FAILED: 1,
  USAGE: 2,
  PREREQUISITE: 3,
  CONFIG: 4,
  POLICY: 5,
  REMOTE: 6,
  /** stopped by Ctrl-C (SIGINT): 128 + 2, as shells report it */
  INTERRUPTED: 130,
  /** stopped by SIGTERM: 128 + 15 */
  TERMINATED: 143,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

export interface SandboxErrorOptions {
  /** stable machine-readable code, e.g. DOCKER_UNREACHABLE */
  code: string
  exit: ExitCodeValue
  suggestions?: string[]
  cause?: unknown
}

export class SandboxError extends Error {
  readonly code: string
  readonly exit: ExitCodeValue
  readonly suggestions: string[]

  constructor(message: string, options: SandboxErrorOptions) {
    super(message, {cause: options.cause})
    this.name = 'SandboxError'
    this.code = options.code
    this.exit = options.exit
    this.suggestions = options.suggestions ?? []
  }
}

export const usageError = (message: string, code: string, suggestions: string[] = [], cause?: unknown) =>
  new SandboxError(message, {code, exit: ExitCode.USAGE, suggestions, cause})

export const prerequisiteError = (message: string, code: string, suggestions: string[] = [], cause?: unknown) =>
  new SandboxError(message, {code, exit: ExitCode.PREREQUISITE, suggestions, cause})

export const configError = (message: string, code: string, suggestions: string[] = [], cause?: unknown) =>
  new SandboxError(message, {code, exit: ExitCode.CONFIG, suggestions, cause})

export const remoteError = (message: string, code: string, suggestions: string[] = [], cause?: unknown) =>
  new SandboxError(message, {code, exit: ExitCode.REMOTE, suggestions, cause})

export const isSandboxError = (error: unknown): error is SandboxError => error instanceof SandboxError

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
