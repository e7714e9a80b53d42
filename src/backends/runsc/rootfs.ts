/**
 * The root filesystems the runsc backend boots: each built base image's file system, exported
 * once per image id (which follows its input hash) into the cache directory, then shared
 * read-only by every sandbox of that image. When an image changes, its older exports are
 * removed, once no live process boots sandboxes from them (each process that resolves an export
 * records itself in the export's users/ directory: a sandbox reads its root lazily, so removing
 * an export under a running sandbox breaks it). Docker is needed only to export one
 * (src/docker/export.ts); with the daemon down, the export already made for the image is used.
 */
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {isDaemonDown} from '../../docker/client.js'
import {exportImageFilesystem, imageRunConfig} from '../../docker/export.js'
import {IMAGE_LABELS} from '../../docker/images.js'
import {prerequisiteError} from '../../errors.js'
import {type OwnerIdentity, ownerState, ownIdentity} from '../../owner.js'
import {cacheDir} from '../../paths.js'

export interface RootfsMeta {
  /** the image name it was exported for */
  image: string
  /** the image id */
  id: string
  /** the image's input hash label, when it has one */
  inputHash: string | null
  /** the image's Env */
  env: string[]
  exportedAt: string
}

export interface Rootfs extends RootfsMeta {
  /** absolute path of the root filesystem */
  path: string
  /** exported by this call (not found in the cache) */
  exported: boolean
}

const META = 'meta.json'

export const rootfsCacheDir = (): string => join(cacheDir(), 'runsc-rootfs')

const keyOf = (imageId: string) => imageId.replace(/^sha256:/, '')

function readMeta(dir: string): RootfsMeta | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, META), 'utf8')) as RootfsMeta
  } catch {
    return undefined
  }
}

/** The exports in the cache (complete ones: a meta file is written last). */
export function cachedRootfs(base = rootfsCacheDir()): Array<RootfsMeta & {dir: string}> {
  if (!existsSync(base)) return []
  const out: Array<RootfsMeta & {dir: string}> = []
  for (const name of readdirSync(base)) {
    if (name.startsWith('.')) continue
    const meta = readMeta(join(base, name))
    if (meta) out.push({...meta, dir: join(base, name)})
  }
  return out
}

const USERS = 'users'

/** Record this process as a user of the export in `dir`: users/<host>-<pid>, holding its identity (src/owner.ts). */
function markInUse(dir: string): void {
  mkdirSync(join(dir, USERS), {recursive: true})
  const self = ownIdentity()
  writeFileSync(join(dir, USERS, `${self.host}-${self.pid}`), JSON.stringify(self))
}

/** The user a users/ entry records (its name, or the identity it holds), or undefined. */
function userOf(dir: string, name: string): OwnerIdentity | undefined {
  try {
    const recorded = JSON.parse(readFileSync(join(dir, USERS, name), 'utf8')) as OwnerIdentity
    if (Number.isSafeInteger(recorded.pid) && recorded.pid > 0) return recorded
  } catch {
    // an entry of an older version: empty, the identity is its name
  }
  const dash = name.lastIndexOf('-')
  const pid = Number(name.slice(dash + 1))
  return dash > 0 && Number.isSafeInteger(pid) && pid > 0 ? {host: name.slice(0, dash), pid} : undefined
}

/**
 * Whether a process that may still run (this one included) has used the export in `dir`: every
 * recorded user but those known to be gone (src/owner.ts), so one of another host that shares
 * the cache keeps it too (`sandbox clean --images --all` removes it).
 */
export function rootfsInUse(dir: string): boolean {
  let names: string[]
  try {
    names = readdirSync(join(dir, USERS))
  } catch {
    return false
  }
  const self = ownIdentity()
  return names.some((name) => {
    const user = userOf(dir, name)
    return user !== undefined && ownerState(user, {self}) !== 'gone'
  })
}

const inProgress = new Map<string, Promise<Rootfs>>()

/**
 * The rootfs of `image`, exported now when the cache has none for its current id; this process
 * is recorded as its user. Older exports of the same image name that no live process uses are
 * removed.
 */
export function ensureRootfs(image: string): Promise<Rootfs> {
  let p = inProgress.get(image)
  if (!p) {
    p = resolveRootfs(image).finally(() => inProgress.delete(image))
    inProgress.set(image, p)
  }
  return p
}

async function resolveRootfs(image: string): Promise<Rootfs> {
  const base = rootfsCacheDir()
  let config
  try {
    config = await imageRunConfig(image)
  } catch (error) {
    if (!isDaemonDown(error)) throw error
    // Docker is only needed to export: without it, the export made for this image serves
    const known = cachedRootfs(base)
      .filter((m) => m.image === image)
      .sort((a, b) => b.exportedAt.localeCompare(a.exportedAt))[0]
    if (known) {
      markInUse(known.dir)
      return {...known, path: join(known.dir, 'rootfs'), exported: false}
    }
    throw prerequisiteError(`${image} has no exported root filesystem in ${base}, and Docker (needed to export it) is unreachable`, 'ROOTFS_MISSING', [
      'start the Docker daemon once so that the runsc backend can export the image',
    ])
  }
  if (!config) throw prerequisiteError(`${image} is not built`, 'IMAGES_MISSING', ['run `sandbox build`'])
  const dir = join(base, keyOf(config.id))
  const found = readMeta(dir)
  let exported = false
  if (!found) {
    mkdirSync(base, {recursive: true})
    const partial = mkdtempSync(join(base, `.partial-${keyOf(config.id).slice(0, 12)}-`))
    try {
      mkdirSync(join(partial, 'rootfs'))
      await exportImageFilesystem(config.id, join(partial, 'rootfs'))
      const meta: RootfsMeta = {image, id: config.id, inputHash: config.labels[IMAGE_LABELS.hash] ?? null, env: config.env, exportedAt: new Date().toISOString()}
      writeFileSync(join(partial, META), JSON.stringify(meta, null, 2) + '\n')
      try {
        renameSync(partial, dir)
        exported = true
      } catch (error) {
        // another process exported the same image at the same time: theirs serves
        if (!readMeta(dir)) throw error
      }
    } finally {
      rmSync(partial, {recursive: true, force: true})
    }
  }
  const meta = readMeta(dir)
  if (!meta) throw new Error(`the exported root filesystem in ${dir} has no ${META}`)
  markInUse(dir)
  // the image changed: its older exports go, once nothing boots from them
  for (const old of cachedRootfs(base)) if (old.image === image && old.id !== config.id && !rootfsInUse(old.dir)) rmSync(old.dir, {recursive: true, force: true})
  return {...meta, path: join(dir, 'rootfs'), exported}
}

/**
 * Remove the exports (`sandbox clean --images`; `images`: only theirs): those no live process
 * boots sandboxes from, or every one with `all`. How many were removed and how many are kept in use.
 */
export function removeRootfsCache(options: {all?: boolean; base?: string; images?: string[]} = {}): {removed: number; kept: number} {
  const result = {removed: 0, kept: 0}
  for (const m of cachedRootfs(options.base ?? rootfsCacheDir())) {
    if (options.images && !options.images.includes(m.image)) continue
    if (!options.all && rootfsInUse(m.dir)) {
      result.kept++
      continue
    }
    rmSync(m.dir, {recursive: true, force: true})
    result.removed++
  }
  return result
}
