/**
 * The executor manager end to end (issue 4's "must show"): `sandbox start` in a temporary
 * state directory on a free 127.0.0.1 port, real Docker and gVisor behind it.
 */
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {Agent} from 'node:http'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Config} from '@oclif/core'
import {captureOutput} from '@oclif/test'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import Clean from '../../src/commands/clean.js'
import Restart from '../../src/commands/restart.js'
import Start from '../../src/commands/start.js'
import Status from '../../src/commands/status.js'
import Stop from '../../src/commands/stop.js'
import {sandboxesOfPid} from '../helpers/containers.js'
import {isProcessAlive, isProcessRunning} from '../../src/process.js'
import type {StartOutput} from '../../src/commands/start.js'
import type {CleanResult} from '../../src/supervisor/clean.js'
import type {StopResult} from '../../src/supervisor/host.js'
import type {StatusReport} from '../../src/supervisor/status.js'
import {managerFiles, readState} from '../../src/server/state.js'
import {call as httpCall, postRun, privateState, runBody, type Answer, type PrivateState} from '../helpers/manager.js'
import {freePort} from '../helpers/ports.js'

let config: Config
let stateDir: string
let port: number
let endpoint: string

type Runnable = {run: (argv: string[], config: Config) => Promise<unknown>}

async function cli<T>(cmd: Runnable, argv: string[]): Promise<T> {
  const out = await captureOutput(() => cmd.run([...argv, '--json'], config))
  process.exitCode = undefined
  if (out.error) throw out.error
  if (out.result === undefined) throw new Error(`the command failed: ${out.stdout}`)
  return out.result as T
}

/** a command that must fail: its --json error document and exit code */
async function cliFails(cmd: Runnable, argv: string[]): Promise<{exit: number | undefined; code: string; message: string}> {
  const out = await captureOutput(() => cmd.run([...argv, '--json'], config))
  const exit = typeof process.exitCode === 'number' ? process.exitCode : undefined
  process.exitCode = undefined
  if (out.result !== undefined) throw new Error(`expected a failure, got ${JSON.stringify(out.result).slice(0, 300)}`)
  const doc = JSON.parse(out.stdout) as {error: {code: string; message: string; exit: number}}
  expect(doc.error.exit).toBe(exit)
  return {exit, code: doc.error.code, message: doc.error.message}
}

const startArgs = () => ['--port', String(port), '--env-file', '/dev/null', '--pool-size', '1']

const agent = new Agent({keepAlive: true, maxSockets: 16})

const call = (method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> => httpCall(port, method, path, {body, headers, agent})

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')
const run = (code: string, language?: string, args?: unknown, headers: Record<string, string> = {}) => postRun(port, runBody(code, language, args), {agent, headers})

const RESULT_FIELDS = [
  'status',
  'stdout',
  'stderr',
  'exit_code',
  'detail',
  'time_used_ms',
  'memory_used_kb',
  'resource_limit_type',
  'unauthorized_access_type',
  'runtime_error_type',
  'result',
  'artifacts',
]

/** the manager's live sandboxes, whichever backend made them */
const mine = (pid: number) => sandboxesOfPid(pid)

let state: PrivateState

beforeAll(async () => {
  state = await privateState('sandbox-manager-test-')
  ;({config, stateDir, port, endpoint} = state)
})

afterAll(async () => {
  agent.destroy()
  await state?.close()
})

describe('sandbox start / POST /run / stop', () => {
  it('start runs the manager in the background and waits until it is healthy', async () => {
    const started = await cli<StartOutput>(Start, startArgs())
    expect(started).toMatchObject({already: false, mode: 'process', endpoint, runtime: 'runsc'})
    expect(isProcessAlive(started.pid!)).toBe(true)
    const files = managerFiles(stateDir)
    expect(existsSync(files.pidFile)).toBe(true)
    expect(existsSync(files.logFile)).toBe(true)
    expect((await call('GET', '/healthz')).json()).toEqual({status: 'ok'})

    const again = await cli<StartOutput>(Start, startArgs())
    expect(again).toMatchObject({already: true, pid: started.pid})
  })

  it('start on another port with the same state directory is an error that says so (exit 4); nothing else starts', async () => {
    const other = await freePort()
    const error = await cliFails(Start, ['--port', String(other), '--env-file', '/dev/null'])
    expect(error.exit).toBe(4)
    expect(error.code).toBe('MANAGER_RUNNING_ELSEWHERE')
    expect(error.message).toContain(endpoint)
    expect(error.message).toContain(`port ${other}`)
    const answer = await fetch(`http://127.0.0.1:${other}/healthz`).then(
      () => 'answered',
      () => 'refused',
    )
    expect(answer).toBe('refused')
    expect(readState(managerFiles(stateDir))!.port).toBe(port)
  })

  it('the state file records the effective settings and what start was told, never a token', () => {
    const state = readState(managerFiles(stateDir))!
    expect(state.settings).toMatchObject({port, poolSize: 1, tokenRequired: false, allowPolicyOverride: false})
    expect(state.launch?.flags).toMatchObject({SANDBOX_EXECUTOR_MANAGER_PORT: String(port), SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: '1'})
  })

  it('POST /run Python: arguments with booleans, null and unicode → RAGFlow-shaped result', async () => {
    const code =
      'def main(flag, nothing, text, n=1):\n    print(f"héllo {text} ✓")\n    return {"flag": flag, "nothing": nothing, "text": text, "n": n + 1, "type": type(nothing).__name__}\n'
    const res = await run(code, 'python', {flag: true, nothing: null, text: 'wörld 🌍'})
    expect(res.status).toBe(200)
    const r = res.json()
    expect(Object.keys(r).sort()).toEqual([...RESULT_FIELDS].sort())
    expect(r).toMatchObject({status: 'success', exit_code: 0, stdout: 'héllo wörld 🌍 ✓\n', artifacts: []})
    expect(r.result).toEqual({present: true, value: {flag: true, nothing: null, text: 'wörld 🌍', n: 2, type: 'NoneType'}, type: 'json'})
  })

  it('POST /run Node.js, and javascript as its alias', async () => {
    const code = 'function main(args) {\n  console.log("ñ", typeof args.nothing)\n  return {flag: !args.flag, nothing: args.nothing}\n}\nmodule.exports = {main}\n'
    for (const language of ['nodejs', 'javascript']) {
      const res = await run(code, language, {flag: false, nothing: null})
      expect(res.status).toBe(200)
      expect(res.json()).toMatchObject({status: 'success', stdout: 'ñ object\n', result: {present: true, value: {flag: true, nothing: null}, type: 'json'}})
    }
  })

  it('failing user code is still HTTP 200 with a program_error result; language defaults to python', async () => {
    const res = await run('def main():\n    raise ValueError("nope")\n')
    expect(res.status).toBe(200)
    expect(res.json()).toMatchObject({status: 'program_error', runtime_error_type: 'nonzero_exit'})
    expect(res.json<{stderr: string}>().stderr).toContain('ValueError: nope')
  })

  it('1,000 malformed or random bodies: each a 4xx, nothing runs, the manager keeps serving', async () => {
    let seed = 7
    const rnd = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31
    const pieces = ['{', '}', '"code_b64"', ':', '"', 'null', '[', ']', ',', '"language"', '"arguments"', '"ruby"', '"=="', 'true', '\u00ff', '"aGk"', '1e400']
    const bodies: string[] = []
    for (let i = 0; i < 1000; i++) {
      const kind = i % 5
      if (kind === 0) bodies.push(Array.from({length: 1 + Math.floor(rnd() * 10)}, () => pieces[Math.floor(rnd() * pieces.length)]).join(''))
      else if (kind === 1) bodies.push(Buffer.from(Array.from({length: Math.floor(rnd() * 64)}, () => Math.floor(rnd() * 256))).toString('latin1'))
      else if (kind === 2) bodies.push(JSON.stringify({code_b64: `${b64('def main(): pass')}${'!*-_ '[i % 5]}`}))
      else if (kind === 3) bodies.push(JSON.stringify({code_b64: b64('def main(): pass'), language: ['ruby', 5, {}, 'py3', ''][i % 5]}))
      else bodies.push(JSON.stringify({code_b64: b64('def main(): pass'), arguments: [[1], 'x', 3, true][i % 4]}))
    }
    const before = await call('GET', '/metrics')
    const ran = (text: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith('sandbox_runs_total'))
        .reduce((a, l) => a + Number(l.split(' ').pop()), 0)
    const statuses: number[] = []
    for (let i = 0; i < bodies.length; i += 20) {
      const batch = await Promise.all(bodies.slice(i, i + 20).map((b) => call('POST', '/run', b, {'content-type': 'application/json'})))
      for (const a of batch) {
        statuses.push(a.status)
        expect(a.json<{message: string}>().message).toBeTruthy()
      }
    }
    expect(statuses).toHaveLength(1000)
    expect(statuses.every((s) => s >= 400 && s < 500)).toBe(true)
    const after = await call('GET', '/metrics')
    expect(ran(after.text)).toBe(ran(before.text))
    expect((await call('GET', '/healthz')).status).toBe(200)
    expect((await run('def main():\n    return 5\n')).json()).toMatchObject({status: 'success', result: {value: 5}})
  })

  it('status reports the running manager with pools and counts', async () => {
    const s = await cli<StatusReport>(Status, ['--env-file', '/dev/null'])
    expect(s).toMatchObject({running: true, healthy: true, mode: 'process', endpoint, runtime: 'runsc'})
    expect(s.pools.map((p) => `${p.language}${p.kind === 'preloaded' ? ' preloaded' : ''}`).sort()).toEqual(['nodejs', 'python', 'python preloaded'])
    expect(s.runs.total).toBeGreaterThanOrEqual(5)
    expect(s.rejected).toBeGreaterThanOrEqual(1000)
    expect(s.rssBytes).toBeGreaterThan(0)
  })

  it('status --endpoint reads any manager from its GET /status (no state directory needed)', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'sandbox-status-elsewhere-'))
    process.env.SANDBOX_STATE_DIR = elsewhere
    try {
      const s = await cli<StatusReport>(Status, ['--endpoint', `${endpoint}/run`, '--env-file', '/dev/null'])
      expect(s).toMatchObject({running: true, healthy: true, endpoint, runtime: 'runsc', settings: {port, poolSize: 1}})
      expect(s.pid).toBe(readState(managerFiles(stateDir))!.pid)
      expect(s.admission?.limit).toBeGreaterThanOrEqual(1)
      const nobody = await freePort()
      const gone = await captureOutput(() => Status.run(['--endpoint', `http://127.0.0.1:${nobody}`, '--json'], config))
      expect(process.exitCode).toBe(6)
      process.exitCode = undefined
      expect(JSON.parse(gone.stdout)).toMatchObject({running: false})
    } finally {
      process.env.SANDBOX_STATE_DIR = stateDir
      rmSync(elsewhere, {recursive: true, force: true})
    }
  })

  it('restart keeps the flags start was given (port, pool size), whatever the environment says', async () => {
    const before = readState(managerFiles(stateDir))!
    process.env.SANDBOX_EXECUTOR_MANAGER_POOL_SIZE = '3'
    try {
      const result = await cli<{start: StartOutput}>(Restart, ['--env-file', '/dev/null'])
      expect(result.start).toMatchObject({already: false, endpoint})
      expect(result.start.pid).not.toBe(before.pid)
    } finally {
      delete process.env.SANDBOX_EXECUTOR_MANAGER_POOL_SIZE
    }
    const after = readState(managerFiles(stateDir))!
    expect(after).toMatchObject({port, settings: {port, poolSize: 1}})
    const s = await cli<StatusReport>(Status, ['--env-file', '/dev/null'])
    expect(s.pools.filter((p) => p.kind !== 'preloaded').map((p) => p.size)).toEqual([1, 1])
    // restart's own flags override
    const bigger = await cli<{start: StartOutput}>(Restart, ['--pool-size', '2'])
    expect(bigger.start.endpoint).toBe(endpoint)
    expect(readState(managerFiles(stateDir))!.settings).toMatchObject({port, poolSize: 2})
    expect((await run('def main():\n    return "restarted"\n')).json()).toMatchObject({status: 'success', result: {value: 'restarted'}})
  })

  it('restart after stop comes back with the settings of the last start (recorded launch), not the environment', async () => {
    const stopped = await cli<StopResult>(Stop, [])
    expect(stopped).toMatchObject({wasRunning: true, mode: 'process'})
    expect(readState(managerFiles(stateDir))).toBeUndefined()
    process.env.SANDBOX_EXECUTOR_MANAGER_POOL_SIZE = '3'
    try {
      const result = await cli<{stop: StopResult; start: StartOutput}>(Restart, [])
      expect(result.stop.wasRunning).toBe(false)
      expect(result.start).toMatchObject({already: false, mode: 'process', endpoint})
    } finally {
      delete process.env.SANDBOX_EXECUTOR_MANAGER_POOL_SIZE
    }
    expect(readState(managerFiles(stateDir))!.settings).toMatchObject({port, poolSize: 2, envFile: '/dev/null'})
    expect((await run('def main():\n    return "again"\n')).json()).toMatchObject({status: 'success', result: {value: 'again'}})
  })

  it('kill -9 of the manager, then start: stale pid file handled, leftovers removed, serves again', async () => {
    const old = readState(managerFiles(stateDir))!
    const oldPid = old.pid!
    expect((await mine(oldPid)).length).toBeGreaterThan(0)
    process.kill(oldPid, 'SIGKILL')
    await expect.poll(() => isProcessAlive(oldPid), {timeout: 10_000}).toBe(false)
    expect((await mine(oldPid)).length).toBeGreaterThan(0)

    const started = await cli<StartOutput>(Start, startArgs())
    expect(started).toMatchObject({already: false, staleRemoved: true})
    expect(started.pid).not.toBe(oldPid)
    expect(await mine(oldPid)).toEqual([])
    expect((await run('def main():\n    return "back"\n')).json()).toMatchObject({status: 'success', result: {value: 'back'}})
  })

  it('stop stops it gracefully and leaves zero containers', async () => {
    const pid = readState(managerFiles(stateDir))!.pid!
    const stopped = await cli<StopResult>(Stop, [])
    expect(stopped).toMatchObject({wasRunning: true, pid, signal: 'SIGTERM', containersRemaining: 0, dockerChecked: true, containersRemoved: 0})
    expect(isProcessRunning(pid)).toBe(false)
    expect(await mine(pid)).toEqual([])
    expect(existsSync(managerFiles(stateDir).pidFile)).toBe(false)
    await expect(call('GET', '/healthz')).rejects.toThrow()
    const again = await cli<StopResult>(Stop, [])
    expect(again.wasRunning).toBe(false)
  })
})

describe('API token', () => {
  it('401 for /run and /metrics without the token, nothing runs; /healthz stays open', async () => {
    process.env.SANDBOX_API_TOKEN = 'integration-t0ken'
    try {
      await cli<StartOutput>(Start, startArgs())
      const auth = {authorization: 'Bearer integration-t0ken'}
      const noToken = await run('def main():\n    return 1\n')
      expect(noToken.status).toBe(401)
      expect((await run('def main():\n    return 1\n', 'python', {}, {authorization: 'Bearer wrong'})).status).toBe(401)
      expect((await call('GET', '/metrics')).status).toBe(401)
      expect((await call('GET', '/healthz')).status).toBe(200)
      const metrics = await call('GET', '/metrics', undefined, auth)
      expect(metrics.text).not.toMatch(/^sandbox_runs_total/m)
      expect((await call('GET', '/status')).status).toBe(401)
      expect((await call('GET', '/status', undefined, auth)).json()).toMatchObject({status: 'ok', settings: {tokenRequired: true, allowPolicyOverride: false}})
      // status --endpoint without the token (or with a wrong one) says only what it knows: its health, and that it wants a token
      delete process.env.SANDBOX_API_TOKEN
      for (const tokenArgs of [[], ['--token', 'wrong']]) {
        const human = await captureOutput(() => Status.run(['--endpoint', endpoint, '--env-file', '/dev/null', ...tokenArgs], config))
        expect(process.exitCode).toBeUndefined()
        expect(human.stdout).toContain(`Manager: running (healthy) at ${endpoint}`)
        expect(human.stdout).toContain('token required')
        expect(human.stdout).not.toMatch(/not required|up \d|runs: |\?/)
        expect(human.stderr).toMatch(/status unavailable: the manager (requires an API token|refused the API token)/)
        const json = await captureOutput(() => Status.run(['--endpoint', endpoint, '--env-file', '/dev/null', '--json', ...tokenArgs], config))
        expect(JSON.parse(json.stdout)).toMatchObject({running: true, healthy: true, status_read: false, token_required: true, uptime_seconds: null, where: null})
      }
      process.env.SANDBOX_API_TOKEN = 'integration-t0ken'
      expect((await run('def main():\n    return 1\n', 'python', {}, auth)).json()).toMatchObject({status: 'success'})
      // no --allow-policy-override: the policy field is refused, even with the token
      const overridden = await call('POST', '/run', JSON.stringify({code_b64: b64('import os\ndef main():\n    return 1\n'), policy: 'off'}), {
        'content-type': 'application/json',
        ...auth,
      })
      expect(overridden.status).toBe(403)
      // a restart from an environment without the token refuses to bring it back open
      delete process.env.SANDBOX_API_TOKEN
      const open = await cliFails(Restart, [])
      expect(open).toMatchObject({exit: 4, code: 'TOKEN_MISSING'})
      expect((await call('GET', '/metrics')).status).toBe(401)
      process.env.SANDBOX_API_TOKEN = 'integration-t0ken'
      const pid = readState(managerFiles(stateDir))!.pid!
      const stopped = await cli<StopResult>(Stop, [])
      expect(stopped.containersRemaining).toBe(0)
      expect(await mine(pid)).toEqual([])
    } finally {
      delete process.env.SANDBOX_API_TOKEN
    }
  })
})

describe('per-request policy override', () => {
  it('refused at start without a token (exit 4, nothing starts); with one, token holders choose the policy per run', async () => {
    const refused = await cliFails(Start, [...startArgs(), '--allow-policy-override'])
    expect(refused).toMatchObject({exit: 4, code: 'POLICY_OVERRIDE_NEEDS_TOKEN'})
    expect(existsSync(managerFiles(stateDir).pidFile)).toBe(false)

    process.env.SANDBOX_API_TOKEN = 'override-t0ken'
    try {
      await cli<StartOutput>(Start, [...startArgs(), '--allow-policy-override'])
      const auth = {authorization: 'Bearer override-t0ken', 'content-type': 'application/json'}
      const code = b64('import os\ndef main():\n    return os.getuid()\n')
      const asked = (policy?: string, headers: Record<string, string> = auth) => call('POST', '/run', JSON.stringify({code_b64: code, ...(policy ? {policy} : {})}), headers)
      expect((await asked()).json()).toMatchObject({status: 'program_runner_error', exit_code: -999})
      expect((await asked('off')).json()).toMatchObject({status: 'success', result: {value: 65534}})
      expect((await asked('ragflow')).json()).toMatchObject({exit_code: -999})
      expect((await asked('off', {'content-type': 'application/json'})).status).toBe(401)
      await cli<StopResult>(Stop, [])
    } finally {
      delete process.env.SANDBOX_API_TOKEN
    }
  })
})

describe('admission control', () => {
  it('18 concurrent memory-holding runs never make more containers live than the cap; every honest run finishes within its limit', async () => {
    const cap = 4
    // the queue bound (read at start): long enough for 18 runs through 4 slots on a loaded host
    process.env.SANDBOX_QUEUE_TIMEOUT = '180'
    try {
      // a 6 s limit: the later runs wait longer than that in the queue, and must still succeed
      await cli<StartOutput>(Start, ['--port', String(port), '--env-file', '/dev/null', '--pool-size', '1', '--max-concurrent', String(cap), '--timeout', '6'])
    } finally {
      delete process.env.SANDBOX_QUEUE_TIMEOUT
    }
    const pid = readState(managerFiles(stateDir))!.pid!
    let sampling = true
    let maxLive = 0
    let samples = 0
    const sampler = (async () => {
      while (sampling) {
        const live = (await mine(pid)).length
        maxLive = Math.max(maxLive, live)
        samples++
      }
    })()
    // each holds 64 MiB (a quarter of the memory limit) for 2 s
    const code =
      'import time\n\ndef main(i):\n    block = bytearray(64 * 1024 * 1024)\n    for j in range(0, len(block), 4096):\n        block[j] = 1\n    time.sleep(2)\n    return i\n'
    const t0 = performance.now()
    let longestWait = 0
    const results = await Promise.all(
      Array.from({length: 18}, (_, i) =>
        run(code, 'python', {i}).then((a) => {
          longestWait = Math.max(longestWait, performance.now() - t0)
          return a.json<{status: string; result: {value: number}; exit_code: number; time_used_ms: number}>()
        }),
      ),
    )
    sampling = false
    await sampler
    const metrics = await call('GET', '/metrics')
    process.stderr.write(
      `[admission] cap ${cap}: max ${maxLive} live containers over ${samples} samples; exit codes ${JSON.stringify(results.map((r) => r.exit_code))}; last answer after ${Math.round(longestWait)} ms; longest run ${Math.max(...results.map((r) => r.time_used_ms))} ms\n`,
    )
    // every honest run finished within its 6 s limit, however long it queued
    expect(results.map((r) => r.status)).toEqual(Array(18).fill('success'))
    for (const r of results) expect(r.time_used_ms).toBeLessThan(6000)
    expect(results.map((r) => r.result.value)).toEqual(Array.from({length: 18}, (_, i) => i))
    expect(samples).toBeGreaterThan(3)
    expect(maxLive).toBeLessThanOrEqual(cap)
    expect(maxLive).toBeGreaterThan(1)
    expect(metrics.text).toMatch(new RegExp(`^sandbox_admission_limit ${cap}$`, 'm'))
    expect(metrics.text).toMatch(/^sandbox_queue_rejected_total\{language="python"\} 0$/m)
    await cli<StopResult>(Stop, [])
  }, 300_000)
})

describe('start failures and clean', () => {
  it('a port in use: start fails with exit code 3 and the log lines that say why', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve))
    try {
      const out = await captureOutput(() => Start.run(startArgs(), config))
      process.exitCode = undefined
      const error = out.error as Error & {oclif?: {exit?: number}; code?: string}
      expect(error?.oclif?.exit).toBe(3)
      expect(error.code).toBe('MANAGER_START_FAILED')
      expect(error.message).toMatch(/already in use/)
      expect(existsSync(managerFiles(stateDir).pidFile)).toBe(false)
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  })

  it('clean removes the state files (stale pid file, log) and reports what it did', async () => {
    const files = managerFiles(stateDir)
    writeFileSync(files.pidFile, '999999999\n')
    const result = await cli<CleanResult>(Clean, [])
    expect(result.stopped).toBeNull()
    expect(result.filesRemoved).toEqual(expect.arrayContaining([files.pidFile, files.logFile]))
    expect(existsSync(files.pidFile)).toBe(false)
    expect(existsSync(files.logFile)).toBe(false)
    expect(result.images).toBeNull()
  })
})
