/** Database errors -> SandboxError with exit 3, never carrying a password. */
import {ExitCode, SandboxError, errorMessage} from '../errors.js'
import {describeTarget, hostPort, type DbTarget} from './url.js'

const KIND_NAMES = {sqlite: 'SQLite', mysql: 'MySQL/MariaDB', postgres: 'PostgreSQL'} as const

/** Socket-level failures (Node errno codes) and driver codes that mean "no usable connection". */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EPROTO',
  // mysql2
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'HANDSHAKE_NO_SSL_SUPPORT',
  'HANDSHAKE_SSL_ERROR',
  'ER_ACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
  'ER_HOST_NOT_PRIVILEGED',
  'ER_HOST_IS_BLOCKED',
  'ER_CON_COUNT_ERROR',
  'ER_NOT_SUPPORTED_AUTH_MODE',
  // better-sqlite3
  'SQLITE_CANTOPEN',
  'SQLITE_NOTADB',
  'SQLITE_PERM',
  'SQLITE_READONLY',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_CORRUPT',
  'SQLITE_IOERR',
  'SQLITE_AUTH',
])

function codeOf(error: unknown): string | undefined {
  const code = (error as {code?: unknown})?.code
  return typeof code === 'string' ? code : undefined
}

/** PostgreSQL SQLSTATE classes 08 (connection), 28 (authorization), 3D000 (no such database), 57P0x (shutdown). */
function isPostgresConnectionState(code: string | undefined): boolean {
  return !!code && (/^(08|28)/.test(code) || code === '3D000' || /^57P0/.test(code))
}

export function isConnectionError(error: unknown): boolean {
  const code = codeOf(error)
  if (code && (CONNECTION_CODES.has(code) || code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN'))) return true
  if (isPostgresConnectionState(code)) return true
  const message = errorMessage(error)
  return /timeout expired|connection terminated|connection timeout|server closed the connection|Connection lost|ECONNREFUSED|ETIMEDOUT/i.test(message)
}

function redact(text: string, target: DbTarget): string {
  if (target.kind === 'sqlite' || target.password.length < 4) return text
  let out = text
  for (const secret of new Set([target.password, encodeURIComponent(target.password)])) {
    out = out.split(secret).join('****')
  }
  return out
}

function serverSuggestions(target: Extract<DbTarget, {kind: 'mysql' | 'postgres'}>, error: unknown): string[] {
  const code = codeOf(error) ?? ''
  const where = hostPort(target)
  const name = KIND_NAMES[target.kind]
  const out: string[] = []
  if (/ACCESS_DENIED|ER_DBACCESS|NOT_SUPPORTED_AUTH/.test(code) || /^28/.test(code)) {
    out.push(`Check the user "${target.user}" and its password in the URL (--db or SANDBOX_DB_URL); percent-encode special characters.`)
  } else if (code === 'ER_BAD_DB_ERROR' || code === '3D000') {
    out.push(`The server has no database "${target.database}": create it or fix the name at the end of the URL.`)
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    out.push(`The host name "${target.host}" does not resolve: check it, or use an IP address.`)
  } else {
    out.push(
      `Check that ${name} is running and listening on ${where} (for example: ${target.kind === 'mysql' ? `mysql -h ${target.host} -P ${target.port} -u ${target.user} -p` : `pg_isready -h ${target.host} -p ${target.port}`}).`,
    )
    if (target.kind === 'mysql') out.push("RAGFlow's docker compose publishes MySQL on host port 5455 by default (MYSQL_PORT in docker/.env).")
  }
  if (target.ssl === 'disable' && /SSL|TLS|encryption|pg_hba/i.test(errorMessage(error))) {
    out.push('The server may require TLS: add ?sslmode=require to the URL.')
  }
  out.push('Without --db and SANDBOX_DB_URL, settings are kept in a local SQLite file instead.')
  return out
}

/**
 * Wrap a driver error. `phase` says what we were doing ("connect", "read", "write").
 * Connection-type failures -> DATABASE_UNREACHABLE, anything else -> DATABASE_ERROR (both exit 3).
 */
export function databaseError(target: DbTarget, error: unknown, phase: 'connect' | 'read' | 'write'): SandboxError {
  if (error instanceof SandboxError) return error
  const location = describeTarget(target)
  const reason = redact(errorMessage(error) || codeOf(error) || 'unknown error', target)
  const name = KIND_NAMES[target.kind]
  const unreachable = phase === 'connect' || isConnectionError(error)
  if (target.kind === 'sqlite') {
    const message = unreachable ? `Cannot open the SQLite settings database ${location}: ${reason}` : `The SQLite settings database ${location} failed to ${phase}: ${reason}`
    return new SandboxError(message, {
      code: unreachable ? 'DATABASE_UNREACHABLE' : 'DATABASE_ERROR',
      exit: ExitCode.PREREQUISITE,
      suggestions: ['Check that the file is a SQLite database and that its directory is writable.', 'Choose another file with --db sqlite:///absolute/path.db or SANDBOX_DB_URL.'],
      cause: error,
    })
  }
  const where = hostPort(target)
  const message = unreachable
    ? `Cannot connect to the ${name} settings database at ${where} (${location}): ${reason}`
    : `The ${name} settings database at ${where} (${location}) failed to ${phase}: ${reason}`
  return new SandboxError(message, {
    code: unreachable ? 'DATABASE_UNREACHABLE' : 'DATABASE_ERROR',
    exit: ExitCode.PREREQUISITE,
    suggestions: unreachable
      ? serverSuggestions(target, error)
      : [`Check that user "${target.user}" may create and write the system_settings table in database "${target.database}".`],
    cause: error,
  })
}
