/** What tests check of the runner containers on the real Docker daemon, and of the sandboxes of either backend. */
import {existsSync, readdirSync} from 'node:fs'
import {hostname} from 'node:os'
import {join} from 'node:path'

import {expect} from 'vitest'

import {runscSandboxesOf, runscStateBase} from '../../src/backends/runsc/index.js'
import {runscFlags} from '../../src/backends/runsc/sandbox.js'
import {docker} from '../../src/docker/client.js'
import {LABELS, listManagedContainers} from '../../src/docker/containers.js'

/**
 * The live sandboxes of a process (its pid on this host), whichever backend made them: its
 * containers (our labels) and its runsc sandboxes (bundles not yet removed, under `stateDir`'s
 * runsc directory; default this process's SANDBOX_STATE_DIR).
 */
export async function sandboxesOfPid(pid: number, stateDir?: string): Promise<string[]> {
  const containers = await listManagedContainers({[LABELS.ownerHost]: hostname(), [LABELS.ownerPid]: String(pid)})
  return [...containers.map((c) => `${c.id.slice(0, 12)} ${c.state}`), ...runscSandboxesOf(pid, stateDir ? join(stateDir, 'runsc') : runscStateBase())]
}

/** The live sandboxes of an engine (its id is their owner), whichever backend made them. */
export async function sandboxesOfOwner(owner: string): Promise<string[]> {
  const bundles = join(runscStateBase(), owner, 'bundles')
  return [...(await listManagedContainers({[LABELS.owner]: owner})).map((c) => c.id), ...(existsSync(bundles) ? readdirSync(bundles) : [])]
}

/**
 * The runner sandboxes keep no logs. docker backend: the containers with these labels exist and
 * keep nothing in Docker's log store. runsc backend: runsc writes logs only when asked (--log,
 * --debug-log); its flags ask for none, and no runsc state directory holds a log file.
 */
export async function expectNoRunnerLogs(backend: string, labels: Record<string, string>): Promise<void> {
  if (backend === 'docker') return expectNoDockerLogs(labels)
  expect(runscFlags('/x').filter((f) => /log/.test(f))).toEqual([])
  const files = existsSync(runscStateBase()) ? readdirSync(runscStateBase(), {recursive: true}).map(String) : []
  expect(files.length).toBeGreaterThan(0)
  expect(files.filter((f) => /\.log$|(^|\/)logs?\//.test(f))).toEqual([])
}

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
