/**
 * Pool behaviour the manager relies on to recover from a daemon outage (logic only):
 * a container creation that never settles (its HTTP call lost with the daemon) must not
 * hold a creation slot for good.
 */
import {describe, expect, it} from 'vitest'

import type {Runner} from '../../src/engine/runner.js'
import {fakeRunner} from '../helpers/fake-runner.js'
import {ContainerBudget, defaultMaxConcurrentRuns} from '../../src/engine/admission.js'
import {PoolBusyError, RunnerPool} from '../../src/engine/pool.js'

const fakeContainer = (id: string) => fakeRunner(id)

describe('RunnerPool creation timeout', () => {
  it('counts a creation that never settles as failed, then refills when the daemon answers again', async () => {
    let hang = true
    let late: ((c: Runner) => void) | undefined
    let signal: AbortSignal | undefined
    const lateContainer = fakeContainer('late')
    const pool = new RunnerPool({
      language: 'python',
      size: 1,
      maxCreating: 1,
      createTimeoutMs: 50,
      create: (s) => {
        if (!hang) return Promise.resolve(fakeContainer('fresh'))
        signal = s
        return new Promise<Runner>((resolve) => (late = resolve))
      },
    })
    await pool.fill()
    expect(pool.stats()).toMatchObject({ready: 0, creating: 0, failures: 1, abandoned: 0})
    expect(pool.stats().lastError).toMatch(/did not finish within/)
    expect(pool.healthy).toBe(false)
    // the backend is told to stop that boot (it kills and removes the sandbox), and it is still a failure
    expect(signal?.aborted).toBe(true)

    hang = false
    await expect.poll(() => pool.stats().ready, {timeout: 5000}).toBe(1)
    expect(pool.healthy).toBe(true)
    // the lost creation finally answers: that container is removed, never handed out
    late!(lateContainer)
    await expect.poll(() => lateContainer.removed).toBe(true)
    const c = await pool.acquire(1000)
    expect(c.id).toBe('fresh')
    await pool.close()
  })
})

// ------------------------------------------------------------------ admission control

/**
 * A fake Docker: counts containers that exist (from the start of their creation until their
 * removal has finished), the way `docker ps -a` of the manager's label would see them.
 */
function fakeDocker(options: {manualRemoval?: boolean} = {}) {
  const d = {
    live: 0,
    maxLive: 0,
    made: 0,
    removals: [] as Array<() => void>,
    create: async (): Promise<Runner> => {
      d.live++
      d.maxLive = Math.max(d.maxLive, d.live)
      const id = `c${++d.made}`
      await new Promise((r) => setImmediate(r))
      const gone = () =>
        new Promise<void>((resolve) => {
          const finish = () => {
            d.live--
            resolve()
          }
          if (options.manualRemoval) d.removals.push(finish)
          else setImmediate(finish)
        })
      return fakeRunner(id, {gone})
    },
    /** finish every removal in progress */
    finishRemovals: () => {
      for (const f of d.removals.splice(0)) f()
    },
  }
  return d
}

const tick = () => new Promise((r) => setImmediate(r))

describe('admission control: one container budget for every pool', () => {
  it('warm pools of both languages share the cap, one language at a time in turn', async () => {
    const docker = fakeDocker()
    const budget = new ContainerBudget(3)
    const py = new RunnerPool({language: 'python', size: 2, budget, create: docker.create})
    const js = new RunnerPool({language: 'nodejs', size: 2, budget, create: docker.create})
    await Promise.all([py.fill(), js.fill()])
    await tick()
    expect(py.stats().ready + js.stats().ready).toBe(3)
    expect(py.stats().ready).toBeGreaterThanOrEqual(1)
    expect(js.stats().ready).toBeGreaterThanOrEqual(1)
    expect(budget.stats()).toMatchObject({limit: 3, live: 3})
    expect(docker.maxLive).toBe(3)
    await Promise.all([py.close(), js.close()])
    expect(budget.stats().live).toBe(0)
  })

  it('18 runs at once never make more containers exist than the cap, counting idle, busy, starting and being removed', async () => {
    const docker = fakeDocker()
    const budget = new ContainerBudget(4)
    const py = new RunnerPool({language: 'python', size: 2, budget, create: docker.create})
    const js = new RunnerPool({language: 'nodejs', size: 2, budget, create: docker.create})
    await Promise.all([py.fill(), js.fill()])
    let executing = 0
    let maxExecuting = 0
    const runs = Array.from({length: 18}, async (_, i) => {
      const pool = i % 3 === 0 ? js : py
      const c = await pool.acquire(60_000)
      executing++
      maxExecuting = Math.max(maxExecuting, executing)
      await tick()
      await tick()
      executing--
      await pool.release(c)
    })
    await Promise.all(runs)
    expect(docker.maxLive).toBeLessThanOrEqual(4)
    expect(maxExecuting).toBeLessThanOrEqual(4)
    expect(maxExecuting).toBeGreaterThan(1)
    await Promise.all([py.close(), js.close()])
    await tick()
    expect(docker.live).toBe(0)
  })

  it('a finished run frees its slot only when its container has been removed', async () => {
    const docker = fakeDocker({manualRemoval: true})
    const budget = new ContainerBudget(1)
    const pool = new RunnerPool({language: 'python', size: 0, budget, create: docker.create})
    const first = await pool.acquire(60_000)
    const second = pool.acquire(60_000)
    let gotSecond = false
    void second.then(() => (gotSecond = true))
    void pool.release(first)
    await tick()
    await tick()
    // the first container is still being removed: the second run waits, nothing new is created
    expect(gotSecond).toBe(false)
    expect(docker.made).toBe(1)
    expect(budget.stats().live).toBe(1)
    docker.finishRemovals()
    const c = await second
    expect(docker.made).toBe(2)
    expect(docker.maxLive).toBe(1)
    void pool.release(c)
    docker.finishRemovals()
    await pool.close()
  })

  it("a waiting run takes the room of another language's idle warm container", async () => {
    const docker = fakeDocker()
    const budget = new ContainerBudget(2)
    const py = new RunnerPool({language: 'python', size: 0, budget, create: docker.create})
    const js = new RunnerPool({language: 'nodejs', size: 2, budget, create: docker.create})
    await js.fill()
    expect(js.stats().ready).toBe(2)
    const a = await py.acquire(60_000)
    expect(budget.stats().evictions).toBe(1)
    expect(js.stats().ready).toBe(1)
    expect(docker.maxLive).toBe(2)
    await py.release(a)
    await Promise.all([py.close(), js.close()])
  })

  it('while runs of one language wait, another language does not refill what was evicted for them; it refills once they are served', async () => {
    const docker = fakeDocker()
    const budget = new ContainerBudget(3)
    // Python's creations finish when the test says so, one at a time
    const pending: Array<() => void> = []
    const py = new RunnerPool({
      language: 'python',
      size: 0,
      maxCreating: 1,
      budget,
      create: () => new Promise<Runner>((resolve) => pending.push(() => void docker.create().then(resolve))),
    })
    const jsStarts: number[] = []
    const js = new RunnerPool({language: 'nodejs', size: 2, budget, create: () => (jsStarts.push(py.stats().waiting), docker.create())})
    await js.fill()
    expect(js.stats().ready).toBe(2)
    const first = py.acquire(60_000)
    const second = py.acquire(60_000)
    pending.shift()!()
    const a = await first
    // the second run takes the room of an idle nodejs container, and waits for its own creation
    await expect.poll(() => budget.stats().evictions).toBe(1)
    await expect.poll(() => pending.length).toBe(1)
    // the first run ends: its slot is free, but a Python run still waits, so nodejs does not refill
    await py.release(a)
    await tick()
    expect(js.stats()).toMatchObject({ready: 1, creating: 0})
    expect(jsStarts).toEqual([0, 0])
    pending.shift()!()
    await py.release(await second)
    // nothing waits any more: nodejs's warm pool refills
    await expect.poll(() => js.stats().ready).toBe(2)
    expect(jsStarts).toEqual([0, 0, 0])
    await Promise.all([py.close(), js.close()])
  })

  it('a language whose creations failed still refills while another language waits, so it recovers', async () => {
    const docker = fakeDocker()
    const budget = new ContainerBudget(3)
    // Python's one creation never finishes: a Python run waits throughout
    const py = new RunnerPool({language: 'python', size: 0, maxCreating: 1, budget, create: () => new Promise<Runner>(() => {})})
    let jsFails = 1
    const js = new RunnerPool({
      language: 'nodejs',
      size: 1,
      budget,
      create: () => (jsFails-- > 0 ? Promise.reject(new Error('daemon away')) : docker.create()),
    })
    await js.fill()
    expect(js.healthy).toBe(false)
    void py.acquire(60_000).catch(() => {})
    expect(py.stats().waiting).toBe(1)
    // after its backoff nodejs tries again, although a Python run waits, and serves again
    await expect.poll(() => js.stats().ready, {timeout: 5000}).toBe(1)
    expect(js.healthy).toBe(true)
    await js.close()
    void py.close()
  })

  it('no idle warm container is evicted for a run that a container being removed will serve', async () => {
    const docker = fakeDocker({manualRemoval: true})
    const budget = new ContainerBudget(2)
    const py = new RunnerPool({language: 'python', size: 0, budget, create: docker.create})
    const js = new RunnerPool({language: 'nodejs', size: 1, budget, create: docker.create})
    await js.fill()
    const first = await py.acquire(60_000)
    void py.release(first)
    const second = py.acquire(60_000)
    await tick()
    expect(budget.stats().evictions).toBe(0)
    expect(js.stats().ready).toBe(1)
    docker.finishRemovals()
    void py.release(await second)
    docker.finishRemovals()
    expect(budget.stats().evictions).toBe(0)
    const closing = Promise.all([py.close(), js.close()])
    docker.finishRemovals()
    await closing
  })

  it('waiting runs are served oldest first across languages', async () => {
    const docker = fakeDocker({manualRemoval: true})
    const budget = new ContainerBudget(1)
    const py = new RunnerPool({language: 'python', size: 0, budget, create: docker.create})
    const js = new RunnerPool({language: 'nodejs', size: 0, budget, create: docker.create})
    const order: string[] = []
    const held = await py.acquire(60_000)
    const w1 = js.acquire(60_000).then((c) => (order.push('nodejs'), c))
    const w2 = py.acquire(60_000).then((c) => (order.push('python'), c))
    void py.release(held)
    docker.finishRemovals()
    const c1 = await w1
    void js.release(c1)
    docker.finishRemovals()
    const c2 = await w2
    expect(order).toEqual(['nodejs', 'python'])
    void py.release(c2)
    docker.finishRemovals()
    await Promise.all([py.close(), js.close()])
  })

  it('over the queue bound a run is refused (-10 path) and counted as rejected', async () => {
    const docker = fakeDocker({manualRemoval: true})
    const budget = new ContainerBudget(1)
    const pool = new RunnerPool({language: 'python', size: 0, budget, create: docker.create})
    const held = await pool.acquire(60_000)
    await expect(pool.acquire(10)).rejects.toBeInstanceOf(PoolBusyError)
    expect(pool.stats()).toMatchObject({rejected: 1, waiting: 0, busy: 1})
    void pool.release(held)
    docker.finishRemovals()
    await pool.close()
  })

  it('default cap: min(4 x cores, half the memory / the memory limit), at least 1', () => {
    const g = 1024 ** 3
    expect(defaultMaxConcurrentRuns(256 * 1024 ** 2, {cores: 2, memoryBytes: 24 * g})).toBe(8)
    expect(defaultMaxConcurrentRuns(1 * g, {cores: 16, memoryBytes: 8 * g})).toBe(4)
    expect(defaultMaxConcurrentRuns(4 * g, {cores: 2, memoryBytes: 4 * g})).toBe(1)
    expect(() => new ContainerBudget(0)).toThrow(RangeError)
  })
})
