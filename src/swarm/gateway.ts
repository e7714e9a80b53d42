/**
 * The swarm gateway: the one endpoint of a Swarm deployment where the routing mesh cannot
 * run (the kernel has no IP_VS: Swarm's ingress and VIP balancing both need it). It stands in
 * for the mesh and nothing more: it finds the manager tasks by Swarm's DNS (`tasks.<service>`,
 * the service in dnsrr mode), health-checks each on /healthz, and hands every request to the
 * next healthy one, round robin. A request goes to another manager only when nothing of it
 * ran: the connection to the manager was never made (refused, unreachable, connect timeout)
 * or the manager answered `x-sandbox-run: not-started` (its pool took no job: starting,
 * shutting down, or busy). A request that reached a manager and then lost it is answered 502
 * and not repeated (the run may have started). Upstream connections are not reused, so
 * "connected" is never ambiguous.
 */
import {lookup} from 'node:dns/promises'
import {createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo, Socket} from 'node:net'

import type {Logger} from '../server/logger.js'

export interface GatewayOptions {
  /** DNS name that lists the manager tasks (Swarm: tasks.<service>) */
  upstream: string
  upstreamPort: number
  host: string
  port: number
  /** health-check period and timeout, ms (default 1000) */
  checkMs?: number
  /** connect timeout to a manager, ms (default 1000) */
  connectTimeoutMs?: number
  /** largest request body forwarded (default 32 MiB) */
  maxBodyBytes?: number
  /** resolve the upstream name (default: dns lookup, every address); tests give fixed lists */
  resolve?: (name: string) => Promise<string[]>
  logger?: Logger
}

export interface BackendState {
  address: string
  healthy: boolean
  /** the manager's hostname (x-sandbox-host of its last health answer) */
  host: string | null
  served: number
  lastError: string | null
  /** health probes in a row that got no answer */
  misses: number
}

export interface GatewayStatus {
  upstream: string
  backends: BackendState[]
  requests: number
  /** requests sent on to another manager because nothing of them ran on the first */
  retried: number
  /** requests answered 502/503 by the gateway itself */
  failed: number
}

export interface Gateway {
  server: Server
  url: string
  status(): GatewayStatus
  /** one health round now (tests, and the first round before listening) */
  check(): Promise<void>
  close(): Promise<void>
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host', 'content-length'])

interface Attempt {
  kind: 'answered' | 'not-connected' | 'not-started' | 'lost'
  status?: number
  headers?: IncomingHttpHeaders
  body?: Buffer
  error?: string
}

async function defaultResolve(name: string): Promise<string[]> {
  const list = await lookup(name, {all: true, family: 4})
  return list.map((a) => a.address)
}

function forward(address: string, port: number, req: IncomingMessage, body: Buffer, connectTimeoutMs: number): Promise<Attempt> {
  return new Promise((resolve) => {
    const headers: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v
    headers['content-length'] = String(body.length)
    headers.connection = 'close'
    let connected = false
    let done = false
    const finish = (a: Attempt) => {
      if (done) return
      done = true
      resolve(a)
    }
    const up = httpRequest({host: address, port, method: req.method, path: req.url, headers, agent: false})
    const timer = setTimeout(() => {
      if (!connected) {
        finish({kind: 'not-connected', error: `no connection in ${connectTimeoutMs} ms`})
        up.destroy()
      }
    }, connectTimeoutMs)
    up.on('socket', (socket: Socket) => socket.once('connect', () => (connected = true)))
    up.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        clearTimeout(timer)
        const kind = res.headers['x-sandbox-run'] === 'not-started' ? 'not-started' : 'answered'
        finish({kind, status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks)})
      })
      res.on('error', (error) => finish({kind: 'lost', error: error.message}))
    })
    up.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      // before the TCP connection existed (refused, unreachable…) nothing reached the manager
      finish({kind: connected ? 'lost' : 'not-connected', error: `${error.code ?? ''} ${error.message}`.trim()})
    })
    up.end(body)
  })
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > max) {
        resolve(undefined)
        req.resume()
        return
      }
      chunks.push(c)
    })
    req.on('end', () => resolve(size > max ? undefined : Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(text)})
  res.end(text)
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const checkMs = options.checkMs ?? 1000
  const probeTimeoutMs = Math.max(checkMs, 3000)
  const connectTimeoutMs = options.connectTimeoutMs ?? 1000
  const maxBody = options.maxBodyBytes ?? 32 * 1024 * 1024
  const resolveNames = options.resolve ?? defaultResolve
  const log = options.logger
  const backends = new Map<string, BackendState>()
  const totals = {requests: 0, retried: 0, failed: 0}
  let next = 0

  /** a probe without an answer: down at the second in a row (a loaded host answers late) */
  const missed = (b: BackendState, error: string) => {
    b.misses++
    if (b.misses >= 2) markDown(b, error)
  }
  const markDown = (b: BackendState, error: string) => {
    if (b.healthy) log?.warn('manager left the gateway', {address: b.address, host: b.host, error})
    b.healthy = false
    b.lastError = error
  }

  async function probe(b: BackendState): Promise<void> {
    await new Promise<void>((resolve) => {
      const req = httpRequest({host: b.address, port: options.upstreamPort, path: '/healthz', agent: false, timeout: probeTimeoutMs}, (res) => {
        res.resume()
        res.on('end', () => {
          b.misses = 0
          const ok = res.statusCode === 200
          if (ok && !b.healthy) log?.info('manager joined the gateway', {address: b.address, host: res.headers['x-sandbox-host']})
          b.host = (res.headers['x-sandbox-host'] as string | undefined) ?? b.host
          if (ok) {
            b.healthy = true
            b.lastError = null
          } else markDown(b, `healthz answered ${res.statusCode}`)
          resolve()
        })
      })
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no health answer in ${probeTimeoutMs} ms`), {code: 'ETIMEDOUT'})))
      req.on('error', (error: NodeJS.ErrnoException) => {
        // refused or unreachable: the manager is gone; no answer in time: maybe only slow
        if (error.code === 'ETIMEDOUT' || error.code === 'ECONNRESET') missed(b, error.message)
        else markDown(b, error.message)
        resolve()
      })
      req.end()
    })
  }

  async function check(): Promise<void> {
    let addresses: string[]
    try {
      addresses = await resolveNames(options.upstream)
    } catch (error) {
      // no task at all (or DNS down): nothing can serve
      addresses = []
      log?.debug('upstream did not resolve', {upstream: options.upstream, error: (error as Error).message})
    }
    for (const a of addresses) if (!backends.has(a)) backends.set(a, {address: a, healthy: false, host: null, served: 0, lastError: null, misses: 0})
    for (const a of backends.keys()) if (!addresses.includes(a)) backends.delete(a)
    await Promise.all([...backends.values()].map((b) => probe(b)))
  }

  /** the next healthy manager not tried yet; none healthy: one that is known but failing its checks (a refusal costs nothing) */
  function pick(tried: Set<string>): BackendState | undefined {
    const untried = [...backends.values()].filter((b) => !tried.has(b.address))
    const healthy = untried.filter((b) => b.healthy)
    const from = healthy.length ? healthy : untried
    if (!from.length) return undefined
    next = (next + 1) % Number.MAX_SAFE_INTEGER
    return from[next % from.length]
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method === 'GET' && path === '/_gateway/status') return sendJson(res, 200, status())
    if (req.method === 'GET' && path === '/healthz') {
      const up = [...backends.values()].filter((b) => b.healthy).length
      return sendJson(res, up ? 200 : 503, up ? {status: 'ok', managers: up} : {status: 'unhealthy', detail: 'no manager is healthy'})
    }
    totals.requests++
    const body = await readBody(req, maxBody)
    if (!body) return sendJson(res, 413, {detail: `request body larger than ${maxBody} bytes`})
    const tried = new Set<string>()
    let last: Attempt | undefined
    for (;;) {
      const b = pick(tried)
      if (!b) break
      tried.add(b.address)
      const attempt = await forward(b.address, options.upstreamPort, req, body, connectTimeoutMs)
      last = attempt
      if (attempt.kind === 'not-connected') markDown(b, attempt.error ?? 'not connected')
      if (attempt.kind === 'answered' || attempt.kind === 'lost') {
        if (attempt.kind === 'lost') {
          markDown(b, attempt.error ?? 'connection lost')
          totals.failed++
          return sendJson(res, 502, {detail: `the manager at ${b.address} was lost during the request (not repeated: it may have run): ${attempt.error}`})
        }
        b.served++
        const headers: Record<string, string | string[]> = {}
        for (const [k, v] of Object.entries(attempt.headers ?? {})) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v
        if (tried.size > 1) headers['x-sandbox-gateway-attempts'] = String(tried.size)
        res.writeHead(attempt.status ?? 502, headers)
        res.end(attempt.body)
        return
      }
      totals.retried++
    }
    // every manager refused or took no job
    if (last?.kind === 'not-started' && last.headers) {
      const headers: Record<string, string | string[]> = {}
      for (const [k, v] of Object.entries(last.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v
      res.writeHead(last.status ?? 200, headers)
      res.end(last.body)
      return
    }
    totals.failed++
    sendJson(res, 503, {detail: `no manager is healthy behind ${options.upstream}${last?.error ? ` (last: ${last.error})` : ''}`})
  }

  function status(): GatewayStatus {
    return {upstream: options.upstream, backends: [...backends.values()].map((b) => ({...b})), ...totals}
  }

  await check()
  const timer = setInterval(() => void check(), checkMs)
  timer.unref()
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log?.error('gateway failed', {error})
      if (!res.headersSent) sendJson(res, 500, {detail: 'gateway error'})
      else res.destroy()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => resolve())
  })
  const address = server.address() as AddressInfo
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    server,
    url: `http://${shown}:${address.port}`,
    status,
    check,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer)
        server.close(() => resolve())
        server.closeIdleConnections()
      }),
  }
}
