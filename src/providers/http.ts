/**
 * A small HTTP client (node:http/https) that knows WHEN a request failed: before the
 * connection was established (nothing reached the server: safe to retry) or after (the
 * server may have started running the code: never retry).
 */
import {request as httpRequest, type IncomingHttpHeaders} from 'node:http'
import {request as httpsRequest} from 'node:https'

export interface HttpAnswer {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

export type FailurePhase = 'connect' | 'after-connect'

export class HttpFailure extends Error {
  constructor(
    message: string,
    readonly phase: FailurePhase,
    readonly code: string,
    readonly timedOut: boolean,
  ) {
    super(message)
    this.name = 'HttpFailure'
  }
}

export interface HttpOptions {
  method: 'GET' | 'POST' | 'DELETE'
  headers?: Record<string, string>
  body?: string | Buffer
  /** whole-request deadline */
  timeoutMs: number
  /** largest response body accepted */
  maxBodyBytes?: number
}

export function httpCall(url: URL, options: HttpOptions): Promise<HttpAnswer> {
  const secure = url.protocol === 'https:'
  const make = secure ? httpsRequest : httpRequest
  const body = options.body === undefined ? undefined : Buffer.isBuffer(options.body) ? options.body : Buffer.from(options.body, 'utf8')
  const headers: Record<string, string> = {...options.headers}
  if (body) headers['Content-Length'] = String(body.length)
  const maxBody = options.maxBodyBytes ?? 256 * 1024 * 1024
  return new Promise((resolve, reject) => {
    let connected = false
    let settled = false
    const finish = (fn: () => void) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      fn()
    }
    // a fresh connection per request (agent: false): "connected" then really means this request's connection
    const req = make(url, {method: options.method, headers, agent: false})
    const timer = setTimeout(() => {
      const phase: FailurePhase = connected ? 'after-connect' : 'connect'
      req.destroy()
      finish(() => reject(new HttpFailure(`no answer within ${options.timeoutMs} ms`, phase, 'ETIMEDOUT', true)))
    }, options.timeoutMs)
    req.on('socket', (socket) => {
      const ready = secure ? 'secureConnect' : 'connect'
      if (!(socket as {connecting?: boolean}).connecting && (!secure || (socket as {encrypted?: boolean}).encrypted)) connected = true
      else socket.once(ready, () => (connected = true))
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > maxBody) {
          req.destroy()
          finish(() => reject(new HttpFailure(`response larger than ${maxBody} bytes`, 'after-connect', 'EMSGSIZE', false)))
          return
        }
        chunks.push(chunk)
      })
      res.on('end', () => finish(() => resolve({status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8')})))
      res.on('error', (error: NodeJS.ErrnoException) =>
        finish(() => reject(new HttpFailure(`the response broke off: ${error.message}`, 'after-connect', error.code ?? 'ECONNRESET', false))),
      )
      res.on('aborted', () => finish(() => reject(new HttpFailure('the response broke off', 'after-connect', 'ECONNRESET', false))))
      res.on('close', () => {
        if (!res.complete) finish(() => reject(new HttpFailure('the connection closed before the response was complete', 'after-connect', 'ECONNRESET', false)))
      })
    })
    req.on('error', (error: NodeJS.ErrnoException) => {
      const phase: FailurePhase = connected ? 'after-connect' : 'connect'
      finish(() => reject(new HttpFailure(error.message || error.code || 'request failed', phase, error.code ?? 'EUNKNOWN', false)))
    })
    req.end(body)
  })
}
