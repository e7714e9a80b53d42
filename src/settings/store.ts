/**
 * The `system_settings` store: RAGFlow's table in SQLite (default, a file in the toolkit's
 * data directory), MySQL/MariaDB or PostgreSQL. Rows are read and upserted by exact name;
 * no other row is ever touched, and an existing table is never altered.
 */
import {chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync} from 'node:fs'
import {dirname, join} from 'node:path'

import {configError} from '../errors.js'
import {dataDir} from '../paths.js'
import {databaseError} from './errors.js'
import {createTableStatements, likePrefix, selectAllSql, selectByNameSql, selectByPrefixSql, settingsTimestamp, TABLE, upsertSql} from './schema.js'
import {describeTarget, parseDbUrl, type DbKind, type DbTarget, type ServerTarget, type SqliteTarget} from './url.js'

export interface SettingRow {
  name: string
  source: string
  data_type: string
  value: string
  create_time: number | null
  create_date: string | null
  update_time: number | null
  update_date: string | null
}

export interface SettingInput {
  name: string
  data_type: string
  value: string
}

export interface SettingsStore {
  readonly kind: DbKind
  /** masked URL or file path, safe to print */
  readonly location: string
  get(name: string): Promise<SettingRow | undefined>
  /** rows whose name starts with prefix (exact, case-sensitive), ordered by name; all rows without prefix */
  list(prefix?: string): Promise<SettingRow[]>
  /** insert or update by exact name, all rows in one transaction */
  upsert(rows: SettingInput[]): Promise<void>
  close(): Promise<void>
}

/** Connection and query time limits (ms). */
export const CONNECT_TIMEOUT_MS = 5000
export const QUERY_TIMEOUT_MS = 15_000

export const DB_URL_ENV = 'SANDBOX_DB_URL'

/** Default SQLite file: <dataDir()>/settings.db */
export const defaultSettingsPath = () => join(dataDir(), 'settings.db')

export type SettingsSource = 'flag' | 'env' | 'default'

/**
 * Which database: the given URL (--db), else SANDBOX_DB_URL, else the SQLite file in the
 * data directory. Throws INVALID_DB_URL (exit 4) for a malformed URL.
 */
export function resolveSettingsTarget(url?: string): {target: DbTarget; source: SettingsSource} {
  if (url !== undefined && url.trim() !== '') return {target: parseDbUrl(url), source: 'flag'}
  const env = process.env[DB_URL_ENV]
  if (env !== undefined && env.trim() !== '') return {target: parseDbUrl(env), source: 'env'}
  return {target: {kind: 'sqlite', path: defaultSettingsPath()}, source: 'default'}
}

/**
 * Open (and connect to) the settings database. Nothing is created until the first upsert:
 * no table, and for SQLite not even the file or its directory.
 */
export async function openSettingsStore(url?: string): Promise<SettingsStore> {
  const {target} = resolveSettingsTarget(url)
  return openTarget(target)
}

export async function openTarget(target: DbTarget): Promise<SettingsStore> {
  switch (target.kind) {
    case 'sqlite':
      return SqliteStore.open(target)
    case 'mysql':
      return MysqlStore.open(target)
    case 'postgres':
      return PostgresStore.open(target)
  }
}

function validateRows(rows: SettingInput[]): void {
  for (const row of rows) {
    if (typeof row.name !== 'string' || row.name.length === 0 || row.name.length > 128) {
      throw configError(`Setting name must be 1..128 characters, got ${JSON.stringify(row.name)}`, 'INVALID_SETTING')
    }
    if (typeof row.data_type !== 'string' || row.data_type.length === 0 || row.data_type.length > 32) {
      throw configError(`Setting data_type for ${row.name} must be 1..32 characters`, 'INVALID_SETTING')
    }
    if (typeof row.value !== 'string') {
      throw configError(`Setting value for ${row.name} must be text`, 'INVALID_SETTING')
    }
  }
}

function formatDate(value: unknown): string | null {
  if (value === null || value === undefined) return null
  if (value instanceof Date) return settingsTimestamp(value).date
  return String(value)
}

function toRow(raw: Record<string, unknown>): SettingRow {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v))
  return {
    name: String(raw.name),
    source: String(raw.source),
    data_type: String(raw.data_type),
    value: raw.value === null || raw.value === undefined ? '' : String(raw.value),
    create_time: num(raw.create_time),
    create_date: formatDate(raw.create_date),
    update_time: num(raw.update_time),
    update_date: formatDate(raw.update_date),
  }
}

/** The DB decides matches with its own collation; keep only exact (case-sensitive) ones. */
const exactPrefix = (rows: SettingRow[], prefix: string | undefined) => (prefix ? rows.filter((r) => r.name.startsWith(prefix)) : rows)

const exactName = (rows: SettingRow[], name: string) => rows.find((r) => r.name === name)

function upsertParams(row: SettingInput, now: {time: number; date: string}): unknown[] {
  return [row.name, row.data_type, row.value, now.time, now.date, now.time, now.date]
}

// ---------------------------------------------------------------- SQLite

/** Fail early (ENOTDIR) when the nearest existing ancestor of dir is not a directory. */
function assertCreatable(dir: string): void {
  let current = dir
  while (!existsSync(current)) {
    const parent = dirname(current)
    if (parent === current) return
    current = parent
  }
  if (!statSync(current).isDirectory()) {
    throw Object.assign(new Error(`ENOTDIR: not a directory, ${current}`), {code: 'ENOTDIR'})
  }
}

/**
 * mkdir -p without `recursive: true`: Node's recursive mkdir spins forever where mkdir
 * keeps failing with ENOENT under an existing parent (e.g. below /proc). `mode` applies to
 * the last directory only, and only when this call creates it.
 */
function ensureDir(dir: string, mode?: number): void {
  if (existsSync(dir)) return
  const parent = dirname(dir)
  if (parent !== dir) ensureDir(parent)
  try {
    mkdirSync(dir, mode === undefined ? undefined : {mode})
    if (mode !== undefined) chmodSync(dir, mode) // the umask may have taken bits away
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
}

/**
 * The settings file holds API keys and tokens: it is created 0600 in a directory created 0700,
 * and SQLite gives its -journal, -wal and -shm files the database file's permissions.
 */
export const SETTINGS_FILE_MODE = 0o600
export const SETTINGS_DIR_MODE = 0o700
const SQLITE_SIDE_FILES = ['-journal', '-wal', '-shm']

/** Create an empty database file with SETTINGS_FILE_MODE (an empty file is a valid SQLite database). */
function createPrivateFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', SETTINGS_FILE_MODE))
    chmodSync(path, SETTINGS_FILE_MODE)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
}

/**
 * Before a write: a settings file (or side file) readable or writable by others is narrowed
 * to SETTINGS_FILE_MODE. A file this user may not chmod (another owner) is left as it is.
 */
function tightenModes(path: string): void {
  for (const file of [path, ...SQLITE_SIDE_FILES.map((suffix) => path + suffix)]) {
    try {
      if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, SETTINGS_FILE_MODE)
    } catch {
      // missing side file, or not ours to change
    }
  }
}

type SqliteDb = import('better-sqlite3').Database

/** Reads are the same SQL shape everywhere: exact names, escaped prefixes. */
abstract class SqlStore implements SettingsStore {
  abstract readonly kind: DbKind
  abstract readonly location: string
  protected abstract select(sql: string, params: unknown[]): SettingRow[] | Promise<SettingRow[]>
  abstract upsert(rows: SettingInput[]): Promise<void>
  abstract close(): Promise<void>

  async get(name: string): Promise<SettingRow | undefined> {
    return exactName(await this.select(selectByNameSql(this.kind), [name]), name)
  }

  async list(prefix?: string): Promise<SettingRow[]> {
    const rows = prefix ? await this.select(selectByPrefixSql(this.kind), [likePrefix(prefix)]) : await this.select(selectAllSql(this.kind), [])
    return exactPrefix(rows, prefix)
  }
}

class SqliteStore extends SqlStore {
  readonly kind = 'sqlite' as const
  readonly location: string

  private constructor(
    private readonly target: SqliteTarget,
    private readonly Database: typeof import('better-sqlite3'),
    /** undefined until the file exists: reads of a missing file create nothing */
    private db: SqliteDb | undefined,
  ) {
    super()
    this.location = describeTarget(target)
  }

  static async open(target: SqliteTarget): Promise<SqliteStore> {
    const {default: Database} = await import('better-sqlite3')
    try {
      if (!existsSync(target.path)) {
        assertCreatable(dirname(target.path))
        return new SqliteStore(target, Database, undefined)
      }
      return new SqliteStore(target, Database, SqliteStore.connect(Database, target))
    } catch (error) {
      throw databaseError(target, error, 'connect')
    }
  }

  private static connect(Database: typeof import('better-sqlite3'), target: SqliteTarget): SqliteDb {
    if (!existsSync(target.path)) {
      ensureDir(dirname(target.path), SETTINGS_DIR_MODE)
      createPrivateFile(target.path)
    }
    const db = new Database(target.path, {timeout: CONNECT_TIMEOUT_MS})
    try {
      // fails here for a file that is not a SQLite database
      db.prepare('SELECT count(*) FROM sqlite_master').get()
    } catch (error) {
      db.close()
      throw error
    }
    return db
  }

  /** The open database; with create=false, undefined while the file does not exist. */
  private handle(create: boolean): SqliteDb | undefined {
    if (!this.db && (create || existsSync(this.target.path))) {
      try {
        this.db = SqliteStore.connect(this.Database, this.target)
      } catch (error) {
        throw databaseError(this.target, error, 'connect')
      }
    }
    return this.db
  }

  private missingTable(error: unknown): boolean {
    return /no such table/i.test(String((error as Error)?.message))
  }

  protected select(sql: string, params: unknown[]): SettingRow[] {
    const db = this.handle(false)
    if (!db) return []
    try {
      return (db.prepare(sql).all(...params) as Record<string, unknown>[]).map(toRow)
    } catch (error) {
      if (this.missingTable(error)) return []
      throw databaseError(this.target, error, 'read')
    }
  }

  async upsert(rows: SettingInput[]): Promise<void> {
    validateRows(rows)
    if (rows.length === 0) return
    const now = settingsTimestamp()
    const db = this.handle(true)!
    tightenModes(this.target.path)
    try {
      const write = db.transaction(() => {
        const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(TABLE)
        if (!exists) for (const sql of createTableStatements('sqlite')) db.prepare(sql).run()
        const stmt = db.prepare(upsertSql('sqlite'))
        for (const row of rows) stmt.run(...upsertParams(row, now))
      })
      write.immediate()
    } catch (error) {
      throw databaseError(this.target, error, 'write')
    }
  }

  async close(): Promise<void> {
    if (this.db?.open) this.db.close()
    this.db = undefined
  }
}

// ---------------------------------------------------------------- MySQL / MariaDB

type MysqlConnection = import('mysql2/promise').Connection

class MysqlStore extends SqlStore {
  readonly kind = 'mysql' as const
  readonly location: string
  private tableReady = false

  private constructor(
    private readonly target: ServerTarget,
    private readonly conn: MysqlConnection,
  ) {
    super()
    this.location = describeTarget(target)
  }

  static async open(target: ServerTarget): Promise<MysqlStore> {
    const mysql = await import('mysql2/promise')
    let conn: MysqlConnection
    try {
      conn = await mysql.createConnection({
        host: target.host,
        port: target.port,
        user: target.user,
        password: target.password,
        database: target.database,
        connectTimeout: CONNECT_TIMEOUT_MS,
        dateStrings: true,
        supportBigNumbers: true,
        bigNumberStrings: false,
        multipleStatements: false,
        ssl: target.ssl === 'disable' ? undefined : {rejectUnauthorized: target.ssl === 'verify-full'},
      })
    } catch (error) {
      throw databaseError(target, error, 'connect')
    }
    // a connection that dies while idle must not crash the process
    conn.on('error', () => {})
    return new MysqlStore(target, conn)
  }

  protected async select(sql: string, params: unknown[]): Promise<SettingRow[]> {
    try {
      const [rows] = await this.conn.query({sql, timeout: QUERY_TIMEOUT_MS}, params)
      return (rows as Record<string, unknown>[]).map(toRow)
    } catch (error) {
      if ((error as {code?: string}).code === 'ER_NO_SUCH_TABLE') return []
      throw databaseError(this.target, error, 'read')
    }
  }

  async upsert(rows: SettingInput[]): Promise<void> {
    validateRows(rows)
    if (rows.length === 0) return
    const now = settingsTimestamp()
    try {
      // DDL commits implicitly in MySQL, so the (idempotent, atomic) CREATE runs before the transaction.
      if (!this.tableReady) {
        for (const sql of createTableStatements('mysql')) await this.conn.query({sql, timeout: QUERY_TIMEOUT_MS})
        this.tableReady = true
      }
      await this.conn.beginTransaction()
      try {
        for (const row of rows) await this.conn.query({sql: upsertSql('mysql'), timeout: QUERY_TIMEOUT_MS}, upsertParams(row, now))
        await this.conn.commit()
      } catch (error) {
        await this.conn.rollback().catch(() => {})
        throw error
      }
    } catch (error) {
      throw databaseError(this.target, error, 'write')
    }
  }

  async close(): Promise<void> {
    try {
      await this.conn.end()
    } catch {
      this.conn.destroy()
    }
  }
}

// ---------------------------------------------------------------- PostgreSQL

type PgClient = import('pg').Client

/** '?' placeholders -> $1, $2, ... (our SQL has no literal question marks) */
const pgSql = (sql: string) => {
  let n = 0
  return sql.replace(/\?/g, () => `$${++n}`)
}

class PostgresStore extends SqlStore {
  readonly kind = 'postgres' as const
  readonly location: string

  private constructor(
    private readonly target: ServerTarget,
    private readonly client: PgClient,
  ) {
    super()
    this.location = describeTarget(target)
  }

  static async open(target: ServerTarget): Promise<PostgresStore> {
    const {default: pg} = await import('pg')
    const TIMESTAMP = 1114
    const TIMESTAMPTZ = 1184
    const INT8 = 20
    const client = new pg.Client({
      host: target.host,
      port: target.port,
      user: target.user,
      password: target.password,
      database: target.database,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      ssl: target.ssl === 'disable' ? false : {rejectUnauthorized: target.ssl === 'verify-full'},
      types: {
        // keep datetimes as the server's text ('YYYY-MM-DD HH:MM:SS'), bigint ms epochs as numbers
        getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
          if (oid === TIMESTAMP || oid === TIMESTAMPTZ) return (value: string) => value
          if (oid === INT8) return (value: string) => Number(value)
          return pg.types.getTypeParser(oid, format as 'text')
        }) as typeof pg.types.getTypeParser,
      },
    })
    // a connection that dies while idle must not crash the process
    client.on('error', () => {})
    try {
      await client.connect()
    } catch (error) {
      await client.end().catch(() => {})
      throw databaseError(target, error, 'connect')
    }
    return new PostgresStore(target, client)
  }

  protected async select(sql: string, params: unknown[]): Promise<SettingRow[]> {
    try {
      const result = await this.client.query(pgSql(sql), params)
      return (result.rows as Record<string, unknown>[]).map(toRow)
    } catch (error) {
      if ((error as {code?: string}).code === '42P01') return [] // undefined_table
      throw databaseError(this.target, error, 'read')
    }
  }

  async upsert(rows: SettingInput[]): Promise<void> {
    validateRows(rows)
    if (rows.length === 0) return
    const now = settingsTimestamp()
    try {
      await this.writeOnce(rows, now)
    } catch (error) {
      // Two writers creating the missing table at once: the loser fails on the catalog's
      // unique index (23505) or with duplicate_table (42P07); the table exists now, so retry once.
      const code = (error as {code?: string}).code
      if (code !== '23505' && code !== '42P07') throw databaseError(this.target, error, 'write')
      try {
        await this.writeOnce(rows, now)
      } catch (retryError) {
        throw databaseError(this.target, retryError, 'write')
      }
    }
  }

  private async writeOnce(rows: SettingInput[], now: {time: number; date: string}): Promise<void> {
    await this.client.query('BEGIN')
    try {
      // DDL is transactional here: a failed write also leaves no new table behind.
      const {rows: found} = await this.client.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [TABLE])
      if (!found[0]?.present) for (const sql of createTableStatements('postgres')) await this.client.query(sql)
      for (const row of rows) await this.client.query(pgSql(upsertSql('postgres')), upsertParams(row, now))
      await this.client.query('COMMIT')
    } catch (error) {
      await this.client.query('ROLLBACK').catch(() => {})
      throw error
    }
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => {})
  }
}
