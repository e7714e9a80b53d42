/**
 * The runsc backend: gVisor without Docker. Each runner is `runsc run` of a per-run OCI bundle
 * (spec.ts: the docker backend's isolation, one for one) on the image's root filesystem,
 * exported once per image id and shared read-only (rootfs.ts). No dockerd, containerd or shim
 * per sandbox; Docker is needed only to build images and to export a rootfs.
 *
 * Ownership: every engine (owner) has a directory <state>/runsc/<owner>/ with owner.json (pid,
 * host), runsc's --root (state/) and the bundles; the specs carry the same annotations as the
 * docker backend's labels. Leftovers of an owner whose process is gone are deleted at engine
 * start and by `sandbox clean`.
 */
import {randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {isDaemonDown} from '../../docker/client.js'
import {ownerLabels} from '../../docker/containers.js'
import {imageStatus} from '../../docker/images.js'
import {imageOf} from '../../engine/languages.js'
import {abandonedCreation, throwIfAbandoned, type BackendFacts, type PreflightRequest, type Runner, type RunnerBackend, type RunnerRequest} from '../../engine/runner.js'
import {untilReady} from '../../engine/runner-stdio.js'
import {configError, errorMessage, prerequisiteError} from '../../errors.js'
import {stateDir} from '../../paths.js'
import {isOwnedByPid, ownerState, ownIdentity} from '../../owner.js'
import {requireImagesReady} from '../docker/index.js'
import {cgroupPathOf, createMemoryCgroup, removeMemoryCgroup, removeRunscCgroups, runscCgroupGroups} from './cgroup.js'
import {findRunsc, runscProblems} from './host.js'
import {ensureRootfs, type Rootfs} from './rootfs.js'
import {deleteSandbox, RUNNER_EXITS_AFTER_REPORT, RunscSandbox, stateFileOf} from './sandbox.js'
import {buildSpec} from './spec.js'

/** how long a runner may take to boot */
const READY_TIMEOUT_MS = 30_000
/** how often a creation checks that its image's export is still the image's (a daemon request, in the background) */
const IMAGE_CHECK_MS = 10_000

export interface OwnerRecord {
  owner: string
  pid: number
  host: string
  /** the kernel boot id and the process's start time (src/owner.ts); absent in records of older versions */
  boot?: string
  startTicks?: number
}

/** Where the runsc backend keeps each owner's state: $SANDBOX_STATE_DIR/runsc */
export const runscStateBase = (): string => join(stateDir(), 'runsc')

/** The owners recorded under `base`, with their directories. */
function owners(base: string): Array<{dir: string; record: OwnerRecord | undefined}> {
  if (!existsSync(base)) return []
  // a hidden name is an owner's directory being made (ownerDir)
  return readdirSync(base)
    .filter((name) => !name.startsWith('.'))
    .map((name) => {
      const dir = join(base, name)
      try {
        return {dir, record: JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')) as OwnerRecord}
      } catch {
        return {dir, record: undefined}
      }
    })
}

/** The ids of the sandboxes recorded in an owner's directory (their bundles); none once it has gone. */
function bundlesOf(dir: string): string[] {
  try {
    return readdirSync(join(dir, 'bundles'))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
}

/**
 * Delete every sandbox recorded in an owner's directory; how many went. The directory (its record
 * and the rest of its bundles) stays while any of them could not be deleted, so that the next
 * engine start or `sandbox clean` tries again: a sandbox whose record is gone is found by nothing.
 */
async function removeOwnerDir(runsc: string | undefined, dir: string): Promise<number> {
  const root = join(dir, 'state')
  const deleted = await Promise.all(
    bundlesOf(dir).map(async (id) => {
      // without runsc a sandbox that runsc still knows cannot be deleted
      const gone = runsc ? await deleteSandbox(runsc, root, id).catch(() => false) : !existsSync(stateFileOf(root, id)) && removeMemoryCgroup(id)
      if (gone) rmSync(join(dir, 'bundles', id), {recursive: true, force: true})
      return gone
    }),
  )
  if (deleted.every(Boolean)) rmSync(dir, {recursive: true, force: true})
  return deleted.filter(Boolean).length
}

/** The ids of the runsc sandboxes of the owners with this pid on this host that are not removed yet (their bundles). */
export function runscSandboxesOf(pid: number, base = runscStateBase()): string[] {
  return owners(base)
    .filter(({record}) => record && isOwnedByPid(record, pid))
    .flatMap(({dir}) => bundlesOf(dir))
}

/** a sandbox or container left in place, and why (what `sandbox clean` lists) */
export interface KeptSandbox {
  id: string
  ownerPid: string
  reason: string
}

/**
 * Sandboxes of runsc owners that are gone (a process of this host that has ended, see
 * src/owner.ts; with `ownProcess`, also this process), deleted with their state. Used at engine
 * start and by `sandbox clean` (`all`: every owner's, live or not). Returns how many sandboxes
 * were removed; those of live owners and of other hosts (other than `keep`, the caller's own) are
 * added to `kept`, with the reason.
 */
export async function removeRunscLeftovers(options: {ownProcess?: boolean; all?: boolean; base?: string; keep?: Set<string>; kept?: KeptSandbox[]} = {}): Promise<number> {
  const self = ownIdentity()
  const runsc = findRunsc()
  let removed = 0
  for (const {dir, record} of owners(options.base ?? runscStateBase())) {
    if (options.keep?.has(record?.owner ?? '')) continue
    if (!options.all && record) {
      const state = ownerState(record, {self})
      const reason =
        state === 'elsewhere'
          ? `its owner runs on host ${record.host} (use --all)`
          : state === 'live' || (state === 'self' && options.ownProcess !== true)
            ? 'its sandbox process is still running (use --all)'
            : undefined
      if (reason) {
        options.kept?.push(...bundlesOf(dir).map((id) => ({id, ownerPid: String(record.pid), reason})))
        continue
      }
    }
    removed += await removeOwnerDir(runsc, dir)
  }
  return removed
}

/**
 * How long runsc's groups of a sandbox may stay without a bundle that names it before they are
 * leftovers. A bundle is written before its sandbox's groups exist and goes only once they are
 * gone (deleteSandbox), so such groups were left by something that ended in between (older
 * versions gave up on busy groups after a kill, and nothing found them again). The grace covers
 * sandboxes of other state directories (SANDBOX_STATE_DIR), whose bundles are not seen here: their
 * groups hold their processes (a group with processes cannot be removed) except for the moments
 * in which runsc makes and removes them.
 */
const ORPHAN_GROUPS_GRACE_MS = 60_000

/**
 * runsc's cgroups (cpu, pids, …) of sandboxes that no bundle under `base` names, empty and older
 * than the grace, removed; how many sandboxes' groups went. At engine start and by `sandbox clean`.
 * Throws, removing nothing, when the records cannot be read.
 */
export function removeOrphanCgroups(options: {base?: string; root?: string; now?: number} = {}): number {
  const named = new Set(owners(options.base ?? runscStateBase()).flatMap(({dir}) => bundlesOf(dir)))
  const now = options.now ?? Date.now()
  let removed = 0
  for (const [id, changed] of runscCgroupGroups(options.root)) {
    if (named.has(id) || now - changed < ORPHAN_GROUPS_GRACE_MS) continue
    if (removeRunscCgroups(id, options.root)) removed++
  }
  return removed
}

export class RunscBackend implements RunnerBackend {
  readonly id = 'runsc'
  private runsc: string | undefined
  private readonly rootfs = new Map<string, Rootfs>()
  /** when each image's export was last checked against the image */
  private readonly checkedAt = new Map<string, number>()
  /** live sandboxes by owner */
  private readonly live = new Map<string, Set<RunscSandbox>>()

  async preflight(request: PreflightRequest): Promise<BackendFacts> {
    const {config} = request
    if (request.isolation === 'runc')
      throw configError('The runsc backend always isolates with gVisor: running without it (runc) needs the docker backend', 'RUNSC_NO_RUNC', [
        'use SANDBOX_BACKEND=docker with --allow-runc',
      ])
    const [problem] = runscProblems()
    if (problem) throw prerequisiteError(problem.message, problem.code, problem.suggestions)
    this.runsc = findRunsc()
    // images are checked like the docker backend's when the daemon answers; without it, the exports serve
    try {
      requireImagesReady(await imageStatus(config, request.runtimes), request.allowStaleImages)
    } catch (error) {
      if (!isDaemonDown(error)) throw error
    }
    const warnings: string[] = []
    for (const runtime of request.runtimes) {
      const image = imageOf(config, runtime)
      const rootfs = await ensureRootfs(image)
      this.rootfs.set(image, rootfs)
      this.checkedAt.set(image, Date.now())
      if (rootfs.exported) warnings.push(`exported the root filesystem of ${image} for the runsc backend (once per image build)`)
    }
    return {isolation: 'runsc', warnings}
  }

  private ownerDir(owner: string): string {
    const dir = join(runscStateBase(), owner)
    if (!existsSync(join(dir, 'owner.json'))) {
      // made whole under a hidden name, then renamed: an owner's directory never lacks its record,
      // which would make it a leftover to a `sandbox clean` or an engine start running meanwhile
      const draft = join(runscStateBase(), `.${owner}.${randomBytes(4).toString('hex')}`)
      mkdirSync(join(draft, 'state'), {recursive: true})
      mkdirSync(join(draft, 'bundles'), {recursive: true})
      const record: OwnerRecord = {owner, ...ownIdentity()}
      writeFileSync(join(draft, 'owner.json'), JSON.stringify(record) + '\n')
      try {
        renameSync(draft, dir)
      } catch (error) {
        rmSync(draft, {recursive: true, force: true})
        if (!existsSync(join(dir, 'owner.json'))) throw error
      }
    }
    return dir
  }

  async createRunner(request: RunnerRequest): Promise<Runner> {
    const runsc = this.runsc
    if (!runsc) throw new Error('the runsc backend has not been preflighted')
    if ((request.network ?? 'none') !== 'none')
      throw configError(`The runsc backend gives sandboxes no network (asked for "${request.network}")`, 'RUNSC_NETWORK', ['use the docker backend'])
    const rootfs = await this.rootfsOf(request.image)
    throwIfAbandoned(request.signal)
    const id = `sbx-${randomBytes(8).toString('hex')}`
    const dir = this.ownerDir(request.owner)
    const bundle = join(dir, 'bundles', id)
    mkdirSync(bundle, {recursive: true})
    const spec = buildSpec({
      rootfs: rootfs.path,
      args: request.command,
      imageEnv: rootfs.env,
      env: [...request.env, RUNNER_EXITS_AFTER_REPORT],
      memoryBytes: request.memoryBytes,
      cgroupsPath: cgroupPathOf(id),
      // the shape of Docker's (a container's short id: 12 hex digits), from the sandbox's own id
      hostname: id.slice('sbx-'.length, 'sbx-'.length + 12),
      annotations: ownerLabels(request.runtime, request.owner),
    })
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec))
    createMemoryCgroup(id, request.memoryBytes)
    const mine = this.live.get(request.owner) ?? new Set<RunscSandbox>()
    this.live.set(request.owner, mine)
    const sandbox: RunscSandbox = new RunscSandbox(id, {runsc, root: join(dir, 'state'), bundle}, () => mine.delete(sandbox))
    mine.add(sandbox)
    // abandoned while it boots: the kill ends its readiness wait, and it is removed below
    const abandon = () => void sandbox.kill()
    request.signal?.addEventListener('abort', abandon, {once: true})
    try {
      // ready = the runner booted and blocks on stdin; a runner (or runsc) that exits first explains why
      await untilReady(sandbox.output, sandbox.waitExit(), READY_TIMEOUT_MS)
      throwIfAbandoned(request.signal)
      return sandbox
    } catch (error) {
      await sandbox.remove().catch(() => {})
      throw request.signal?.aborted ? abandonedCreation() : error
    } finally {
      request.signal?.removeEventListener('abort', abandon)
    }
  }

  /**
   * The export new sandboxes of `image` boot from. Checked against the image at most every
   * IMAGE_CHECK_MS, off the creation's path: a rebuilt image is exported and used from then on, as
   * the docker backend's containers follow the image's name; an export removed (`sandbox clean
   * --images --all`, or by hand) is exported again before the next creation.
   */
  private async rootfsOf(image: string): Promise<Rootfs> {
    const cached = this.rootfs.get(image)
    if (cached && existsSync(cached.path)) {
      const now = Date.now()
      if (now - (this.checkedAt.get(image) ?? 0) >= IMAGE_CHECK_MS) {
        this.checkedAt.set(image, now)
        void ensureRootfs(image)
          .then((current) => this.rootfs.set(image, current))
          .catch(() => {})
      }
      return cached
    }
    const current = await ensureRootfs(image)
    this.rootfs.set(image, current)
    this.checkedAt.set(image, Date.now())
    return current
  }

  async removeLeftovers(options: {ownProcess?: boolean} = {}): Promise<number> {
    // owners this backend still serves are never leftovers
    const removed = await removeRunscLeftovers({ownProcess: options.ownProcess, keep: new Set(this.live.keys())})
    try {
      removeOrphanCgroups()
    } catch {
      // housekeeping: a sweep that cannot read the records removes nothing and never stops a start
    }
    return removed
  }

  async removeOwned(owner: string): Promise<void> {
    const mine = [...(this.live.get(owner) ?? [])]
    await Promise.all(mine.map((s) => s.remove().catch(() => {})))
    this.live.delete(owner)
    const dir = join(runscStateBase(), owner)
    try {
      await removeOwnerDir(this.runsc, dir)
    } catch (error) {
      throw new Error(`cannot remove the runsc state of ${owner}: ${errorMessage(error)}`)
    }
  }
}

export {findRunsc, runscProblems} from './host.js'

export const createBackend = (): RunnerBackend => new RunscBackend()
