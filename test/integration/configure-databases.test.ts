/**
 * `sandbox configure aliyun` (the real CLI, `node bin/dev.js`) into SQLite, MariaDB and
 * PostgreSQL servers started here from Debian packages; rows read back with each database's
 * own command-line client (sqlite3, mariadb, psql). The rows must have the names, data types
 * and JSON text RAGFlow's seed rows have; other rows stay untouched; bad settings and a
 * database that is down give a clear error, a non-zero exit and no write.
 */
import {execFile, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createTableStatements} from '../../src/settings/index.js'
import {closedPort, startMariaDB, startPostgres, type DatabaseServer} from '../helpers/databases.js'

const KEY_ID = 'LTAI5tQw3rTy6uIo9pAsDfGh'
const SECRET = 'Al1yun-Secret/with+odd=chars_9876'
const ACCOUNT = '1357924680135792'

let dir: string
const cleanEnv = () => {
  const env: NodeJS.ProcessEnv = {...process.env, SANDBOX_DATA_DIR: join(dir, 'data'), FORCE_COLOR: '0'}
  for (const k of Object.keys(env)) if (k === 'SANDBOX_DB_URL' || k.startsWith('AGENTRUN_') || k.startsWith('ALIBABA_CLOUD_') || k.startsWith('FC_')) delete env[k]
  return env
}

interface CliRun {
  code: number
  json: any
  stdout: string
  stderr: string
}

function sandbox(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/dev.js', ...args, '--json'], {env, cwd: process.cwd(), timeout: 120_000, maxBuffer: 16 * 1024 * 1024}, (error, stdout, stderr) => {
      const code = error ? Number((error as {code?: number}).code ?? 1) : 0
      let json: any = {}
      try {
        json = JSON.parse(stdout)
      } catch {}
      resolve({code, json, stdout, stderr})
    })
  })
}

const configureAliyun = (db: string, region = 'cn-shanghai') =>
  sandbox(['configure', 'aliyun', '--db', db, '--access-key-id', KEY_ID, '--access-key-secret', SECRET, '--account-id', ACCOUNT, '--region', region])

/** RAGFlow's conf/system_settings.json sandbox rows (source "variable") and one unrelated row. */
const SEED = [
  ['default_role', 'variable', 'string', 'normal'],
  ['sandbox.aliyun_codeinterpreter', 'variable', 'json', '{}'],
  ['sandbox.e2b', 'variable', 'json', '{}'],
  ['sandbox.provider_type', 'variable', 'string', 'self_managed'],
  ['sandbox.self_managed', 'variable', 'json', '{"endpoint": "http://sandbox-executor-manager:9385", "timeout": 30, "max_retries": 3, "pool_size": 10}'],
] as const

const seedSql = (quote: (s: string) => string) =>
  SEED.map(
    ([name, source, type, value]) =>
      `INSERT INTO system_settings (name, source, data_type, value, create_time, create_date, update_time, update_date) VALUES (${quote(name)}, ${quote(source)}, ${quote(type)}, ${quote(value)}, 1700000000000, '2023-11-14 22:13:20', 1700000000000, '2023-11-14 22:13:20')`,
  )

const EXPECTED_VALUE = `{"access_key_id": "${KEY_ID}", "access_key_secret": "${SECRET}", "account_id": "${ACCOUNT}", "region": "cn-shanghai", "timeout": 30}`

const ROWS_SQL = 'SELECT name, source, data_type, value, create_time, create_date, update_time, update_date FROM system_settings ORDER BY name'

/** tab-separated CLI output → rows */
const parseRows = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [name, source, data_type, value, create_time, create_date, update_time, update_date] = line.split('\t')
      return {name, source, data_type, value, create_time, create_date, update_time, update_date}
    })

interface Backend {
  label: string
  url: () => string
  downUrl: () => Promise<string>
  /** run SQL with the database's own CLI, tab-separated rows */
  query: (sql: string) => Promise<string>
  /** column name → declared type, as the database reports it */
  columns: () => Promise<Record<string, string>>
  quote: (s: string) => string
}

const sqlQuote = (s: string) => `'${s.replace(/'/g, "''")}'`

let mariadb: DatabaseServer
let postgres: DatabaseServer

function sqliteBackend(): Backend {
  const file = () => join(dir, 'ragflow.db')
  const run = (sql: string) => {
    const r = spawnSync('sqlite3', ['-batch', '-noheader', '-separator', '\t', file(), sql], {encoding: 'utf8'})
    if (r.status !== 0) throw new Error(`sqlite3: ${r.stderr}`)
    return r.stdout
  }
  return {
    label: 'SQLite (sqlite3 CLI)',
    url: () => `sqlite://${file()}`,
    // a path below a regular file: the database cannot be opened
    downUrl: async () => {
      writeFileSync(join(dir, 'plain-file'), 'not a directory')
      return `sqlite://${join(dir, 'plain-file', 'x.db')}`
    },
    query: async (sql) => run(sql),
    columns: async () =>
      Object.fromEntries(
        run("SELECT name, type FROM pragma_table_info('system_settings')")
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split('\t') as [string, string]),
      ),
    quote: sqlQuote,
  }
}

const backends: Backend[] = [
  sqliteBackend(),
  {
    label: 'MariaDB (mariadb CLI)',
    url: () => mariadb.url,
    downUrl: async () => `mysql://${mariadb.user}:${encodeURIComponent(mariadb.password)}@127.0.0.1:${await closedPort()}/${mariadb.database}`,
    query: (sql) => mariadb.query(sql),
    columns: async () =>
      Object.fromEntries(
        (await mariadb.query(`SELECT column_name, column_type FROM information_schema.columns WHERE table_schema = '${mariadb.database}' AND table_name = 'system_settings'`))
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split('\t') as [string, string]),
      ),
    quote: (s) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`,
  },
  {
    label: 'PostgreSQL (psql)',
    url: () => postgres.url,
    downUrl: async () => `postgres://${postgres.user}:${encodeURIComponent(postgres.password)}@127.0.0.1:${await closedPort()}/${postgres.database}`,
    query: (sql) => postgres.query(sql),
    columns: async () =>
      Object.fromEntries(
        (
          await postgres.query(
            "SELECT column_name, CASE WHEN character_maximum_length IS NULL THEN data_type ELSE data_type || '(' || character_maximum_length || ')' END FROM information_schema.columns WHERE table_name = 'system_settings'",
          )
        )
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split('\t') as [string, string]),
      ),
    quote: sqlQuote,
  },
]

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'configure-db-'))
  ;[mariadb, postgres] = await Promise.all([startMariaDB(), startPostgres()])
}, 600_000)

afterAll(async () => {
  await Promise.allSettled([mariadb?.stop(), postgres?.stop()])
  rmSync(dir, {recursive: true, force: true})
})

describe.each(backends)('configure aliyun into $label', (backend) => {
  const reset = async () => backend.query('DROP TABLE IF EXISTS system_settings')

  it("creates RAGFlow's table when missing and writes the two rows with source admin", async () => {
    await reset()
    const r = await configureAliyun(backend.url())
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout + r.stderr).not.toContain(SECRET)
    const rows = parseRows(await backend.query(ROWS_SQL))
    expect(rows.map((x) => [x.name, x.source, x.data_type, x.value])).toEqual([
      ['sandbox.aliyun_codeinterpreter', 'admin', 'json', EXPECTED_VALUE],
      ['sandbox.provider_type', 'admin', 'string', 'aliyun_codeinterpreter'],
    ])
    for (const row of rows) {
      expect(Number(row.create_time)).toBeGreaterThan(1_700_000_000_000)
      expect(row.create_date).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
    }
    const columns = await backend.columns()
    expect(Object.keys(columns).sort()).toEqual(['create_date', 'create_time', 'data_type', 'name', 'source', 'update_date', 'update_time', 'value'])
    expect(columns.name.toLowerCase()).toMatch(/^(varchar|character varying)\(128\)$/)
    expect(columns.value.toLowerCase()).toBe('text')
  })

  it("updates RAGFlow's seeded rows in place and leaves every other row untouched", async () => {
    await reset()
    for (const sql of createTableStatements(backend === backends[1] ? 'mysql' : backend === backends[2] ? 'postgres' : 'sqlite')) await backend.query(sql)
    for (const sql of seedSql(backend.quote)) await backend.query(sql)
    const before = parseRows(await backend.query(ROWS_SQL))
    const r = await configureAliyun(backend.url())
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const after = parseRows(await backend.query(ROWS_SQL))
    expect(after.map((x) => x.name)).toEqual(before.map((x) => x.name))
    const changed = new Set(['sandbox.aliyun_codeinterpreter', 'sandbox.provider_type'])
    for (const [i, row] of after.entries()) {
      if (!changed.has(row.name)) {
        expect(row, row.name).toEqual(before[i])
        continue
      }
      // same name, source and creation; new value and update time
      expect(row.source).toBe('variable')
      expect(row.create_time).toBe(before[i].create_time)
      expect(row.data_type).toBe(before[i].data_type)
      expect(Number(row.update_time)).toBeGreaterThan(Number(before[i].update_time))
    }
    const byName = Object.fromEntries(after.map((x) => [x.name, x]))
    expect(byName['sandbox.aliyun_codeinterpreter'].value).toBe(EXPECTED_VALUE)
    expect(byName['sandbox.provider_type'].value).toBe('aliyun_codeinterpreter')
    // the same JSON text shape as RAGFlow's own seed row (json.dumps: ", " and ": ")
    expect(byName['sandbox.self_managed'].value).toMatch(/^\{"[a-z_]+": [^,]+(, "[a-z_]+": [^,]+)*\}$/)
    expect(byName['sandbox.aliyun_codeinterpreter'].value).toMatch(/^\{"[a-z_]+": [^,]+(, "[a-z_]+": [^,]+)*\}$/)
  })

  it('a wrong AccessKey ID or an unknown region → exit 4, nothing written', async () => {
    const before = await backend.query(ROWS_SQL)
    const wrongKey = await sandbox([
      'configure',
      'aliyun',
      '--db',
      backend.url(),
      '--access-key-id',
      'AKIAIOSFODNN7EXAMPLE',
      '--access-key-secret',
      SECRET,
      '--account-id',
      ACCOUNT,
    ])
    expect(wrongKey.code).toBe(4)
    expect(wrongKey.json.error.message).toContain("Invalid AccessKey ID format (should start with 'LTAI')")
    const wrongRegion = await configureAliyun(backend.url(), 'eu-central-1')
    expect(wrongRegion.code).toBe(4)
    expect(wrongRegion.json.error.message).toContain('Invalid region. Must be one of: cn-hangzhou, cn-beijing, cn-shanghai, cn-shenzhen, cn-guangzhou')
    expect(await backend.query(ROWS_SQL)).toBe(before)
  })

  it('AGENTRUN_* over an existing row: a rotated key is stored, a bad one fails (exit 4) leaving the row, an STS. key with its token is stored', async () => {
    await reset()
    expect((await configureAliyun(backend.url())).code).toBe(0)
    const rotated = 'LTAI5tRoTaTeDkEy0123456'
    const newSecret = 'Rotated-Secret/+=_0123456789'
    const env = {...cleanEnv(), AGENTRUN_ACCESS_KEY_ID: rotated, AGENTRUN_ACCESS_KEY_SECRET: newSecret}
    const r = await sandbox(['configure', 'aliyun', '--db', backend.url()], env)
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout + r.stderr).not.toContain(newSecret)
    const stored = async () => JSON.parse(parseRows(await backend.query(ROWS_SQL)).find((x) => x.name === 'sandbox.aliyun_codeinterpreter')!.value)
    expect(await stored()).toEqual({access_key_id: rotated, access_key_secret: newSecret, account_id: ACCOUNT, region: 'cn-shanghai', timeout: 30})

    const before = await backend.query(ROWS_SQL)
    const bad = await sandbox(['configure', 'aliyun', '--db', backend.url()], {...env, AGENTRUN_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE'})
    expect(bad.code).toBe(4)
    expect(bad.json.error.message).toContain("Invalid AccessKey ID format (should start with 'LTAI')")
    expect(bad.json.error.suggestions.join('\n')).toContain('AGENTRUN_ACCESS_KEY_ID')
    const noToken = await sandbox(['configure', 'aliyun', '--db', backend.url()], {...env, AGENTRUN_ACCESS_KEY_ID: 'STS.NTaBcDeFgHiJkLmNoP'})
    expect(noToken.code).toBe(4)
    expect(noToken.json.error.message).toContain('needs its security token')
    expect(await backend.query(ROWS_SQL)).toBe(before)

    const token = 'CAIS-Sts-Token/with+odd=chars_0123456789'
    const sts = await sandbox(['configure', 'aliyun', '--db', backend.url()], {...env, AGENTRUN_ACCESS_KEY_ID: 'STS.NTaBcDeFgHiJkLmNoP', AGENTRUN_SECURITY_TOKEN: token})
    expect(sts.code, sts.stdout + sts.stderr).toBe(0)
    expect(sts.stdout + sts.stderr).not.toContain(token)
    expect(await stored()).toEqual({
      access_key_id: 'STS.NTaBcDeFgHiJkLmNoP',
      access_key_secret: newSecret,
      account_id: ACCOUNT,
      region: 'cn-shanghai',
      timeout: 30,
      security_token: token,
    })
  })

  it('the database down → exit 3 with a clear message, password masked', async () => {
    const url = await backend.downUrl()
    const r = await configureAliyun(url)
    expect(r.code).toBe(3)
    expect(r.json.error.code).toBe('DATABASE_UNREACHABLE')
    expect(r.json.error.suggestions.length).toBeGreaterThan(0)
    expect(r.stdout + r.stderr).not.toContain(SECRET)
    if (backend !== backends[0]) expect(r.stdout).not.toContain(backend === backends[1] ? mariadb.password : postgres.password)
  })
})
