/**
 * Structured logs of the executor manager: one JSON object per line.
 * User code, arguments and outputs are never passed to the logger at info level.
 */
import {chmodSync, copyFileSync, existsSync, renameSync, rmSync, statSync, truncateSync} from 'node:fs'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

const ORDER: Record<LogLevel, number> = {debug: 10, info: 20, warn: 30, error: 40}

export interface Logger {
  level: LogLevel
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

export interface LoggerOptions {
  level?: LogLevel
  /** where lines go; default process.stdout */
  write?: (line: string) => void
  /** fields added to every line */
  base?: Record<string, unknown>
}

export function parseLogLevel(input: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  const s = (input ?? '').trim().toLowerCase()
  return s in ORDER ? (s as LogLevel) : fallback
}

function serialise(value: unknown): unknown {
  if (value instanceof Error) return {name: value.name, message: value.message, code: (value as {code?: unknown}).code}
  if (typeof value === 'bigint') return value.toString()
  return value
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => process.stdout.write(line))
  const base = options.base ?? {}
  const logger: Logger = {
    level: options.level ?? 'info',
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  }
  function emit(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (ORDER[level] < ORDER[logger.level]) return
    const record: Record<string, unknown> = {time: new Date().toISOString(), level, msg, ...base}
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) record[k] = serialise(v)
    let line: string
    try {
      line = JSON.stringify(record)
    } catch {
      line = JSON.stringify({time: record.time, level, msg})
    }
    write(line + '\n')
  }
  return logger
}

/** A logger that drops everything (tests, library use). */
export const silentLogger = (): Logger => createLogger({write: () => {}, level: 'error'})

/** One human line from a JSON log line (for `sandbox logs`); other lines pass through. */
export function formatLogLine(line: string): string {
  if (!line.startsWith('{')) return line
  try {
    const r = JSON.parse(line) as Record<string, unknown>
    if (typeof r.msg !== 'string' || typeof r.level !== 'string') return line
    const {time, level, msg, ...rest} = r
    const extra = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`)
      .join(' ')
    return `${String(time ?? '')
      .replace('T', ' ')
      .replace(/\.\d+Z$/, 'Z')} ${level.toUpperCase().padEnd(5)} ${msg}${extra ? `  ${extra}` : ''}`
  } catch {
    return line
  }
}

export interface LogRotation {
  /** the file the process's stdout and stderr append to (opened with O_APPEND by `sandbox start`) */
  path: string
  /** rotate once it is larger than this (bytes) */
  maxBytes: number
  /** rotated files kept: path.1 (newest) … path.N */
  keep: number
}

/** SANDBOX_LOG_MAX_BYTES default: 10 MiB, like the manager container's json-file log */
export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024
export const DEFAULT_LOG_KEEP = 3

/**
 * Size-based rotation of a log file this process writes through an O_APPEND descriptor it was
 * started with (stdout and stderr of the background manager): once the file passes maxBytes, it is
 * copied to path.1 (older copies shift to .2 … .keep, the oldest is dropped) and truncated in place.
 * The descriptor stays valid, and O_APPEND puts the next line at the start of the emptied file.
 * Called after each line; writes to a file are synchronous, so no line falls between copy and truncate.
 */
export function logRotator(rotation: LogRotation): (bytes: number) => void {
  let size = 0
  try {
    size = statSync(rotation.path).size
  } catch {
    // not there yet: counted from zero
  }
  return (bytes) => {
    size += bytes
    if (size <= rotation.maxBytes) return
    try {
      rmSync(`${rotation.path}.${rotation.keep}`, {force: true})
      for (let i = rotation.keep - 1; i >= 1; i--) if (existsSync(`${rotation.path}.${i}`)) renameSync(`${rotation.path}.${i}`, `${rotation.path}.${i + 1}`)
      copyFileSync(rotation.path, `${rotation.path}.1`)
      chmodSync(`${rotation.path}.1`, 0o600)
      truncateSync(rotation.path, 0)
    } catch {
      // a log that cannot rotate keeps growing rather than stopping the manager
    }
    size = 0
  }
}

/** The manager's own logger: stdout, rotated as `rotation` says when stdout is the log file. */
export function managerLogger(options: {level: LogLevel; rotation?: LogRotation}): Logger {
  if (!options.rotation) return createLogger({level: options.level})
  const rotate = logRotator(options.rotation)
  return createLogger({
    level: options.level,
    write: (line) => {
      process.stdout.write(line)
      rotate(Buffer.byteLength(line))
    },
  })
}
