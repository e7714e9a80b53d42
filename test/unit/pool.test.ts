import {describe, expect, it} from 'vitest'

import {PoolBusyError, RunnerPool} from '../../src/engine/pool.js'
import type {Runner} from '../../src/engine/runner.js'
import {chooseRuntime} from '../../src/engine/runtime.js'
import {fakeRunner as fakeContainer} from '../helpers/fake-runner.js'

function deferred<T>() {
  let resolve!: (v: T) => void
  let reject!: (e: Error) => void
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)))
  return {promise, resolve, reject}
}

describe('RunnerPool', () => {
  it('fills to its size, hands out each container once, and replaces used ones', async () => {
    let n = 0
    const made: ReturnType<typeof fakeContainer>[] = []
    const pool = new RunnerPool({
      language: 'python',
      size: 2,
      create: async () => {
        const c = fakeContainer(++n)
        made.push(c)
        return c
      },
    })
    await pool.fill()
    expect(pool.stats()).toMatchObject({ready: 2, creating: 0})
    const a = await pool.acquire(1000)
    const b = await pool.acquire(1000)
    expect(a).not.toBe(b)
    await pool.release(a)
    expect(made[0].removed).toBe(true)
    await pool.close()
  })

  it('a refill never runs inside a warm run: not while another runner is ready, and after release() has returned', async () => {
    let creations = 0
    const pool = new RunnerPool({language: 'python', size: 2, create: async () => fakeContainer(`c${++creations}`)})
    await pool.fill()
    expect(creations).toBe(2)
    // another runner is still ready: taking this one starts no creation
    const a = pool.take()!
    expect(creations).toBe(2)
    // the run ends: the refill starts once the caller has its answer, not inside release()
    void pool.release(a)
    expect(creations).toBe(2)
    await new Promise((r) => setImmediate(r))
    expect(creations).toBe(3)
    // the last ready runner taken: the refill starts at once, for whoever comes next
    pool.take()
    pool.take()
    expect(creations).toBeGreaterThanOrEqual(4)
    await pool.close()
  })

  it('serves waiters in FIFO order', async () => {
    const pending: Array<ReturnType<typeof deferred<Runner>>> = []
    const pool = new RunnerPool({
      language: 'python',
      size: 0,
      maxCreating: 2,
      create: () => {
        const d = deferred<Runner>()
        pending.push(d)
        return d.promise
      },
    })
    const order: string[] = []
    const first = pool.acquire(5000).then((c) => order.push(`first:${c.id}`))
    const second = pool.acquire(5000).then((c) => order.push(`second:${c.id}`))
    expect(pending).toHaveLength(2)
    pending[1].resolve(fakeContainer(1))
    pending[0].resolve(fakeContainer(2))
    await Promise.all([first, second])
    expect(order).toEqual(['first:1', 'second:2'])
    await pool.close()
  })

  it('a waiter gives up after the bounded wait with "Container pool is busy"', async () => {
    const pool = new RunnerPool({language: 'python', size: 0, create: () => new Promise(() => {})})
    await expect(pool.acquire(20)).rejects.toThrow('Container pool is busy')
    await pool.close()
  })

  it('creation failures reject waiters at once with the reason, and are reported as unhealthy', async () => {
    const pool = new RunnerPool({
      language: 'nodejs',
      size: 1,
      create: async () => {
        throw new Error('No such image: sandbox-base-nodejs:latest')
      },
    })
    const waiting = pool.acquire(60_000)
    await expect(waiting).rejects.toBeInstanceOf(PoolBusyError)
    await expect(pool.acquire(60_000)).rejects.toThrow(/No such image/)
    expect(pool.healthy).toBe(false)
    expect(pool.stats().lastError).toMatch(/No such image/)
    await pool.close()
  })

  it('drops a ready container that dies on its own', async () => {
    const made: ReturnType<typeof fakeContainer>[] = []
    const pool = new RunnerPool({
      language: 'python',
      size: 1,
      create: async () => {
        const c = fakeContainer(made.length + 1)
        made.push(c)
        return c
      },
    })
    await pool.fill()
    made[0].die()
    await new Promise((r) => setImmediate(r))
    expect(made[0].removed).toBe(true)
    expect(made.length).toBe(2)
    await pool.close()
  })

  it('after close, drained() waits for a creation in flight and the removal of what it produced', async () => {
    const pending = deferred<Runner>()
    const removal = deferred<void>()
    const late = {...fakeContainer(1), remove: () => removal.promise}
    const pool = new RunnerPool({language: 'python', size: 0, create: () => pending.promise})
    const waiter = pool.acquire(5000).catch((e: Error) => e)
    await pool.close()
    expect(await waiter).toBeInstanceOf(PoolBusyError)
    let drained = false
    const done = pool.drained().then(() => (drained = true))
    pending.resolve(late)
    await new Promise((r) => setImmediate(r))
    expect(drained, 'still removing the late container').toBe(false)
    removal.resolve()
    await done
    expect(drained).toBe(true)
  })
})

describe('runtime choice', () => {
  it('prefers runsc, refuses without it, uses runc only when allowed', () => {
    expect(chooseRuntime(['runc', 'runsc'], {allowRunc: false})).toBe('runsc')
    expect(() => chooseRuntime(['runc'], {allowRunc: false})).toThrow(/refusing to run untrusted code/)
    expect(chooseRuntime(['runc'], {allowRunc: true})).toBe('runc')
    expect(chooseRuntime(['runc', 'runsc'], {allowRunc: false, forced: 'runc'})).toBe('runc')
  })
})
