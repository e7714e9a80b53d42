/**
 * The admin plugin on its own Fastify instance against RAGFlow's own admin requests (paths and
 * payloads as web/src/services/admin-service.ts sends them; answers and messages from
 * admin/server/routes.py and services.py at HEAD), with the real settings store (a SQLite file
 * in a temp dir, rows read back with better-sqlite3) and a real gVisor run for the docker
 * provider's connection test (through the providerRun adapter).
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import Fastify, {type FastifyInstance} from 'fastify'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {adminRoutes, providerRun} from '../../src/admin/index.js'
import {loadConfig} from '../../src/config.js'
import {isSandboxError} from '../../src/errors.js'
import {imageEnv, sqliteRows, type SettingRowText} from '../helpers/admin.js'
import {startMariaDB, startPostgres, type DatabaseServer} from '../helpers/databases.js'
import {closedPort} from '../helpers/ports.js'

const TOKEN = 'admin-token-0123456789abcdef'
const SECRET = 'e2b_sk_live_0123456789abcdefXYZW'

let dir: string
let file: string
let app: FastifyInstance
let down: number

interface Case {
  what: string
  method: 'GET' | 'POST'
  url: string
  /** the JSON body as RAGFlow's front end sends it; undefined: no body at all */
  body?: unknown
  /** the body's content-type (default application/json, as the front end sends it) */
  contentType?: string
  status: number
  /** RAGFlow's answer (toMatchObject) */
  answer: Record<string, unknown>
  /** the request must not change any row */
  writesNothing?: boolean
}

const E = (message: string, code = 400) => ({code, message, data: null})

/** RAGFlow's requests and answers, in the order an administrator meets them. */
const CASES: Case[] = [
  {
    what: 'list providers',
    method: 'GET',
    url: '/api/v1/admin/sandbox/providers',
    status: 200,
    answer: {
      code: 0,
      message: 'Success',
      data: expect.arrayContaining([
        {id: 'self_managed', name: 'Self-Managed', description: expect.any(String), tags: ['self-hosted', 'low-latency', 'secure']},
        {id: 'aliyun_codeinterpreter', name: 'Aliyun Code Interpreter', description: expect.any(String), tags: ['saas', 'cloud', 'scalable', 'aliyun']},
        {id: 'e2b', name: 'E2B', description: expect.any(String), tags: ['saas', 'fast', 'global']},
        expect.objectContaining({id: 'local'}),
      ]),
    },
  },
  {
    what: 'schema of e2b',
    method: 'GET',
    url: '/api/v1/admin/sandbox/providers/e2b/schema',
    status: 200,
    answer: {code: 0, data: expect.objectContaining({api_key: expect.objectContaining({type: 'string', required: true, secret: true, label: 'API Key'})})},
  },
  {
    what: 'schema of self_managed (HEAD: scope, readonly)',
    method: 'GET',
    url: '/api/v1/admin/sandbox/providers/self_managed/schema',
    status: 200,
    answer: {
      code: 0,
      data: expect.objectContaining({
        endpoint: expect.objectContaining({type: 'string', required: true, default: 'http://sandbox-executor-manager:9385', scope: 'runtime', readonly: false}),
        executor_manager_pool_size: expect.objectContaining({type: 'integer', scope: 'deployment', readonly: true}),
      }),
    },
  },
  {what: 'schema of an unknown provider', method: 'GET', url: '/api/v1/admin/sandbox/providers/daytona/schema', status: 400, answer: E('Unknown provider: daytona')},
  {
    what: 'config before anything is saved',
    method: 'GET',
    url: '/api/v1/admin/sandbox/config',
    status: 200,
    answer: {code: 0, message: 'Success', data: {provider_type: 'self_managed', config: expect.objectContaining({endpoint: 'http://sandbox-executor-manager:9385', timeout: 30})}},
  },
  {what: 'save without a body', method: 'POST', url: '/api/v1/admin/sandbox/config', status: 400, answer: E('Request body is required'), writesNothing: true},
  {what: 'save {}', method: 'POST', url: '/api/v1/admin/sandbox/config', body: {}, status: 400, answer: E('Request body is required'), writesNothing: true},
  {
    what: 'save sent as a form (curl -d without a content-type)',
    method: 'POST',
    url: '/api/v1/admin/sandbox/config',
    body: {provider_type: 'docker', config: {}},
    contentType: 'application/x-www-form-urlencoded',
    status: 415,
    answer: E('Unsupported Media Type', 415),
    writesNothing: true,
  },
  {
    what: 'save without provider_type',
    method: 'POST',
    url: '/api/v1/admin/sandbox/config',
    body: {config: {}},
    status: 400,
    answer: E('provider_type is required'),
    writesNothing: true,
  },
  {
    what: 'save an unknown provider type',
    method: 'POST',
    url: '/api/v1/admin/sandbox/config',
    body: {provider_type: 'daytona', config: {}},
    status: 400,
    answer: E('Unknown provider type: daytona'),
    writesNothing: true,
  },
  {
    what: 'save e2b without its key',
    method: 'POST',
    url: '/api/v1/admin/sandbox/config',
    body: {provider_type: 'e2b', config: {region: 'us', timeout: 30}},
    status: 400,
    answer: E("Required field 'api_key' is missing"),
    writesNothing: true,
  },
  {
    what: 'save a timeout as text',
    method: 'POST',
    url: '/api/v1/admin/sandbox/config',
    body: {provider_type: 'self_managed', config: {endpoint: 'http://127.0.0.1:9385', timeout: '30'}},
    status: 400,
    answer: E("Field 'timeout' must be an integer"),
    writesNothing: true,
  },
  {
    what: 'save a timeout below the minimum',
    method: 'POST',
    url: '/api/v1/admin/sandbox/config',
    body: {provider_type: 'self_managed', config: {endpoint: 'http://127.0.0.1:9385', timeout: 1}},
    status: 400,
    answer: E("Field 'timeout' must be >= 5"),
    writesNothing: true,
  },
  {
    what: 'save a timeout above the maximum',
    method: 'POST',
    url: '/api/v1/admin/sandbox/config',
    body: {provider_type: 'self_managed', config: {endpoint: 'http://127.0.0.1:9385', timeout: 301}},
    status: 400,
    answer: E("Field 'timeout' must be <= 300"),
    writesNothing: true,
  },
  {
    what: 'save a bad endpoint',
    method: 'POST',
    url: '/api/v1/admin/sandbox/config',
    body: {provider_type: 'self_managed', config: {endpoint: 'localhost:9385', timeout: 30}},
    status: 400,
    answer: E('Provider validation failed: Invalid endpoint format: localhost:9385. Must start with http:// or https://'),
    writesNothing: true,
  },
  {
    what: 'save config that is not an object',
    method: 'POST',
    url: '/api/v1/admin/sandbox/config',
    body: {provider_type: 'e2b', config: 'api_key=x'},
    status: 400,
    answer: {code: 400, message: expect.stringMatching(/config must be object/), data: null},
    writesNothing: true,
  },
  {
    what: "save e2b (as RAGFlow's page: no set_active)",
    method: 'POST',
    url: '/api/v1/admin/sandbox/config',
    body: {provider_type: 'e2b', config: {api_key: SECRET, region: 'us', timeout: 30}},
    status: 200,
    answer: {
      code: 0,
      message: 'Sandbox configuration updated successfully',
      data: {provider_type: 'e2b', config: expect.objectContaining({api_key: '****XYZW', region: 'us', timeout: 30})},
    },
  },
  {
    what: 'config after the save: secret masked',
    method: 'GET',
    url: '/api/v1/admin/sandbox/config',
    status: 200,
    answer: {code: 0, data: {provider_type: 'e2b', config: expect.objectContaining({api_key: '****XYZW', region: 'us', timeout: 30})}},
  },
  {
    what: 'save self_managed without activating it',
    method: 'POST',
    url: '/api/v1/admin/sandbox/config',
    body: {provider_type: 'self_managed', config: {endpoint: 'http://127.0.0.1:9385', timeout: 30}, set_active: false},
    status: 200,
    answer: {code: 0, data: {provider_type: 'self_managed', config: expect.objectContaining({endpoint: 'http://127.0.0.1:9385'})}},
  },
  {what: 'still e2b', method: 'GET', url: '/api/v1/admin/sandbox/config', status: 200, answer: {code: 0, data: {provider_type: 'e2b'}}},
  {what: 'test without a body', method: 'POST', url: '/api/v1/admin/sandbox/test', status: 400, answer: E('Request body is required'), writesNothing: true},
  {
    what: 'test without provider_type',
    method: 'POST',
    url: '/api/v1/admin/sandbox/test',
    body: {config: {}},
    status: 400,
    answer: E('provider_type is required'),
    writesNothing: true,
  },
  {
    what: 'test an unknown provider type',
    method: 'POST',
    url: '/api/v1/admin/sandbox/test',
    body: {provider_type: 'daytona', config: {}},
    status: 400,
    answer: E('Unknown provider type: daytona'),
    writesNothing: true,
  },
  {
    what: "test the docker provider (a real gVisor run of RAGFlow's probe)",
    method: 'POST',
    url: '/api/v1/admin/sandbox/test',
    body: {provider_type: 'docker', config: {}},
    status: 200,
    answer: {
      code: 0,
      message: 'Success',
      data: {
        success: true,
        message: expect.stringMatching(
          /^Test PASSED \| Exit code: 0 \| Execution time: \d+\.\d\ds \| Output: 2 \+ 2 = 4\nJSON dump: \{"test": "data", "value": 123\}\nMath\.sqrt\(16\) = 4\.0\nTEST_PASSED\.\.\.$/,
        ),
        details: {exit_code: 0, execution_time: expect.any(Number), stdout: expect.stringContaining('TEST_PASSED'), stderr: ''},
      },
    },
    writesNothing: true,
  },
  {
    what: 'test the local provider without the opt-in: refused, nothing runs on the host',
    method: 'POST',
    url: '/api/v1/admin/sandbox/test',
    body: {provider_type: 'local', config: {}},
    status: 400,
    answer: E('Connection test failed: The local provider runs code on this host without any sandbox and is refused without an explicit opt-in'),
    writesNothing: true,
  },
  {
    what: 'try it without code (ours)',
    method: 'POST',
    url: '/api/v1/admin/sandbox/run',
    body: {language: 'python'},
    status: 400,
    answer: E('code is required'),
    writesNothing: true,
  },
  {
    what: 'try it in an unknown language (ours)',
    method: 'POST',
    url: '/api/v1/admin/sandbox/run',
    body: {code: 'x = 1', language: 'ruby'},
    status: 400,
    answer: E('Unsupported language: ruby (python or nodejs)'),
    writesNothing: true,
  },
  {
    what: 'try it with arguments that are not an object (ours)',
    method: 'POST',
    url: '/api/v1/admin/sandbox/run',
    body: {code: 'x = 1', arguments: [1]},
    status: 400,
    answer: {code: 400, message: expect.stringMatching(/arguments must be object/), data: null},
    writesNothing: true,
  },
]

function rows(): SettingRowText[] {
  const found = sqliteRows(file)
  if (!found) throw new Error(`${file} does not exist`)
  return found
}

const safeRows = () => sqliteRows(file)

async function request(c: Pick<Case, 'method' | 'url' | 'body' | 'contentType'>, token = TOKEN) {
  const res = await app.inject({
    method: c.method,
    url: c.url,
    headers: {authorization: `Bearer ${token}`, ...(c.body === undefined ? {} : {'content-type': c.contentType ?? 'application/json'})},
    payload: c.body === undefined ? undefined : JSON.stringify(c.body),
  })
  return {status: res.statusCode, json: res.json(), text: res.body}
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'admin-api-'))
  file = join(dir, 'settings.db')
  down = await closedPort()
  app = Fastify()
  const sandboxConfig = loadConfig({env: imageEnv(), envFile: '/dev/null'})
  // the page as `npm run build` makes it, from the current sources
  const pageDir = join(dir, 'page')
  const {build} = await import('vite')
  await build({configFile: resolve('web/admin/vite.config.ts'), logLevel: 'error', build: {outDir: pageDir, emptyOutDir: true}})
  await app.register(adminRoutes, {token: TOKEN, db: `sqlite://${file}`, env: {}, run: providerRun(sandboxConfig), defaultTimeoutSeconds: 10, pageDir})
  await app.ready()
})
afterAll(async () => {
  await app?.close()
  rmSync(dir, {recursive: true, force: true})
})

describe("the admin API answers RAGFlow's requests as RAGFlow does", () => {
  it.each(CASES.map((c) => [c.what, c] as const))('%s', async (_what, c) => {
    const before = safeRows()
    const {status, json} = await request(c)
    expect(json).toMatchObject(c.answer)
    expect(status).toBe(c.status)
    if (c.writesNothing) expect(safeRows()).toEqual(before)
  })

  it("the rows are RAGFlow's: sandbox.provider_type and sandbox.<id> as JSON, the secret in the database only", async () => {
    const stored = rows()
    expect(stored.find((r) => r.name === 'sandbox.provider_type')).toEqual({name: 'sandbox.provider_type', source: 'admin', data_type: 'string', value: 'e2b'})
    const e2b = stored.find((r) => r.name === 'sandbox.e2b')!
    expect(e2b).toMatchObject({source: 'admin', data_type: 'json'})
    expect(JSON.parse(String(e2b.value))).toMatchObject({api_key: SECRET, region: 'us', timeout: 30})
    expect(JSON.parse(String(stored.find((r) => r.name === 'sandbox.self_managed')!.value))).toMatchObject({endpoint: 'http://127.0.0.1:9385', timeout: 30})
    // no answer ever carries the secret
    for (const url of ['/api/v1/admin/sandbox/config', '/api/v1/admin/sandbox/providers/e2b/schema']) {
      expect((await request({method: 'GET', url})).text).not.toContain(SECRET)
    }
  })

  it("RAGFlow's page sends the masked secret back on save: the stored key stays", async () => {
    const shown = (await request({method: 'GET', url: '/api/v1/admin/sandbox/config'})).json.data
    const saved = await request({method: 'POST', url: '/api/v1/admin/sandbox/config', body: {provider_type: 'e2b', config: {...shown.config, timeout: 60}}})
    expect(saved.status).toBe(200)
    expect(JSON.parse(String(rows().find((r) => r.name === 'sandbox.e2b')!.value))).toMatchObject({api_key: SECRET, timeout: 60})
  })

  it('a test that cannot reach its manager is "Connection test failed" (HTTP 400), and nothing is written', async () => {
    const before = rows()
    const {status, json} = await request({
      method: 'POST',
      url: '/api/v1/admin/sandbox/test',
      body: {provider_type: 'self_managed', config: {endpoint: `http://127.0.0.1:${down}`, timeout: 5, max_retries: 0}},
    })
    expect(status).toBe(400)
    expect(json).toMatchObject({code: 400, message: expect.stringMatching(/^Connection test failed: /), data: null})
    expect(rows()).toEqual(before)
  })

  it('refuses every API request without the right bearer token (401, nothing runs or changes)', async () => {
    const before = rows()
    for (const c of [...CASES.slice(0, 5), {method: 'POST' as const, url: '/api/v1/admin/sandbox/config', body: {provider_type: 'docker', config: {}}}]) {
      for (const token of ['', 'wrong-token']) {
        const res = await app.inject({
          method: c.method,
          url: c.url,
          headers: token ? {authorization: `Bearer ${token}`} : {},
          payload: 'body' in c && c.body ? (c.body as object) : undefined,
        })
        expect(res.statusCode, `${c.url} with ${token || 'no token'}`).toBe(401)
        expect(res.json()).toMatchObject({code: 401, data: null})
        expect(res.headers['www-authenticate']).toMatch(/^Bearer/)
      }
    }
    expect(rows()).toEqual(before)
  })

  it('serves the page at /admin/ without a token, with a strict CSP; /admin redirects there', async () => {
    const page = await app.inject({method: 'GET', url: '/admin/'})
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    expect(page.body).toContain('<title>Sandbox settings</title>')
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/)
    expect(page.body).not.toMatch(/https?:\/\//)
    const bare = await app.inject({method: 'GET', url: '/admin'})
    expect([bare.statusCode, bare.headers.location]).toEqual([301, '/admin/'])
  })

  it('a manager built without the page answers /admin/ with 503 and how to build it', async () => {
    const other = Fastify()
    await other.register(adminRoutes, {
      token: TOKEN,
      pageDir: join(dir, 'no-page'),
      run: async () => {
        throw new Error('never')
      },
      defaultTimeoutSeconds: 10,
    })
    const res = await other.inject({method: 'GET', url: '/admin/'})
    expect([res.statusCode, res.body]).toEqual([503, expect.stringContaining('run `npm run build`')])
    await other.close()
  })

  it('the plugin refuses to register without a token', async () => {
    const other = Fastify()
    const error = await other
      .register(adminRoutes, {
        token: undefined,
        run: async () => {
          throw new Error('never')
        },
        defaultTimeoutSeconds: 10,
      })
      .ready()
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(isSandboxError(error) && error.code).toBe('ADMIN_API_NEEDS_TOKEN')
    await other.close().catch(() => {})
  })
})

describe.each([
  ['MariaDB (mariadb client)', startMariaDB],
  ['PostgreSQL (psql)', startPostgres],
])("RAGFlow's database: the admin API writes %s", (_label, start) => {
  let server: DatabaseServer
  let other: FastifyInstance
  const rowsSql = "SELECT name, source, data_type, value FROM system_settings WHERE name LIKE 'sandbox.%' ORDER BY name"
  beforeAll(async () => {
    server = await start()
    await server.query('DROP TABLE IF EXISTS system_settings')
    other = Fastify()
    await other.register(adminRoutes, {
      token: TOKEN,
      db: server.url,
      env: {},
      run: async () => {
        throw new Error('never')
      },
      defaultTimeoutSeconds: 10,
      pageDir: join(dir, 'no-page'),
    })
  })
  afterAll(async () => {
    await other?.close()
    await server?.stop()
  })
  const post = (body: unknown) =>
    other.inject({
      method: 'POST',
      url: '/api/v1/admin/sandbox/config',
      headers: {authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json'},
      payload: JSON.stringify(body),
    })

  it("saves RAGFlow's rows, read back with the database's own client; a refused config changes nothing", async () => {
    const saved = await post({provider_type: 'e2b', config: {api_key: SECRET, region: 'eu', timeout: 45}})
    expect([saved.statusCode, saved.json().message]).toEqual([200, 'Sandbox configuration updated successfully'])
    const lines = (await server.query(rowsSql))
      .trim()
      .split('\n')
      .map((line) => line.split('\t'))
    expect(lines.map(([name, source, type]) => [name, source, type])).toEqual([
      ['sandbox.e2b', 'admin', 'json'],
      ['sandbox.provider_type', 'admin', 'string'],
    ])
    expect(JSON.parse(lines[0][3])).toMatchObject({api_key: SECRET, region: 'eu', timeout: 45})
    expect(lines[1][3]).toBe('e2b')
    const before = await server.query(rowsSql)
    const refused = await post({provider_type: 'e2b', config: {timeout: 400}})
    expect([refused.statusCode, refused.json()]).toEqual([400, {code: 400, message: "Field 'timeout' must be <= 300", data: null}])
    expect(await server.query(rowsSql)).toBe(before)
  })
})
