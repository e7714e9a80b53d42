/**
 * The Swarm stack file and the gateway's routing rules, without a daemon: the gateway in front
 * of stand-in managers on 127.0.0.1 and ::1 (one port, two addresses, as tasks.manager gives).
 */
import {createServer, request, type Server} from 'node:http'

import {afterEach, describe, expect, it} from 'vitest'

import {ExitCode} from '../../src/errors.js'
import {startGateway, type Gateway} from '../../src/swarm/gateway.js'
import {resolveStack, stackCompose} from '../../src/swarm/stack.js'
import {freePort} from '../helpers/ports.js'

describe('swarm stack file', () => {
  it('mesh: a global manager service on labelled nodes, published through the routing mesh', () => {
    const c = stackCompose({socketGid: 105, env: {SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: '2'}}) as any
    const m = c.services.manager
    expect(Object.keys(c.services)).toEqual(['manager'])
    expect(m.deploy).toMatchObject({mode: 'global', endpoint_mode: 'vip', placement: {constraints: ['node.labels.sandbox == true']}})
    expect(m.ports).toEqual([{target: 9385, published: 9385, protocol: 'tcp', mode: 'ingress'}])
    expect(m.user).toBe('65534:105')
    expect(m.hostname).toBe('{{.Node.Hostname}}')
    expect(m.volumes[0]).toEqual({type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock'})
    expect(m).toMatchObject({read_only: true, cap_drop: ['ALL'], security_opt: ['no-new-privileges']})
    expect(m.healthcheck.test.join(' ')).toContain('/healthz')
    expect(m.environment).toMatchObject({SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: '2', DOCKER_HOST: 'unix:///var/run/docker.sock', SANDBOX_MANAGER_MODE: 'docker'})
  })

  it('gateway: dnsrr managers, a gateway on a manager node with a host-mode port; node ports optional', () => {
    const c = stackCompose({socketGid: 0, endpoint: 'gateway', port: 8000, nodePort: 8001, label: 'gvisor'}) as any
    expect(c.services.manager.deploy).toMatchObject({endpoint_mode: 'dnsrr', placement: {constraints: ['node.labels.gvisor == true']}})
    expect(c.services.manager.ports).toEqual([{target: 9385, published: 8001, protocol: 'tcp', mode: 'host'}])
    expect(c.services.gateway.ports).toEqual([{target: 9385, published: 8000, protocol: 'tcp', mode: 'host'}])
    expect(c.services.gateway.deploy.placement.constraints).toEqual(['node.role == manager'])
    expect(c.services.gateway.environment.SANDBOX_GATEWAY_UPSTREAM).toBe('tasks.manager')
  })

  it.each([
    [{name: 'Bad Name'}, /stack name/],
    [{port: 0}, /port/],
    [{endpoint: 'ipvs'}, /endpoint/],
    [{label: '-x'}, /label/],
    [{nodePort: 9385}, /node port/],
    [{env: {'bad-key': '1'}}, /environment variable/],
    [{socketGid: -1}, /group id/],
  ])('refuses %o as a configuration error', (bad, message) => {
    let error: any
    try {
      resolveStack({socketGid: 105, ...bad} as never)
    } catch (e) {
      error = e
    }
    expect(error?.message).toMatch(message)
    expect(error?.exit).toBe(ExitCode.CONFIG)
  })
})

type Behaviour = 'ok' | 'not-started' | 'drop' | 'unhealthy'

interface StandIn {
  server: Server
  hits: number
  behaviour: Behaviour
}

async function standIn(host: string, port: number, name: string): Promise<StandIn> {
  const s: StandIn = {server: createServer(), hits: 0, behaviour: 'ok'}
  s.server.on('request', (req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(s.behaviour === 'unhealthy' ? 503 : 200, {'x-sandbox-host': name}).end('{}')
      return
    }
    req.resume()
    req.on('end', () => {
      s.hits++
      if (s.behaviour === 'drop') return req.socket.destroy()
      const headers: Record<string, string> = {'x-sandbox-host': name, 'content-type': 'application/json'}
      if (s.behaviour === 'not-started') headers['x-sandbox-run'] = 'not-started'
      res.writeHead(200, headers).end(JSON.stringify({status: s.behaviour === 'ok' ? 'success' : 'program_runner_error', exit_code: s.behaviour === 'ok' ? 0 : -10}))
    })
  })
  await new Promise<void>((resolve) => s.server.listen(port, host, resolve))
  return s
}

function post(url: string): Promise<{status: number; host: string | undefined; body: any; attempts: string | undefined}> {
  return new Promise((resolve, reject) => {
    const req = request(new URL('/run', url), {method: 'POST', headers: {'content-type': 'application/json'}}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          host: res.headers['x-sandbox-host'] as string | undefined,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
          attempts: res.headers['x-sandbox-gateway-attempts'] as string | undefined,
        }),
      )
    })
    req.on('error', reject)
    req.end('{"language":"python","code_b64":""}')
  })
}

describe('swarm gateway', () => {
  let gateway: Gateway | undefined
  const servers: Server[] = []
  afterEach(async () => {
    await gateway?.close()
    gateway = undefined
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
  })

  async function setup(addresses: string[] = ['127.0.0.1', '::1']) {
    const port = await freePort()
    const a = await standIn('127.0.0.1', port, 'node1')
    const b = await standIn('::1', port, 'node2')
    servers.push(a.server, b.server)
    gateway = await startGateway({upstream: 'tasks.manager', upstreamPort: port, host: '127.0.0.1', port: 0, checkMs: 60_000, resolve: async () => addresses})
    return {a, b, url: gateway.url}
  }

  it('balances over the healthy managers, round robin', async () => {
    const {url} = await setup()
    const hosts = []
    for (let i = 0; i < 4; i++) hosts.push((await post(url)).host)
    expect(hosts.filter((h) => h === 'node1')).toHaveLength(2)
    expect(hosts.filter((h) => h === 'node2')).toHaveLength(2)
  })

  it('a manager that took no job (not-started) passes the request on; the other one runs it', async () => {
    const {a, b, url} = await setup()
    a.behaviour = 'not-started'
    for (let i = 0; i < 4; i++) {
      const r = await post(url)
      expect(r).toMatchObject({status: 200, host: 'node2', body: {status: 'success'}})
    }
    expect(b.hits).toBe(4)
  })

  it('a refused connection passes the request on and takes the manager out', async () => {
    const {a, url} = await setup()
    await new Promise((r) => a.server.close(r))
    for (let i = 0; i < 3; i++) expect(await post(url)).toMatchObject({status: 200, host: 'node2'})
    expect(gateway!.status().backends.find((x) => x.address === '127.0.0.1')?.healthy).toBe(false)
  })

  it('a manager lost after it got the request: 502 and the request is not repeated', async () => {
    const {a, b, url} = await setup()
    a.behaviour = 'drop'
    b.behaviour = 'drop'
    const r = await post(url)
    expect(r.status).toBe(502)
    expect(r.body.detail).toMatch(/not repeated/)
    expect(a.hits + b.hits).toBe(1)
  })

  it('every manager not started: their answer (-10) is returned; none known: 503', async () => {
    const {a, b, url} = await setup()
    a.behaviour = 'not-started'
    b.behaviour = 'not-started'
    const r = await post(url)
    expect(r).toMatchObject({status: 200, body: {exit_code: -10}})
    expect(a.hits + b.hits).toBe(2)
    await gateway!.close()
    gateway = await startGateway({upstream: 'tasks.manager', upstreamPort: 1, host: '127.0.0.1', port: 0, checkMs: 60_000, resolve: async () => []})
    expect((await post(gateway.url)).status).toBe(503)
  })

  it('/healthz is 200 while a manager is healthy, 503 when none is', async () => {
    const {a, b} = await setup()
    const health = () =>
      new Promise<number>((resolve) =>
        request(new URL('/healthz', gateway!.url), (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        }).end(),
      )
    expect(await health()).toBe(200)
    a.behaviour = 'unhealthy'
    b.behaviour = 'unhealthy'
    await gateway!.check()
    expect(await health()).toBe(503)
  })
})
