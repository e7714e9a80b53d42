/**
 * The settings store on SQLite (real better-sqlite3, temp files): RAGFlow's table shape,
 * upsert semantics, exact names, untouched foreign rows, the sandbox.* helpers.
 */
import {chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import Database from 'better-sqlite3'
import {afterAll, afterEach, beforeEach, describe, expect, it} from 'vitest'

import {SandboxError} from '../../src/errors.js'
import {PROVIDER_TYPE_KEY, openSettingsStore, readSandboxSettings, writeProviderSettings, type SettingRow, type SettingsStore} from '../../src/settings/index.js'

const root = mkdtempSync(join(tmpdir(), 'sandbox-settings-unit-'))
afterAll(() => rmSync(root, {recursive: true, force: true}))

let n = 0
let file: string
let store: SettingsStore

const DATE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/

/** RAGFlow's table as peewee creates it on SQLite, plus RAGFlow's seed rows (source "variable"). */
function createRagflowTable(path: string, options: {valueCheck?: string} = {}) {
  const db = new Database(path)
  db.exec(`CREATE TABLE "system_settings" ("name" VARCHAR(128) NOT NULL PRIMARY KEY, "create_time" INTEGER, "create_date" DATETIME,
    "update_time" INTEGER, "update_date" DATETIME, "source" VARCHAR(32) NOT NULL, "data_type" VARCHAR(32) NOT NULL,
    "value" TEXT NOT NULL ${options.valueCheck ? `CHECK (${options.valueCheck})` : ''})`)
  for (const c of ['create_time', 'create_date', 'update_time', 'update_date']) {
    db.exec(`CREATE INDEX "systemsettings_${c}" ON "system_settings" ("${c}")`)
  }
  const insert = db.prepare(
    `INSERT INTO system_settings (name, source, data_type, value, create_time, create_date, update_time, update_date) VALUES (?, ?, ?, ?, 1700000000000, '2023-11-14 22:13:20', 1700000000000, '2023-11-14 22:13:20')`,
  )
  const seed: Array<[string, string, string, string]> = [
    ['enable_whitelist', 'variable', 'bool', 'true'],
    ['mail.server', 'variable', 'string', ''],
    ['sandbox.provider_type', 'variable', 'string', 'self_managed'],
    ['sandbox.self_managed', 'variable', 'json', '{"endpoint": "http://localhost:9385", "timeout": 30, "max_retries": 3, "pool_size": 10}'],
    ['sandbox.aliyun_codeinterpreter', 'variable', 'json', '{}'],
    ['sandbox.e2b', 'variable', 'json', '{}'],
  ]
  for (const row of seed) insert.run(...row)
  db.close()
}

function rawRows(path: string): SettingRow[] {
  const db = new Database(path, {readonly: true})
  try {
    return db.prepare('SELECT * FROM system_settings ORDER BY name').all() as SettingRow[]
  } finally {
    db.close()
  }
}

beforeEach(() => {
  file = join(root, `s${++n}.db`)
})

afterEach(async () => {
  await store?.close()
})

describe('SQLite settings store', () => {
  it("creates RAGFlow's table on the first write, with its column types and peewee index names", async () => {
    store = await openSettingsStore(`sqlite://${file}`)
    expect(store.kind).toBe('sqlite')
    expect(store.location).toBe(file)
    await store.upsert([{name: 'sandbox.provider_type', data_type: 'string', value: 'docker'}])

    const db = new Database(file, {readonly: true})
    const columns = db.prepare(`PRAGMA table_info(system_settings)`).all() as Array<{name: string; type: string; notnull: number; pk: number}>
    const indexes = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'system_settings' AND sql IS NOT NULL ORDER BY name`).all()
    db.close()
    expect(columns.map((c) => [c.name, c.type, c.notnull, c.pk])).toEqual([
      ['name', 'VARCHAR(128)', 1, 1],
      ['create_time', 'INTEGER', 0, 0],
      ['create_date', 'DATETIME', 0, 0],
      ['update_time', 'INTEGER', 0, 0],
      ['update_date', 'DATETIME', 0, 0],
      ['source', 'VARCHAR(32)', 1, 0],
      ['data_type', 'VARCHAR(32)', 1, 0],
      ['value', 'TEXT', 1, 0],
    ])
    expect(indexes.map((i) => (i as {name: string}).name)).toEqual([
      'systemsettings_create_date',
      'systemsettings_create_time',
      'systemsettings_update_date',
      'systemsettings_update_time',
    ])
  })

  it('reads nothing and creates nothing while the file or the table is missing', async () => {
    const missing = join(root, `missing${++n}`, 'settings.db')
    store = await openSettingsStore(`sqlite://${missing}`)
    expect(await store.get(PROVIDER_TYPE_KEY)).toBeUndefined()
    expect(await store.list()).toEqual([])
    expect(await readSandboxSettings(store)).toEqual({configs: {}, invalid: []})
    expect(existsSync(dirname(missing))).toBe(false)
    await store.close()

    new Database(file).close() // an empty database file
    store = await openSettingsStore(`sqlite://${file}`)
    expect(await store.list('sandbox.')).toEqual([])
    const db = new Database(file, {readonly: true})
    expect(db.prepare(`SELECT count(*) AS n FROM sqlite_master`).get()).toEqual({n: 0})
    db.close()
  })

  it('inserts new rows with source "admin" and all four timestamps', async () => {
    store = await openSettingsStore(`sqlite://${file}`)
    const before = Date.now()
    await store.upsert([{name: 'sandbox.e2b', data_type: 'json', value: '{"api_key": "e2b_x"}'}])
    const after = Date.now()
    const row = await store.get('sandbox.e2b')
    expect(row).toMatchObject({name: 'sandbox.e2b', source: 'admin', data_type: 'json', value: '{"api_key": "e2b_x"}'})
    expect(row!.create_time).toBeGreaterThanOrEqual(before)
    expect(row!.create_time).toBeLessThanOrEqual(after)
    expect(row!.update_time).toBe(row!.create_time)
    expect(row!.create_date).toMatch(DATE)
    expect(row!.update_date).toBe(row!.create_date)
    expect(rawRows(file)).toEqual([row])
  })

  it('updates value, data_type and update_* of an existing row, keeping source and create_*', async () => {
    createRagflowTable(file)
    store = await openSettingsStore(`sqlite://${file}`)
    await store.upsert([{name: 'sandbox.provider_type', data_type: 'string', value: 'e2b'}])
    const row = await store.get('sandbox.provider_type')
    expect(row).toMatchObject({
      source: 'variable',
      data_type: 'string',
      value: 'e2b',
      create_time: 1_700_000_000_000,
      create_date: '2023-11-14 22:13:20',
    })
    expect(row!.update_time).toBeGreaterThan(1_700_000_000_000)
    expect(row!.update_date).toMatch(DATE)
    expect(row!.update_date).not.toBe('2023-11-14 22:13:20')

    await store.upsert([{name: 'enable_whitelist', data_type: 'string', value: 'false'}])
    expect(await store.get('enable_whitelist')).toMatchObject({data_type: 'string', value: 'false', source: 'variable'})
  })

  it('never touches other rows', async () => {
    createRagflowTable(file)
    const db = new Database(file)
    db.prepare(`INSERT INTO system_settings (name, source, data_type, value) VALUES ('sandbox.e2b_x', 'admin', 'json', '{"x": 1}')`).run()
    db.close()
    const before = rawRows(file)
    store = await openSettingsStore(`sqlite://${file}`)
    await store.upsert([
      {name: 'sandbox.e2b', data_type: 'json', value: '{"api_key": "k"}'},
      {name: 'sandbox.brand_new', data_type: 'json', value: '{}'},
    ])
    const after = rawRows(file)
    const untouched = (rows: SettingRow[]) => rows.filter((r) => r.name !== 'sandbox.e2b' && r.name !== 'sandbox.brand_new')
    expect(untouched(after)).toEqual(before.filter((r) => r.name !== 'sandbox.e2b'))
    expect(after.map((r) => r.name)).toContain('sandbox.brand_new')
  })

  it('matches names exactly: sandbox.e2b is not sandbox.e2b_x, LIKE wildcards and case do not leak', async () => {
    store = await openSettingsStore(`sqlite://${file}`)
    await store.upsert([
      {name: 'sandbox.e2b_x', data_type: 'json', value: '{"x": 1}'},
      {name: 'sandbox.e2bQx', data_type: 'json', value: '{"q": 1}'},
      {name: 'SANDBOX.e2b', data_type: 'json', value: '{"upper": 1}'},
    ])
    expect(await store.get('sandbox.e2b')).toBeUndefined()
    await store.upsert([{name: 'sandbox.e2b', data_type: 'json', value: '{}'}])
    expect((await store.get('sandbox.e2b'))!.value).toBe('{}')
    expect((await store.get('sandbox.e2b_x'))!.value).toBe('{"x": 1}')
    expect((await store.list('sandbox.e2b_')).map((r) => r.name)).toEqual(['sandbox.e2b_x'])
    expect((await store.list('sandbox.')).map((r) => r.name)).toEqual(['sandbox.e2b', 'sandbox.e2bQx', 'sandbox.e2b_x'])
    expect((await store.list()).length).toBe(4)
  })

  it('writes a batch in one transaction: a failing row leaves nothing written', async () => {
    createRagflowTable(file, {valueCheck: 'length(value) < 100'})
    const before = rawRows(file)
    store = await openSettingsStore(`sqlite://${file}`)
    const error = await store
      .upsert([
        {name: 'sandbox.provider_type', data_type: 'string', value: 'e2b'},
        {name: 'sandbox.e2b', data_type: 'json', value: JSON.stringify({api_key: 'x'.repeat(200)})},
      ])
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SandboxError)
    expect(error).toMatchObject({code: 'DATABASE_ERROR', exit: 3})
    expect(rawRows(file)).toEqual(before)
  })

  it('rejects malformed rows before writing', async () => {
    store = await openSettingsStore(`sqlite://${file}`)
    await expect(store.upsert([{name: 'x'.repeat(129), data_type: 'string', value: ''}])).rejects.toMatchObject({code: 'INVALID_SETTING', exit: 4})
    await expect(store.upsert([{name: 'ok', data_type: 'string', value: 5 as unknown as string}])).rejects.toMatchObject({code: 'INVALID_SETTING'})
    expect(await store.list()).toEqual([])
  })

  it('reports a file that is not a database as DATABASE_UNREACHABLE (exit 3)', async () => {
    writeFileSync(file, 'this is not sqlite'.repeat(100))
    await expect(openSettingsStore(`sqlite://${file}`)).rejects.toMatchObject({code: 'DATABASE_UNREACHABLE', exit: 3})
  })

  it('creates missing directories for the file, and reports a path that cannot exist', async () => {
    const nested = join(root, `dir${++n}`, 'a', 'b', 'settings.db')
    store = await openSettingsStore(`sqlite://${nested}`)
    await store.upsert([{name: 'k', data_type: 'string', value: 'v'}])
    expect(rawRows(nested).map((r) => r.name)).toEqual(['k'])
    await store.close()
    writeFileSync(file, 'a regular file')
    const error = (await openSettingsStore(`sqlite://${file}/sub/settings.db`).catch((e: unknown) => e)) as SandboxError
    expect(error).toMatchObject({code: 'DATABASE_UNREACHABLE', exit: 3})
    expect(error.message).toContain(`${file}/sub/settings.db`)
  })
})

describe('file modes: the settings file holds API keys', () => {
  const mode = (path: string) => statSync(path).mode & 0o777
  let umask: number
  beforeEach(() => {
    // a permissive umask must not widen anything
    umask = process.umask(0o002)
  })
  afterEach(() => {
    process.umask(umask)
  })

  it('creates the file 0600 and the directory it creates 0700; existing parents are left alone', async () => {
    const parent = join(root, `modes${++n}`)
    mkdirSync(parent, {mode: 0o755})
    chmodSync(parent, 0o755)
    const path = join(parent, 'data', 'settings.db')
    store = await openSettingsStore(`sqlite://${path}`)
    expect(existsSync(path)).toBe(false)
    await store.upsert([{name: 'sandbox.e2b', data_type: 'json', value: '{"api_key": "e2b_secret"}'}])
    expect(mode(path)).toBe(0o600)
    expect(mode(dirname(path))).toBe(0o700)
    expect(mode(parent)).toBe(0o755)
  })

  it('SQLite gives its -wal and -shm files the same 0600', async () => {
    store = await openSettingsStore(`sqlite://${file}`)
    await store.upsert([{name: 'a', data_type: 'string', value: '1'}])
    await store.close()
    const db = new Database(file)
    try {
      db.pragma('journal_mode = WAL')
      db.prepare("UPDATE system_settings SET value = '2' WHERE name = 'a'").run()
      for (const side of ['-wal', '-shm']) expect(mode(file + side), side).toBe(0o600)
    } finally {
      db.close()
    }
  })

  it('an existing file readable by others is narrowed to 0600 on the next write, and its side files too', async () => {
    createRagflowTable(file)
    chmodSync(file, 0o644)
    writeFileSync(`${file}-journal`, '')
    chmodSync(`${file}-journal`, 0o666)
    store = await openSettingsStore(`sqlite://${file}`)
    await store.list('sandbox.')
    expect(mode(file)).toBe(0o644) // reading changes nothing
    await store.upsert([{name: 'sandbox.e2b', data_type: 'json', value: '{}'}])
    expect(mode(file)).toBe(0o600)
    if (existsSync(`${file}-journal`)) expect(mode(`${file}-journal`)).toBe(0o600)
  })
})

describe('default location', () => {
  const saved = {data: process.env.SANDBOX_DATA_DIR, url: process.env.SANDBOX_DB_URL}
  afterEach(() => {
    for (const [key, value] of [
      ['SANDBOX_DATA_DIR', saved.data],
      ['SANDBOX_DB_URL', saved.url],
    ] as const) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  })

  it('is settings.db in the data directory', async () => {
    process.env.SANDBOX_DATA_DIR = join(root, `data${++n}`)
    delete process.env.SANDBOX_DB_URL
    store = await openSettingsStore()
    expect(store.location).toBe(join(process.env.SANDBOX_DATA_DIR, 'settings.db'))
    await writeProviderSettings(store, 'docker', {}, {activate: true})
    expect(rawRows(join(process.env.SANDBOX_DATA_DIR, 'settings.db')).map((r) => r.name)).toEqual(['sandbox.docker', 'sandbox.provider_type'])
  })

  it('follows SANDBOX_DB_URL, and an explicit URL wins over it', async () => {
    process.env.SANDBOX_DB_URL = `sqlite://${file}`
    store = await openSettingsStore()
    expect(store.location).toBe(file)
    await store.close()
    const other = join(root, `other${++n}.db`)
    store = await openSettingsStore(`sqlite://${other}`)
    expect(store.location).toBe(other)
    process.env.SANDBOX_DB_URL = 'nonsense'
    await expect(openSettingsStore()).rejects.toMatchObject({code: 'INVALID_DB_URL'})
  })
})

describe('sandbox.* rows', () => {
  it("writeProviderSettings writes RAGFlow's row shapes; activate also sets sandbox.provider_type", async () => {
    store = await openSettingsStore(`sqlite://${file}`)
    const aliyun = {access_key_id: 'LTAI5tExample', access_key_secret: 's3cret', account_id: '1234', region: 'cn-hangzhou', template_name: '', timeout: 30}
    await writeProviderSettings(store, 'aliyun_codeinterpreter', aliyun, {activate: true})
    const rows = await store.list('sandbox.')
    expect(rows.map((r) => [r.name, r.source, r.data_type, r.value])).toEqual([
      [
        'sandbox.aliyun_codeinterpreter',
        'admin',
        'json',
        '{"access_key_id": "LTAI5tExample", "access_key_secret": "s3cret", "account_id": "1234", "region": "cn-hangzhou", "template_name": "", "timeout": 30}',
      ],
      ['sandbox.provider_type', 'admin', 'string', 'aliyun_codeinterpreter'],
    ])

    await writeProviderSettings(store, 'e2b', {api_key: 'e2b_k'}, {activate: false})
    expect(await readSandboxSettings(store)).toEqual({
      providerType: 'aliyun_codeinterpreter',
      configs: {aliyun_codeinterpreter: aliyun, e2b: {api_key: 'e2b_k'}},
      invalid: [],
    })
  })

  it('updates RAGFlow\'s seed rows in place, keeping source "variable"', async () => {
    createRagflowTable(file)
    store = await openSettingsStore(`sqlite://${file}`)
    expect(await readSandboxSettings(store)).toEqual({
      providerType: 'self_managed',
      configs: {
        self_managed: {endpoint: 'http://localhost:9385', timeout: 30, max_retries: 3, pool_size: 10},
        aliyun_codeinterpreter: {},
        e2b: {},
      },
      invalid: [],
    })
    await writeProviderSettings(store, 'self_managed', {endpoint: 'http://127.0.0.1:9385', timeout: 10, max_retries: 3, pool_size: 2}, {activate: true})
    const rows = rawRows(file)
    const byName = Object.fromEntries(rows.map((r) => [r.name, r]))
    expect(byName['sandbox.self_managed']).toMatchObject({
      source: 'variable',
      data_type: 'json',
      value: '{"endpoint": "http://127.0.0.1:9385", "timeout": 10, "max_retries": 3, "pool_size": 2}',
      create_time: 1_700_000_000_000,
    })
    expect(byName['sandbox.provider_type']).toMatchObject({source: 'variable', data_type: 'string', value: 'self_managed'})
    expect(byName['sandbox.e2b']).toMatchObject({value: '{}', update_time: 1_700_000_000_000})
    expect(rows).toHaveLength(6)
  })

  it('reports rows whose value is not a JSON object instead of failing', async () => {
    store = await openSettingsStore(`sqlite://${file}`)
    await store.upsert([
      {name: 'sandbox.broken', data_type: 'json', value: '{not json'},
      {name: 'sandbox.list', data_type: 'json', value: '[1]'},
      {name: 'sandbox.provider_type', data_type: 'string', value: '  '},
    ])
    expect(await readSandboxSettings(store)).toEqual({configs: {}, invalid: ['sandbox.broken', 'sandbox.list']})
  })

  it('rejects provider ids that are not RAGFlow-style ids', async () => {
    store = await openSettingsStore(`sqlite://${file}`)
    for (const id of ['', 'provider_type', 'E2B', 'a.b', 'x y', '../x']) {
      await expect(writeProviderSettings(store, id, {}, {activate: true})).rejects.toMatchObject({code: 'INVALID_PROVIDER_ID', exit: 4})
    }
    expect(await store.list()).toEqual([])
  })
})
