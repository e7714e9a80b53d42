/** Shared by the admin API and page tests: the images global setup built, and the rows of a SQLite settings file. */
import {existsSync} from 'node:fs'

import Database from 'better-sqlite3'

/** the images global setup built (private tags when SANDBOX_BASE_*_IMAGE are set); nothing else of the environment */
export const imageEnv = (): Record<string, string> =>
  Object.fromEntries(['SANDBOX_BASE_PYTHON_IMAGE', 'SANDBOX_BASE_NODEJS_IMAGE'].flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])))

export interface SettingRowText {
  name: string
  source: string
  data_type: string
  value: string
}

/** every system_settings row, read with the database's own client (better-sqlite3), by name; null when the file does not exist */
export function sqliteRows(file: string): SettingRowText[] | null {
  if (!existsSync(file)) return null
  const db = new Database(file, {readonly: true, fileMustExist: true})
  try {
    return db.prepare('SELECT name, source, data_type, value FROM system_settings ORDER BY name').all() as SettingRowText[]
  } finally {
    db.close()
  }
}
