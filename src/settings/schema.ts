/**
 * RAGFlow's `system_settings` table (api/db/db_models.py::SystemSettings on peewee's BaseModel),
 * written out per dialect the way peewee creates it: primary key first, then the inherited
 * create/update columns, then source, data_type, value; one index per time/date column named
 * like peewee's (`systemsettings_<column>`).
 */
import type {DbKind} from './url.js'

export const TABLE = 'system_settings'

export const COLUMNS = ['name', 'source', 'data_type', 'value', 'create_time', 'create_date', 'update_time', 'update_date'] as const

export const INDEXED_COLUMNS = ['create_time', 'create_date', 'update_time', 'update_date'] as const

export const indexName = (column: string) => `systemsettings_${column}`

const TYPES: Record<DbKind, {bigint: string; datetime: string; q: (id: string) => string}> = {
  sqlite: {bigint: 'INTEGER', datetime: 'DATETIME', q: (id) => `"${id}"`},
  mysql: {bigint: 'BIGINT', datetime: 'DATETIME', q: (id) => `\`${id}\``},
  postgres: {bigint: 'BIGINT', datetime: 'TIMESTAMP', q: (id) => `"${id}"`},
}

function columnDefinitions(kind: DbKind): string[] {
  const {bigint, datetime, q} = TYPES[kind]
  return [
    `${q('name')} VARCHAR(128) NOT NULL PRIMARY KEY`,
    `${q('create_time')} ${bigint}`,
    `${q('create_date')} ${datetime}`,
    `${q('update_time')} ${bigint}`,
    `${q('update_date')} ${datetime}`,
    `${q('source')} VARCHAR(32) NOT NULL`,
    `${q('data_type')} VARCHAR(32) NOT NULL`,
    `${q('value')} TEXT NOT NULL`,
  ]
}

/**
 * Statements that create the table and its indexes when it is missing. MySQL gets the
 * indexes inline (one atomic statement, MySQL 8 has no CREATE INDEX IF NOT EXISTS);
 * SQLite and PostgreSQL run these inside the write transaction and only when the table
 * did not exist before, so an existing table is never altered.
 */
export function createTableStatements(kind: DbKind): string[] {
  const {q} = TYPES[kind]
  const columns = columnDefinitions(kind)
  if (kind === 'mysql') {
    const keys = INDEXED_COLUMNS.map((c) => `KEY ${q(indexName(c))} (${q(c)})`)
    return [`CREATE TABLE IF NOT EXISTS ${q(TABLE)} (${[...columns, ...keys].join(', ')})`]
  }
  return [`CREATE TABLE IF NOT EXISTS ${q(TABLE)} (${columns.join(', ')})`, ...INDEXED_COLUMNS.map((c) => `CREATE INDEX IF NOT EXISTS ${q(indexName(c))} ON ${q(TABLE)} (${q(c)})`)]
}

const SELECT_COLUMNS = (kind: DbKind) => COLUMNS.map((c) => TYPES[kind].q(c)).join(', ')

export function selectByNameSql(kind: DbKind): string {
  const {q} = TYPES[kind]
  return `SELECT ${SELECT_COLUMNS(kind)} FROM ${q(TABLE)} WHERE ${q('name')} = ?`
}

/** LIKE with '!' as escape character (no backslash quirks across dialects). */
export function selectByPrefixSql(kind: DbKind): string {
  const {q} = TYPES[kind]
  return `SELECT ${SELECT_COLUMNS(kind)} FROM ${q(TABLE)} WHERE ${q('name')} LIKE ? ESCAPE '!' ORDER BY ${q('name')}`
}

export function selectAllSql(kind: DbKind): string {
  const {q} = TYPES[kind]
  return `SELECT ${SELECT_COLUMNS(kind)} FROM ${q(TABLE)} ORDER BY ${q('name')}`
}

export const likePrefix = (prefix: string) => prefix.replace(/[!%_]/g, (c) => `!${c}`) + '%'

/**
 * Insert a new row with source 'admin' and all four timestamps, or, when the name exists,
 * change only data_type, value, update_time and update_date (source and create_* stay).
 * Parameters: name, data_type, value, create_time, create_date, update_time, update_date.
 */
export function upsertSql(kind: DbKind): string {
  const {q} = TYPES[kind]
  const insert =
    `INSERT INTO ${q(TABLE)} (${q('name')}, ${q('source')}, ${q('data_type')}, ${q('value')}, ` +
    `${q('create_time')}, ${q('create_date')}, ${q('update_time')}, ${q('update_date')}) ` +
    `VALUES (?, 'admin', ?, ?, ?, ?, ?, ?)`
  const updated = ['data_type', 'value', 'update_time', 'update_date']
  if (kind === 'mysql') {
    return `${insert} ON DUPLICATE KEY UPDATE ${updated.map((c) => `${q(c)} = VALUES(${q(c)})`).join(', ')}`
  }
  return `${insert} ON CONFLICT (${q('name')}) DO UPDATE SET ${updated.map((c) => `${q(c)} = excluded.${q(c)}`).join(', ')}`
}

/** RAGFlow's timestamps: ms epoch and local datetime 'YYYY-MM-DD HH:MM:SS' (common/time_utils.timestamp_to_date). */
export function settingsTimestamp(now: Date = new Date()): {time: number; date: string} {
  const p = (n: number) => String(n).padStart(2, '0')
  const date = `${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())} ` + `${p(now.getHours())}:${p(now.getMinutes())}:${p(now.getSeconds())}`
  return {time: now.getTime(), date}
}
