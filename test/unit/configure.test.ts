/**
 * `sandbox configure …` commands against SQLite files (no daemon): the rows written, RAGFlow's
 * row shape, other rows untouched, masking in --json output, non-interactive errors (exit 4),
 * database down (exit 3), `configure use` and `configure show`.
 */
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Config} from '@oclif/core'
import Database from 'better-sqlite3'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import Configure from '../../src/commands/configure.js'
import ConfigureAliyun from '../../src/commands/configure/aliyun.js'
import ConfigureDocker from '../../src/commands/configure/docker.js'
import ConfigureE2B from '../../src/commands/configure/e2b.js'
import ConfigureSelfManaged from '../../src/commands/configure/self-managed.js'
import ConfigureShow from '../../src/commands/configure/show.js'
import ConfigureUse from '../../src/commands/configure/use.js'
import Run from '../../src/commands/run.js'
import {createTableStatements} from '../../src/settings/index.js'
import {runCommand, type CliResult, type Runnable} from '../helpers/cli.js'

let config: Config
let dir: string
const saved: Record<string, string | undefined> = {}
const ENV_KEYS = [
  'SANDBOX_DATA_DIR',
  'SANDBOX_DB_URL',
  'AGENTRUN_ACCESS_KEY_ID',
  'AGENTRUN_ACCESS_KEY_SECRET',
  'AGENTRUN_ACCOUNT_ID',
  'AGENTRUN_REGION',
  'AGENTRUN_TIMEOUT',
  'AGENTRUN_TEMPLATE_NAME',
  'AGENTRUN_SECURITY_TOKEN',
  'ALIBABA_CLOUD_SECURITY_TOKEN',
  'AGENTRUN_CONTROL_ENDPOINT',
  'AGENTRUN_DATA_ENDPOINT',
  'E2B_API_KEY',
  'E2B_TIMEOUT',
  'E2B_TEMPLATE',
  'E2B_DOMAIN',
  'E2B_API_URL',
  'E2B_SANDBOX_URL',
  'SANDBOX_API_TOKEN',
  'SANDBOX_EXECUTOR_MANAGER_URL',
  'SANDBOX_EXECUTOR_MANAGER_TIMEOUT',
  'SANDBOX_EXECUTOR_MANAGER_MAX_RETRIES',
  'SANDBOX_EXECUTOR_MANAGER_POOL_SIZE',
  'ALIBABA_CLOUD_ACCESS_KEY_ID',
  'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
  'FC_ACCOUNT_ID',
  'FC_REGION',
]

const KEY_ID = 'LTAI5tAbCdEfGhIjKlMn'
const SECRET = 'aLiYuN-SeCrEt-0123456789abcdef'

beforeAll(async () => {
  config = await Config.load({root: process.cwd()})
})

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'configure-'))
  for (const k of ENV_KEYS) {
    saved[k] = process.env[k]
    delete process.env[k]
  }
  process.env.SANDBOX_DATA_DIR = join(dir, 'data')
})

afterEach(() => {
  for (const k of ENV_KEYS) {
    if (saved[k] === undefined) delete process.env[k]
    else process.env[k] = saved[k]
  }
  rmSync(dir, {recursive: true, force: true})
})

afterAll(() => {
  process.exitCode = undefined
})

const cli = (cmd: Runnable, argv: string[]): Promise<CliResult> => runCommand(cmd, [...argv, '--json'], config)

const dbPath = () => join(dir, 'settings.db')
const dbUrl = () => `sqlite://${dbPath()}`

function rows(path = dbPath()): Array<Record<string, any>> {
  const db = new Database(path, {readonly: true})
  try {
    return db.prepare('SELECT * FROM system_settings ORDER BY name').all() as Array<Record<string, any>>
  } finally {
    db.close()
  }
}

/** RAGFlow's seed rows (conf/system_settings.json, source "variable") plus an unrelated row. */
function seed(path = dbPath()): void {
  const db = new Database(path)
  for (const sql of createTableStatements('sqlite')) db.prepare(sql).run()
  const insert = db.prepare('INSERT INTO system_settings (name, source, data_type, value, create_time, create_date, update_time, update_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
  const t = 1_700_000_000_000
  insert.run('sandbox.provider_type', 'variable', 'string', 'self_managed', t, '2023-11-14 22:13:20', t, '2023-11-14 22:13:20')
  insert.run(
    'sandbox.self_managed',
    'variable',
    'json',
    '{"endpoint": "http://localhost:9385", "timeout": 30, "max_retries": 3, "pool_size": 10}',
    t,
    '2023-11-14 22:13:20',
    t,
    '2023-11-14 22:13:20',
  )
  insert.run('sandbox.aliyun_codeinterpreter', 'variable', 'json', '{}', t, '2023-11-14 22:13:20', t, '2023-11-14 22:13:20')
  insert.run('sandbox.e2b', 'variable', 'json', '{}', t, '2023-11-14 22:13:20', t, '2023-11-14 22:13:20')
  insert.run('default_role', 'variable', 'string', 'normal', t, '2023-11-14 22:13:20', t, '2023-11-14 22:13:20')
  db.close()
}

const byName = (list: Array<Record<string, any>>) => Object.fromEntries(list.map((r) => [r.name, r]))

describe('configure aliyun (flags, SQLite)', () => {
  it("writes RAGFlow's rows: json config and the active provider; other rows untouched", async () => {
    seed()
    const before = byName(rows())
    const r = await cli(ConfigureAliyun, ['--db', dbUrl(), '--access-key-id', KEY_ID, '--access-key-secret', SECRET, '--account-id', '1234567890123456', '--region', 'cn-shanghai'])
    expect(r.exit, r.stdout).toBe(0)
    const after = byName(rows())
    expect(after['sandbox.aliyun_codeinterpreter'].value).toBe(
      `{"access_key_id": "${KEY_ID}", "access_key_secret": "${SECRET}", "account_id": "1234567890123456", "region": "cn-shanghai", "timeout": 30}`,
    )
    expect(after['sandbox.aliyun_codeinterpreter'].data_type).toBe('json')
    expect(after['sandbox.provider_type']).toMatchObject({value: 'aliyun_codeinterpreter', data_type: 'string'})
    // existing rows keep their source and creation time; only value/update_* change
    expect(after['sandbox.aliyun_codeinterpreter'].source).toBe('variable')
    expect(after['sandbox.aliyun_codeinterpreter'].create_time).toBe(before['sandbox.aliyun_codeinterpreter'].create_time)
    expect(after['sandbox.aliyun_codeinterpreter'].update_time).toBeGreaterThan(before['sandbox.aliyun_codeinterpreter'].update_time)
    for (const name of ['sandbox.self_managed', 'sandbox.e2b', 'default_role']) expect(after[name]).toEqual(before[name])
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort())
  })

  it('creates the table and rows with source "admin" in a new file, and never prints the secret', async () => {
    const r = await cli(ConfigureAliyun, ['--db', dbUrl(), '--access-key-id', KEY_ID, '--access-key-secret', SECRET, '--account-id', '42'])
    expect(r.exit).toBe(0)
    expect(r.json).toMatchObject({provider: 'aliyun_codeinterpreter', saved: true, activated: true, kind: 'sqlite'})
    expect(r.json.config.access_key_secret).toBe('****cdef')
    expect(r.json.config.access_key_id).toBe('LTAI****KlMn')
    expect(r.stdout + r.stderr).not.toContain(SECRET)
    const list = rows()
    expect(list.map((x) => [x.name, x.source, x.data_type])).toEqual([
      ['sandbox.aliyun_codeinterpreter', 'admin', 'json'],
      ['sandbox.provider_type', 'admin', 'string'],
    ])
    expect(list.every((x) => typeof x.create_time === 'number' && /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(x.create_date))).toBe(true)
  })

  it('takes AGENTRUN_* environment variables; flags win', async () => {
    process.env.AGENTRUN_ACCESS_KEY_ID = KEY_ID
    process.env.AGENTRUN_ACCESS_KEY_SECRET = SECRET
    process.env.AGENTRUN_ACCOUNT_ID = 'env-account'
    process.env.AGENTRUN_REGION = 'cn-beijing'
    const r = await cli(ConfigureAliyun, ['--db', dbUrl(), '--region', 'cn-shenzhen'])
    expect(r.exit, r.stdout).toBe(0)
    const value = JSON.parse(byName(rows())['sandbox.aliyun_codeinterpreter'].value)
    expect(value).toEqual({access_key_id: KEY_ID, access_key_secret: SECRET, account_id: 'env-account', region: 'cn-shenzhen', timeout: 30})
  })

  it('keeps stored values when only one flag changes', async () => {
    expect((await cli(ConfigureAliyun, ['--db', dbUrl(), '--access-key-id', KEY_ID, '--access-key-secret', SECRET, '--account-id', '42'])).exit).toBe(0)
    expect((await cli(ConfigureAliyun, ['--db', dbUrl(), '--timeout', '20', '--no-activate'])).exit).toBe(0)
    expect(JSON.parse(byName(rows())['sandbox.aliyun_codeinterpreter'].value)).toMatchObject({access_key_secret: SECRET, account_id: '42', timeout: 20})
  })

  it('without a terminal, missing values are an error listing the flags and variables (exit 4); nothing is created', async () => {
    const r = await cli(ConfigureAliyun, ['--access-key-id', KEY_ID])
    expect(r.exit).toBe(4)
    expect(r.json.error.code).toBe('MISSING_SETTINGS')
    expect(r.json.error.message).toBe('Missing required Aliyun Code Interpreter settings: access_key_secret, account_id')
    expect(r.json.error.suggestions.join('\n')).toContain('--access-key-secret or AGENTRUN_ACCESS_KEY_SECRET')
    expect(r.json.error.suggestions.join('\n')).toContain('--account-id or AGENTRUN_ACCOUNT_ID')
    expect(existsSync(join(dir, 'data', 'settings.db'))).toBe(false)
  })

  for (const [label, change, message] of [
    ['wrong AccessKey ID format', {'--access-key-id': 'AKIAIOSFODNN7EXAMPLE'}, "Provider validation failed: Invalid AccessKey ID format (should start with 'LTAI')"],
    ['unknown region', {'--region': 'us-west-1'}, 'Provider validation failed: Invalid region. Must be one of: cn-hangzhou, cn-beijing, cn-shanghai, cn-shenzhen, cn-guangzhou'],
    ['timeout above the hard limit', {'--timeout': '60'}, "Field 'timeout' must be <= 30"],
  ] as const) {
    it(`${label} → exit 4 with RAGFlow's message; rows unchanged`, async () => {
      seed()
      const before = rows()
      const flags: Record<string, string> = Object.assign(
        {'--db': dbUrl(), '--access-key-id': KEY_ID, '--access-key-secret': SECRET, '--account-id': '42'},
        change as Record<string, string>,
      )
      const args = Object.entries(flags).flat()
      const r = await cli(ConfigureAliyun, args)
      expect(r.exit).toBe(4)
      expect(r.json.error.code).toBe('INVALID_PROVIDER_CONFIG')
      expect(r.json.error.message).toContain(message)
      expect(r.stdout).not.toContain(SECRET)
      expect(rows()).toEqual(before)
    })
  }

  it('a timeout that is not a number is a usage error (exit 2) naming the flag, as in run; rows unchanged', async () => {
    seed()
    const before = rows()
    const r = await cli(ConfigureAliyun, ['--db', dbUrl(), '--access-key-id', KEY_ID, '--access-key-secret', SECRET, '--account-id', '42', '--timeout', 'soon'])
    expect(r.exit).toBe(2)
    expect(r.json.error).toMatchObject({code: 'INVALID_FLAG_VALUE', message: 'Invalid --timeout "soon": must be an integer'})
    expect(r.stdout).not.toContain(SECRET)
    expect(rows()).toEqual(before)
  })

  it('database down → DATABASE_UNREACHABLE (exit 3), password masked', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as {port: number}).port
        s.close(() => resolve(p))
      })
    })
    const r = await cli(ConfigureAliyun, [
      '--db',
      `mysql://ragflow:Db-Pass-123@127.0.0.1:${port}/rag_flow`,
      '--access-key-id',
      KEY_ID,
      '--access-key-secret',
      SECRET,
      '--account-id',
      '42',
    ])
    expect(r.exit).toBe(3)
    expect(r.json.error.code).toBe('DATABASE_UNREACHABLE')
    expect(r.stdout).not.toContain('Db-Pass-123')
    expect(r.stdout).not.toContain(SECRET)
  })
})

describe('precedence: flags > environment > stored > defaults', () => {
  const NEW_ID = 'LTAI5tNeWkEyRoTaTeD1'
  const NEW_SECRET = 'rotated-SeCrEt-abcdef0123456789'
  const store = () => JSON.parse(byName(rows())['sandbox.aliyun_codeinterpreter'].value)

  it('a rotated AGENTRUN_ACCESS_KEY_ID replaces the stored key; the other stored values stay', async () => {
    expect((await cli(ConfigureAliyun, ['--db', dbUrl(), '--access-key-id', KEY_ID, '--access-key-secret', SECRET, '--account-id', '42', '--timeout', '20'])).exit).toBe(0)
    process.env.AGENTRUN_ACCESS_KEY_ID = NEW_ID
    process.env.AGENTRUN_ACCESS_KEY_SECRET = NEW_SECRET
    const r = await cli(ConfigureAliyun, ['--db', dbUrl()])
    expect(r.exit, r.stdout).toBe(0)
    expect(store()).toEqual({access_key_id: NEW_ID, access_key_secret: NEW_SECRET, account_id: '42', region: 'cn-hangzhou', timeout: 20})
    expect(r.stdout).not.toContain(NEW_SECRET)
    // a flag still beats the environment
    expect((await cli(ConfigureAliyun, ['--db', dbUrl(), '--access-key-id', KEY_ID])).exit).toBe(0)
    expect(store().access_key_id).toBe(KEY_ID)
  })

  it('a bad key in the environment fails (exit 4), names the variable, and leaves the row unchanged', async () => {
    seed()
    expect((await cli(ConfigureAliyun, ['--db', dbUrl(), '--access-key-id', KEY_ID, '--access-key-secret', SECRET, '--account-id', '42'])).exit).toBe(0)
    const before = rows()
    process.env.AGENTRUN_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE'
    const r = await cli(ConfigureAliyun, ['--db', dbUrl()])
    expect(r.exit).toBe(4)
    expect(r.json.error.message).toContain("Invalid AccessKey ID format (should start with 'LTAI')")
    expect(r.json.error.suggestions.join('\n')).toContain('access_key_id came from the environment variable AGENTRUN_ACCESS_KEY_ID')
    expect(rows()).toEqual(before)
    process.env.AGENTRUN_ACCESS_KEY_ID = NEW_ID
    process.env.AGENTRUN_TIMEOUT = 'soon'
    const typed = await cli(ConfigureAliyun, ['--db', dbUrl()])
    expect(typed.exit).toBe(4)
    expect(typed.json.error.message).toBe("Field 'timeout' must be an integer (from the environment variable AGENTRUN_TIMEOUT)")
    expect(rows()).toEqual(before)
  })

  it('STS credentials: an STS. key with AGENTRUN_SECURITY_TOKEN is stored (token masked); without a token it is refused', async () => {
    const stsId = 'STS.NTxYzAbCdEfGhIjKlMnOpQr'
    const token = 'CAIS-sts-security-token-0123456789abcdef'
    process.env.AGENTRUN_ACCESS_KEY_ID = stsId
    process.env.AGENTRUN_ACCESS_KEY_SECRET = SECRET
    process.env.AGENTRUN_ACCOUNT_ID = '42'
    const refused = await cli(ConfigureAliyun, ['--db', dbUrl()])
    expect(refused.exit).toBe(4)
    expect(refused.json.error.message).toContain("A temporary AccessKey ID (starting with 'STS.') needs its security token")
    expect(refused.json.error.suggestions.join('\n')).toContain('--security-token or AGENTRUN_SECURITY_TOKEN')
    expect(existsSync(dbPath())).toBe(false)

    process.env.AGENTRUN_SECURITY_TOKEN = token
    const r = await cli(ConfigureAliyun, ['--db', dbUrl()])
    expect(r.exit, r.stdout).toBe(0)
    expect(store()).toEqual({access_key_id: stsId, access_key_secret: SECRET, account_id: '42', region: 'cn-hangzhou', timeout: 30, security_token: token})
    expect(r.json.config.security_token).toBe('****cdef')
    expect(r.stdout).not.toContain(token)
    expect(r.json.notes.join(' ')).toContain('AGENTRUN_SECURITY_TOKEN')

    // back to a permanent key: a leftover token is refused instead of being sent with it
    process.env.AGENTRUN_ACCESS_KEY_ID = NEW_ID
    const leftover = await cli(ConfigureAliyun, ['--db', dbUrl()])
    expect(leftover.exit).toBe(4)
    expect(leftover.json.error.message).toContain('A security token is only used with a temporary AccessKey ID')
    expect(store().access_key_id).toBe(stsId)
  })

  it('e2b and self-managed follow the same rule (E2B_API_KEY, SANDBOX_API_TOKEN, SANDBOX_EXECUTOR_MANAGER_URL)', async () => {
    expect((await cli(ConfigureE2B, ['--db', dbUrl(), '--api-key', 'e2b_stored_0123456789abcdef0123'])).exit).toBe(0)
    process.env.E2B_API_KEY = 'e2b_rotated_0123456789abcdef012'
    expect((await cli(ConfigureE2B, ['--db', dbUrl()])).exit).toBe(0)
    expect(JSON.parse(byName(rows())['sandbox.e2b'].value).api_key).toBe('e2b_rotated_0123456789abcdef012')

    expect((await cli(ConfigureSelfManaged, ['--db', dbUrl(), '--endpoint', 'http://127.0.0.1:9385', '--api-token', 'stored-token'])).exit).toBe(0)
    process.env.SANDBOX_API_TOKEN = 'env-token'
    process.env.SANDBOX_EXECUTOR_MANAGER_URL = 'http://127.0.0.1:9400'
    expect((await cli(ConfigureSelfManaged, ['--db', dbUrl()])).exit).toBe(0)
    expect(JSON.parse(byName(rows())['sandbox.self_managed'].value)).toMatchObject({endpoint: 'http://127.0.0.1:9400', api_token: 'env-token'})
    process.env.SANDBOX_EXECUTOR_MANAGER_URL = 'localhost:9385'
    const bad = await cli(ConfigureSelfManaged, ['--db', dbUrl()])
    expect(bad.exit).toBe(4)
    expect(JSON.parse(byName(rows())['sandbox.self_managed'].value).endpoint).toBe('http://127.0.0.1:9400')
  })

  it('show says which stored values the environment replaces', async () => {
    expect((await cli(ConfigureAliyun, ['--db', dbUrl(), '--access-key-id', KEY_ID, '--access-key-secret', SECRET, '--account-id', '42'])).exit).toBe(0)
    process.env.AGENTRUN_REGION = 'mars-1'
    const r = await cli(ConfigureShow, ['--db', dbUrl()])
    const aliyun = r.json.providers.find((p: {id: string}) => p.id === 'aliyun_codeinterpreter')
    expect(aliyun.env_overrides).toEqual({region: 'AGENTRUN_REGION'})
    expect(aliyun.problems[0]).toContain('Invalid region')
  })
})

describe('other providers', () => {
  it('self-managed: defaults fill the runtime fields (read-only deployment fields are not stored); an unreachable endpoint fails --test and nothing is written', async () => {
    const r = await cli(ConfigureSelfManaged, ['--db', dbUrl(), '--endpoint', 'http://127.0.0.1:9', '--max-retries', '0', '--test'])
    expect(r.exit).toBe(6)
    expect(r.json.error.code).toBe('PROVIDER_TEST_FAILED')
    expect(r.json.error.message).toContain('Connection test failed: Cannot reach the executor manager at http://127.0.0.1:9')
    expect(existsSync(dbPath())).toBe(false)

    const forced = await cli(ConfigureSelfManaged, ['--db', dbUrl(), '--endpoint', 'http://127.0.0.1:9', '--max-retries', '0', '--test', '--force'])
    expect(forced.exit).toBe(0)
    expect(forced.json.test.success).toBe(false)
    expect(byName(rows())['sandbox.self_managed'].value).toBe('{"endpoint": "http://127.0.0.1:9", "timeout": 30, "max_retries": 0}')
    // shown with the row: HEAD's deployment fields, from the environment or their defaults
    expect(Object.keys(forced.json.config)).toEqual(expect.arrayContaining(['executor_manager_pool_size', 'executor_manager_port', 'sandbox_timeout']))
    // no flags for read-only fields
    const readonlyFlag = await cli(ConfigureSelfManaged, ['--db', dbUrl(), '--endpoint', 'http://127.0.0.1:9', '--executor-manager-pool-size', '5'])
    expect(readonlyFlag.exit).toBe(2)
  })

  it('self-managed: an endpoint without http:// is refused', async () => {
    const r = await cli(ConfigureSelfManaged, ['--db', dbUrl(), '--endpoint', 'localhost:9385'])
    expect(r.exit).toBe(4)
    expect(r.json.error.message).toContain('Invalid endpoint format: localhost:9385. Must start with http:// or https://')
  })

  it('e2b: key from E2B_API_KEY, masked in output', async () => {
    process.env.E2B_API_KEY = 'e2b_0123456789abcdef0123456789abcdef'
    const r = await cli(ConfigureE2B, ['--db', dbUrl(), '--domain', 'sandbox.example.com'])
    expect(r.exit, r.stdout).toBe(0)
    expect(r.json.config.api_key).toBe('****cdef')
    expect(r.stdout).not.toContain(process.env.E2B_API_KEY)
    expect(JSON.parse(byName(rows())['sandbox.e2b'].value)).toEqual({
      api_key: process.env.E2B_API_KEY,
      region: 'us',
      timeout: 30,
      template: 'base',
      domain: 'sandbox.example.com',
      allow_internet_access: false,
    })
  })

  it('docker: notes that RAGFlow cannot use it', async () => {
    const r = await cli(ConfigureDocker, ['--db', dbUrl(), '--memory', '512m'])
    expect(r.exit).toBe(0)
    expect(r.json.notes.join(' ')).toContain('sandbox configure self-managed')
    expect(byName(rows())['sandbox.docker'].value).toBe('{"memory": "512m", "allow_runc": false}')
    const bad = await cli(ConfigureDocker, ['--db', dbUrl(), '--memory', 'lots'])
    expect(bad.exit).toBe(2)
    expect(bad.json.error.code).toBe('INVALID_MEMORY')
  })
})

describe('configure show / use / interactive without a terminal', () => {
  it('show: masked secrets (also in --json), the active provider, problems of stored configs', async () => {
    seed()
    expect((await cli(ConfigureAliyun, ['--db', dbUrl(), '--access-key-id', KEY_ID, '--access-key-secret', SECRET, '--account-id', '42', '--no-activate'])).exit).toBe(0)
    const r = await cli(ConfigureShow, ['--db', dbUrl()])
    expect(r.exit).toBe(0)
    expect(r.stdout).not.toContain(SECRET)
    expect(r.json).toMatchObject({exists: true, kind: 'sqlite', active_provider: 'self_managed', active_source: 'settings'})
    const aliyun = r.json.providers.find((p: {id: string}) => p.id === 'aliyun_codeinterpreter')
    expect(aliyun.config).toMatchObject({access_key_secret: '****cdef', account_id: '42'})
    expect(aliyun.problems).toEqual([])
    const e2b = r.json.providers.find((p: {id: string}) => p.id === 'e2b')
    expect(e2b.problems).toEqual(["Required field 'api_key' is missing"])
  })

  it('show without settings: docker by default, and no file is created', async () => {
    const r = await cli(ConfigureShow, [])
    expect(r.json).toMatchObject({exists: false, active_provider: 'docker', active_source: 'default'})
    expect(existsSync(join(dir, 'data', 'settings.db'))).toBe(false)
  })

  it('use: --provider or an argument; refuses an unconfigured provider unless --force', async () => {
    seed()
    const ok = await cli(ConfigureUse, ['--db', dbUrl(), '--provider', 'docker'])
    expect(ok.exit).toBe(0)
    expect(byName(rows())['sandbox.provider_type'].value).toBe('docker')
    const back = await cli(ConfigureUse, ['self-managed', '--db', dbUrl()])
    expect(back.exit).toBe(0)
    expect(byName(rows())['sandbox.provider_type'].value).toBe('self_managed')
    const refused = await cli(ConfigureUse, ['--db', dbUrl(), '--provider', 'aliyun'])
    expect(refused.exit).toBe(4)
    expect(refused.json.error.message).toContain("Required field 'access_key_id' is missing")
    expect(byName(rows())['sandbox.provider_type'].value).toBe('self_managed')
    const forced = await cli(ConfigureUse, ['--db', dbUrl(), '--provider', 'aliyun', '--force'])
    expect(forced.exit).toBe(0)
    expect(byName(rows())['sandbox.provider_type'].value).toBe('aliyun_codeinterpreter')
    const unknown = await cli(ConfigureUse, ['--db', dbUrl(), '--provider', 'nonesuch'])
    expect(unknown.exit).toBe(4)
    expect(unknown.json.error.code).toBe('UNKNOWN_PROVIDER')
  })

  it('interactive configure without a terminal points to the subcommands (exit 4)', async () => {
    const r = await cli(Configure, [])
    expect(r.exit).toBe(4)
    expect(r.json.error.code).toBe('NO_TERMINAL')
    expect(r.json.error.suggestions.join('\n')).toContain('sandbox configure aliyun')
  })

  it('run: an unknown active provider or a database that is down stops before any code runs', async () => {
    seed()
    const db = new Database(dbPath())
    db.prepare("UPDATE system_settings SET value = 'nonesuch' WHERE name = 'sandbox.provider_type'").run()
    db.close()
    const unknown = await cli(Run, ['examples/hello.py', '--env-file', '/dev/null', '--db', dbUrl()])
    expect(unknown.exit).toBe(4)
    expect(unknown.json.error.code).toBe('UNKNOWN_PROVIDER')
    expect(unknown.json.error.message).toContain('"nonesuch" in sandbox.provider_type')
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as {port: number}).port
        s.close(() => resolve(p))
      })
    })
    const down = await cli(Run, ['examples/hello.py', '--env-file', '/dev/null', '--db', `postgres://u:Pw-secret-1@127.0.0.1:${port}/rag_flow`])
    expect(down.exit).toBe(3)
    expect(down.json.error.code).toBe('DATABASE_UNREACHABLE')
    expect(down.stdout).not.toContain('Pw-secret-1')
  })
})
