/**
 * Docker daemon outage under load. The manager reaches the daemon through a unix-socket
 * relay (DOCKER_HOST) that this test cuts and restores: to the manager that is exactly a
 * daemon going away (socket gone: ENOENT, streams reset) and coming back, while the real
 * daemon — shared with everything else on this host — keeps running.
 * The manager uses the docker backend here (the runsc backend needs no daemon to run code).
 * Must show: clean error results (HTTP 200, -10/-3), /healthz 503, recovery by itself.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {Agent, request} from 'node:http'
import {connect, createServer, type Server, type Socket} from 'node:net'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'

import {Config} from '@oclif/core'
import {captureOutput} from '@oclif/test'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import Start, {type StartOutput} from '../../src/commands/start.js'
import {dockerEndpoint} from '../../src/docker/client.js'
import {LABELS, listManagedContainers} from '../../src/docker/containers.js'
import {stopManager} from '../../src/supervisor/manage.js'
import {managerFiles} from '../../src/server/state.js'
import {freePort} from '../helpers/ports.js'

const realSocket = dockerEndpoint().replace(/^unix:\/\//, '')
let dir: string
let relayPath: string
let relay: Server | undefined
const relayed = new Set<Socket>()
let port: number
let config: Config
const previous = {state: process.env.SANDBOX_STATE_DIR, docker: process.env.DOCKER_HOST}

function relayUp(): Promise<void> {
  // half-close passes through, as on the daemon's own socket: the engine ends its side of the attach
  // stream after writing the job and then reads the runner's output on the other half
  relay = createServer({allowHalfOpen: true}, (client) => {
    const upstream = connect({path: realSocket, allowHalfOpen: true})
    relayed.add(client).add(upstream)
    client.pipe(upstream).pipe(client)
    const drop = () => {
      client.destroy()
      upstream.destroy()
      relayed.delete(client)
      relayed.delete(upstream)
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
  })
  return new Promise((resolve) => relay!.listen(relayPath, resolve))
}

/** The daemon "stops": the socket disappears and every open connection breaks. */
function relayDown(): Promise<void> {
  const closed = new Promise<void>((resolve) => relay!.close(() => resolve()))
  for (const s of relayed) s.destroy()
  relayed.clear()
  return closed
}

interface Answer {
  status: number
  body: {status?: string; exit_code?: number; stderr?: string; reason?: string}
}

function call(agent: Agent, method: string, path: string, body?: string, timeoutMs = 60_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({host: '127.0.0.1', port, method, path, agent, headers: body ? {'content-type': 'application/json'} : {}, timeout: timeoutMs}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        try {
          resolve({status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8'))})
        } catch (error) {
          reject(error)
        }
      })
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(body)
  })
}

const RUN = JSON.stringify({code_b64: Buffer.from('def main():\n    return 1\n').toString('base64'), language: 'python'})

beforeAll(async () => {
  config = await Config.load({root: process.cwd()})
  dir = mkdtempSync(join(tmpdir(), 'sandbox-outage-'))
  relayPath = join(dir, 'docker.sock')
  await relayUp()
  process.env.SANDBOX_STATE_DIR = dir
  port = await freePort()
})

afterAll(async () => {
  if (relay && !relay.listening) await relayUp()
  await stopManager({files: managerFiles(dir)}).catch(() => {})
  await relayDown().catch(() => {})
  if (previous.state === undefined) delete process.env.SANDBOX_STATE_DIR
  else process.env.SANDBOX_STATE_DIR = previous.state
  rmSync(dir, {recursive: true, force: true})
})

describe('Docker daemon outage under load', () => {
  it('answers cleanly while the daemon is gone, turns unhealthy, and recovers by itself', async () => {
    process.env.DOCKER_HOST = `unix://${relayPath}`
    let started: StartOutput
    try {
      const out = await captureOutput(() => Start.run(['--backend', 'docker', '--port', String(port), '--env-file', '/dev/null', '--pool-size', '2', '--json'], config))
      process.exitCode = undefined
      if (out.error) throw out.error
      started = out.result as StartOutput
    } finally {
      if (previous.docker === undefined) delete process.env.DOCKER_HOST
      else process.env.DOCKER_HOST = previous.docker
    }
    const agent = new Agent({keepAlive: true, maxSockets: 8})
    {
      const first = (await call(agent, 'POST', '/run', RUN)).body
      expect(first.status, JSON.stringify(first)).toBe('success')
    }

    // load: 4 clients, until told to stop
    type Phase = 'before' | 'outage' | 'after'
    let phase: Phase = 'before'
    let loading = true
    const answers: Array<{phase: Phase; status: number; result: string; exit: number}> = []
    const dropped: string[] = []
    const clients = Array.from({length: 4}, async () => {
      while (loading) {
        const p = phase
        try {
          const a = await call(agent, 'POST', '/run', RUN)
          answers.push({phase: p, status: a.status, result: String(a.body.status), exit: Number(a.body.exit_code)})
        } catch (error) {
          dropped.push((error as Error).message)
        }
      }
    })

    await expect.poll(() => answers.filter((a) => a.phase === 'before').length, {timeout: 60_000}).toBeGreaterThanOrEqual(4)
    await relayDown()
    phase = 'outage'
    await expect.poll(async () => (await call(agent, 'GET', '/healthz')).status, {timeout: 60_000, interval: 100}).toBe(503)
    const sick = await call(agent, 'GET', '/healthz')
    expect(sick.body).toMatchObject({status: 'unhealthy'})
    expect(sick.body.reason).toBeTruthy()
    await expect.poll(() => answers.filter((a) => a.phase === 'outage' && a.exit === -10).length, {timeout: 60_000}).toBeGreaterThanOrEqual(5)

    await relayUp()
    phase = 'after'
    await expect.poll(async () => (await call(agent, 'GET', '/healthz')).status, {timeout: 60_000, interval: 100}).toBe(200)
    await expect.poll(() => answers.filter((a) => a.phase === 'after' && a.result === 'success').length, {timeout: 60_000}).toBeGreaterThanOrEqual(5)
    loading = false
    await Promise.all(clients)
    // the other language, idle during the outage, serves again too (no container with a dead stream is handed out)
    const JS = JSON.stringify({code_b64: Buffer.from('module.exports.main = () => 2\n').toString('base64'), language: 'nodejs'})
    // (a container whose attach stream died with the connection must not be handed out: the run would never end)
    for (let i = 0; i < 3; i++) expect((await call(agent, 'POST', '/run', JS, 30_000)).body).toMatchObject({status: 'success', exit_code: 0})

    expect(dropped).toEqual([])
    expect(answers.every((a) => a.status === 200)).toBe(true)
    // while the daemon was away: only clean runner errors (no container, or the run's container vanished)
    const outage = answers.filter((a) => a.phase === 'outage')
    expect(outage.every((a) => a.result === 'success' || (a.result === 'program_runner_error' && [-10, -3].includes(a.exit)))).toBe(true)
    expect(outage.filter((a) => a.exit === -10).length).toBeGreaterThan(0)

    const stopped = await stopManager({files: managerFiles(dir)})
    expect(stopped).toMatchObject({wasRunning: true, signal: 'SIGTERM'})
    agent.destroy()
    expect(await listManagedContainers({[LABELS.ownerHost]: hostname(), [LABELS.ownerPid]: String(started.pid)})).toEqual([])
  })
})
