/**
 * deploy/sandbox-executor-manager.service: systemd's own checker accepts the unit, and the
 * service it describes works the way systemd runs it — its ExecStart in the foreground with its
 * Environment, serving RAGFlow's POST /run, stopped by its KillSignal within TimeoutStopSec with
 * its sandbox containers removed. (The test machine has no systemd as pid 1 to start it.)
 */
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {createInterface} from 'node:readline'

import {afterAll, describe, expect, it} from 'vitest'

import {LABELS, listManagedContainers} from '../../src/docker/containers.js'
import {runProgram} from '../../src/exec.js'
import {requireProgram} from '../helpers/apt.js'
import {freePort} from '../helpers/ports.js'

const UNIT = 'deploy/sandbox-executor-manager.service'
const dir = mkdtempSync(join(tmpdir(), 'sandbox-systemd-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

/** the [Service] section's keys (repeated keys collected in order) */
function serviceSection(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  let section = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    if (line.startsWith('[')) section = line
    else if (section === '[Service]') {
      const i = line.indexOf('=')
      ;(out[line.slice(0, i)] ??= []).push(line.slice(i + 1))
    }
  }
  return out
}

/** the [Service] section's Environment= assignments */
const environmentOf = (service: Record<string, string[]>): Record<string, string> =>
  Object.fromEntries(service.Environment.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]))

/** the unit as installed from a clone: the command is this checkout's bin/run.js */
function localUnit(envFile: string): string {
  return readFileSync(UNIT, 'utf8').replace(
    'ExecStart=/usr/local/bin/sandbox start --foreground --env-file /etc/sandbox/manager.env',
    `ExecStart=${resolve('bin/run.js')} start --foreground --env-file ${envFile}`,
  )
}

describe('the systemd unit', () => {
  it('gives every directory the manager writes a place of its own: the home directory is read-only under it', () => {
    const service = serviceSection(readFileSync(UNIT, 'utf8'))
    expect(service.ProtectHome).toEqual(['read-only'])
    const env = environmentOf(service)
    // state, data (settings) and cache (the runsc backend's root filesystems) default to the home directory
    expect(env.SANDBOX_STATE_DIR).toBe(`/var/lib/${service.StateDirectory[0]}`)
    expect(env.SANDBOX_DATA_DIR).toBe(`/var/lib/${service.StateDirectory[0]}`)
    expect(env.SANDBOX_CACHE_DIR).toBe(`/var/cache/${service.CacheDirectory?.[0]}`)
  })

  it('passes systemd-analyze verify', async () => {
    const analyze = await requireProgram('systemd-analyze', 'systemd')
    const envFile = join(dir, 'manager.env')
    writeFileSync(envFile, '', {mode: 0o600})
    const unit = join(dir, 'sandbox-executor-manager.service')
    writeFileSync(unit, localUnit(envFile))
    const r = await runProgram(analyze, ['verify', unit])
    // verify prints every problem it finds (unknown keys, bad values, a missing command)
    expect(r.stderr.split('\n').filter((l) => l.includes('sandbox-executor-manager.service'))).toEqual([])
    expect(r.code).toBe(0)
  })

  it('runs in the foreground as ExecStart says and stops on its KillSignal within TimeoutStopSec', async () => {
    const port = await freePort()
    const envFile = join(dir, 'run.env')
    writeFileSync(envFile, `SANDBOX_EXECUTOR_MANAGER_PORT=${port}\nSANDBOX_EXECUTOR_MANAGER_POOL_SIZE=1\n`, {mode: 0o600})
    const service = serviceSection(localUnit(envFile))
    const [command, ...args] = service.ExecStart[0].split(' ')
    const env: Record<string, string> = {...(process.env as Record<string, string>)}
    for (const [k, v] of Object.entries(environmentOf(service))) {
      // the runsc backend's root filesystems: this host's own cache (an export costs seconds)
      if (k === 'SANDBOX_CACHE_DIR') continue
      env[k] = k === 'SANDBOX_STATE_DIR' || k === 'SANDBOX_DATA_DIR' ? join(dir, 'state') : v
    }
    const child = spawn(command, args, {env, stdio: ['ignore', 'pipe', 'pipe']})
    const exited = new Promise<{code: number | null; signal: string | null}>((r) => child.on('exit', (code, signal) => r({code, signal})))
    const lines = createInterface({input: child.stdout})
    const events: Array<Record<string, unknown>> = []
    // logs are JSON lines on stdout: wait for "ready"
    await new Promise<void>((ready, fail) => {
      lines.on('line', (line) => {
        const event = JSON.parse(line) as Record<string, unknown>
        events.push(event)
        if (event.msg === 'ready' || event.message === 'ready') ready()
      })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      void exited.then((e) => fail(new Error(`the service exited before it was ready: ${JSON.stringify(e)}\n${stderr}`)))
    })
    const res = await fetch(`http://127.0.0.1:${port}/run`, {
      method: 'POST',
      body: JSON.stringify({code_b64: Buffer.from('def main():\n    return 42\n').toString('base64'), language: 'python'}),
    })
    expect(await res.json()).toMatchObject({status: 'success', result: {present: true, value: 42}})

    expect(service.KillSignal).toEqual(['SIGTERM'])
    child.kill('SIGTERM')
    const stopSeconds = Number(service.TimeoutStopSec[0])
    const outcome = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), stopSeconds * 1000))])
    expect(outcome).toEqual({code: 0, signal: null})
    expect(await listManagedContainers({[LABELS.ownerPid]: String(child.pid)})).toEqual([])
  })
})
