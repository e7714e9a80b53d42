/**
 * The manager image (`sandbox build --manager`): the packed toolkit (package.json, bin,
 * dist, templates, base-images, seccomp and the production node_modules from this
 * installation) on top of the Node.js base image — no registry and no network needed.
 * RAGFlow deployments point SANDBOX_EXECUTOR_MANAGER_IMAGE at it.
 */
import {existsSync, lstatSync, readdirSync, readFileSync, readlinkSync} from 'node:fs'
import {dirname, join, relative, sep} from 'node:path'

import {pack, type Pack} from 'tar-stream'

import {prerequisiteError} from '../errors.js'
import {PACKAGE_ROOT, packagePath, TOOLKIT_VERSION} from '../paths.js'
import {docker, withDaemon} from './client.js'
import {LABELS} from './containers.js'
import {followBuild} from './images.js'
import {MANAGER_IMAGE} from './manager-container.js'

export {MANAGER_IMAGE} from './manager-container.js'

export interface ManagerImageEvent {
  kind: 'step' | 'log'
  message: string
}

export interface BuildManagerImageOptions {
  /** image tag (default sandbox-executor-manager:latest) */
  tag?: string
  /** Node.js base image (default sandbox-base-nodejs:latest); must exist locally */
  baseImage?: string
  /** package root to pack (default: this installation) */
  root?: string
  noCache?: boolean
  onProgress?: (event: ManagerImageEvent) => void
}

export interface ManagerImageResult {
  image: string
  id: string
  baseImage: string
  version: string
  files: number
  contextBytes: number
  seconds: number
}

/** Folders of the package copied into the image (node_modules handled separately). */
const PACKAGE_DIRS = ['bin', 'dist', 'templates', 'base-images', 'seccomp']
/**
 * Files never needed at run time: sources maps, documentation, TypeScript sources and
 * declarations, and what a native module's build leaves next to its binary (C/C++ sources,
 * object files, static libraries, makefiles).
 */
const SKIP_FILE = /(\.map|\.md|\.markdown|\.ts|\.mts|\.cts|\.tsbuildinfo|\.c|\.cc|\.cpp|\.h|\.hpp|\.o|\.a|\.gyp|\.gypi|\.mk|[\\/]Makefile)$/i
const SKIP_DIR = new Set(['.bin', '.cache', '.git', 'obj.target', '.deps'])
/** prebuilt binaries of a native module for other platforms than this one (the image's) */
const otherPlatformPrebuild = (rel: string, name: string) => /(^|[\\/])prebuilds$/.test(rel) && name !== `${process.platform}-${process.arch}`

/**
 * The production dependency folders of the package at `root`: package.json
 * `dependencies` + `optionalDependencies` (and the peers of dependencies), resolved the
 * way Node does (nearest node_modules up the tree). Returns paths relative to root.
 */
export function productionDependencyDirs(root: string = PACKAGE_ROOT): string[] {
  const seen = new Set<string>()
  const resolveDir = (name: string, from: string): string | undefined => {
    let dir = from
    for (;;) {
      const candidate = join(dir, 'node_modules', name)
      if (existsSync(join(candidate, 'package.json'))) return candidate
      if (dir === root || dirname(dir) === dir) return undefined
      dir = dirname(dir)
      while (dir !== root && (dir.endsWith(`${sep}node_modules`) || /[\\/]@[^\\/]+$/.test(dir))) dir = dirname(dir)
    }
  }
  const walk = (dir: string, isRoot: boolean) => {
    const pj = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>
    const names = Object.keys({...pj.dependencies, ...pj.optionalDependencies, ...(isRoot ? {} : pj.peerDependencies)})
    for (const name of names) {
      const found = resolveDir(name, dir)
      if (!found || seen.has(found)) continue
      seen.add(found)
      walk(found, false)
    }
  }
  walk(root, true)
  return [...seen].map((d) => relative(root, d)).sort()
}

export interface Entry {
  path: string
  abs: string
  size: number
  mode: number
  link?: string
}

/** Files under root/rel; nested node_modules are skipped (each dependency is collected on its own). */
function collect(root: string, rel: string, out: Entry[]): void {
  const abs = join(root, rel)
  const st = lstatSync(abs)
  if (st.isSymbolicLink()) {
    out.push({path: rel, abs, size: 0, mode: 0o777, link: readlinkSync(abs)})
    return
  }
  if (st.isDirectory()) {
    for (const name of readdirSync(abs)) {
      if (SKIP_DIR.has(name) || name === 'node_modules' || otherPlatformPrebuild(rel, name)) continue
      collect(root, join(rel, name), out)
    }
    return
  }
  if (st.isFile() && !SKIP_FILE.test(rel)) out.push({path: rel, abs, size: st.size, mode: st.mode & 0o111 ? 0o755 : 0o644})
}

/**
 * The Node.js that runs this toolkit, for the image (app/node/bin/node, first on the image's PATH):
 * the native modules in node_modules (better-sqlite3 for the settings database) were built for its
 * ABI, and the base image's Debian Node.js is another (18 against 20 here: the admin API's SQLite
 * settings failed to load in the manager container). Only a self-contained binary is packed (the
 * official builds; glibc 2.28 and up): a Debian node (built shared, on libnode) is the base
 * image's own, which its node_modules then match.
 */
export function packedNode(execPath = process.execPath, shared = Boolean((process.config.variables as {node_shared?: boolean}).node_shared)): Entry | undefined {
  if (shared || process.platform !== 'linux') return undefined
  const st = lstatSync(execPath)
  return {path: join('node', 'bin', 'node'), abs: execPath, size: st.size, mode: 0o755}
}

/** The build context as a tar stream: Dockerfile + app/<package files>. */
export function managerBuildContext(root: string = PACKAGE_ROOT): {stream: Pack; files: number; bytes: number} {
  if (!existsSync(join(root, 'dist', 'server', 'main.js'))) {
    throw prerequisiteError(`The toolkit is not compiled (${join(root, 'dist', 'server', 'main.js')} is missing)`, 'BUILD_REQUIRED', [
      'run `npm run build` in the toolkit folder first',
    ])
  }
  const entries: Entry[] = []
  for (const dir of PACKAGE_DIRS) if (existsSync(join(root, dir))) collect(root, dir, entries)
  collect(root, 'package.json', entries)
  for (const dep of productionDependencyDirs(root)) collect(root, dep, entries)
  const node = packedNode()
  if (node) entries.push(node)

  const tar = pack()
  const dockerfile = readFileSync(packagePath('templates', 'manager.Dockerfile'))
  // one entry at a time: tar-stream needs each entry finished before the next
  ;(async () => {
    await new Promise<void>((resolve, reject) => tar.entry({name: 'Dockerfile', mode: 0o644}, dockerfile, (err) => (err ? reject(err) : resolve())))
    for (const e of entries) {
      const name = `app/${e.path.split(sep).join('/')}`
      if (e.link !== undefined) {
        tar.entry({name, type: 'symlink', linkname: e.link, mode: 0o777})
        continue
      }
      const data = readFileSync(e.abs)
      await new Promise<void>((resolve, reject) => tar.entry({name, mode: e.mode, size: data.length}, data, (err) => (err ? reject(err) : resolve())))
    }
    tar.finalize()
  })().catch((error: unknown) => tar.destroy(error as Error))
  return {stream: tar, files: entries.length + 1, bytes: entries.reduce((n, e) => n + e.size, dockerfile.length)}
}

/** Build the manager image from the local Node.js base image. Offline: nothing is pulled or downloaded. */
export async function buildManagerImage(options: BuildManagerImageOptions = {}): Promise<ManagerImageResult> {
  const tag = options.tag ?? MANAGER_IMAGE
  const baseImage = options.baseImage ?? 'sandbox-base-nodejs:latest'
  const progress = options.onProgress ?? (() => {})
  const started = performance.now()
  return withDaemon(async (d) => {
    try {
      await d.getImage(baseImage).inspect()
    } catch (error) {
      if ((error as {statusCode?: number}).statusCode === 404) {
        throw prerequisiteError(`The Node.js base image ${baseImage} does not exist: the manager image is built on it`, 'IMAGES_MISSING', ['run `sandbox build` first'])
      }
      throw error
    }
    const context = managerBuildContext(options.root ?? PACKAGE_ROOT)
    progress({kind: 'step', message: `packing the toolkit (${context.files} files, ${(context.bytes / 1024 / 1024).toFixed(1)} MB) onto ${baseImage}`})
    await followBuild(
      tag,
      context.stream as unknown as NodeJS.ReadableStream,
      {
        buildargs: {BASE_IMAGE: baseImage, SANDBOX_VERSION: TOOLKIT_VERSION},
        labels: {[LABELS.managed]: 'true', [LABELS.role]: 'manager', 'io.sandbox.version': TOOLKIT_VERSION},
        nocache: options.noCache ?? false,
        forcerm: true,
      },
      (kind, message) => progress({kind, message}),
    )
    const info = await d.getImage(tag).inspect()
    return {
      image: tag,
      id: info.Id,
      baseImage,
      version: TOOLKIT_VERSION,
      files: context.files,
      contextBytes: context.bytes,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    }
  })
}

export interface RemoveImagesResult {
  removed: string[]
  missing: string[]
  failed: Array<{image: string; error: string}>
}

/** Remove images by reference (and every image labelled as ours when `labelled`). */
export async function removeImages(refs: string[], {labelled = true}: {labelled?: boolean} = {}): Promise<RemoveImagesResult> {
  return withDaemon(async (d) => {
    const wanted = new Set(refs)
    if (labelled) {
      // the manager image carries io.sandbox.managed; base images carry io.sandbox.image.*
      for (const label of [`${LABELS.managed}=true`, 'io.sandbox.image.toolkit-version']) {
        const list = await d.listImages({filters: {label: [label]}})
        for (const img of list) for (const t of img.RepoTags ?? [img.Id]) if (t !== '<none>:<none>') wanted.add(t)
      }
    }
    const result: RemoveImagesResult = {removed: [], missing: [], failed: []}
    for (const image of wanted) {
      try {
        await docker().getImage(image).remove({force: false})
        result.removed.push(image)
      } catch (error) {
        const status = (error as {statusCode?: number}).statusCode
        if (status === 404) result.missing.push(image)
        else result.failed.push({image, error: (error as Error).message})
      }
    }
    return result
  })
}
