/**
 * GET /openapi.json (issue 14 item 3): generated from the routes' schemas, valid OpenAPI 3.1 by a
 * real validator, covering every registered route; and every answer of the server (a stand-in
 * engine and admin run; the admin API with a real SQLite settings file) matches the document.
 * The real engine behind it: test/integration/openapi.test.ts.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {adminRoutes, type AdminRun} from '../../src/admin/index.js'
import type {EngineStatus} from '../../src/engine/engine.js'
import {emptyResult, type RunResult} from '../../src/engine/result.js'
import {createManagerServer, type ManagerServer} from '../../src/server/http.js'
import {silentLogger} from '../../src/server/logger.js'
import {recordRoutes, undocumented} from '../../src/server/schemas.js'
import {effectiveSettings} from '../../src/server/status.js'
import {loadConfig} from '../../src/config.js'
import {AnswerChecker, answerOf, openApiErrors, type OpenApiDocument} from '../helpers/openapi.js'

const TOKEN = 'openapi-test-token-0123456789'
const auth = {authorization: `Bearer ${TOKEN}`}
const b64 = (s: string) => Buffer.from(s).toString('base64')

const engine = {
  healthy: true,
  async run(): Promise<RunResult> {
    return emptyResult({stdout: 'hi\n', time_used_ms: 12, memory_used_kb: 2048, result: {present: true, value: {a: [1, 'x']}, type: 'json'}})
  },
  status(): EngineStatus {
    return {
      runtime: 'runsc',
      backend: 'runsc',
      healthy: this.healthy,
      reason: this.healthy ? null : 'python: runsc is broken',
      pools: [{language: 'python', size: 1, ready: 1, busy: 0, creating: 0, waiting: 0, created: 1, failures: 0, rejected: 0, lastError: null}],
      admission: {limit: 4, live: 1, evictions: 0, executing: 0, queued: 0, rejected: 0},
    }
  },
}
const adminRun: AdminRun = async () => emptyResult({stdout: 'ok\n', exit_code: 0, time_used_ms: 5})

let dir: string
let server: ManagerServer
let base: string
let routes: ReturnType<typeof recordRoutes>
let doc: OpenApiDocument
let checker: AnswerChecker

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'openapi-unit-'))
  const config = loadConfig({env: {}, envFile: '/dev/null'})
  server = createManagerServer({
    engine,
    logger: silentLogger(),
    token: TOKEN,
    limits: {maxBodyBytes: 64 * 1024, maxCodeBytes: 16 * 1024},
    settings: effectiveSettings({...config, apiToken: TOKEN}),
    plugins: [
      {plugin: adminRoutes, options: {token: TOKEN, db: `sqlite://${join(dir, 'settings.db')}`, env: {}, run: adminRun, defaultTimeoutSeconds: 10, pageDir: join(dir, 'no-page')}},
    ],
  })
  // before listen: the route plugins are registered at ready, so this sees every route
  routes = recordRoutes(server.app)
  const {port} = await server.listen('127.0.0.1', 0)
  base = `http://127.0.0.1:${port}`
  doc = (await (await fetch(`${base}/openapi.json`)).json()) as OpenApiDocument
  checker = new AnswerChecker(doc)
})

afterAll(async () => {
  await server?.close(1000)
  rmSync(dir, {recursive: true, force: true})
})

async function answer(method: string, path: string, body?: unknown, headers: Record<string, string> = auth) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {...headers, ...(body === undefined ? {} : {'content-type': 'application/json'})},
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    redirect: 'manual',
  })
  const a = await answerOf(res)
  expect(checker.check(method, path, a), `${method} ${path}`).toBe('')
  return a
}

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document, served without the token', async () => {
    const res = await fetch(`${base}/openapi.json`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(doc.openapi).toBe('3.1.0')
    expect(await openApiErrors(doc)).toBe('')
  })

  it('documents every route the server registered, and nothing else', () => {
    expect(undocumented(routes()).map((r) => `${r.method} ${r.url}`)).toEqual([])
    const registered = new Set(
      routes()
        .filter((r) => r.method !== 'HEAD')
        .map((r) => `${r.method.toLowerCase()} ${r.url.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{path}')}`),
    )
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops)
        .filter((m) => m !== 'head')
        .map((m) => `${m} ${p}`),
    )
    expect(new Set(documented)).toEqual(registered)
    for (const path of [
      '/run',
      '/healthz',
      '/',
      '/metrics',
      '/status',
      '/openapi.json',
      '/api/v1/admin/sandbox/providers',
      '/api/v1/admin/sandbox/providers/{provider_id}/schema',
      '/api/v1/admin/sandbox/config',
      '/api/v1/admin/sandbox/test',
      '/api/v1/admin/sandbox/run',
    ]) {
      expect(doc.paths, path).toHaveProperty([path])
    }
  })

  it("takes POST /run's request schema from the route's validation schema, and names the shared answers", () => {
    const run = doc.paths['/run'].post as unknown as {requestBody: {content: {'application/json': {schema: {required: string[]}}}}; security: unknown[]}
    expect(run.requestBody.content['application/json'].schema.required).toEqual(['code_b64'])
    expect(run.security).toEqual([{bearer: []}])
    expect((doc.paths['/healthz'].get as unknown as {security: unknown[]}).security).toEqual([])
    expect(doc.paths['/run'].post.responses['200'].content).toEqual({'application/json': {schema: {$ref: '#/components/schemas/RunResult'}}})
  })
})

describe('the checks can fail', () => {
  it('the validator refuses a broken document, the checker an answer the document does not describe', async () => {
    expect(await openApiErrors({...doc, info: undefined})).not.toBe('')
    const json = (body: unknown, status = 200) => ({status, contentType: 'application/json', body})
    expect(checker.check('POST', '/run', json({status: 'success'}))).toMatch(/required property/)
    const result = emptyResult({})
    expect(checker.check('POST', '/run', json(result))).toBe('')
    expect(checker.check('POST', '/run', json({...result, extra: 1}))).toMatch(/additional properties/)
    expect(checker.check('POST', '/run', json(result, 418))).toMatch(/does not document status 418/)
    expect(checker.check('GET', '/nope', json({}))).toMatch(/not in the document/)
    expect(checker.check('GET', '/metrics', json({}))).toMatch(/content type/)
  })
})

describe('every answer matches the document', () => {
  it("RAGFlow's routes", async () => {
    expect((await answer('POST', '/run', {code_b64: b64('def main():\n    return 1\n'), language: 'python', arguments: {}})).status).toBe(200)
    expect((await answer('POST', '/run', {code_b64: b64('x')}, {})).status).toBe(401)
    expect((await answer('POST', '/run', {code_b64: b64('x'), policy: 'off'})).status).toBe(403)
    expect((await answer('POST', '/run', {code_b64: b64('x'.repeat(17 * 1024))})).status).toBe(413)
    expect((await answer('POST', '/run', 'not json')).status).toBe(422)
    expect((await answer('POST', '/run', {code_b64: '***'})).status).toBe(422)
    expect((await answer('GET', '/healthz', undefined, {})).status).toBe(200)
    expect((await answer('GET', '/', undefined, {})).status).toBe(200)
    expect((await answer('HEAD', '/', undefined, {})).status).toBe(200)
    engine.healthy = false
    expect((await answer('GET', '/healthz', undefined, {})).status).toBe(503)
    expect((await answer('GET', '/status')).body).toMatchObject({status: 'unhealthy'})
    engine.healthy = true
    expect((await answer('GET', '/status')).body).toMatchObject({status: 'ok', settings: {tokenRequired: true}})
    expect((await answer('GET', '/status', undefined, {})).status).toBe(401)
    expect((await answer('GET', '/metrics')).status).toBe(200)
    expect((await answer('GET', '/metrics', undefined, {})).status).toBe(401)
    expect((await answer('GET', '/openapi.json', undefined, {})).status).toBe(200)
  })

  it('the admin API and page', async () => {
    const admin = '/api/v1/admin/sandbox'
    expect((await answer('GET', `${admin}/providers`)).status).toBe(200)
    expect((await answer('GET', `${admin}/providers`, undefined, {})).status).toBe(401)
    expect((await answer('GET', `${admin}/providers/e2b/schema`)).status).toBe(200)
    expect((await answer('GET', `${admin}/providers/nope/schema`)).status).toBe(400)
    expect((await answer('GET', `${admin}/config`)).status).toBe(200)
    expect((await answer('POST', `${admin}/config`, {provider_type: 'self_managed', config: {endpoint: 'http://127.0.0.1:9385'}, set_active: true})).status).toBe(200)
    expect((await answer('GET', `${admin}/config`)).body).toMatchObject({data: {provider_type: 'self_managed'}})
    expect((await answer('POST', `${admin}/config`, {})).status).toBe(400)
    expect((await answer('POST', `${admin}/test`, {provider_type: 'self_managed', config: {endpoint: 'http://127.0.0.1:9385'}})).status).toBe(200)
    expect((await answer('POST', `${admin}/run`, {code: 'def main():\n    return 1\n', language: 'python'})).status).toBe(200)
    expect((await answer('POST', `${admin}/run`, {code: ''})).status).toBe(400)
    expect((await answer('GET', '/admin', undefined, {})).status).toBe(301)
    expect((await answer('GET', '/admin/', undefined, {})).status).toBe(503)
  })

  it('no documented operation went unchecked', () => {
    expect(checker.unchecked()).toEqual([])
  })
})
