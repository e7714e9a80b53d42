/**
 * Leftovers are decided from facts about the owner process: its pid with its start time and the
 * kernel's boot id (src/owner.ts). With real processes: a predecessor in another pid namespace
 * (`unshare --pid`, as a restarted manager container is), whose pid 1 is init here; a pid of ours
 * that now runs with another start time; a live owner. Real parts: the Docker daemon (containers
 * labelled as such owners label them), runsc owner records and rootfs exports as the runsc
 * backend writes them.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type KeptSandbox, removeRunscLeftovers} from '../../src/backends/runsc/index.js'
import {ensureRootfs, rootfsCacheDir} from '../../src/backends/runsc/rootfs.js'
import {docker} from '../../src/docker/client.js'
import {findLeftovers, LABELS, ownerLabels} from '../../src/docker/containers.js'
import {runProgram} from '../../src/exec.js'
import {type OwnerIdentity, ownIdentity} from '../../src/owner.js'
import {processStartTicks} from '../../src/process.js'
import {orphanVerdict} from '../../src/supervisor/clean.js'

const IMAGE = 'sandbox-base-python:latest'

/** The identity a process in a new pid namespace of this host records (it is pid 1 there). */
async function identityInNewPidNamespace(): Promise<OwnerIdentity> {
  const script = `import {ownIdentity} from ${JSON.stringify(resolve('src/owner.ts'))}; console.log(JSON.stringify(ownIdentity()))`
  const {stdout} = await runProgram('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], {timeoutMs: 60_000})
  return JSON.parse(stdout.trim()) as OwnerIdentity
}

const labelsOf = (o: OwnerIdentity): Record<string, string> => ({
  [LABELS.ownerHost]: o.host,
  [LABELS.ownerPid]: String(o.pid),
  [LABELS.ownerBoot]: o.boot ?? '',
  [LABELS.ownerStart]: o.startTicks === undefined ? '' : String(o.startTicks),
})

describe('leftovers: the owner process decided from its pid, start time and boot', () => {
  /** a manager's predecessor in another pid namespace: pid 1 there, which is init here */
  let predecessor: OwnerIdentity
  /** this test's parent, as if its pid had been reused: another start time */
  let reused: OwnerIdentity
  /** a process that runs for the whole test */
  let live: OwnerIdentity
  let sleeper: ChildProcess
  const created: string[] = []
  let base: string

  beforeAll(async () => {
    predecessor = await identityInNewPidNamespace()
    sleeper = spawn('sleep', ['600'], {stdio: 'ignore'})
    live = {...ownIdentity(), pid: sleeper.pid!, startTicks: processStartTicks(sleeper.pid!)}
    reused = {...ownIdentity(), pid: process.ppid, startTicks: processStartTicks(process.ppid)! + 1}
    base = mkdtempSync(join(tmpdir(), 'sandbox-owner-'))
  }, 90_000)

  afterAll(async () => {
    sleeper?.kill('SIGKILL')
    await Promise.all(
      created.map((id) =>
        docker()
          .getContainer(id)
          .remove({force: true})
          .catch(() => {}),
      ),
    )
    rmSync(base, {recursive: true, force: true})
  })

  it('the facts: the predecessor was pid 1 of this host and boot; pid 1 here is another process', () => {
    expect(predecessor).toMatchObject({host: hostname(), pid: 1, boot: ownIdentity().boot})
    expect(predecessor.startTicks).toBeDefined()
    expect(processStartTicks(1)).not.toBe(predecessor.startTicks)
    expect(live.startTicks).toBeDefined()
  })

  it('engine start (findLeftovers) and clean (orphanVerdict) judge containers by the owner process', async () => {
    const labelled = async (labels: Record<string, string>) => {
      const c = await docker().createContainer({Image: IMAGE, Cmd: ['true'], Labels: {...ownerLabels('python', 'owner-test'), ...labels}})
      created.push(c.id)
      return c.id
    }
    const ofPredecessor = await labelled(labelsOf(predecessor))
    const ofReused = await labelled(labelsOf(reused))
    const ofLive = await labelled(labelsOf(live))
    // an older version's labels (no boot, no start time): pid 1 runs here, so it counts as live
    const legacy = await labelled({...labelsOf(predecessor), [LABELS.ownerBoot]: '', [LABELS.ownerStart]: ''})
    const found = new Set((await findLeftovers()).map((c) => c.id))
    expect(found.has(ofPredecessor)).toBe(true)
    expect(found.has(ofReused)).toBe(true)
    expect(found.has(ofLive)).toBe(false)
    expect(found.has(legacy)).toBe(false)
    const verdict = async (id: string) => orphanVerdict({labels: (await docker().getContainer(id).inspect()).Config.Labels, state: 'created'})
    expect(await verdict(ofPredecessor)).toBeNull()
    expect(await verdict(ofReused)).toBeNull()
    expect(await verdict(ofLive)).toEqual({ownerPid: String(live.pid), reason: 'its sandbox process is still running (use --all)'})
  })

  it('runsc leftovers: records of the predecessor and of a reused pid are removed; a live owner is kept and listed', async () => {
    const owner = (name: string, identity: OwnerIdentity) => {
      const dir = join(base, name)
      mkdirSync(join(dir, 'bundles', `sbx-${name}`), {recursive: true})
      mkdirSync(join(dir, 'state'))
      writeFileSync(join(dir, 'owner.json'), JSON.stringify({owner: name, ...identity}))
      return dir
    }
    const dirs = {predecessor: owner('predecessor', predecessor), reused: owner('reused', reused), live: owner('live', live)}
    const kept: KeptSandbox[] = []
    expect(await removeRunscLeftovers({base, kept})).toBe(2)
    expect(existsSync(dirs.predecessor)).toBe(false)
    expect(existsSync(dirs.reused)).toBe(false)
    expect(existsSync(dirs.live)).toBe(true)
    expect(kept).toEqual([{id: 'sbx-live', ownerPid: String(live.pid), reason: 'its sandbox process is still running (use --all)'}])
  })

  it('runsc leftovers: an owner whose sandbox cannot be deleted keeps its record, and the next removal finishes the job', async () => {
    const id = `sbx-undeletable-${process.pid}`
    const dir = join(base, 'undeletable')
    mkdirSync(join(dir, 'bundles', id), {recursive: true})
    mkdirSync(join(dir, 'bundles', `sbx-deletable-${process.pid}`))
    mkdirSync(join(dir, 'state'))
    writeFileSync(join(dir, 'owner.json'), JSON.stringify({owner: 'undeletable', ...predecessor}))
    // a memory group with a live process in it cannot be removed: the sandbox is not gone
    const group = `/sys/fs/cgroup/memory/sandbox-runsc/${id}`
    mkdirSync(group, {recursive: true})
    const holder = spawn('sleep', ['600'], {stdio: 'ignore'})
    try {
      writeFileSync(join(group, 'cgroup.procs'), String(holder.pid))
      expect(await removeRunscLeftovers({base})).toBe(1)
      expect(existsSync(join(dir, 'owner.json'))).toBe(true)
      expect(existsSync(join(dir, 'bundles', id))).toBe(true)
      expect(existsSync(join(dir, 'bundles', `sbx-deletable-${process.pid}`))).toBe(false)
    } finally {
      holder.kill('SIGKILL')
      await new Promise((done) => (holder.exitCode === null && holder.signalCode === null ? holder.once('exit', done) : done(undefined)))
    }
    expect(await removeRunscLeftovers({base})).toBe(1)
    expect(existsSync(dir)).toBe(false)
    expect(existsSync(group)).toBe(false)
  })

  it('an older rootfs export is kept while a live process uses it, not for a predecessor that is gone', async () => {
    const stale = join(rootfsCacheDir(), 'older-export-owner-test')
    mkdirSync(join(stale, 'rootfs'), {recursive: true})
    mkdirSync(join(stale, 'users'))
    writeFileSync(join(stale, 'meta.json'), JSON.stringify({image: IMAGE, id: 'sha256:older-owner-test', inputHash: null, env: [], exportedAt: '2020-01-01T00:00:00Z'}))
    const user = (o: OwnerIdentity) => join(stale, 'users', `${o.host}-${o.pid}`)
    try {
      writeFileSync(user(live), JSON.stringify(live))
      await ensureRootfs(IMAGE)
      expect(existsSync(stale)).toBe(true)
      rmSync(user(live))
      writeFileSync(user(predecessor), JSON.stringify(predecessor))
      await ensureRootfs(IMAGE)
      expect(existsSync(stale)).toBe(false)
    } finally {
      rmSync(stale, {recursive: true, force: true})
    }
  })
})
