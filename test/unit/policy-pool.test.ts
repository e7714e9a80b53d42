/**
 * The policy check never blocks the caller's event loop and never fails open (issue 11.3):
 * big programs are inspected in worker threads within a time and size budget. Ordering
 * assertions only (no timing assertions): what must finish first, finishes first.
 */
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'

import {afterAll, afterEach, describe, expect, it} from 'vitest'

import {closePolicyWorkers, DEFAULT_POLICY_BUDGET, formatPolicyIssues, inspectCode, policyBudget, setPolicyBudget, warmUpPolicy} from '../../src/policy/index.js'
import {policyWorkerStats, threadCpuMs} from '../../src/policy/pool.js'

const chunk = 'import json\n\ndef f(x):\n    return json.dumps({"x": x * 2, "s": "a" * 10})\n\n'
const python = (bytes: number, tail = '') => chunk.repeat(Math.ceil(bytes / chunk.length)) + tail
const jsChunk = "function f(x) {\n  return JSON.stringify({ x: x * 2, s: 'a'.repeat(10) })\n}\n"
const javascript = (bytes: number, tail = '') => jsChunk.repeat(Math.ceil(bytes / jsChunk.length)) + tail

afterEach(() => {
  setPolicyBudget({...DEFAULT_POLICY_BUDGET})
})
afterAll(async () => {
  await closePolicyWorkers()
})

describe('policy budget: size', () => {
  it('code over the size budget is refused without being inspected, with a message that says what to do', async () => {
    const before = policyWorkerStats().workers
    const code = python(2_000_000)
    const result = await inspectCode(code, 'python')
    expect(result.safe).toBe(false)
    expect(result.issues).toHaveLength(1)
    expect(result.issues[0].message).toBe(`Policy Budget: the code is ${Buffer.byteLength(code)} bytes; the policy inspects at most ${DEFAULT_POLICY_BUDGET.maxBytes}`)
    expect(formatPolicyIssues(result.issues)).toMatch(/^Line 1: Policy Budget: .*\(the policy check's size budget was exceeded, so the code is refused: .*--policy off/)
    expect(policyWorkerStats().workers).toBe(before)
  })

  it("the size counts UTF-8 bytes, and 'off' still skips the check entirely", async () => {
    setPolicyBudget({maxBytes: 1000})
    expect((await inspectCode('x = "' + 'é'.repeat(600) + '"', 'python')).issues[0].message).toMatch(/^Policy Budget: the code is 1206 bytes/)
    expect(await inspectCode(python(2_000_000), 'python', 'off')).toEqual({safe: true, issues: []})
  })
})

describe('policy budget: time', () => {
  it("reads a thread's CPU time from /proc (the budget counts the worker's CPU, not a busy host's wall clock)", () => {
    const cpu = threadCpuMs(process.pid)
    expect(typeof cpu).toBe('number')
    expect(cpu).toBeGreaterThanOrEqual(0)
    expect(threadCpuMs(2 ** 30)).toBeUndefined()
  })

  it('a check over the time budget is refused, its worker is replaced, and the next check gets a real verdict', async () => {
    setPolicyBudget({timeMs: 20, maxBytes: 4 * 1024 * 1024})
    await warmUpPolicy({workers: true})
    const result = await inspectCode(python(1_000_000, 'import os\n'), 'python')
    expect(result.safe).toBe(false)
    expect(result.issues).toHaveLength(1)
    // 20 ms of the worker's CPU, or (on a host too busy to give it that) the 10x wall-clock backstop
    expect(result.issues[0].message).toMatch(/^Policy Budget: the inspection took more than (0\.02 s of CPU time|0\.2 s)$/)
    expect(result.issues[0].hint).toMatch(/time budget was exceeded, so the code is refused/)

    setPolicyBudget({timeMs: 110_000})
    const next = await inspectCode(python(40_000, 'import os\n'), 'python')
    expect(next.issues.map((issue) => issue.message)).toEqual(['Import: os'])
  })
})

describe('policy workers: off the event loop', () => {
  it('while eight big programs are being checked, the event loop turns, a trivial check and an ordinary one finish first', async () => {
    setPolicyBudget({timeMs: 110_000, maxBytes: 4 * 1024 * 1024})
    await warmUpPolicy({workers: true})
    const order: string[] = []
    const big = Array.from({length: 8}, (_, index) =>
      inspectCode(index % 2 ? python(250_000, 'import os\n') : javascript(250_000, "require('fs')\n"), index % 2 ? 'python' : 'nodejs').then((result) => {
        order.push('big')
        return result
      }),
    )
    const turned = new Promise<void>((resolve) => setImmediate(() => (order.push('event loop'), resolve())))
    const trivial = inspectCode('def main():\n    return 1\n', 'python').then((result) => (order.push('trivial'), result))
    // 40 KB: inspected in a worker, on the one big programs may not take
    const ordinary = inspectCode(python(40_000, 'open("x")\n'), 'python').then((result) => (order.push('ordinary'), result))

    expect(await trivial).toEqual({safe: true, issues: []})
    await turned
    expect((await ordinary).issues.map((issue) => issue.message)).toEqual(['Call: open'])
    const results = await Promise.all(big)
    for (const [index, result] of results.entries()) {
      expect(result.issues.map((issue) => issue.message)).toEqual([index % 2 ? 'Import: os' : 'Require: fs'])
    }
    // the trivial check, the event loop and the ordinary check did not wait for the big ones
    expect(order.indexOf('trivial')).toBeLessThan(order.indexOf('big'))
    expect(order.indexOf('event loop')).toBeLessThan(order.indexOf('big'))
    expect(order.slice(0, order.indexOf('ordinary')).filter((entry) => entry === 'big').length).toBeLessThan(8)
    expect(policyWorkerStats()).toMatchObject({busy: 0, queued: 0})
    expect(policyWorkerStats().workers).toBeLessThanOrEqual(policyBudget().poolSize)
  })

  it('closePolicyWorkers ends them; the next big check starts them again', async () => {
    await warmUpPolicy({workers: true})
    expect(policyWorkerStats().workers).toBe(DEFAULT_POLICY_BUDGET.poolSize)
    await closePolicyWorkers()
    expect(policyWorkerStats().workers).toBe(0)
    expect((await inspectCode(javascript(40_000, 'eval(1)\n'), 'nodejs')).issues.map((issue) => issue.message)).toEqual(['Call: eval'])
  })

  it('a process that used the workers exits by itself (idle workers do not hold it open)', async () => {
    const script = [
      "const {inspectCode} = await import('./src/policy/index.ts')",
      "const code = 'import json\\n'.repeat(5000) + 'import os\\n'",
      "const r = await inspectCode(code, 'python')",
      'console.log(JSON.stringify(r.issues.map((i) => i.message)))',
    ].join('\n')
    const {stdout} = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {timeout: 60_000})
    expect(stdout.trim()).toBe('["Import: os"]')
  })
})

describe('policy budget: waiting', () => {
  it('a big check that no worker takes in time is refused, not left waiting', async () => {
    setPolicyBudget({poolSize: 1, queueMs: 1, maxBytes: 4 * 1024 * 1024, timeMs: 110_000})
    await closePolicyWorkers()
    // one worker, busy with the first program: the second waits, and is refused after queueMs
    const first = inspectCode(python(400_000, 'import os\n'), 'python')
    const second = await inspectCode(python(400_000, 'import os\n'), 'python')
    expect(second.issues.map((issue) => issue.message)).toEqual(['Policy Budget: the check waited more than 0.001 s for a policy worker'])
    expect(second.issues[0].hint).toMatch(/workers are busy/)
    expect((await first).issues.map((issue) => issue.message)).toEqual(['Import: os'])
    await closePolicyWorkers()
  })
})
