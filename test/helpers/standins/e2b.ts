/**
 * A loopback stand-in for E2B, enough of its documented API for the official `e2b` SDK:
 *
 *   control API (api_url)                         X-API-KEY required
 *     POST   /v2/sandboxes       create  → 201 {sandboxID, templateID, clientID, envdVersion, envdAccessToken, domain}
 *     GET    /v2/sandboxes       list    → 200 [...]
 *     GET    /sandboxes/{id}     info
 *     DELETE /sandboxes/{id}     kill    → 204
 *     POST   /sandboxes/{id}/timeout  set the lifetime {timeout: seconds} → 204
 *   envd (sandbox_url, the in-sandbox daemon)     X-Access-Token = envdAccessToken, E2b-Sandbox-Id
 *     GET    /health
 *     POST   /files?path=…       multipart upload → [{name, type, path}]
 *     POST   /process.Process/Start   Connect protocol, server streaming JSON envelopes:
 *            {event:{start:{pid}}}, {event:{data:{stdout|stderr: base64}}}, {event:{end:{exitCode, exited, status}}}, end-stream {}
 *
 * Commands are executed for real: `cd DIR && python3|node FILE` runs the uploaded file in our
 * gVisor engine (launcher.ts). The SDK reaches envd through its sandboxUrl option
 * (E2B_SANDBOX_URL), so no DNS is needed.
 */
import {randomBytes} from 'node:crypto'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {posix} from 'node:path'

import {readBody, replyJson as json} from './http.js'
import {runScript} from './launcher.js'

export interface E2BStandIn {
  apiUrl: string
  sandboxUrl: string
  apiKey: string
  /** sandboxes alive right now */
  live(): string[]
  /** every request seen: "METHOD /path" */
  requests: string[]
  /** commands executed */
  commands: string[]
  /** the bodies of POST /v2/sandboxes */
  creates: Array<Record<string, unknown>>
  /** lifetimes set with POST /sandboxes/{id}/timeout, in seconds */
  timeouts: number[]
  close(): Promise<void>
}

interface StandInSandbox {
  id: string
  templateId: string
  envdAccessToken: string
  files: Map<string, Buffer>
  startedAt: Date
  timeoutSeconds: number
}

const ENVD_VERSION = '0.5.7'

function envelope(flags: number, message: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(message), 'utf8')
  const head = Buffer.alloc(5)
  head.writeUInt8(flags, 0)
  head.writeUInt32BE(payload.length, 1)
  return Buffer.concat([head, payload])
}

function parseEnvelopes(body: Buffer): unknown[] {
  const out: unknown[] = []
  let offset = 0
  while (offset + 5 <= body.length) {
    const length = body.readUInt32BE(offset + 1)
    out.push(JSON.parse(body.subarray(offset + 5, offset + 5 + length).toString('utf8')))
    offset += 5 + length
  }
  return out
}

export async function startE2BStandIn(options: {apiKey?: string} = {}): Promise<E2BStandIn> {
  const apiKey = options.apiKey ?? `e2b_standin_${randomBytes(12).toString('hex')}`
  const sandboxes = new Map<string, StandInSandbox>()
  const requests: string[] = []
  const commands: string[] = []
  const creates: Array<Record<string, unknown>> = []
  const timeouts: number[] = []
  let nextPid = 1000

  const envdSandbox = (req: IncomingMessage, res: ServerResponse): StandInSandbox | undefined => {
    const id = String(req.headers['e2b-sandbox-id'] ?? '')
    const sandbox = sandboxes.get(id)
    if (!sandbox) {
      json(res, 502, {message: `sandbox ${id} not found`, code: 502})
      return undefined
    }
    if (req.headers['x-access-token'] !== sandbox.envdAccessToken) {
      json(res, 401, {message: 'invalid access token', code: 401})
      return undefined
    }
    return sandbox
  }

  async function startProcess(req: IncomingMessage, res: ServerResponse, sandbox: StandInSandbox): Promise<void> {
    const [request] = parseEnvelopes(await readBody(req)) as Array<{process?: {cmd?: string; args?: string[]; cwd?: string}}>
    const args = request?.process?.args ?? []
    const command = request?.process?.cmd === '/bin/bash' && args[args.length - 2] === '-c' ? args[args.length - 1] : [request?.process?.cmd, ...args].join(' ')
    commands.push(command)
    res.writeHead(200, {'Content-Type': 'application/connect+json'})
    const pid = nextPid++
    res.write(envelope(0, {event: {start: {pid}}}))
    const send = (event: unknown) => res.write(envelope(0, {event}))
    const finish = () => res.end(envelope(2, {}))

    // `cd DIR && INTERPRETER FILE` or `INTERPRETER PATH`
    const m = /^(?:cd\s+(\S+)\s+&&\s+)?(python3|python|node)\s+(\S+)\s*$/.exec(command.trim())
    const file = m ? posix.resolve(m[1] ?? request?.process?.cwd ?? '/home/user', m[3]) : undefined
    const script = file ? sandbox.files.get(file) : undefined
    if (!m || !script) {
      send({
        data: {
          stderr: Buffer.from(
            m ? `${m[2]}: can't open file '${file}': [Errno 2] No such file or directory\n` : `bash: stand-in runs only "cd DIR && python3|node FILE"\n`,
          ).toString('base64'),
        },
      })
      send({end: {exitCode: m ? 2 : 127, exited: true, status: `exit status ${m ? 2 : 127}`}})
      finish()
      return
    }
    const deadlineMs = Number(req.headers['connect-timeout-ms'] ?? 60_000)
    const outcome = await runScript(m[2] === 'node' ? 'nodejs' : 'python', script.toString('utf8'), Math.max(1, Math.ceil(deadlineMs / 1000)))
    if (outcome.timedOut) {
      // envd keeps the stream open while the process runs; the client's deadline ends it
      req.on('close', () => res.destroy())
      return
    }
    if (outcome.stdout) send({data: {stdout: Buffer.from(outcome.stdout, 'utf8').toString('base64')}})
    if (outcome.stderr) send({data: {stderr: Buffer.from(outcome.stderr, 'utf8').toString('base64')}})
    send({end: {exitCode: outcome.exitCode, exited: true, status: `exit status ${outcome.exitCode}`, ...(outcome.exitCode ? {error: `exit status ${outcome.exitCode}`} : {})}})
    finish()
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://standin')
    requests.push(`${req.method} ${url.pathname}`)
    // ---- envd
    if (url.pathname === '/health' && req.method === 'GET') {
      res.writeHead(204).end()
      return
    }
    if (url.pathname === '/files' && req.method === 'POST') {
      const sandbox = envdSandbox(req, res)
      if (!sandbox) return
      const body = await readBody(req)
      const type = String(req.headers['content-type'] ?? '')
      const target = url.searchParams.get('path')
      const written: Array<{name: string; type: string; path: string}> = []
      if (type.startsWith('multipart/form-data')) {
        const form = await new Response(body, {headers: {'content-type': type}}).formData()
        for (const [field, value] of form) {
          if (field !== 'file' || typeof value === 'string') continue
          const path = posix.resolve('/home/user', target ?? value.name)
          sandbox.files.set(path, Buffer.from(await value.arrayBuffer()))
          written.push({name: posix.basename(path), type: 'file', path})
        }
      } else if (target) {
        const path = posix.resolve('/home/user', target)
        sandbox.files.set(path, body)
        written.push({name: posix.basename(path), type: 'file', path})
      }
      if (written.length === 0) return json(res, 400, {message: 'no file in the request', code: 400})
      return json(res, 200, written)
    }
    if (url.pathname === '/process.Process/Start' && req.method === 'POST') {
      const sandbox = envdSandbox(req, res)
      if (!sandbox) return
      await startProcess(req, res, sandbox)
      return
    }
    // ---- control API
    if (req.headers['x-api-key'] !== apiKey) return json(res, 401, {code: 401, message: 'Invalid API key'})
    if (url.pathname === '/v2/sandboxes' && req.method === 'POST') {
      const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as {templateID?: string; timeout?: number}
      creates.push(body)
      const id = `i${randomBytes(10).toString('hex')}`
      const sandbox: StandInSandbox = {
        id,
        templateId: body.templateID ?? 'base',
        envdAccessToken: randomBytes(16).toString('hex'),
        files: new Map(),
        startedAt: new Date(),
        timeoutSeconds: body.timeout ?? 300,
      }
      sandboxes.set(id, sandbox)
      return json(res, 201, {
        sandboxID: id,
        templateID: sandbox.templateId,
        clientID: 'standin',
        envdVersion: ENVD_VERSION,
        envdAccessToken: sandbox.envdAccessToken,
        domain: null,
      })
    }
    if (url.pathname === '/v2/sandboxes' && req.method === 'GET') {
      return json(
        res,
        200,
        [...sandboxes.values()].map((s) => ({
          sandboxID: s.id,
          templateID: s.templateId,
          clientID: 'standin',
          startedAt: s.startedAt.toISOString(),
          endAt: new Date(s.startedAt.getTime() + s.timeoutSeconds * 1000).toISOString(),
          state: 'running',
          cpuCount: 2,
          memoryMB: 512,
          envdVersion: ENVD_VERSION,
          metadata: {},
        })),
      )
    }
    const lifetime = /^\/sandboxes\/([^/]+)\/timeout$/.exec(url.pathname)
    if (lifetime && req.method === 'POST') {
      const sandbox = sandboxes.get(lifetime[1])
      if (!sandbox) return json(res, 404, {code: 404, message: `sandbox ${lifetime[1]} not found`})
      const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as {timeout?: number}
      sandbox.timeoutSeconds = Number(body.timeout)
      timeouts.push(sandbox.timeoutSeconds)
      res.writeHead(204).end()
      return
    }
    const one = /^\/sandboxes\/([^/]+)$/.exec(url.pathname)
    if (one) {
      const sandbox = sandboxes.get(one[1])
      if (!sandbox) return json(res, 404, {code: 404, message: `sandbox ${one[1]} not found`})
      if (req.method === 'DELETE') {
        sandboxes.delete(one[1])
        res.writeHead(204).end()
        return
      }
      if (req.method === 'GET') {
        return json(res, 200, {
          sandboxID: sandbox.id,
          templateID: sandbox.templateId,
          clientID: 'standin',
          state: 'running',
          envdVersion: ENVD_VERSION,
          envdAccessToken: sandbox.envdAccessToken,
        })
      }
    }
    json(res, 404, {code: 404, message: `no route ${req.method} ${url.pathname}`})
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, {code: 500, message: String((error as Error)?.message ?? error)})
      else res.destroy()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  const base = `http://127.0.0.1:${port}`
  return {
    apiUrl: base,
    sandboxUrl: base,
    apiKey,
    requests,
    commands,
    creates,
    timeouts,
    live: () => [...sandboxes.keys()],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
