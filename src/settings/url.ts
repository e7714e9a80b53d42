/**
 * Database URLs for the settings store:
 *   sqlite:///abs/path.db
 *   mysql://user:pass@host:port/db        (also mariadb://)
 *   postgres://user:pass@host:port/db     (also postgresql://)
 * Passwords never leave this module unmasked except inside the parsed target.
 */
import {isAbsolute} from 'node:path'

import {configError} from '../errors.js'

export type DbKind = 'sqlite' | 'mysql' | 'postgres'

export interface SqliteTarget {
  kind: 'sqlite'
  /** absolute file path */
  path: string
}

export interface ServerTarget {
  kind: 'mysql' | 'postgres'
  host: string
  port: number
  user: string
  password: string
  database: string
  /**
   * TLS: 'disable' (default), 'require' (encrypted, certificate not checked: ?sslmode=require),
   * 'verify-full' (certificate checked: ?ssl=true, ?sslmode=verify-ca|verify-full)
   */
  ssl: SslMode
}

export type SslMode = 'disable' | 'require' | 'verify-full'

export type DbTarget = SqliteTarget | ServerTarget

export const DEFAULT_PORTS = {mysql: 3306, postgres: 5432} as const

const SCHEMES: Record<string, DbKind> = {
  sqlite: 'sqlite',
  mysql: 'mysql',
  mariadb: 'mysql',
  postgres: 'postgres',
  postgresql: 'postgres',
}

const EXAMPLES = ['sqlite:///var/lib/sandbox/settings.db', 'mysql://user:password@127.0.0.1:3306/rag_flow', 'postgres://user:password@127.0.0.1:5432/rag_flow']

const MASK = '****'

/** Hide the password of a URL, database or HTTP (also for URLs that do not parse). */
export function maskDbUrl(url: string): string {
  // scheme://user:password@host... -> scheme://user:****@host...
  // The user part cannot contain '/', '@' or ':' unencoded; the password may contain
  // anything but the last '@' before the host, so match greedily up to the last '@'.
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:(?:\/\/)?)([^/@:]*):(.*)@([^@]*)$/s.exec(url)
  if (m) return `${m[1]}${m[2]}:${MASK}@${m[4]}`
  return url
}

function invalid(url: string, reason: string): never {
  throw configError(`Invalid database URL "${maskDbUrl(url)}": ${reason}`, 'INVALID_DB_URL', [
    `Use one of: ${EXAMPLES.join(', ')}`,
    'Set it with --db or the SANDBOX_DB_URL environment variable; percent-encode special characters in the user and password.',
  ])
}

function decode(url: string, part: string, what: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    return invalid(url, `the ${what} is not valid percent-encoding`)
  }
}

function parseSsl(url: string, params: URLSearchParams): SslMode {
  let ssl: SslMode = 'disable'
  for (const [key, value] of params) {
    const v = value.toLowerCase()
    if (key === 'ssl') {
      if (['true', '1', 'yes'].includes(v)) ssl = 'verify-full'
      else if (['false', '0', 'no'].includes(v)) ssl = 'disable'
      else invalid(url, `ssl must be true or false, got "${value}"`)
    } else if (key === 'sslmode') {
      if (v === 'require') ssl = 'require'
      else if (['verify-ca', 'verify-full'].includes(v)) ssl = 'verify-full'
      else if (['disable', 'prefer', 'allow'].includes(v)) ssl = 'disable'
      else invalid(url, `unknown sslmode "${value}"`)
    } else {
      invalid(url, `unknown parameter "${key}" (supported: ssl, sslmode)`)
    }
  }
  return ssl
}

/** Parse a settings database URL; throws SandboxError INVALID_DB_URL (exit 4). */
export function parseDbUrl(url: string): DbTarget {
  const text = (url ?? '').trim()
  if (!text) invalid(text, 'it is empty')
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text)
  if (!schemeMatch) invalid(text, 'it has no scheme (sqlite://, mysql:// or postgres://)')
  const scheme = schemeMatch[1].toLowerCase()
  const kind = SCHEMES[scheme]
  if (!kind) invalid(text, `unsupported scheme "${scheme}" (use sqlite, mysql, mariadb, postgres or postgresql)`)

  if (kind === 'sqlite') {
    const rest = text.slice(schemeMatch[0].length)
    if (!rest.startsWith('//')) invalid(text, 'write SQLite URLs as sqlite:///absolute/path.db')
    let path = rest.slice(2)
    const q = path.indexOf('?')
    if (q !== -1) invalid(text, 'SQLite URLs take no parameters')
    if (path.startsWith('localhost/')) path = path.slice('localhost'.length)
    path = decode(text, path, 'path')
    if (!path || !isAbsolute(path)) invalid(text, 'the SQLite path must be absolute: sqlite:///absolute/path.db (three slashes)')
    if (path.endsWith('/')) invalid(text, 'the SQLite path names a directory, not a file')
    return {kind, path}
  }

  let parsed: URL
  try {
    parsed = new URL(text)
  } catch {
    return invalid(text, 'it is not a valid URL (expected scheme://user:password@host:port/database)')
  }
  if (!parsed.hostname) invalid(text, 'the host is missing')
  let host = parsed.hostname
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  let port: number = DEFAULT_PORTS[kind]
  if (parsed.port) {
    port = Number(parsed.port)
    if (!Number.isInteger(port) || port < 1 || port > 65_535) invalid(text, `the port "${parsed.port}" is out of range`)
  }
  const user = decode(text, parsed.username, 'user')
  if (!user) invalid(text, 'the user is missing (scheme://user:password@host:port/database)')
  const password = decode(text, parsed.password, 'password')
  const path = parsed.pathname.replace(/^\//, '')
  if (!path) invalid(text, 'the database name is missing (…@host:port/database)')
  if (path.includes('/')) invalid(text, 'the database name must not contain "/"')
  const database = decode(text, path, 'database name')
  if (parsed.hash) invalid(text, 'it must not contain a "#" fragment (percent-encode "#" in the password as %23)')
  const ssl = parseSsl(text, parsed.searchParams)
  return {kind, host, port, user, password, database, ssl}
}

/** host:port with IPv6 in brackets */
export function hostPort(target: ServerTarget): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host
  return `${host}:${target.port}`
}

/** A printable location: the file path for SQLite, a URL with the password masked otherwise. */
export function describeTarget(target: DbTarget): string {
  if (target.kind === 'sqlite') return target.path
  const scheme = target.kind === 'mysql' ? 'mysql' : 'postgres'
  const auth = encodeURIComponent(target.user) + (target.password ? `:${MASK}` : '')
  const params = target.ssl === 'disable' ? '' : `?sslmode=${target.ssl}`
  return `${scheme}://${auth}@${hostPort(target)}/${encodeURIComponent(target.database)}${params}`
}
