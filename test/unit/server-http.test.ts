/**
 * The HTTP contract of the manager with a recording stand-in engine (logic only: routes,
 * status codes, token, limits, "nothing ran"). The real engine behind the real server is
 * covered by test/integration/manager.test.ts.
 */
import {request} from 'node:http'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {EngineStatus} from '../../src/engine/engine.js'
import type {RunRequest} from '../../src/run/request.js'
import {emptyResult, EXIT, runnerError, type RunResult} from '../../src/engine/result.js'
import {createManagerServer, type ManagerServer} from '../../src/server/http.js'
import {createLogger} from '../../src/server/logger.js'
import {parseMetrics, sumMetric} from '../../src/server/metrics.js'
import {connectEndpoint} from '../../src/suite/targets.js'

class RecordingEngine {
  calls: RunRequest[] = []
  healthy = true
  reason: string | null = null
  async run(req: RunRequest): Promise<RunResult> {
    this.calls.push(req)
    return emptyResult({stdout: 'ok\n', result: {present: true, value: req.arguments ?? null, type: 'json'}})
  }

  status(): EngineStatus {
    return {
      runtime: 'runsc',
      backend: 'runsc',
      healthy: this.healthy,
      reason: this.reason,
      pools: [{language: 'python', size: 1, ready: 1, busy: 0, creating: 0, waiting: 0, created: 1, failures: 0, rejected: 0, lastError: null}],
      admission: {limit: 4, live: 1, evictions: 0, executing: 0, queued: 0, rejected: 0},
    }
  }
}

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: () => Record<string, unknown>
}

function call(port: number, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({host: '127.0.0.1', port, method, path, headers: {...(body === undefined ? {} : {'content-type': 'application/json'}), ...headers}}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown>})
      })
    })
    req.on('error', reject)
    if (body !== undefined) req.write(body)
    req.end()
  })
}

const b64 = (s: string) => Buffer.from(s).toString('base64')
const runBody = (o: Record<string, unknown>) => JSON.stringify(o)

describe('manager HTTP surface', () => {
  const logs: string[] = []
  const engine = new RecordingEngine()
  let server: ManagerServer
  let port: number
  let phase: 'starting' | 'serving' | 'stopping' = 'serving'

  beforeAll(async () => {
    server = createManagerServer({engine, logger: createLogger({write: (l) => logs.push(l)}), phase: () => phase, limits: {maxBodyBytes: 64 * 1024, maxCodeBytes: 16 * 1024}})
    port = (await server.listen('127.0.0.1', 0)).port
  })
  afterAll(() => server.close(1000))

  it('POST /run answers 200 with the engine result and passes language and arguments', async () => {
    const res = await call(port, 'POST', '/run', runBody({code_b64: b64('def main(a, b): pass'), language: 'javascript', arguments: {a: true, b: null, c: 'ü'}}))
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('application/json')
    expect(res.json()).toMatchObject({status: 'success', stdout: 'ok\n', result: {present: true, value: {a: true, b: null, c: 'ü'}}})
    expect(engine.calls.at(-1)).toMatchObject({language: 'nodejs', code: 'def main(a, b): pass'})
  })

  it('malformed requests get 4xx JSON and nothing runs', async () => {
    const before = engine.calls.length
    const cases: Array<[string, string, string | undefined, number]> = [
      ['POST', '/run', 'not json', 422],
      ['POST', '/run', runBody({code_b64: '***'}), 422],
      ['POST', '/run', runBody({code_b64: b64('x'), language: 'cobol'}), 422],
      ['POST', '/run', runBody({code_b64: b64('x'), arguments: [1]}), 422],
      ['POST', '/run', runBody({code_b64: b64('x'.repeat(17 * 1024))}), 413],
      ['POST', '/run', 'x'.repeat(65 * 1024), 413],
      ['GET', '/run', undefined, 405],
      ['POST', '/healthz', '{}', 405],
      ['GET', '/nope', undefined, 404],
    ]
    for (const [method, path, body, status] of cases) {
      const res = await call(port, method, path, body)
      expect(res.status, `${method} ${path} ${String(body).slice(0, 30)}`).toBe(status)
      expect(res.json()).toHaveProperty('message')
    }
    expect(engine.calls.length).toBe(before)
    const allow = await call(port, 'GET', '/run')
    expect(allow.headers.allow).toBe('POST')
  })

  it('healthz is {"status":"ok"} only when serving and healthy', async () => {
    expect((await call(port, 'GET', '/healthz')).json()).toEqual({status: 'ok'})
    expect((await call(port, 'GET', '/')).status).toBe(200)
    engine.healthy = false
    engine.reason = 'python: runsc is broken'
    const sick = await call(port, 'GET', '/healthz')
    expect(sick.status).toBe(503)
    expect(sick.json()).toMatchObject({status: 'unhealthy', reason: 'python: runsc is broken'})
    engine.healthy = true
    engine.reason = null
    phase = 'starting'
    expect((await call(port, 'GET', '/healthz')).json()).toMatchObject({status: 'unhealthy', phase: 'starting'})
    phase = 'serving'
  })

  it('metrics count runs and rejections', async () => {
    const res = await call(port, 'GET', '/metrics')
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0.0.4/)
    const s = parseMetrics(res.text)
    expect(sumMetric(s, 'sandbox_runs_total', {language: 'nodejs', status: 'success'})).toBe(1)
    expect(sumMetric(s, 'sandbox_http_requests_total', {route: '/run', code: '422'})).toBeGreaterThanOrEqual(4)
    expect(sumMetric(s, 'sandbox_pool_ready', {language: 'python'})).toBe(1)
  })

  it('logs requests without code, arguments or output', async () => {
    await call(port, 'POST', '/run', runBody({code_b64: b64('SECRET_CODE = 1'), arguments: {password: 'SECRET_ARG'}}))
    const text = logs.join('')
    expect(text).toContain('"msg":"run"')
    expect(text).not.toContain('SECRET')
    expect(text).not.toContain(b64('SECRET_CODE = 1'))
    for (const line of logs) expect(() => JSON.parse(line)).not.toThrow()
  })
})

describe('manager HTTP surface with a token', () => {
  const engine = new RecordingEngine()
  let server: ManagerServer
  let port: number

  beforeAll(async () => {
    server = createManagerServer({engine, logger: createLogger({write: () => {}}), token: 't0ken'})
    port = (await server.listen('127.0.0.1', 0)).port
  })
  afterAll(() => server.close(1000))

  it('401 for /run and /metrics without the token, and nothing runs; /healthz stays open', async () => {
    const body = runBody({code_b64: b64('x')})
    const none = await call(port, 'POST', '/run', body)
    expect(none.status).toBe(401)
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/)
    expect((await call(port, 'POST', '/run', body, {authorization: 'Bearer wrong'})).status).toBe(401)
    expect((await call(port, 'GET', '/metrics')).status).toBe(401)
    expect(engine.calls).toHaveLength(0)
    expect((await call(port, 'GET', '/healthz')).status).toBe(200)
    expect((await call(port, 'POST', '/run', body, {authorization: 'Bearer t0ken'})).status).toBe(200)
    expect((await call(port, 'GET', '/metrics', undefined, {authorization: 'Bearer t0ken'})).status).toBe(200)
    expect(engine.calls).toHaveLength(1)
  })
})

describe('GET /status and the per-request policy override', () => {
  const settings = {
    host: '127.0.0.1',
    port: 1,
    poolSize: 1,
    timeoutSeconds: 10,
    memory: '256m',
    codePolicy: 'on',
    maxConcurrentRuns: 4,
    queueTimeoutSeconds: 10,
    allowPolicyOverride: true,
    resultInStdout: false,
    adminApi: false,
    allowRunc: false,
    tokenRequired: true,
    envFile: null,
  }
  const auth = {authorization: 'Bearer t0ken'}

  it('an override without a token cannot even be configured', () => {
    expect(() => createManagerServer({engine: new RecordingEngine(), logger: createLogger({write: () => {}}), allowPolicyOverride: true})).toThrow(/needs an API token/)
  })

  it('without the option: a "policy" field is refused with 403, nothing runs; RAGFlow\'s requests (no field) run', async () => {
    const engine = new RecordingEngine()
    const server = createManagerServer({engine, logger: createLogger({write: () => {}}), token: 't0ken'})
    const {port} = await server.listen('127.0.0.1', 0)
    try {
      for (const policy of ['off', 'on', 'ragflow', 'standard']) {
        const res = await call(port, 'POST', '/run', runBody({code_b64: b64('x'), policy}), auth)
        expect(res.status, policy).toBe(403)
        expect(res.json()).toMatchObject({error: 'forbidden', field: 'policy'})
        expect(String(res.json().message)).toMatch(/--allow-policy-override/)
      }
      expect(engine.calls).toHaveLength(0)
      expect((await call(port, 'POST', '/run', runBody({code_b64: b64('x'), policy: null}), auth)).status).toBe(200)
      expect(engine.calls.at(-1)?.policy).toBeUndefined()
    } finally {
      await server.close(1000)
    }
  })

  it('with the option and the token: the level is passed to the engine (ragflow/standard never looser than on), counted and logged', async () => {
    const engine = new RecordingEngine()
    const logs: string[] = []
    const server = createManagerServer({engine, logger: createLogger({write: (l) => logs.push(l)}), token: 't0ken', allowPolicyOverride: true, settings})
    const {port} = await server.listen('127.0.0.1', 0)
    try {
      // still the token first
      expect((await call(port, 'POST', '/run', runBody({code_b64: b64('x'), policy: 'off'}))).status).toBe(401)
      expect(engine.calls).toHaveLength(0)
      const sent: Record<string, string> = {}
      for (const policy of ['off', 'on', 'ragflow', 'standard']) {
        expect((await call(port, 'POST', '/run', runBody({code_b64: b64('x'), policy}), auth)).status).toBe(200)
        sent[policy] = String(engine.calls.at(-1)?.policy)
      }
      expect(sent).toEqual({off: 'off', on: 'ragflow', ragflow: 'ragflow', standard: 'standard'})
      expect((await call(port, 'POST', '/run', runBody({code_b64: b64('x'), policy: 'nope'}), auth)).status).toBe(422)
      const s = parseMetrics((await call(port, 'GET', '/metrics', undefined, auth)).text)
      expect(sumMetric(s, 'sandbox_policy_overrides_total', {policy: 'off'})).toBe(1)
      expect(logs.join('')).toContain('"policy_override":"off"')
    } finally {
      await server.close(1000)
    }
  })

  it('GET /status: the figures and settings as JSON, token-protected like /metrics, never the token', async () => {
    const engine = new RecordingEngine()
    const server = createManagerServer({engine, logger: createLogger({write: () => {}}), token: 't0ken', allowPolicyOverride: true, settings})
    const {port} = await server.listen('127.0.0.1', 0)
    try {
      expect((await call(port, 'GET', '/status')).status).toBe(401)
      await call(port, 'POST', '/run', runBody({code_b64: b64('x')}), auth)
      await call(port, 'POST', '/run', 'not json', auth)
      const res = await call(port, 'GET', '/status', undefined, auth)
      expect(res.status).toBe(200)
      expect(res.headers['content-type']).toBe('application/json')
      const doc = res.json()
      expect(doc).toMatchObject({
        status: 'ok',
        phase: 'serving',
        runtime: 'runsc',
        backend: 'runsc',
        pid: process.pid,
        settings,
        admission: {limit: 4, live: 1},
        runs: {total: 1, byStatus: {success: 1}, byLanguage: {python: 1}, busy: 0},
        rejected: 2,
      })
      expect((doc.pools as unknown[])[0]).toMatchObject({language: 'python', ready: 1})
      expect(res.text).not.toContain('t0ken')
    } finally {
      await server.close(1000)
    }
  })
})

describe('sandbox test --endpoint finds out what a manager offers', () => {
  /** refuses the policy probe unless the run asked for policy off */
  class PolicyEngine extends RecordingEngine {
    constructor(private readonly fixed: 'on' | 'off') {
      super()
    }
    override async run(req: RunRequest): Promise<RunResult> {
      this.calls.push(req)
      const policy = req.policy ?? this.fixed
      return policy !== 'off' ? runnerError(EXIT.UNSAFE_CODE, 'Line 1: Import: os', 'Code is unsafe') : emptyResult({status: 'success'})
    }
  }

  const probe = async (options: {fixed: 'on' | 'off'; allow: boolean}) => {
    const server = createManagerServer({engine: new PolicyEngine(options.fixed), logger: createLogger({write: () => {}}), token: 't0ken', allowPolicyOverride: options.allow})
    const {port} = await server.listen('127.0.0.1', 0)
    try {
      const target = await connectEndpoint({url: `http://127.0.0.1:${port}`, token: 't0ken'})
      return target.info().policy
    } finally {
      await server.close(1000)
    }
  }

  it('per-request with the override; the fixed policy (from a probe without the field) without it', async () => {
    expect(await probe({fixed: 'on', allow: true})).toBe('per-request')
    expect(await probe({fixed: 'on', allow: false})).toBe('on')
    expect(await probe({fixed: 'off', allow: false})).toBe('off')
  })
})

describe('4xx answers, byte for byte (as the node:http server gave them before Fastify)', () => {
  const json = {'content-type': 'application/json'}
  const MUST = '{\\"code_b64\\": ..., \\"language\\": ..., \\"arguments\\": ...}'
  const cases: Array<[string, string, string | undefined, Record<string, string>, number, string, string?]> = [
    ['POST', '/run', 'not json', json, 422, '{"error":"unprocessable_entity","message":"Request body is not valid JSON"}'],
    ['POST', '/run', '', json, 422, `{"error":"unprocessable_entity","message":"Request body is empty: send a JSON object ${MUST}"}`],
    ['POST', '/run', undefined, {}, 422, `{"error":"unprocessable_entity","message":"Request body is empty: send a JSON object ${MUST}"}`],
    ['POST', '/run', '   ', {'content-type': 'text/plain'}, 422, `{"error":"unprocessable_entity","message":"Request body is empty: send a JSON object ${MUST}"}`],
    ['POST', '/run', '[1]', json, 422, `{"error":"unprocessable_entity","message":"Request body must be a JSON object ${MUST}"}`],
    ['POST', '/run', runBody({}), json, 422, '{"error":"unprocessable_entity","message":"code_b64 is required: the base64 of the UTF-8 source","field":"code_b64"}'],
    [
      'POST',
      '/run',
      runBody({code_b64: 5}),
      json,
      422,
      '{"error":"unprocessable_entity","message":"code_b64 must be a string: the base64 of the UTF-8 source","field":"code_b64"}',
    ],
    [
      'POST',
      '/run',
      runBody({code_b64: '***'}),
      {'content-type': 'application/octet-stream'},
      422,
      '{"error":"unprocessable_entity","message":"Invalid base64 encoding in code_b64 (standard alphabet, padded, no whitespace)","field":"code_b64"}',
    ],
    [
      'POST',
      '/run',
      runBody({code_b64: b64('x'), language: 'cobol\u202e'}),
      json,
      422,
      '{"error":"unprocessable_entity","message":"Unsupported language \\"cobol\\": use python, nodejs (alias javascript), typescript (alias ts)","field":"language"}',
    ],
    [
      'POST',
      '/run',
      runBody({code_b64: b64('x'), language: 7}),
      json,
      422,
      '{"error":"unprocessable_entity","message":"language must be a string: python, nodejs (alias javascript), typescript (alias ts)","field":"language"}',
    ],
    [
      'POST',
      '/run',
      runBody({code_b64: b64('x'), arguments: 'a'}),
      json,
      422,
      '{"error":"unprocessable_entity","message":"arguments must be a JSON object (or null)","field":"arguments"}',
    ],
    [
      'POST',
      '/run',
      runBody({code_b64: b64('x'.repeat(17 * 1024))}),
      json,
      413,
      '{"error":"payload_too_large","message":"Code is too large: at most 16384 bytes after base64 decoding","field":"code_b64"}',
    ],
    ['POST', '/run', 'x'.repeat(65 * 1024), json, 413, '{"error":"payload_too_large","message":"Request body is too large: at most 65536 bytes"}'],
    [
      'POST',
      '/run',
      runBody({code_b64: b64('  ')}),
      json,
      422,
      '{"error":"unprocessable_entity","message":"code_b64 decodes to empty code: the code must define main","field":"code_b64"}',
    ],
    [
      'POST',
      '/run',
      runBody({code_b64: Buffer.from([0xff, 0xfe]).toString('base64')}),
      json,
      422,
      '{"error":"unprocessable_entity","message":"code_b64 does not decode to UTF-8 text","field":"code_b64"}',
    ],
    [
      'POST',
      '/run',
      runBody({code_b64: b64('x'), policy: 'nope'}),
      json,
      422,
      '{"error":"unprocessable_entity","message":"policy must be one of off, on, ragflow, standard (or absent: the manager\'s own policy)","field":"policy"}',
    ],
    ['GET', '/run', undefined, {}, 405, '{"error":"method_not_allowed","message":"GET is not allowed on /run: use POST"}', 'POST'],
    ['PUT', '/run', '{}', {}, 405, '{"error":"method_not_allowed","message":"PUT is not allowed on /run: use POST"}', 'POST'],
    ['POST', '/healthz', '{}', {}, 405, '{"error":"method_not_allowed","message":"POST is not allowed on /healthz: use GET or HEAD"}', 'GET, HEAD'],
    ['DELETE', '/metrics', undefined, {}, 405, '{"error":"method_not_allowed","message":"DELETE is not allowed on /metrics: use GET or HEAD"}', 'GET, HEAD'],
    ['GET', '/nope', undefined, {}, 404, '{"error":"not_found","message":"No route /nope: use POST /run, GET /healthz, GET /metrics or GET /status"}'],
    ['GET', '/run/', undefined, {}, 404, '{"error":"not_found","message":"No route /run/: use POST /run, GET /healthz, GET /metrics or GET /status"}'],
  ]
  let server: ManagerServer
  let port: number
  const engine = new RecordingEngine()
  beforeAll(async () => {
    server = createManagerServer({engine, logger: createLogger({write: () => {}}), limits: {maxBodyBytes: 64 * 1024, maxCodeBytes: 16 * 1024}})
    port = (await server.listen('127.0.0.1', 0)).port
  })
  afterAll(() => server.close(1000))

  it('status, content type, allow header and body text are exactly the same, and nothing runs', async () => {
    for (const [method, path, body, headers, status, text, allow] of cases) {
      const res = await call(port, method, path, body, headers)
      const what = `${method} ${path} ${String(body).slice(0, 40)}`
      expect(res.status, what).toBe(status)
      expect(res.headers['content-type'], what).toBe('application/json')
      expect(res.text, what).toBe(text)
      expect(res.headers.allow, what).toBe(allow)
      expect(res.headers['x-request-id'], what).toMatch(/^[0-9a-f]{12}$/)
    }
    expect(engine.calls).toHaveLength(0)
  })

  it('keeps the node:http timeouts: keep-alive 65 s, request 120 s, headers 30 s', () => {
    expect(server.server.keepAliveTimeout).toBe(65_000)
    expect(server.server.requestTimeout).toBe(120_000)
    expect(server.server.headersTimeout).toBe(30_000)
  })

  it('malformed HTTP gets a 400 JSON answer and the connection closes', async () => {
    const {connect} = await import('node:net')
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('GARBAGE\r\n\r\n'))
      let out = ''
      socket.on('data', (d) => (out += d))
      socket.on('close', () => resolve(out))
    })
    expect(answer).toBe(
      'HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 58\r\nconnection: close\r\n\r\n{"error":"bad_request","message":"Malformed HTTP request"}',
    )
  })
})

describe('more route plugins (the admin API later)', () => {
  const plugin = async (app: import('fastify').FastifyInstance, opts: {greeting?: string}) => {
    app.get('/api/v1/admin/hello', async () => ({hello: opts.greeting}))
    app.post('/api/v1/admin/echo', async (request) => request.body)
    app.get('/admin/', {config: {public: true}}, async (_request, reply) => reply.type('text/html').send('<p>page</p>'))
  }

  it('are mounted with one option; their routes get the token check, request ids, metrics, 405s and their own JSON parser', async () => {
    const server = createManagerServer({engine: new RecordingEngine(), logger: createLogger({write: () => {}}), token: 't0ken', plugins: [{plugin, options: {greeting: 'hi'}}]})
    const {port} = await server.listen('127.0.0.1', 0)
    const auth = {authorization: 'Bearer t0ken'}
    try {
      // secure by default: a plugin route without `public` needs the token
      expect((await call(port, 'GET', '/api/v1/admin/hello')).status).toBe(401)
      const ok = await call(port, 'GET', '/api/v1/admin/hello', undefined, auth)
      expect(ok.status).toBe(200)
      expect(ok.json()).toEqual({hello: 'hi'})
      expect(ok.headers['x-request-id']).toMatch(/^[0-9a-f]{12}$/)
      expect((await call(port, 'POST', '/api/v1/admin/echo', '{"a":1}', auth)).json()).toEqual({a: 1})
      const page = await call(port, 'GET', '/admin/')
      expect(page.status).toBe(200)
      expect(page.text).toBe('<p>page</p>')
      const wrong = await call(port, 'DELETE', '/api/v1/admin/hello', undefined, auth)
      expect(wrong.status).toBe(405)
      expect(wrong.headers.allow).toBe('GET, HEAD')
      const s = parseMetrics((await call(port, 'GET', '/metrics', undefined, auth)).text)
      expect(sumMetric(s, 'sandbox_http_requests_total', {route: '/api/v1/admin/hello', code: '401'})).toBe(1)
      expect(sumMetric(s, 'sandbox_http_requests_total', {route: '/api/v1/admin/hello', code: '200'})).toBe(1)
    } finally {
      await server.close(1000)
    }
  })
})
