/**
 * The executor manager's HTTP surface (node:http, no framework):
 *   POST /run      RAGFlow's CodeExecutionRequest → CodeExecutionResult (200 for every executed request)
 *   GET  /healthz  200 {"status":"ok"} only when the engine can serve, else 503 with the reason
 *   GET  /         same as /healthz (RAGFlow HEAD)
 *   GET  /metrics  Prometheus text
 *   GET  /status   the same figures and the manager's settings as JSON (status.ts)
 * /run, /metrics and /status need the bearer token when one is set.
 * Malformed requests get 4xx JSON `{error, message}` and nothing runs. A `policy` field in
 * POST /run is honoured only with allowPolicyOverride (which needs a token); otherwise 403.
 */
import {randomBytes} from 'node:crypto'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo, Socket} from 'node:net'

import type {EngineStatus} from '../engine/engine.js'
import type {RunRequest} from '../run/request.js'
import {busyResult, internalErrorResult, type RunResult} from '../engine/result.js'
import {TOOLKIT_VERSION} from '../paths.js'
import {checkBearer} from './auth.js'
import type {Logger} from './logger.js'
import {Metrics} from './metrics.js'
import {LIMITS, parseRunRequest, POLICY_OVERRIDES, RequestError} from './request.js'
import {statusDocument, type ManagerSettings} from './status.js'
import {withResultInStdout} from './legacy-stdout.js'

/** What the server needs: run a request (the run pipeline: policy gate + the engine) and the engine's status. */
export interface ManagerEngine {
  run(request: RunRequest): Promise<RunResult>
  status(): EngineStatus
}

export interface ManagerServerOptions {
  engine: ManagerEngine
  logger: Logger
  /** bearer token required by /run, /metrics and /status when set */
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
}

export interface ManagerServer {
  server: Server
  metrics: Metrics
  /** listen; resolves with the bound address */
  listen(host: string, port: number): Promise<{host: string; port: number}>
  /** requests currently being answered */
  readonly activeRequests: number
  /** stop accepting, wait for answers in progress up to deadlineMs, then close every connection */
  close(deadlineMs?: number): Promise<void>
}

const ROUTES: Record<string, string[]> = {'/run': ['POST'], '/healthz': ['GET', 'HEAD'], '/': ['GET', 'HEAD'], '/metrics': ['GET', 'HEAD'], '/status': ['GET', 'HEAD']}

export const POLICY_OVERRIDE_NEEDS_TOKEN =
  'the per-request policy override needs an API token: set SANDBOX_API_TOKEN (only holders of the token may turn the code policy off for their own runs)'

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

  const server = createServer({keepAliveTimeout: 65_000, requestTimeout: 120_000, headersTimeout: 30_000})
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    // unparsable HTTP: answer 400 when the socket can still take it
    if (socket.writable && error.code !== 'ECONNRESET') {
      const body = JSON.stringify({error: 'bad_request', message: 'Malformed HTTP request'})
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
    } else socket.destroy()
    metrics.recordHttp('invalid', 400)
  })

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    active++
    res.on('close', () => {
      active--
      if (active === 0 && idle) idle()
    })
    handle(req, res).catch((error: unknown) => {
      logger.error('request handler failed', {error})
      if (!res.headersSent) sendJson(res, 500, {error: 'internal_error', message: 'internal error'})
      else res.destroy()
    })
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now()
    const id = randomBytes(6).toString('hex')
    res.setHeader('x-request-id', id)
    const path = (req.url ?? '/').split('?')[0]
    const methods = ROUTES[path]
    if (!methods) return reject(req, res, 'other', new RequestError(404, `No route ${path}: use POST /run, GET /healthz, GET /metrics or GET /status`), id)
    if (!methods.includes(req.method ?? '')) {
      res.setHeader('allow', methods.join(', '))
      return reject(req, res, path, new RequestError(405, `${req.method} is not allowed on ${path}: use ${methods.join(' or ')}`), id)
    }
    if (path === '/healthz' || path === '/') return health(req, res, path)
    if (!checkBearer(req.headers.authorization, options.token)) {
      res.setHeader('www-authenticate', 'Bearer realm="sandbox"')
      return reject(req, res, path, new RequestError(401, 'Missing or wrong API token: send "Authorization: Bearer <SANDBOX_API_TOKEN>"'), id)
    }
    if (path === '/metrics') {
      const text = metrics.render(engine.status(), undefined, {version: TOOLKIT_VERSION, node: process.versions.node})
      metrics.recordHttp(path, 200)
      res.writeHead(200, {'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text)})
      res.end(req.method === 'HEAD' ? undefined : text)
      return
    }
    if (path === '/status') {
      metrics.recordHttp(path, 200)
      return sendJson(res, 200, statusDocument({engine: engine.status(), metrics, phase: phase(), settings: options.settings}), req.method === 'HEAD')
    }
    return run(req, res, id, started)
  }

  function health(req: IncomingMessage, res: ServerResponse, path: string): void {
    const p = phase()
    const status = engine.status()
    const ok = p === 'serving' && status.healthy
    const body = ok
      ? {status: 'ok'}
      : {status: 'unhealthy', phase: p, reason: p === 'starting' ? 'starting: warming the container pools' : p === 'stopping' ? 'shutting down' : status.reason ?? 'not ready'}
    metrics.recordHttp(path, ok ? 200 : 503)
    sendJson(res, ok ? 200 : 503, body, req.method === 'HEAD')
  }

  async function run(req: IncomingMessage, res: ServerResponse, id: string, started: number): Promise<void> {
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > limits.maxBodyBytes) {
      return reject(req, res, '/run', new RequestError(413, `Request body is too large: at most ${limits.maxBodyBytes} bytes`), id)
    }
    const body = await readBody(req, limits.maxBodyBytes)
    if (body === 'too_large') return reject(req, res, '/run', new RequestError(413, `Request body is too large: at most ${limits.maxBodyBytes} bytes`), id)
    if (body === 'aborted') {
      metrics.recordHttp('/run', 499)
      logger.info('client went away before sending the whole body', {req: id})
      return
    }
    let parsed
    try {
      parsed = parseRunRequest(body, limits)
    } catch (error) {
      if (error instanceof RequestError) return reject(req, res, '/run', error, id)
      throw error
    }
    if (parsed.policy !== undefined && !options.allowPolicyOverride) {
      return reject(req, res, '/run', new RequestError(403, 'This manager does not accept a per-request "policy": it runs every request under its own code policy. Leave the field out, or start the manager with --allow-policy-override (SANDBOX_ALLOW_POLICY_OVERRIDE=on) and an API token', 'policy'), id)
    }
    if (parsed.policy !== undefined) metrics.recordPolicyOverride(parsed.policy)
    metrics.inFlight++
    let result: RunResult
    try {
      if (!engineStarted) {
        await Promise.race([options.whenStarted!.catch(() => {}), new Promise((r) => setTimeout(r, options.startWaitMs ?? 10_000).unref())])
      }
      result =
        closing || phase() === 'stopping'
          ? busyResult('the manager is shutting down')
          : !engineStarted
            ? busyResult('the manager is still starting')
            : await engine.run({
                language: parsed.language,
                code: parsed.code,
                arguments: parsed.arguments,
                ...(parsed.policy === undefined ? {} : {policy: POLICY_OVERRIDES[parsed.policy]}),
              })
    } catch (error) {
      logger.error('engine failed', {req: id, error})
      result = internalErrorResult(`internal error: ${(error as Error).message}`)
    } finally {
      metrics.inFlight--
    }
    if (options.resultInStdout) result = withResultInStdout(parsed.language, result)
    const seconds = (performance.now() - started) / 1000
    metrics.recordRun(parsed.language, result, seconds)
    metrics.recordHttp('/run', 200)
    if (closing) res.setHeader('connection', 'close')
    sendJson(res, 200, result)
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

  function reject(req: IncomingMessage, res: ServerResponse, route: string, error: RequestError, id: string): void {
    metrics.recordHttp(route, error.status)
    logger.info('request rejected', {req: id, method: req.method, path: route, http_status: error.status, reason: error.message.slice(0, 200)})
    // an unread body: answer, then close the connection instead of reading megabytes
    const unread = !req.complete
    if (unread) res.setHeader('connection', 'close')
    sendJson(res, error.status, error.toJSON())
    if (unread) {
      req.resume()
      res.on('finish', () => setTimeout(() => req.socket.destroy(), 1000).unref())
    }
  }

  return {
    server,
    metrics,
    get activeRequests() {
      return active
    },
    listen(host, port) {
      return new Promise((resolve, reject) => {
        const onError = (error: Error) => reject(error)
        server.once('error', onError)
        server.listen(port, host, () => {
          server.off('error', onError)
          const a = server.address() as AddressInfo
          resolve({host: a.address, port: a.port})
        })
      })
    },
    async close(deadlineMs = 10_000) {
      closing = true
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      if (active > 0) {
        await Promise.race([new Promise<void>((r) => (idle = r)), new Promise((r) => setTimeout(r, deadlineMs).unref())])
      }
      for (const s of sockets) s.destroy()
      await closed
    },
  }
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too_large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    const finish = (v: Buffer | 'too_large' | 'aborted') => {
      if (done) return
      done = true
      req.off('data', onData)
      resolve(v)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > max) return finish('too_large')
      chunks.push(chunk)
    }
    req.on('data', onData)
    req.on('end', () => finish(Buffer.concat(chunks, size)))
    req.on('aborted', () => finish('aborted'))
    req.on('error', () => finish('aborted'))
    req.on('close', () => {
      if (!req.complete) finish('aborted')
    })
  })
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headOnly = false): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(text)})
  res.end(headOnly ? undefined : text)
}
