/**
 * The settings store against real MariaDB and PostgreSQL servers (Debian packages, private
 * instances started here), read back with each database's own CLI client.
 */
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {SandboxError} from '../../src/errors.js'
import {PROVIDER_TYPE_KEY, openSettingsStore, readSandboxSettings, writeProviderSettings, type SettingsStore} from '../../src/settings/index.js'
import {closedPort, startMariaDB, startPostgres, type DatabaseServer} from '../helpers/databases.js'

const DATE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/
const SELF_MANAGED_SEED = '{"endpoint": "http://localhost:9385", "timeout": 30, "max_retries": 3, "pool_size": 10}'
const ALIYUN = {
  access_key_id: 'LTAI5tExampleKey',
  access_key_secret: 'very-secret',
  account_id: '1234567890',
  region: 'cn-hangzhou',
  template_name: '',
  timeout: 30,
}
const ALIYUN_JSON =
  '{"access_key_id": "LTAI5tExampleKey", "access_key_secret": "very-secret", "account_id": "1234567890", "region": "cn-hangzhou", "template_name": "", "timeout": 30}'

interface Dialect {
  label: string
  start: () => Promise<DatabaseServer>
  scheme: string
  /** name, type, nullable, key per column, from the catalog */
  columnsSql: string
  expectedColumns: string[]
  indexesSql: string
  /** RAGFlow's table as peewee creates it; {value} is the value column type */
  ragflowDdl: (valueType: string) => string[]
  /** full DDL/structure dump to prove an existing table is not altered */
  structureSql: string
}

const dialects: Dialect[] = [
  {
    label: 'MariaDB',
    start: startMariaDB,
    scheme: 'mysql',
    columnsSql:
      "SELECT column_name, column_type, is_nullable, column_key FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'system_settings' ORDER BY ordinal_position",
    expectedColumns: [
      'name\tvarchar(128)\tNO\tPRI',
      'create_time\tbigint(20)\tYES\tMUL',
      'create_date\tdatetime\tYES\tMUL',
      'update_time\tbigint(20)\tYES\tMUL',
      'update_date\tdatetime\tYES\tMUL',
      'source\tvarchar(32)\tNO\t',
      'data_type\tvarchar(32)\tNO\t',
      'value\ttext\tNO\t',
    ],
    indexesSql:
      "SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = 'system_settings' AND index_name <> 'PRIMARY' ORDER BY index_name",
    ragflowDdl: (valueType) => [
      `CREATE TABLE system_settings (name VARCHAR(128) NOT NULL PRIMARY KEY, create_time BIGINT, create_date DATETIME, update_time BIGINT, update_date DATETIME, source VARCHAR(32) NOT NULL, data_type VARCHAR(32) NOT NULL, value ${valueType} NOT NULL)`,
      ...['create_time', 'create_date', 'update_time', 'update_date'].map((c) => `CREATE INDEX systemsettings_${c} ON system_settings (${c})`),
    ],
    structureSql: 'SHOW CREATE TABLE system_settings',
  },
  {
    label: 'PostgreSQL',
    start: startPostgres,
    scheme: 'postgres',
    columnsSql:
      "SELECT column_name, data_type, coalesce(character_maximum_length::text, ''), is_nullable FROM information_schema.columns WHERE table_name = 'system_settings' ORDER BY ordinal_position",
    expectedColumns: [
      'name\tcharacter varying\t128\tNO',
      'create_time\tbigint\t\tYES',
      'create_date\ttimestamp without time zone\t\tYES',
      'update_time\tbigint\t\tYES',
      'update_date\ttimestamp without time zone\t\tYES',
      'source\tcharacter varying\t32\tNO',
      'data_type\tcharacter varying\t32\tNO',
      'value\ttext\t\tNO',
    ],
    indexesSql: "SELECT indexname FROM pg_indexes WHERE tablename = 'system_settings' AND indexname <> 'system_settings_pkey' ORDER BY indexname",
    ragflowDdl: (valueType) => [
      `CREATE TABLE system_settings (name VARCHAR(128) NOT NULL PRIMARY KEY, create_time BIGINT, create_date TIMESTAMP, update_time BIGINT, update_date TIMESTAMP, source VARCHAR(32) NOT NULL, data_type VARCHAR(32) NOT NULL, value ${valueType} NOT NULL)`,
      ...['create_time', 'create_date', 'update_time', 'update_date'].map((c) => `CREATE INDEX systemsettings_${c} ON system_settings (${c})`),
    ],
    structureSql:
      "SELECT column_name || ' ' || data_type || ' ' || coalesce(character_maximum_length::text, '') || ' ' || is_nullable FROM information_schema.columns WHERE table_name = 'system_settings' UNION ALL SELECT indexdef FROM pg_indexes WHERE tablename = 'system_settings' ORDER BY 1",
  },
]

const SEED_ROWS = [
  ['enable_whitelist', 'variable', 'bool', 'true'],
  ['mail.server', 'variable', 'string', ''],
  ['sandbox.provider_type', 'variable', 'string', 'self_managed'],
  ['sandbox.self_managed', 'variable', 'json', SELF_MANAGED_SEED],
  ['sandbox.aliyun_codeinterpreter', 'variable', 'json', '{}'],
  ['sandbox.e2b', 'variable', 'json', '{}'],
  ['sandbox.e2b_x', 'admin', 'json', '{"x": 1}'],
]

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`

const seedSql = SEED_ROWS.map(
  ([name, source, type, value]) =>
    `INSERT INTO system_settings (name, source, data_type, value, create_time, create_date, update_time, update_date) VALUES (${[name, source, type, value].map(sqlString).join(', ')}, 1700000000000, '2023-11-14 22:13:20', 1700000000000, '2023-11-14 22:13:20')`,
)

/** CLI rows as arrays of columns */
const lines = (out: string) => out.split('\n').filter((l) => l.length > 0)

describe.each(dialects)('$label settings store', (d) => {
  let db: DatabaseServer
  let store: SettingsStore | undefined

  beforeAll(async () => {
    db = await d.start()
    console.log(`[settings] ${d.label} on 127.0.0.1:${db.port} ready after ${db.startupMs} ms${db.reused ? ' (reused)' : ''}`)
  })
  afterAll(async () => {
    await store?.close()
    await db?.stop()
  })
  beforeEach(async () => {
    await store?.close()
    store = undefined
    await db.query('DROP TABLE IF EXISTS system_settings')
  })

  const open = async () => {
    store = await openSettingsStore(db.url)
    return store
  }

  it("creates the table with RAGFlow's column types and index names on the first write", async () => {
    const s = await open()
    expect(s.kind).toBe(d.scheme === 'mysql' ? 'mysql' : 'postgres')
    expect(s.location).toBe(`${d.scheme}://sandbox:****@127.0.0.1:${db.port}/rag_flow`)
    expect(await s.list()).toEqual([])
    expect(lines(await db.query(d.columnsSql))).toEqual([]) // reads create nothing

    await writeProviderSettings(s, 'aliyun_codeinterpreter', ALIYUN, {activate: true})
    expect(lines(await db.query(d.columnsSql))).toEqual(d.expectedColumns)
    expect(lines(await db.query(d.indexesSql))).toEqual(['systemsettings_create_date', 'systemsettings_create_time', 'systemsettings_update_date', 'systemsettings_update_time'])
  })

  it("writes rows the CLI reads back with the same names, types and JSON as RAGFlow's", async () => {
    const s = await open()
    const before = Date.now()
    await writeProviderSettings(s, 'aliyun_codeinterpreter', ALIYUN, {activate: true})
    await writeProviderSettings(s, 'self_managed', {endpoint: 'http://localhost:9385', timeout: 30, max_retries: 3, pool_size: 10}, {activate: false})

    expect(lines(await db.query('SELECT name, source, data_type, value FROM system_settings ORDER BY name'))).toEqual([
      `sandbox.aliyun_codeinterpreter\tadmin\tjson\t${ALIYUN_JSON}`,
      'sandbox.provider_type\tadmin\tstring\taliyun_codeinterpreter',
      `sandbox.self_managed\tadmin\tjson\t${SELF_MANAGED_SEED}`,
    ])
    // timestamps as RAGFlow writes them: ms epoch and a second-precision datetime
    const stamps = lines(await db.query("SELECT create_time, create_date, update_time, update_date FROM system_settings WHERE name = 'sandbox.provider_type'"))
    const [createTime, createDate, updateTime, updateDate] = stamps[0].split('\t')
    expect(Number(createTime)).toBeGreaterThanOrEqual(before)
    expect(updateTime).toBe(createTime)
    expect(createDate).toMatch(DATE)
    expect(updateDate).toBe(createDate)

    const row = await s.get(PROVIDER_TYPE_KEY)
    expect(row).toEqual({
      name: 'sandbox.provider_type',
      source: 'admin',
      data_type: 'string',
      value: 'aliyun_codeinterpreter',
      create_time: Number(createTime),
      create_date: createDate,
      update_time: Number(updateTime),
      update_date: updateDate,
    })
    expect(await readSandboxSettings(s)).toEqual({
      providerType: 'aliyun_codeinterpreter',
      configs: {aliyun_codeinterpreter: ALIYUN, self_managed: {endpoint: 'http://localhost:9385', timeout: 30, max_retries: 3, pool_size: 10}},
      invalid: [],
    })
  })

  it('upserts into an existing RAGFlow table with its seed rows: source and create_* kept, other rows and the table untouched', async () => {
    for (const sql of [...d.ragflowDdl('TEXT'), ...seedSql]) await db.query(sql)
    const structure = await db.query(d.structureSql)
    const others =
      "SELECT name, source, data_type, value, create_time, create_date, update_time, update_date FROM system_settings WHERE name NOT IN ('sandbox.provider_type', 'sandbox.aliyun_codeinterpreter') ORDER BY name"
    const othersBefore = await db.query(others)

    const s = await open()
    expect(await readSandboxSettings(s)).toEqual({
      providerType: 'self_managed',
      configs: {
        self_managed: {endpoint: 'http://localhost:9385', timeout: 30, max_retries: 3, pool_size: 10},
        aliyun_codeinterpreter: {},
        e2b: {},
        e2b_x: {x: 1},
      },
      invalid: [],
    })
    await writeProviderSettings(s, 'aliyun_codeinterpreter', ALIYUN, {activate: true})

    expect(await db.query(d.structureSql)).toBe(structure)
    expect(await db.query(others)).toBe(othersBefore)
    const changed = lines(
      await db.query(
        "SELECT name, source, data_type, value, create_time, create_date FROM system_settings WHERE name IN ('sandbox.provider_type', 'sandbox.aliyun_codeinterpreter') ORDER BY name",
      ),
    )
    expect(changed).toEqual([
      `sandbox.aliyun_codeinterpreter\tvariable\tjson\t${ALIYUN_JSON}\t1700000000000\t2023-11-14 22:13:20`,
      'sandbox.provider_type\tvariable\tstring\taliyun_codeinterpreter\t1700000000000\t2023-11-14 22:13:20',
    ])
    const updated = lines(await db.query("SELECT update_time, update_date FROM system_settings WHERE name = 'sandbox.provider_type'"))[0].split('\t')
    expect(Number(updated[0])).toBeGreaterThan(1_700_000_000_000)
    expect(updated[1]).toMatch(DATE)
    expect(updated[1]).not.toBe('2023-11-14 22:13:20')
    expect(lines(await db.query('SELECT count(*) FROM system_settings'))).toEqual([String(SEED_ROWS.length)])
  })

  it('matches names exactly: writing sandbox.e2b leaves sandbox.e2b_x alone', async () => {
    for (const sql of [...d.ragflowDdl('TEXT'), ...seedSql]) await db.query(sql)
    const s = await open()
    await writeProviderSettings(s, 'e2b', {api_key: 'e2b_123'}, {activate: false})
    expect(lines(await db.query("SELECT name, value FROM system_settings WHERE name LIKE 'sandbox.e2b%' ORDER BY name"))).toEqual([
      'sandbox.e2b\t{"api_key": "e2b_123"}',
      'sandbox.e2b_x\t{"x": 1}',
    ])
    expect((await s.get('sandbox.e2b'))!.value).toBe('{"api_key": "e2b_123"}')
    expect((await s.list('sandbox.e2b_')).map((r) => r.name)).toEqual(['sandbox.e2b_x'])
    expect((await s.get(PROVIDER_TYPE_KEY))!.value).toBe('self_managed')
  })

  it('writes a batch in one transaction: a failing row leaves nothing written', async () => {
    // RAGFlow before the TEXT migration: value varchar(1024)
    for (const sql of [...d.ragflowDdl('VARCHAR(1024)'), ...seedSql]) await db.query(sql)
    const all = 'SELECT name, source, data_type, value, create_time, create_date, update_time, update_date FROM system_settings ORDER BY name'
    const before = await db.query(all)
    const s = await open()
    const error = (await writeProviderSettings(s, 'aliyun_codeinterpreter', {...ALIYUN, template_name: 'x'.repeat(2000)}, {activate: true}).catch(
      (e: unknown) => e,
    )) as SandboxError
    expect(error).toBeInstanceOf(SandboxError)
    expect(error).toMatchObject({code: 'DATABASE_ERROR', exit: 3})
    expect(error.message).toContain(`127.0.0.1:${db.port}`)
    expect(error.message).not.toContain(db.password)
    expect(await db.query(all)).toBe(before)
    // the store is still usable afterwards
    await writeProviderSettings(s, 'e2b', {api_key: 'k'}, {activate: false})
    expect((await s.get('sandbox.e2b'))!.value).toBe('{"api_key": "k"}')
  })

  it('two writers creating the missing table at the same time both succeed', async () => {
    const [a, b] = await Promise.all([openSettingsStore(db.url), openSettingsStore(db.url)])
    try {
      await Promise.all([
        writeProviderSettings(a, 'e2b', {api_key: 'a'}, {activate: false}),
        writeProviderSettings(b, 'self_managed', {endpoint: 'http://127.0.0.1:9385'}, {activate: false}),
      ])
    } finally {
      await a.close()
      await b.close()
    }
    expect(lines(await db.query('SELECT name, value FROM system_settings ORDER BY name'))).toEqual([
      'sandbox.e2b\t{"api_key": "a"}',
      'sandbox.self_managed\t{"endpoint": "http://127.0.0.1:9385"}',
    ])
  })

  it('takes its URL from SANDBOX_DB_URL', async () => {
    const saved = process.env.SANDBOX_DB_URL
    process.env.SANDBOX_DB_URL = db.url
    try {
      store = await openSettingsStore()
      expect(store.kind).toBe(d.scheme === 'mysql' ? 'mysql' : 'postgres')
      await writeProviderSettings(store, 'docker', {}, {activate: true})
      expect(lines(await db.query('SELECT name, value FROM system_settings ORDER BY name'))).toEqual(['sandbox.docker\t{}', 'sandbox.provider_type\tdocker'])
    } finally {
      if (saved === undefined) delete process.env.SANDBOX_DB_URL
      else process.env.SANDBOX_DB_URL = saved
    }
  })

  it('a port nothing listens on -> DATABASE_UNREACHABLE naming host:port, password masked', async () => {
    const port = await closedPort()
    const password = 'Do-not-print-me-42'
    const url = `${d.scheme}://sandbox:${password}@127.0.0.1:${port}/rag_flow`
    const error = (await openSettingsStore(url).catch((e: unknown) => e)) as SandboxError
    expect(error).toBeInstanceOf(SandboxError)
    expect(error).toMatchObject({code: 'DATABASE_UNREACHABLE', exit: 3})
    expect(error.message).toContain(`127.0.0.1:${port}`)
    expect(error.message).toContain('sandbox:****@')
    expect(error.message).not.toContain(password)
    expect(error.suggestions.join('\n')).not.toContain(password)
    expect(error.suggestions.length).toBeGreaterThan(0)
    // and nothing was written to the real server either
    expect(lines(await db.query(d.columnsSql))).toEqual([])
  })

  it('a wrong password or database -> DATABASE_UNREACHABLE with a matching suggestion, nothing written', async () => {
    const wrong = 'Wrong-password-77'
    const badAuth = (await openSettingsStore(`${d.scheme}://sandbox:${wrong}@127.0.0.1:${db.port}/rag_flow`).catch((e: unknown) => e)) as SandboxError
    expect(badAuth).toMatchObject({code: 'DATABASE_UNREACHABLE', exit: 3})
    expect(badAuth.message).toContain(`127.0.0.1:${db.port}`)
    expect(badAuth.message).not.toContain(wrong)
    expect(badAuth.suggestions.join('\n')).toMatch(/user "sandbox" and its password/)

    const badDb = (await openSettingsStore(`${d.scheme}://sandbox:${encodeURIComponent(db.password)}@127.0.0.1:${db.port}/no_such_db`).catch((e: unknown) => e)) as SandboxError
    expect(badDb).toMatchObject({code: 'DATABASE_UNREACHABLE', exit: 3})
    expect(badDb.message).not.toContain(db.password)
    expect(badDb.suggestions.join('\n')).toMatch(/no database "no_such_db"|user "sandbox" and its password/)
    expect(lines(await db.query(d.columnsSql))).toEqual([])
  })
})
