/**
 * Issue 11 "must show" through a started manager: a 150 MB frame attempt is refused as a
 * limit while the manager's RSS stays under 250 MB, and runner containers keep nothing in
 * Docker's log store; a forged frame cannot change the time, memory or field types.
 */
import {readFileSync} from 'node:fs'
import {Agent} from 'node:http'
import {hostname} from 'node:os'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import {LABELS} from '../../src/docker/containers.js'
import {expectNoRunnerLogs} from '../helpers/containers.js'
import {forgedFrameProgram} from '../helpers/forge.js'
import {postRun, runBody, startCliManager, type PrivateState} from '../helpers/manager.js'

let manager: PrivateState & {pid: number}
let pid: number
const agent = new Agent({keepAlive: true, maxSockets: 8})

const run = async (code: string) => (await postRun(manager.port, runBody(code, 'python', {}), {agent})).json()

/** peak and current resident memory of the manager process, KiB */
function memoryOf(p: number): {hwm: number; rss: number} {
  const status = readFileSync(`/proc/${p}/status`, 'utf8')
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1])
  return {hwm: field('VmHWM'), rss: field('VmRSS')}
}

beforeAll(async () => {
  manager = await startCliManager('sandbox-manager-output-', ['--pool-size', '2', '--policy', 'off'])
  pid = manager.pid
})

afterAll(async () => {
  agent.destroy()
  await manager?.close()
})

// user code can learn the runner's nonce (here: the runner's locals), so these probes can write frames
const FLOOD_FRAME =
  'import os, sys\n' +
  'def main():\n' +
  '    os.write(1, sys._getframe(1).f_locals["prefix"].encode())\n' +
  '    chunk = memoryview(b"A" * (1 << 20))\n' +
  '    for i in range(150):\n' +
  '        view = chunk\n' +
  '        while view:\n' +
  '            view = view[os.write(1, view):]\n' +
  '    return 1\n'

const forge = forgedFrameProgram

describe('the manager and what leaves a sandbox', () => {
  it('a 150 MB frame attempt and a 150 MB return are refused as limits; the manager stays under 250 MB', async () => {
    const before = memoryOf(pid)
    const flood = await run(FLOOD_FRAME)
    expect(flood).toMatchObject({status: 'resource_limit_exceeded', resource_limit_type: 'output', exit_code: -25})
    expect(flood.detail).toMatch(/frame limit/)
    const ret = await run('def main():\n    return "x" * (150 * 1024 * 1024)\n')
    expect(ret.status).toBe('resource_limit_exceeded')
    expect(ret.result).toBeNull()
    // two at once
    const both = await Promise.all([run(FLOOD_FRAME), run(FLOOD_FRAME)])
    for (const r of both) expect(r).toMatchObject({status: 'resource_limit_exceeded', resource_limit_type: 'output'})
    const after = memoryOf(pid)
    expect(after.hwm, `manager RSS peak (KiB), ${before.hwm} before`).toBeLessThan(250 * 1024)
  })

  it('runner sandboxes of the manager keep no logs (Docker’s log store, runsc’s log files)', async () => {
    await expectNoRunnerLogs(loadConfig({env: process.env, envFile: '/dev/null'}).backend, {[LABELS.ownerHost]: hostname(), [LABELS.ownerPid]: String(pid)})
  })

  it('a forged frame (nonce known) cannot change time_used_ms, memory_used_kb or the field types', async () => {
    const forged = await run(forge({ok: true, result: 'forged', error: null, artifacts: 'none', notes: [], time_used_ms: 'soon', memory_used_kb: {}}))
    expect(forged).toMatchObject({status: 'program_runner_error', exit_code: -70, result: null, artifacts: []})
    expect(typeof forged.time_used_ms).toBe('number')
    expect(typeof forged.memory_used_kb).toBe('number')
    const wellFormed = await run(forge({ok: true, result: {present: true, value: [1, 2], type: 'json'}, error: null, error_type: null, exit_code: 0, artifacts: [], notes: []}))
    expect(wellFormed).toMatchObject({status: 'success', result: {present: true, value: [1, 2], type: 'json'}, artifacts: []})
    expect(typeof wellFormed.time_used_ms).toBe('number')
    expect(wellFormed.memory_used_kb as number).toBeGreaterThan(1000)
  })
})
