/**
 * The preloaded (data-science) pool is filled only with idle capacity: the logic of
 * ContainerBudget's idle-only members with fake runners whose creation the test controls
 * (the real runners: test/integration/preload.test.ts).
 */
import {describe, expect, it} from 'vitest'

import {ContainerBudget} from '../../src/engine/admission.js'
import {RunnerPool} from '../../src/engine/pool.js'
import type {Runner} from '../../src/engine/runner.js'
import {fakeRunner, type FakeRunner} from '../helpers/fake-runner.js'

/** a pool whose creations wait until the test resolves them */
function controlled(budget: ContainerBudget, options: {size: number; idleOnly?: boolean; language?: string}) {
  const pending: Array<(r: Runner) => void> = []
  const made: FakeRunner[] = []
  /** creations abandoned (their signal), which the fake backend rejects as a real one does */
  const abandoned: number[] = []
  const events: string[] = []
  const pool = new RunnerPool({
    language: options.language ?? 'python',
    kind: options.idleOnly ? 'preloaded' : 'plain',
    idleOnly: options.idleOnly,
    size: options.size,
    maxCreating: options.idleOnly ? 1 : 4,
    budget,
    create: (signal) =>
      new Promise<Runner>((resolve, reject) => {
        pending.push(resolve)
        signal.addEventListener('abort', () => {
          pending.splice(pending.indexOf(resolve), 1)
          abandoned.push(abandoned.length + 1)
          reject(new Error('abandoned'))
        })
      }),
    onEvent: (e) => events.push(e.type),
  })
  /** finish the oldest creation in flight */
  const finish = async () => {
    const resolve = pending.shift()
    if (!resolve) throw new Error('no creation in flight')
    const r = fakeRunner(`${options.idleOnly ? 'pre' : 'plain'}-${made.length + 1}`)
    made.push(r)
    resolve(r)
    await settle()
  }
  return {pool, pending, made, finish, abandoned, events}
}

const settle = () => new Promise((r) => setImmediate(r))

/** a budget of two: a Python pool of none, a Node.js pool of one (filled) and a preloaded pool */
async function nodeFilledPythonEmpty() {
  const budget = new ContainerBudget(2)
  const python = controlled(budget, {size: 0})
  const node = controlled(budget, {size: 1, language: 'nodejs'})
  const pre = controlled(budget, {size: 1, idleOnly: true})
  void node.pool.fill()
  await node.finish()
  return {budget, python, node, pre}
}

describe('idle-only (preloaded) pool', () => {
  it('starts creating only once every plain pool is full and nothing runs, one at a time', async () => {
    const budget = new ContainerBudget(8)
    const plain = controlled(budget, {size: 2})
    const pre = controlled(budget, {size: 2, idleOnly: true})
    void plain.pool.fill()
    expect(plain.pending).toHaveLength(2)
    expect(pre.pending, 'no preload while plain runners are being made').toHaveLength(0)
    await plain.finish()
    expect(pre.pending).toHaveLength(0)
    await plain.finish()
    expect(pre.pending, 'idle now: one preload at a time').toHaveLength(1)
    await pre.finish()
    expect(pre.pending).toHaveLength(1)
    await pre.finish()
    expect(pre.pool.stats()).toMatchObject({kind: 'preloaded', ready: 2, creating: 0})
    await Promise.all([plain.pool.close(), pre.pool.close()])
  })

  it('does not start while a run executes or a used runner is being removed, and the plain refill goes first', async () => {
    const budget = new ContainerBudget(8)
    const plain = controlled(budget, {size: 1})
    const pre = controlled(budget, {size: 1, idleOnly: true})
    void plain.pool.fill()
    await plain.finish()
    await pre.finish()
    const used = pre.pool.take()!
    expect(pre.pool.stats()).toMatchObject({busy: 1, served: 1})
    expect(pre.pending, 'a run executes: no preload').toHaveLength(0)
    const a = await plain.pool.acquire(1000)
    expect(plain.pending, 'the plain refill starts at once').toHaveLength(1)
    await plain.pool.release(a)
    await plain.finish()
    expect(pre.pending, 'the preloaded runner still runs its job').toHaveLength(0)
    await pre.pool.release(used)
    await settle()
    expect(pre.pending, 'all quiet again: the preload refills').toHaveLength(1)
    await pre.finish()
    await Promise.all([plain.pool.close(), pre.pool.close()])
  })

  it('never holds a slot a plain refill needs: with the budget full its idle runner is evicted for the refill', async () => {
    const budget = new ContainerBudget(2)
    const plain = controlled(budget, {size: 1})
    const pre = controlled(budget, {size: 1, idleOnly: true})
    void plain.pool.fill()
    await plain.finish()
    await pre.finish()
    expect(budget.stats()).toMatchObject({live: 2, limit: 2})
    // a run takes the plain runner: its refill needs a slot, and the preloaded idle runner gives it
    const a = await plain.pool.acquire(1000)
    await settle()
    expect(pre.made[0].removed).toBe(true)
    expect(plain.pending, 'the plain refill got the slot').toHaveLength(1)
    expect(pre.pending).toHaveLength(0)
    await plain.finish()
    await plain.pool.release(a)
    await settle()
    expect(pre.pending, 'idle again: the preload is made again').toHaveLength(1)
    await pre.finish()
    await Promise.all([plain.pool.close(), pre.pool.close()])
  })

  it('a preload still booting when runs start waiting is abandoned: no failure, its slot goes to them, and it starts again once all is quiet', async () => {
    const budget = new ContainerBudget(2)
    const plain = controlled(budget, {size: 1})
    const pre = controlled(budget, {size: 1, idleOnly: true})
    void plain.pool.fill()
    await plain.finish()
    expect(pre.pending, 'idle: the preload boots').toHaveLength(1)
    // a run takes the warm runner: nothing waits yet, the preload goes on
    const first = await plain.pool.acquire(1000)
    await settle()
    expect(pre.abandoned).toEqual([])
    // a second run has to wait: the preload's creation is abandoned for it
    const second = plain.pool.acquire(5000)
    await settle()
    expect(pre.abandoned).toEqual([1])
    expect(pre.events).toEqual(['abandoned'])
    expect(pre.pool.stats()).toMatchObject({creating: 0, failures: 0, lastError: null})
    expect(plain.pending, 'the waiting run got the slot').toHaveLength(1)
    await plain.finish()
    await plain.pool.release(first)
    await plain.pool.release(await second)
    await settle()
    await plain.finish()
    await settle()
    expect(pre.pending, 'all quiet again: the preload starts again, with no backoff').toHaveLength(1)
    await pre.finish()
    expect(pre.pool.stats()).toMatchObject({ready: 1, failures: 0})
    await Promise.all([plain.pool.close(), pre.pool.close()])
  })

  it('an abandoned preload’s slot counts as on its way back: a full budget evicts nothing else for the waiting run', async () => {
    const {budget, python, node, pre} = await nodeFilledPythonEmpty()
    expect(pre.pending, 'idle: the preload boots').toHaveLength(1)
    expect(budget.stats()).toMatchObject({live: 2, limit: 2})
    const waiting = python.pool.acquire(5000)
    await settle()
    expect(pre.abandoned).toEqual([1])
    expect(node.made[0].removed, 'the idle Node.js runner stays: the abandoned slot serves the run').toBe(false)
    expect(python.pending).toHaveLength(1)
    await python.finish()
    await python.pool.release(await waiting)
    expect(budget.stats().evictions).toBe(0)
    await Promise.all([python.pool.close(), node.pool.close(), pre.pool.close()])
  })

  it('a run that finds a warm runner does not abandon the preload (only waiting does)', async () => {
    const budget = new ContainerBudget(8)
    const plain = controlled(budget, {size: 2})
    const pre = controlled(budget, {size: 1, idleOnly: true})
    void plain.pool.fill()
    await plain.finish()
    await plain.finish()
    expect(pre.pending).toHaveLength(1)
    const a = await plain.pool.acquire(1000)
    await plain.pool.release(a)
    await settle()
    expect(pre.abandoned).toEqual([])
    await pre.finish()
    expect(pre.pool.stats()).toMatchObject({ready: 1})
    await Promise.all([plain.pool.close(), pre.pool.close()])
  })

  it('a waiting run evicts an idle preloaded runner before an idle plain one of another language', async () => {
    const {budget, python, node, pre} = await nodeFilledPythonEmpty()
    await pre.finish()
    expect(budget.stats().live).toBe(2)
    const waiting = python.pool.acquire(5000)
    await settle()
    expect(pre.made[0].removed).toBe(true)
    expect(node.made[0].removed).toBe(false)
    expect(python.pending).toHaveLength(1)
    await python.finish()
    await python.pool.release(await waiting)
    await Promise.all([python.pool.close(), node.pool.close(), pre.pool.close()])
  })
})

describe('routing to preloaded runners (from the parsed imports)', () => {
  it('data-science imports route; comments, strings, look-alikes, relative imports and other languages do not', async () => {
    const {wantsPreloaded} = await import('../../src/engine/preload.js')
    const yes = [
      'import pandas as pd\ndef main():\n    return 1\n',
      'import os, numpy\n',
      'from matplotlib import pyplot as plt\n',
      'import matplotlib.pyplot as plt\n',
      'def main():\n    import numpy as np\n    return np.pi\n',
      'from pandas.api import types\n',
    ]
    const no = [
      'def main():\n    return 1\n',
      '# import pandas\ndef main():\n    return "import numpy"\n',
      'import numpyx\nimport pandas_ta\n',
      'from .pandas import x\n',
      'x = __name__  # matplotlib\n',
    ]
    for (const code of yes) expect(await wantsPreloaded('python', code), code).toBe(true)
    for (const code of no) expect(await wantsPreloaded('python', code), code).toBe(false)
    expect(await wantsPreloaded('nodejs', "const pandas = require('pandas')\n")).toBe(false)
    expect(await wantsPreloaded('python', 'import pandas\n' + ' '.repeat(200_000)), 'too big to parse for routing: plain').toBe(false)
  })
})
