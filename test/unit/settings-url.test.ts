import {spawnSync} from 'node:child_process'

import {describe, expect, it} from 'vitest'

import {SandboxError} from '../../src/errors.js'
import {describeTarget, maskDbUrl, openSettingsStore, parseDbUrl, pythonJsonDumps} from '../../src/settings/index.js'

const SECRET = 'S3cr3t-p@ss'
const ENC = encodeURIComponent(SECRET)

function parseError(url: string): SandboxError {
  try {
    parseDbUrl(url)
  } catch (error) {
    expect(error).toBeInstanceOf(SandboxError)
    return error as SandboxError
  }
  throw new Error(`expected ${url} to be rejected`)
}

describe('parseDbUrl', () => {
  it('parses sqlite URLs with an absolute path', () => {
    expect(parseDbUrl('sqlite:///var/lib/sandbox/settings.db')).toEqual({kind: 'sqlite', path: '/var/lib/sandbox/settings.db'})
    expect(parseDbUrl('sqlite:///tmp/with%20space.db')).toEqual({kind: 'sqlite', path: '/tmp/with space.db'})
    expect(parseDbUrl('SQLITE:///x.db')).toEqual({kind: 'sqlite', path: '/x.db'})
  })

  it('parses mysql and mariadb URLs', () => {
    expect(parseDbUrl(`mysql://root:${ENC}@db.example:5455/rag_flow`)).toEqual({
      kind: 'mysql',
      host: 'db.example',
      port: 5455,
      user: 'root',
      password: SECRET,
      database: 'rag_flow',
      ssl: 'disable',
    })
    expect(parseDbUrl('mariadb://u:p@127.0.0.1/db')).toMatchObject({kind: 'mysql', port: 3306, database: 'db'})
    expect(parseDbUrl('mysql://u@127.0.0.1/db')).toMatchObject({user: 'u', password: ''})
  })

  it('parses postgres and postgresql URLs', () => {
    expect(parseDbUrl('postgres://rag:pw@10.0.0.5:6543/rag_flow')).toEqual({
      kind: 'postgres',
      host: '10.0.0.5',
      port: 6543,
      user: 'rag',
      password: 'pw',
      database: 'rag_flow',
      ssl: 'disable',
    })
    expect(parseDbUrl('postgresql://rag:pw@localhost/rag_flow')).toMatchObject({kind: 'postgres', port: 5432})
    expect(parseDbUrl('postgres://rag:pw@[::1]:5433/x')).toMatchObject({host: '::1', port: 5433})
  })

  it('understands ssl and sslmode parameters', () => {
    expect(parseDbUrl('postgres://u:p@h/d?sslmode=require')).toMatchObject({ssl: 'require'})
    expect(parseDbUrl('postgres://u:p@h/d?sslmode=verify-full')).toMatchObject({ssl: 'verify-full'})
    expect(parseDbUrl('mysql://u:p@h/d?ssl=true')).toMatchObject({ssl: 'verify-full'})
    expect(parseDbUrl('mysql://u:p@h/d?ssl=false')).toMatchObject({ssl: 'disable'})
  })

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['/abs/path.db', 'no scheme'],
    ['redis://u:p@h/0', 'unsupported scheme'],
    ['sqlite://relative.db', 'absolute'],
    ['sqlite:relative.db', 'sqlite:///'],
    ['sqlite:///', 'directory'],
    ['sqlite:///tmp/x.db?mode=ro', 'no parameters'],
    [`mysql://root:${ENC}@host:3306`, 'database name is missing'],
    [`mysql://root:${ENC}@host:3306/`, 'database name is missing'],
    [`mysql://:${ENC}@host:3306/db`, 'user is missing'],
    [`mysql://root:${ENC}@host:99999/db`, 'valid URL'],
    [`postgres://root:${ENC}@host/db/extra`, 'must not contain "/"'],
    [`postgres://root:${ENC}@host/db?foo=bar`, 'unknown parameter'],
    [`postgres://root:${ENC}@host/db?sslmode=weird`, 'sslmode'],
    [`mysql://root:${SECRET}#x@host/db`, ''],
  ])('rejects %j with INVALID_DB_URL (exit 4) without leaking the password', (url, reason) => {
    const error = parseError(url)
    expect(error.code).toBe('INVALID_DB_URL')
    expect(error.exit).toBe(4)
    expect(error.message).toContain(reason)
    expect(error.message).not.toContain(SECRET)
    expect(error.message).not.toContain(ENC)
    expect(error.suggestions.join('\n')).toContain('sqlite:///')
  })

  it('openSettingsStore rejects a bad URL before touching anything', async () => {
    const error = (await openSettingsStore(`ftp://u:${ENC}@h/x`).catch((e: unknown) => e)) as SandboxError
    expect(error).toMatchObject({code: 'INVALID_DB_URL', exit: 4})
    expect(error.message).toContain('ftp://u:****@h/x')
    expect(error.message).not.toContain(ENC)
  })
})

describe('maskDbUrl / describeTarget', () => {
  it.each([
    [`mysql://root:${ENC}@h:3306/db`, 'mysql://root:****@h:3306/db'],
    [`postgres://u:${SECRET}@h/db`, 'postgres://u:****@h/db'],
    ['postgres://u:a/b@c@h:5432/db', 'postgres://u:****@h:5432/db'],
    ['mysql://u:@h/db', 'mysql://u:****@h/db'],
    ['mysql://u@h:3306/db', 'mysql://u@h:3306/db'],
    ['mysql://h:3306/db', 'mysql://h:3306/db'],
    ['sqlite:///tmp/x.db', 'sqlite:///tmp/x.db'],
    [`mysql:u:${SECRET}@h/db`, 'mysql:u:****@h/db'],
  ])('masks %s', (url, masked) => {
    expect(maskDbUrl(url)).toBe(masked)
  })

  it('describes targets without the password', () => {
    expect(describeTarget(parseDbUrl(`mysql://root:${ENC}@127.0.0.1:5455/rag_flow`))).toBe('mysql://root:****@127.0.0.1:5455/rag_flow')
    expect(describeTarget(parseDbUrl('postgres://u@[::1]/d?sslmode=require'))).toBe('postgres://u@[::1]:5432/d?sslmode=require')
    expect(describeTarget(parseDbUrl('sqlite:///tmp/s.db'))).toBe('/tmp/s.db')
  })
})

describe('pythonJsonDumps', () => {
  it("writes RAGFlow's seed rows byte for byte", () => {
    // conf/system_settings.json: sandbox.self_managed
    expect(pythonJsonDumps({endpoint: 'http://localhost:9385', timeout: 30, max_retries: 3, pool_size: 10})).toBe(
      '{"endpoint": "http://localhost:9385", "timeout": 30, "max_retries": 3, "pool_size": 10}',
    )
    expect(pythonJsonDumps({})).toBe('{}')
    expect(pythonJsonDumps({a: [], b: [1, 2], c: {d: null, e: true, f: false}, g: 1.5})).toBe('{"a": [], "b": [1, 2], "c": {"d": null, "e": true, "f": false}, "g": 1.5}')
  })

  it('drops undefined members like json.dumps never sees them, and rejects NaN', () => {
    expect(pythonJsonDumps({a: undefined, b: 1, c: [undefined]})).toBe('{"b": 1, "c": [null]}')
    expect(() => pythonJsonDumps({a: Number.NaN})).toThrow(/cannot represent/)
  })

  it('matches python3 json.dumps on tricky strings', () => {
    const value = {
      'k\u00e9y': 'caf\u00e9 \u{1F600} \u007f \u0001 tab\t nl\n quote" back\\ slash/ \u2028',
      nested: {list: [0, -1, 1e21, 0.1, 'x'], empty: {}},
      secret: 'LTAI5tAbC',
    }
    const expected = spawnSync('python3', ['-c', 'import json,sys; print(json.dumps(json.loads(sys.stdin.read())), end="")'], {
      input: JSON.stringify(value),
      encoding: 'utf8',
    })
    expect(expected.status, expected.stderr).toBe(0)
    expect(pythonJsonDumps(value)).toBe(expected.stdout)
  })
})
