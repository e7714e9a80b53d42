/** What tests check of the runner containers on the real Docker daemon. */
import {existsSync} from 'node:fs'

import {expect} from 'vitest'

import {docker} from '../../src/docker/client.js'
import {listManagedContainers} from '../../src/docker/containers.js'

/** The containers with these labels exist and keep nothing in Docker's log store (log driver none, no json log file). */
export async function expectNoDockerLogs(labels: Record<string, string>): Promise<void> {
  const mine = await listManagedContainers(labels)
  expect(mine.length).toBeGreaterThan(0)
  for (const c of mine) {
    const info = await docker()
      .getContainer(c.id)
      .inspect()
      .catch(() => undefined)
    if (!info) continue
    expect(info.HostConfig.LogConfig?.Type).toBe('none')
    expect(existsSync(`/var/lib/docker/containers/${c.id}/${c.id}-json.log`)).toBe(false)
  }
}
