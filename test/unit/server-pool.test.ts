/**
 * Pool behaviour the manager relies on to recover from a daemon outage (logic only):
 * a container creation that never settles (its HTTP call lost with the daemon) must not
 * hold a creation slot for good.
 */
import {describe, expect, it} from 'vitest'

import type {RunnerContainer} from '../../src/docker/containers.js'
import {RunnerPool} from '../../src/engine/pool.js'

function fakeContainer(id: string) {
  const c = {id, removed: false, isUnusable: false, detached: new Promise<void>(() => {}), waitExit: () => new Promise(() => {}), remove: async () => void (c.removed = true)}
  return c
}

describe('RunnerPool creation timeout', () => {
  it('counts a creation that never settles as failed, then refills when the daemon answers again', async () => {
    let hang = true
    let late: ((c: RunnerContainer) => void) | undefined
    const lateContainer = fakeContainer('late')
    const pool = new RunnerPool({
      language: 'python',
      size: 1,
      maxCreating: 1,
      createTimeoutMs: 50,
      create: () => (hang ? new Promise<RunnerContainer>((resolve) => (late = resolve)) : Promise.resolve(fakeContainer('fresh') as unknown as RunnerContainer)),
    })
    await pool.fill()
    expect(pool.stats()).toMatchObject({ready: 0, creating: 0, failures: 1})
    expect(pool.stats().lastError).toMatch(/did not finish within/)
    expect(pool.healthy).toBe(false)

    hang = false
    await expect.poll(() => pool.stats().ready, {timeout: 5000}).toBe(1)
    expect(pool.healthy).toBe(true)
    // the lost creation finally answers: that container is removed, never handed out
    late!(lateContainer as unknown as RunnerContainer)
    await expect.poll(() => lateContainer.removed).toBe(true)
    const c = await pool.acquire(1000)
    expect(c.id).toBe('fresh')
    await pool.close()
  })
})
