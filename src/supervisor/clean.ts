/**
 * `sandbox clean`: stop the manager, remove what every host may leave, every orphan container
 * (one rule: orphanVerdict), the runsc backend's leftover sandboxes, the state files and the
 * log; with `images`, also our images and their exports for the runsc backend.
 */
import type {KeptSandbox} from '../backends/runsc/index.js'
import {isDaemonDown} from '../docker/client.js'
import {LABELS, listManagedContainers, ownerOfLabels, removeContainers, type ManagedContainer} from '../docker/containers.js'
import {errorMessage, SandboxError} from '../errors.js'
import {type OwnerIdentity, ownerState} from '../owner.js'
import {managerFiles, recordedManager, removeStateFiles, type ManagerFiles} from '../server/state.js'
import type {Progress, StopResult} from './host.js'
import {ALL_HOSTS} from './hosts.js'
import {stopManager} from './manage.js'

export interface CleanResult {
  stopped: StopResult | null
  containersRemoved: number
  containersKept: KeptSandbox[]
  /** runsc sandboxes whose cgroups (runsc's cpu, pids, …) were left without any record of them, removed */
  cgroupsRemoved: number
  filesRemoved: string[]
  images: {removed: string[]; missing: string[]; failed: Array<{image: string; error: string}>} | null
  /** with `images`: the runsc backend's exports of the images removed, and those kept because a live process boots from them */
  rootfs: {removed: number; kept: number} | null
  warnings: string[]
}

/**
 * The one rule of what clean removes: a container of ours is an orphan unless its owner is a
 * live process of this host other than us (src/owner.ts), or it runs with no owner
 * recorded (benchmark or probe containers may be in use). With `all`, every container of ours goes.
 * Returns null to remove it, or why it is kept.
 */
export function orphanVerdict(
  c: Pick<ManagedContainer, 'labels' | 'state'>,
  options: {all?: boolean; self?: OwnerIdentity; alive?: (pid: number, startTicks?: number) => boolean} = {},
): {ownerPid: string; reason: string} | null {
  if (options.all) return null
  const owner = ownerOfLabels(c.labels)
  if (owner && ownerState(owner, options) === 'live') return {ownerPid: String(owner.pid), reason: 'its sandbox process is still running (use --all)'}
  if (!c.labels[LABELS.ownerPid] && c.state === 'running') return {ownerPid: '?', reason: 'running, owner unknown (use --all)'}
  return null
}

export async function cleanEverything(options: {images?: string[] | false; all?: boolean; files?: ManagerFiles; onProgress?: Progress} = {}): Promise<CleanResult> {
  const files = options.files ?? managerFiles()
  const progress = options.onProgress ?? (() => {})
  const result: CleanResult = {stopped: null, containersRemoved: 0, containersKept: [], cgroupsRemoved: 0, filesRemoved: [], images: null, rootfs: null, warnings: []}
  const rec = recordedManager(files)
  if (rec.state === 'running' || rec.state === 'elsewhere') {
    progress('stopping the manager')
    result.stopped = await stopManager({files, onProgress: progress})
    result.warnings.push(...result.stopped.warnings)
  }
  try {
    for (const host of ALL_HOSTS) result.containersRemoved += await host.removeLeftovers(progress)
    const remove: string[] = []
    for (const c of await listManagedContainers()) {
      const kept = orphanVerdict(c, {all: options.all})
      if (kept) result.containersKept.push({id: c.id.slice(0, 12), ...kept})
      else remove.push(c.id)
    }
    if (remove.length) {
      progress(`removing ${remove.length} container(s)`)
      result.containersRemoved += await removeContainers(remove)
    }
    if (options.images) {
      progress('removing images')
      const {removeImages} = await import('../docker/manager-image.js')
      result.images = await removeImages(options.images)
    }
  } catch (error) {
    if (!(error instanceof SandboxError) && !isDaemonDown(error)) throw error
    result.warnings.push(`Docker could not be cleaned: ${errorMessage(error)}`)
  }
  // the runsc backend's sandboxes (no daemon involved): those of owners that are gone, or all with `all`
  const {removeOrphanCgroups, removeRunscLeftovers} = await import('../backends/runsc/index.js')
  result.containersRemoved += await removeRunscLeftovers({all: options.all, kept: result.containersKept}).catch((error: unknown) => {
    result.warnings.push(`runsc sandboxes could not be cleaned: ${errorMessage(error)}`)
    return 0
  })
  try {
    result.cgroupsRemoved = removeOrphanCgroups()
  } catch (error) {
    result.warnings.push(`leftover cgroups of runsc sandboxes could not be looked for: ${errorMessage(error)}`)
  }
  if (options.images) {
    // the images' exports for the runsc backend (no daemon involved); one a live process boots from stays unless `all`
    const {removeRootfsCache} = await import('../backends/runsc/rootfs.js')
    result.rootfs = removeRootfsCache({all: options.all})
  }
  result.filesRemoved = removeStateFiles(files, {all: true})
  return result
}
