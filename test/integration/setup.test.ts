/**
 * `sandbox setup` against the real machine: the real Docker daemon, runsc, base images.
 * test/global-setup.ts has already made this host ready, so these tests start from a
 * ready host. The real daemon is never stopped here; the daemon.json test reloads it
 * (SIGHUP) and restores the file in a finally block.
 */
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import {daemonInfo} from '../../src/docker/client.js'
import {checkOrderFor, isLocalEndpoint} from '../../src/setup/checks.js'
import {DAEMON_JSON} from '../../src/setup/daemon-json.js'
import {registerRuntime, type FixContext} from '../../src/setup/fixes.js'
import {realHost} from '../../src/setup/host.js'
import {runSetup} from '../../src/setup/service.js'
import {runBin, type BinResult} from '../helpers/bin.js'

const work = mkdtempSync(join(tmpdir(), 'sandbox-setup-it-'))
/** what setup checks here: the runsc backend's needs too where it is the backend in use (root, runsc, cgroup v1) */
const CHECKS = checkOrderFor(loadConfig({env: process.env, envFile: '/dev/null'}).backend)
afterAll(() => rmSync(work, {recursive: true, force: true}))

const cli = (args: string[], env: Record<string, string> = {}): Promise<BinResult> => runBin(args, work, env)

describe('sandbox setup on a ready host', () => {
  it('passes every check and changes nothing, also with --yes', async () => {
    const envFile = join(work, 'ready.env')
    writeFileSync(envFile, 'SANDBOX_TIMEOUT=10s\n')
    const report = await runSetup({fix: true, envFile})
    expect(report.checks.filter((c) => !c.ok)).toEqual([])
    expect(report.checks.map((c) => c.id)).toEqual(CHECKS)
    expect(report.ok).toBe(true)
    expect(report.changed).toEqual([])
    expect(readFileSync(envFile, 'utf8')).toBe('SANDBOX_TIMEOUT=10s\n')
    const isolation = report.checks.find((c) => c.id === 'isolation')
    expect(isolation?.detail).toMatch(/container kernel \S+ \(gVisor\)/)
    expect(report.checks.find((c) => c.id === 'memory')?.detail).toMatch(/OOM-killed \(exit 137\)/)
  })

  it('the command prints one line per check and exits 0; --json gives the report', async () => {
    writeFileSync(join(work, '.env'), '')
    const human = await cli(['setup'])
    expect(human.code, human.stderr).toBe(0)
    const lines = human.stdout.split('\n').filter((l) => /^[✓✗!] /.test(l))
    expect(lines).toHaveLength(CHECKS.length)
    expect(lines.every((l) => l.startsWith('✓ '))).toBe(true)
    expect(human.stdout).toContain('no changes needed')

    const json = await cli(['setup', '--json'])
    expect(json.code, json.stderr).toBe(0)
    const data = JSON.parse(json.stdout)
    expect(data.ok).toBe(true)
    expect(data.changed).toEqual([])
    expect(data.checks.map((c: {id: string}) => c.id)).toEqual(CHECKS)
    for (const c of data.checks) expect(Object.keys(c)).toEqual(expect.arrayContaining(['id', 'title', 'ok', 'detail']))
  })

  it('writes a missing .env from the template once, and never overwrites it', async () => {
    const envFile = join(work, 'fresh', '.env')
    const first = await runSetup({fix: true, envFile})
    expect(first.ok).toBe(true)
    expect(first.changed).toEqual([`wrote ${envFile} from templates/env.template`])
    expect(first.checks.find((c) => c.id === 'env-file')?.fixed).toBe(true)
    const written = readFileSync(envFile, 'utf8')
    expect(loadConfig({envFile, env: {}}).memory).toBe('256m')
    expect(statSync(envFile).mode & 0o777).toBe(0o600)

    writeFileSync(envFile, `${written}# edited by hand\n`)
    const second = await runSetup({fix: true, envFile})
    expect(second.changed).toEqual([])
    expect(readFileSync(envFile, 'utf8')).toBe(`${written}# edited by hand\n`)
  })
})

describe('sandbox setup names the failed check and its fix', () => {
  it('exits 3 naming the Docker daemon check when DOCKER_HOST points at a dead socket', async () => {
    const sock = `unix://${join(work, 'nobody-listens.sock')}`
    const r = await cli(['setup'], {DOCKER_HOST: sock})
    expect(r.code).toBe(3)
    const line = r.stdout.split('\n').find((l) => l.includes('Docker daemon'))
    expect(line).toMatch(/^✗ Docker daemon/)
    expect(line).toContain(`— fix: start the Docker daemon at ${sock}`)
    // oclif wraps long error lines
    expect(r.stderr.replace(/\s+/g, ' ')).toMatch(/Setup incomplete: .*Docker daemon failed/)

    const json = await cli(['setup', '--json'], {DOCKER_HOST: sock})
    expect(json.code).toBe(3)
    const data = JSON.parse(json.stdout)
    expect(data.ok).toBe(false)
    expect(data.error.code).toBe('SETUP_INCOMPLETE')
    expect(data.checks.find((c: {id: string}) => c.id === 'docker-daemon')).toMatchObject({ok: false, fix: expect.stringContaining(sock)})
    // nothing was attempted against a daemon that is not this machine's
    expect(data.changed).toEqual([])
  })

  it('fails "runsc registered" with its fix for a runtime the daemon does not know', async () => {
    const report = await runSetup({runtime: 'runsc-not-registered', envFile: null})
    expect(report.ok).toBe(false)
    const registered = report.checks.find((c) => c.id === 'runsc-registered')
    expect(registered).toMatchObject({ok: false})
    expect(registered?.detail).toContain('"runsc-not-registered" is not registered')
    expect(registered?.fix).toContain(DAEMON_JSON)
    expect(report.checks.find((c) => c.id === 'isolation')?.ok).toBe(false)
    expect(report.changed).toEqual([])
  })
})

describe('registering runsc in the real daemon.json', () => {
  it('keeps a foreign key, reloads dockerd, and runsc stays usable', async () => {
    expect(isLocalEndpoint(process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock')).toBe(true)
    const original = readFileSync(DAEMON_JSON, 'utf8')
    const originalMode = statSync(DAEMON_JSON).mode & 0o7777
    const host = realHost()
    const changed: string[] = []
    const fx: FixContext = {
      host,
      runtime: 'runsc',
      config: loadConfig({env: {}, envFile: '/dev/null'}),
      envFile: null,
      minFreeBytes: 0,
      isRoot: host.isRoot(),
      hasApt: true,
      localDaemon: true,
      endpoint: 'unix:///var/run/docker.sock',
      daemonJsonPath: DAEMON_JSON,
      dockerdLog: '/var/log/sandbox-dockerd.log',
      buildSource: 'auto',
      progress: () => {},
      changed: (what) => changed.push(what),
    }
    try {
      // a foreign, valid dockerd setting (its default value) and runsc registered without its arguments
      const parsed = JSON.parse(original) as {runtimes?: Record<string, unknown>}
      writeFileSync(DAEMON_JSON, JSON.stringify({...parsed, 'log-level': 'info', runtimes: {...parsed.runtimes, runsc: {path: '/usr/bin/runsc'}}}))
      await registerRuntime(fx)
      const merged = JSON.parse(readFileSync(DAEMON_JSON, 'utf8'))
      expect(merged['log-level']).toBe('info')
      expect(merged.runtimes.runsc).toEqual({path: '/usr/bin/runsc', runtimeArgs: ['--network=none']})
      expect(changed[0]).toMatch(/registered runtime "runsc"/)
      expect(changed).toContain('reloaded the Docker daemon configuration')
      expect((await daemonInfo()).runtimes).toContain('runsc')

      // the same again: nothing to change, no reload
      changed.length = 0
      await registerRuntime(fx)
      expect(changed).toEqual([])
    } finally {
      writeFileSync(DAEMON_JSON, original, {mode: originalMode})
      const pid = Number(readFileSync('/var/run/docker.pid', 'utf8').trim())
      process.kill(pid, 'SIGHUP')
    }
    // the restored configuration still isolates
    const after = await runSetup({envFile: null})
    expect(after.checks.find((c) => c.id === 'isolation')?.ok).toBe(true)
  })
})

describe('the detached daemon launcher', () => {
  it('starts a process in its own process group that outlives its parent, logging to a file', async () => {
    const host = realHost()
    const log = join(work, 'detached.log')
    const pid = await host.spawnDetached('/bin/sh', ['-c', 'echo started; exec sleep 60'], log)
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // fields: state ppid pgrp session
      expect(Number(fields[2])).toBe(pid)
      expect(Number(fields[3])).toBe(pid)
      expect(await host.processName(pid)).toMatch(/^(sh|sleep)$/)
    } finally {
      process.kill(pid, 'SIGKILL')
    }
  })
})
