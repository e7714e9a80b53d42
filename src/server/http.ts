/**
 * The executor manager's HTTP surface (Fastify 5):
 *   POST /run      RAGFlow's CodeExecutionRequest → CodeExecutionResult (200 for every executed request)
 *   GET  /healthz  200 {"status":"ok"} only when the engine can serve, else 503 with the reason
 *   GET  /         same as /healthz (RAGFlow HEAD)
 *   GET  /metrics  Prometheus text
 *   GET  /status   the same figures and the manager's settings as JSON (status.ts)
 *   GET  /openapi.json  the OpenAPI 3.1 document of every route, generated from the route schemas (schemas.ts)
 * Every route needs the bearer token when one is set, except those marked public (/healthz, /, /openapi.json).
 * Cross-cutting concerns are hooks, not statement order: request id, in-flight count, auth
 * (onRequest), metrics (onResponse). RAGFlow's routes live in one encapsulated plugin whose
 * body parser is request.ts (the source of every 4xx message; nothing runs on a 4xx); more
 * route plugins are mounted with the `plugins` option (e.g. the admin API and its page).
 * A `policy` field in POST /run is honoured only with allowPolicyOverride (which needs a token);
 * otherwise 403.
 */
import {randomBytes} from 'node:crypto'
import type {Server} from 'node:http'
import {hostname} from 'node:os'
import type {AddressInfo, Socket} from 'node:net'

import Fastify, {type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyPluginCallback, type FastifyReply, type FastifyRequest} from 'fastify'

import type {EngineStatus} from '../engine/engine.js'
import type {RunRequest} from '../run/request.js'
import {busyResult, EXIT, internalErrorResult, type RunResult} from '../engine/result.js'
import {TOOLKIT_VERSION} from '../paths.js'
import {checkBearer} from './auth.js'
import type {Logger} from './logger.js'
import {Metrics} from './metrics.js'
import {LIMITS, parseRunRequest, POLICY_OVERRIDES, RequestError, RUN_BODY_SCHEMA, type RunRequestBody} from './request.js'
import {
  HEALTH_SCHEMA,
  json,
  METRICS_TEXT_SCHEMA,
  OPENAPI_PATH,
  openApiDocument,
  recordRoutes,
  REFUSED,
  RUN_RESULT_SCHEMA,
  STATUS_SCHEMA,
  UNAUTHORIZED,
  type RouteDoc,
} from './schemas.js'
import {statusDocument, type ManagerSettings} from './status.js'
import {withResultInStdout} from './legacy-stdout.js'

/** What the server needs: run a request (the run pipeline: policy gate + the engine) and the engine's status. */
export interface ManagerEngine {
  run(request: RunRequest): Promise<RunResult>
  status(): EngineStatus
}

/**
 * A route plugin mounted next to RAGFlow's routes (encapsulated: its own parsers and schemas).
 * Its routes get the request id, the token check and the metrics hooks; a route that must stay
 * open without the token says so with `config: {public: true}`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ManagerPlugin = {plugin: FastifyPluginAsync<any> | FastifyPluginCallback<any>; options?: Record<string, unknown>}

export interface ManagerServerOptions {
  engine: ManagerEngine
  logger: Logger
  /** bearer token required by every route but /healthz and / when set */
  token?: string
  /** honour a per-request `policy` field (POST /run); refused without a token */
  allowPolicyOverride?: boolean
  /** SANDBOX_RESULT_IN_STDOUT: main's return value also on stdout, as RAGFlow's old runners printed it */
  resultInStdout?: boolean
  /** settings reported by GET /status */
  settings?: ManagerSettings
  metrics?: Metrics
  limits?: {maxBodyBytes: number; maxCodeBytes: number}
  /** before the engine has started: /healthz answers 503 with this phase */
  phase?: () => 'starting' | 'serving' | 'stopping'
  /** runs that arrive while starting wait for this (at most startWaitMs), then run */
  whenStarted?: Promise<void>
  startWaitMs?: number
  /** more route plugins, e.g. `plugins: [{plugin: adminRoutes, options: {...}}]` (mounted in this order) */
  plugins?: ManagerPlugin[]
}

export interface ManagerServer {
  server: Server
  /** the Fastify instance (routes, inject, printRoutes) */
  app: FastifyInstance
  metrics: Metrics
  /** listen; resolves with the bound address */
  listen(host: string, port: number): Promise<{host: string; port: number}>
  /** requests currently being answered */
  readonly activeRequests: number
  /** stop accepting, wait for answers in progress up to deadlineMs, then close every connection */
  close(deadlineMs?: number): Promise<void>
}

export const POLICY_OVERRIDE_NEEDS_TOKEN =
  'the per-request policy override needs an API token: set SANDBOX_API_TOKEN (only holders of the token may turn the code policy off for their own runs)'

const NO_ROUTE = (path: string) => `No route ${path}: use POST /run, GET /healthz, GET /metrics or GET /status`
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const
const MALFORMED = JSON.stringify({error: 'bad_request', message: 'Malformed HTTP request'})

declare module 'fastify' {
  interface FastifyContextConfig {
    /** answered without the API token */
    public?: boolean
  }
}

/** per request: the metrics label of what was asked (404s: "other"), and the parsed /run body */
const routeLabels = new WeakMap<FastifyRequest, string>()
const runBodies = new WeakMap<FastifyRequest, RunRequestBody>()

export function createManagerServer(options: ManagerServerOptions): ManagerServer {
  const {engine, logger} = options
  // never fail open: an override without a token would let anyone turn the policy off
  if (options.allowPolicyOverride && !options.token) throw new Error(POLICY_OVERRIDE_NEEDS_TOKEN)
  const metrics = options.metrics ?? new Metrics()
  const limits = options.limits ?? LIMITS
  const phase = options.phase ?? (() => 'serving' as const)
  let active = 0
  let closing = false
  let engineStarted = !options.whenStarted
  options.whenStarted?.then(
    () => (engineStarted = true),
    () => {},
  )
  let idle: (() => void) | undefined
  const sockets = new Set<Socket>()

  const app = Fastify({
    logger: false,
    keepAliveTimeout: 65_000,
    requestTimeout: 120_000,
    http: {headersTimeout: 30_000},
    // graceful close is ours (close below): requests on open connections still get an answer
    return503OnClosing: false,
    forceCloseConnections: false,
    bodyLimit: limits.maxBodyBytes,
    genReqId: () => randomBytes(6).toString('hex'),
    requestIdHeader: false,
    // unparsable HTTP: answer 400 when the socket can still take it
    clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket) {
      if (socket.writable && error.code !== 'ECONNRESET') {
        socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(MALFORMED)}\r\nconnection: close\r\n\r\n${MALFORMED}`)
      } else socket.destroy()
      metrics.recordHttp('invalid', 400)
    },
  })
  const server = app.server
  const host = hostname()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })

  // hooks of every route, the plugins' included
  app.addHook('onRequest', (request, reply, done) => {
    active++
    reply.raw.on('close', () => {
      active--
      if (active === 0 && idle) idle()
    })
    reply.header('x-request-id', request.id)
    // which host answered (a swarm task's hostname is its node's): the scale-out tests and bench read it
    reply.header('x-sandbox-host', host)
    done()
  })
  app.addHook('onRequest', (request, reply, done) => {
    if (request.is404 || request.routeOptions.config?.public || checkBearer(request.headers.authorization, options.token)) return done()
    reply.header('www-authenticate', 'Bearer realm="sandbox"')
    reject(request, reply, new RequestError(401, 'Missing or wrong API token: send "Authorization: Bearer <SANDBOX_API_TOKEN>"'))
  })
  app.addHook('onResponse', (request, reply, done) => {
    metrics.recordHttp(routeLabels.get(request) ?? request.routeOptions.url ?? 'other', reply.statusCode)
    done()
  })
  app.addHook('onRequestAbort', (request, done) => {
    metrics.recordHttp(routeLabels.get(request) ?? request.routeOptions.url ?? 'other', 499)
    logger.info('client went away before sending the whole request', {req: request.id})
    done()
  })

  // 404 for what no route serves, 405 (with allow) for a known path asked with another method
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]
    const allowed = METHODS.filter((method) => {
      try {
        return app.hasRoute({method, url: path})
      } catch {
        return false
      }
    })
    if (!allowed.length) {
      routeLabels.set(request, 'other')
      return reject(request, reply, new RequestError(404, NO_ROUTE(path)))
    }
    routeLabels.set(request, path)
    reply.header('allow', allowed.join(', '))
    reject(request, reply, new RequestError(405, `${request.method} is not allowed on ${path}: use ${allowed.join(' or ')}`))
  })
  app.setErrorHandler((error: FastifyError, request, reply) => {
    // the client went away while sending: nobody to answer (counted by onRequestAbort)
    if (!request.raw.complete && request.raw.socket?.destroyed) return
    const known = asRequestError(error, limits.maxBodyBytes)
    if (known) return reject(request, reply, known)
    logger.error('request handler failed', {error})
    if (!reply.sent) sendJson(reply, 500, {error: 'internal_error', message: 'internal error'})
  })

  // every route as registered, the plugins' included: GET /openapi.json is generated from them
  const registered = recordRoutes(app)
  let openapi: Record<string, unknown> | undefined
  app.register(ragflowRoutes)
  for (const p of options.plugins ?? []) app.register(p.plugin, p.options ?? {})

  /** RAGFlow's routes: POST /run (body parsed by request.ts), health, metrics, status */
  async function ragflowRoutes(scope: FastifyInstance): Promise<void> {
    // every body of this scope is read as bytes, whatever its content type; request.ts checks it (preValidation of /run)
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', {parseAs: 'buffer'}, (_request: FastifyRequest, body: Buffer, done: (error: Error | null, body?: unknown) => void) => done(null, body))

    scope.get('/healthz', {config: {public: true, openapi: HEALTH_DOC}}, health)
    scope.get('/', {config: {public: true, openapi: {...HEALTH_DOC, summary: 'Health, as GET /healthz (RAGFlow probes HEAD /)', head: true}}}, health)
    scope.get(OPENAPI_PATH, {config: {public: true, openapi: OPENAPI_DOC}}, (request, reply) => {
      openapi ??= openApiDocument(registered())
      sendJson(reply, 200, openapi)
    })
    scope.get('/metrics', {config: {openapi: METRICS_DOC}}, (request, reply) => {
      const text = metrics.render(engine.status(), undefined, {version: TOOLKIT_VERSION, node: process.versions.node})
      reply.code(200).type('text/plain; version=0.0.4; charset=utf-8').send(text)
    })
    scope.get('/status', {config: {openapi: STATUS_DOC}}, (request, reply) => {
      sendJson(reply, 200, statusDocument({engine: engine.status(), metrics, phase: phase(), settings: options.settings}))
    })
    scope.post(
      '/run',
      {
        schema: {body: RUN_BODY_SCHEMA},
        config: {openapi: RUN_DOC},
        // request.ts's checks first (RAGFlow's messages); then the schema sees the JSON object
        preValidation: (request, reply, done) => {
          try {
            const parsed = parseRunRequest(Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0), limits)
            runBodies.set(request, parsed)
            request.body = parsed.wire
            done()
          } catch (error) {
            done(error as Error)
          }
        },
      },
      run,
    )
  }

  function health(request: FastifyRequest, reply: FastifyReply): void {
    const p = phase()
    const status = engine.status()
    const ok = p === 'serving' && status.healthy
    const body = ok
      ? {status: 'ok'}
      : {status: 'unhealthy', phase: p, reason: p === 'starting' ? 'starting: warming the container pools' : p === 'stopping' ? 'shutting down' : (status.reason ?? 'not ready')}
    sendJson(reply, ok ? 200 : 503, body)
  }

  async function run(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const started = performance.now()
    const id = request.id
    const parsed = runBodies.get(request)!
    if (parsed.policy !== undefined && !options.allowPolicyOverride) {
      return reject(
        request,
        reply,
        new RequestError(
          403,
          'This manager does not accept a per-request "policy": it runs every request under its own code policy. Leave the field out, or start the manager with --allow-policy-override (SANDBOX_ALLOW_POLICY_OVERRIDE=on) and an API token',
          'policy',
        ),
      )
    }
    if (parsed.policy !== undefined) metrics.recordPolicyOverride(parsed.policy)
    const runRequest: RunRequest = {
      language: parsed.language,
      code: parsed.code,
      arguments: parsed.arguments,
      ...(parsed.policy === undefined ? {} : {policy: POLICY_OVERRIDES[parsed.policy]}),
    }
    metrics.inFlight++
    let result: RunResult
    try {
      if (!engineStarted) {
        await Promise.race([options.whenStarted!.catch(() => {}), new Promise((r) => setTimeout(r, options.startWaitMs ?? 10_000).unref())])
      }
      if (closing || phase() === 'stopping') result = busyResult('the manager is shutting down')
      else if (!engineStarted) result = busyResult('the manager is still starting')
      else result = await options.engine.run(runRequest)
    } catch (error) {
      logger.error('engine failed', {req: id, error})
      result = internalErrorResult(`internal error: ${(error as Error).message}`)
    } finally {
      metrics.inFlight--
    }
    if (options.resultInStdout) result = withResultInStdout(parsed.language, result)
    const seconds = (performance.now() - started) / 1000
    metrics.recordRun(parsed.language, result, seconds)
    if (closing) reply.header('connection', 'close')
    // -10: no runner took the job, nothing of it ran; a balancer may send it to another manager
    if (result.exit_code === EXIT.NO_CONTAINER) reply.header('x-sandbox-run', 'not-started')
    sendJson(reply, 200, result)
    // never code, arguments or outputs at info level
    logger.info('run', {
      req: id,
      language: parsed.language,
      status: result.status,
      exit_code: result.exit_code,
      detail: result.status === 'program_runner_error' ? result.detail : undefined,
      policy_override: parsed.policy,
      code_bytes: parsed.codeBytes,
      ms: Math.round(seconds * 10_000) / 10,
    })
    if (logger.level === 'debug' && result.status === 'program_runner_error') logger.debug('runner error', {req: id, stderr: result.stderr.slice(0, 500)})
  }

  function reject(request: FastifyRequest, reply: FastifyReply, error: RequestError): void {
    logger.info('request rejected', {
      req: request.id,
      method: request.method,
      path: routeLabels.get(request) ?? request.routeOptions.url ?? 'other',
      http_status: error.status,
      reason: error.message.slice(0, 200),
    })
    // an unread body: answer, then close the connection instead of reading megabytes
    const sent = request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0
    const unread = sent && !request.raw.complete
    if (unread) reply.header('connection', 'close')
    sendJson(reply, error.status, error.toJSON())
    if (unread) {
      request.raw.resume()
      reply.raw.on('finish', () => setTimeout(() => request.raw.socket.destroy(), 1000).unref())
    }
  }

  return {
    server,
    app,
    metrics,
    get activeRequests() {
      return active
    },
    async listen(host, port) {
      await app.listen({host, port})
      const a = server.address() as AddressInfo
      return {host: a.address, port: a.port}
    },
    async close(deadlineMs = 10_000) {
      closing = true
      const closed = app.close()
      server.closeIdleConnections()
      if (active > 0) {
        await Promise.race([new Promise<void>((r) => (idle = r)), new Promise((r) => setTimeout(r, deadlineMs).unref())])
      }
      for (const s of sockets) s.destroy()
      await closed
    },
  }
}

// ----- what the routes answer (GET /openapi.json; schemas.ts)

const HEALTH_DOC: RouteDoc = {
  summary: 'Health: 200 only when the engine can serve',
  tags: ['ragflow'],
  responses: {'200': json('ready', HEALTH_SCHEMA), '503': json('starting, stopping or not ready, with the reason', HEALTH_SCHEMA)},
}

const RUN_DOC: RouteDoc = {
  summary: "Run code (RAGFlow's CodeExecutionRequest → CodeExecutionResult)",
  description:
    'The body is read as JSON whatever its content type. Every executed request answers 200, whatever the program did: read `status` and `exit_code`. A 4xx means nothing ran.',
  tags: ['ragflow'],
  responses: {
    '200': json('the run (also a busy pool, exit_code -10, or unsafe code, -999)', RUN_RESULT_SCHEMA),
    '401': UNAUTHORIZED,
    '403': REFUSED('a per-request policy without --allow-policy-override'),
    '413': REFUSED('the body or the code is too large'),
    '422': REFUSED('the body is not a valid request (empty, not JSON, bad base64, unknown language…)'),
  },
}

const METRICS_DOC: RouteDoc = {
  summary: 'Prometheus metrics',
  tags: ['manager'],
  responses: {'200': {description: 'Prometheus text', content: {'text/plain': METRICS_TEXT_SCHEMA}}, '401': UNAUTHORIZED},
}

const STATUS_DOC: RouteDoc = {
  summary: 'The manager, its pools, figures and settings as JSON',
  tags: ['manager'],
  responses: {'200': json('the status document', STATUS_SCHEMA), '401': UNAUTHORIZED},
}

const OPENAPI_DOC: RouteDoc = {
  summary: 'This OpenAPI 3.1 document',
  tags: ['manager'],
  responses: {'200': json('the document, generated from the route schemas', {type: 'object', required: ['openapi', 'info', 'paths']})},
}

/** Fastify's own 4xx (body too large, bad content length, a route schema) as ours; a RequestError as it is; else undefined (a 500). */
function asRequestError(error: FastifyError, maxBodyBytes: number): RequestError | undefined {
  if (error instanceof RequestError) return error
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new RequestError(413, `Request body is too large: at most ${maxBodyBytes} bytes`)
  // Ajv's message names the schema's paths and keywords, never the values sent
  if (error.validation) return new RequestError(422, `The request does not match the route's schema: ${error.message}`)
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) return new RequestError(400, 'Malformed HTTP request')
  return undefined
}

/** JSON as RAGFlow's manager answers it: JSON.stringify, content-type application/json (no charset). */
function sendJson(reply: FastifyReply, status: number, body: unknown): void {
  // our own serializer: Fastify would append "; charset=utf-8" to a JSON content type
  reply.code(status).header('content-type', 'application/json').serializer(JSON.stringify).send(body)
}
