/**
 * Running a host program (apt-get, systemctl, debootstrap, tar…) and reading what it prints: the
 * one place that spawns a program to wait for it (execa). Output is decoded as UTF-8 across
 * chunk boundaries, a last line without a newline is kept, and a program stopped by the time
 * limit or a signal says so instead of looking like exit 1.
 */
// execa (about 0.2 s to load) is imported when a program runs, not by every command that can run one
import {accessSync, constants, statSync} from 'node:fs'
import {delimiter, join} from 'node:path'

/** sbin directories are often missing from a non-login root PATH; dockerd and runsc's peers live there */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin']

/**
 * The path of an executable file called `name` on PATH, then in the sbin directories (a name
 * with a slash is checked as it is); undefined when there is none. The one PATH lookup.
 */
export function findProgram(name: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates = name.includes('/') ? [name] : [...path.split(delimiter), ...SBIN_DIRS].filter(Boolean).map((dir) => join(dir, name))
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK)
      if (statSync(candidate).isFile()) return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

export interface ProgramOptions {
  env?: Record<string, string | undefined>
  /** kill the program (SIGTERM, then SIGKILL) after this many ms; 0 or absent: no limit */
  timeoutMs?: number
  /** every line of stdout and stderr as it arrives (empty lines skipped), without the newline */
  onLine?: (line: string) => void
}

export interface ProgramResult {
  /** the exit code; 124 when the time limit stopped it, 128+N for signal N, 127 when it does not exist */
  code: number
  stdout: string
  stderr: string
  timedOut: boolean
  signal: string | null
  /** the last 30 non-empty lines of output, both streams in arrival order */
  tail: string[]
}

const TAIL_LINES = 30
const SIGNALS: Record<string, number> = {SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15}

export async function runProgram(command: string, args: string[], options: ProgramOptions = {}): Promise<ProgramResult> {
  const tail: string[] = []
  const seen = (line: string) => {
    if (!line) return
    tail.push(line)
    if (tail.length > TAIL_LINES) tail.shift()
    options.onLine?.(line)
  }
  // line splitting and UTF-8 decoding across chunks are execa's; each line is seen, then kept
  const watch = function* (line: unknown) {
    seen(String(line))
    yield line
  }
  const {execa} = await import('execa')
  const child = execa(command, args, {
    env: options.env,
    extendEnv: true,
    timeout: options.timeoutMs || undefined,
    forceKillAfterDelay: 2000,
    reject: false,
    stdin: 'ignore',
    maxBuffer: 64 * 1024 * 1024,
    stripFinalNewline: true,
    lines: false,
    encoding: 'utf8',
    stdout: [watch, 'pipe'],
    stderr: [watch, 'pipe'],
  })
  const r = await child
  const stdout = String(r.stdout ?? '')
  const stderr = String(r.stderr ?? '')
  if (r.failed && (r as {code?: string}).code === 'ENOENT') return {code: 127, stdout, stderr: `${command}: command not found`, timedOut: false, signal: null, tail}
  const signal = r.signal ?? null
  const code = r.timedOut ? 124 : typeof r.exitCode === 'number' ? r.exitCode : signal ? 128 + (SIGNALS[signal] ?? 0) : 1
  const why = r.timedOut ? `${command} timed out after ${options.timeoutMs} ms` : signal ? `${command} was killed by ${signal}` : undefined
  return {code, stdout, stderr: [stderr, why].filter(Boolean).join('\n'), timedOut: Boolean(r.timedOut), signal, tail}
}
