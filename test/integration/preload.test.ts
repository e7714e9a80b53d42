/**
 * Runners ready for data science (issue 15 item 2), against the real daemon and gVisor: a job
 * that imports pandas lands on a preloaded runner when one is ready, a trivial job does not,
 * the preloaded pool never holds a slot a plain refill needs, and every run still gets a
 * fresh sandbox with its own random state. Which pool served a run is read from the pools'
 * `served` counters; that a runner was preloaded is also visible inside it (matplotlib.pyplot is
 * imported although the job imports only pandas).
 */
import {afterAll, describe, expect, it, vi} from 'vitest'

import {loadConfig} from '../../src/config.js'
import {Engine} from '../../src/engine/engine.js'
import type {PoolStats} from '../../src/engine/pool.js'
import {sandboxesOfOwner} from '../helpers/containers.js'

const config = {...loadConfig({env: {...process.env, SANDBOX_TIMEOUT: '30s'}}), queueTimeoutSeconds: 120}
const engines: Engine[] = []

afterAll(async () => {
  await Promise.all(engines.map((e) => e.stop()))
})

async function started(options: {maxConcurrentRuns?: number; backend?: string} = {}): Promise<Engine> {
  const engine = new Engine({config, languages: ['python'], poolSize: 1, preloadPoolSize: 1, ...options})
  engines.push(engine)
  await engine.start()
  return engine
}

const pool = (engine: Engine, kind: 'plain' | 'preloaded'): PoolStats => {
  const found = engine.status().pools.find((p) => (p.kind ?? 'plain') === kind)
  if (!found) throw new Error(`no ${kind} pool`)
  return found
}

/** both pools full again (the preloaded one fills only once the plain one is idle) */
const refilled = (engine: Engine) =>
  vi.waitFor(
    () => {
      expect(pool(engine, 'plain').ready).toBe(1)
      expect(pool(engine, 'preloaded').ready).toBe(1)
    },
    {timeout: 120_000, interval: 50},
  )

const PANDAS = `import sys, socket
import pandas as pd
import numpy as np

def main():
    frame = pd.DataFrame({"x": [1, 2, 3]})
    return {"sum": int(frame["x"].sum()), "pyplot": "matplotlib.pyplot" in sys.modules, "host": socket.gethostname(), "draw": float(np.random.random())}
`
const TRIVIAL = 'import sys, socket\ndef main():\n    return {"pandas": "pandas" in sys.modules, "host": socket.gethostname()}\n'

describe('preloaded data-science runners', () => {
  it('a pandas job lands on a preloaded runner, a trivial one on a plain runner; each run a fresh sandbox with its own random state', async () => {
    const engine = await started()
    expect(engine.status().pools.map((p) => p.kind)).toEqual(['plain', 'preloaded'])
    await refilled(engine)

    const first = await engine.run({language: 'python', code: PANDAS})
    expect(first.status, first.stderr).toBe('success')
    expect(first.result?.value).toMatchObject({sum: 6, pyplot: true})
    expect(pool(engine, 'preloaded').served).toBe(1)
    expect(pool(engine, 'plain').served).toBe(0)

    // straight after: the preloaded pool is still being refilled (it waits for idle capacity and then boots
    // for about a second), so the same job runs on a plain runner, as it would without preloading
    const unloaded = await engine.run({language: 'python', code: PANDAS})
    expect(unloaded.status, unloaded.stderr).toBe('success')
    expect(unloaded.result?.value).toMatchObject({sum: 6, pyplot: false})
    expect(pool(engine, 'plain').served).toBe(1)
    expect(pool(engine, 'preloaded').served).toBe(1)

    await refilled(engine)
    const trivial = await engine.run({language: 'python', code: TRIVIAL})
    expect(trivial.status, trivial.stderr).toBe('success')
    expect(trivial.result?.value).toMatchObject({pandas: false})
    expect(pool(engine, 'plain').served).toBe(2)
    expect(pool(engine, 'preloaded').served, 'a trivial job leaves the preloaded runner alone').toBe(1)
    expect(pool(engine, 'preloaded').ready).toBe(1)

    await refilled(engine)
    const second = await engine.run({language: 'python', code: PANDAS})
    expect(second.status, second.stderr).toBe('success')
    expect(pool(engine, 'preloaded').served).toBe(2)
    const [a, b] = [first.result?.value as {host: string; draw: number}, second.result?.value as {host: string; draw: number}]
    expect(a.host, 'a fresh sandbox per run').not.toBe(b.host)
    expect(a.draw, 'no shared random state').not.toBe(b.draw)
  })

  it('never holds a slot a plain refill needs: with the cap full, plain runs keep being served', async () => {
    // the cap fits the plain runner and the preloaded one exactly
    const engine = await started({maxConcurrentRuns: 2})
    await refilled(engine)
    expect(engine.status().admission).toMatchObject({live: 2, limit: 2})
    for (let i = 0; i < 3; i++) {
      const r = await engine.run({language: 'python', code: TRIVIAL})
      expect(r.status, r.stderr).toBe('success')
    }
    // all runs went to plain runners, and the plain pool refills with the cap still full: the
    // preloaded runner gave its slot up (an eviction) whenever a removal was not on its way
    expect(pool(engine, 'plain').served).toBe(3)
    expect(pool(engine, 'preloaded').served).toBe(0)
    await expect.poll(() => pool(engine, 'plain').ready, {timeout: 60_000}).toBe(1)
    expect(engine.status().admission.live).toBeLessThanOrEqual(2)
  })

  it.each(['runsc', 'docker'])(
    'a preload still booting when runs queue is abandoned for them: they are served, nothing fails, nothing of it is left (%s backend)',
    async (backend) => {
      const engine = await started({backend})
      await refilled(engine)
      // the pandas job takes the preloaded runner; once the plain pool is quiet again a new preload boots (~1 s of CPU)
      expect((await engine.run({language: 'python', code: PANDAS})).status).toBe('success')
      await vi.waitFor(() => expect(pool(engine, 'preloaded').creating).toBe(1), {timeout: 60_000, interval: 20})
      // three trivial runs at once on a pool of one: two of them wait, and the preload gives way
      const runs = await Promise.all(Array.from({length: 3}, () => engine.run({language: 'python', code: TRIVIAL})))
      for (const r of runs) expect(r.status, r.stderr).toBe('success')
      expect(pool(engine, 'preloaded')).toMatchObject({abandoned: 1, failures: 0, lastError: null, served: 1})
      // once all is quiet the preload is made again; the abandoned sandbox is gone (one plain and one preloaded remain)
      await refilled(engine)
      expect(await sandboxesOfOwner(engine.id)).toHaveLength(2)
    },
  )
})
