/**
 * The bottom layer of offline images: a minimal Debian root filesystem made with
 * debootstrap and imported into Docker as `sandbox-rootfs-<suite>:<hash>`. No container
 * registry is involved. Made once per recipe (suite, mirrors, post-processing) and then
 * found by its tag.
 */
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {findProgram, runProgram} from '../exec.js'
import {errorMessage, prerequisiteError, SandboxError} from '../errors.js'
import {cacheDir} from '../paths.js'
import {withDaemon} from './client.js'

export const ROOTFS_SUITE = 'bookworm'
export const ROOTFS_REPOSITORY = `sandbox-rootfs-${ROOTFS_SUITE}`
/** bump when the post-processing below changes */
const ROOTFS_RECIPE_VERSION = 1
export const DEFAULT_DEBIAN_MIRROR = 'http://deb.debian.org/debian'
export const DEFAULT_DEBIAN_SECURITY_MIRROR = 'http://deb.debian.org/debian-security'
export const ROOTFS_LABEL = 'io.sandbox.image.rootfs'

export interface DebianMirrors {
  /** main archive, e.g. http://deb.debian.org/debian */
  mirror: string
  /** security archive, e.g. http://deb.debian.org/debian-security */
  security: string
}

/**
 * Debian archive URIs from an apt sources file (one-line `deb URI suite comps` format or
 * deb822 `URIs:` stanzas). Only URIs that look like Debian archives count (path ending in
 * /debian or /debian-security), so an Ubuntu host yields nothing.
 */
export function parseAptSources(text: string): Partial<DebianMirrors> {
  const uris: string[] = []
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line)
    if (oneLine) uris.push(oneLine[1])
    const deb822 = /^URIs:\s*(.+)$/i.exec(line)
    if (deb822) uris.push(...deb822[1].split(/\s+/))
  }
  const out: Partial<DebianMirrors> = {}
  for (const uri of uris) {
    if (!/^https?:\/\//.test(uri)) continue
    const clean = uri.replace(/\/+$/, '')
    if (/\/debian-security$/.test(clean)) out.security ??= clean
    else if (/\/debian$/.test(clean)) out.mirror ??= clean
  }
  return out
}

/** The host's Debian mirrors (so offline builds use the same, reachable mirror), else deb.debian.org. */
export function hostDebianMirrors(): DebianMirrors {
  const files: string[] = []
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list')
  const dir = '/etc/apt/sources.list.d'
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) if (/\.(list|sources)$/.test(name)) files.push(join(dir, name))
  }
  const found: Partial<DebianMirrors> = {}
  for (const file of files) {
    try {
      const m = parseAptSources(readFileSync(file, 'utf8'))
      found.mirror ??= m.mirror
      found.security ??= m.security
    } catch {
      // unreadable sources file: ignore
    }
  }
  return {mirror: found.mirror ?? DEFAULT_DEBIAN_MIRROR, security: found.security ?? DEFAULT_DEBIAN_SECURITY_MIRROR}
}

/** Resolve mirrors: an explicit main mirror wins; the security mirror defaults to the host's. */
export function resolveMirrors(mirror?: string): DebianMirrors {
  const host = hostDebianMirrors()
  return mirror ? {mirror: mirror.replace(/\/+$/, ''), security: host.security} : host
}

/** Contents of /etc/apt/sources.list inside the root filesystem. */
export function rootfsSourcesList(m: DebianMirrors, suite = ROOTFS_SUITE): string {
  return [`deb ${m.mirror} ${suite} main`, `deb ${m.mirror} ${suite}-updates main`, `deb ${m.security} ${suite}-security main`, ''].join('\n')
}

const DPKG_EXCLUDES = [
  '# sandbox: keep documentation, manuals and translations out of images',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
  'path-exclude=/usr/share/lintian/*',
  '',
].join('\n')

const APT_CONF = ['// sandbox: small images', 'APT::Install-Recommends "false";', 'APT::Install-Suggests "false";', 'Acquire::Languages "none";', ''].join('\n')

/** The tag of the root filesystem image for these mirrors (hash of the whole recipe). */
export function rootfsImageTag(m: DebianMirrors): string {
  const recipe = JSON.stringify({
    version: ROOTFS_RECIPE_VERSION,
    suite: ROOTFS_SUITE,
    variant: 'minbase',
    sources: rootfsSourcesList(m),
    dpkg: DPKG_EXCLUDES,
    apt: APT_CONF,
  })
  return `${ROOTFS_REPOSITORY}:${createHash('sha256').update(recipe).digest('hex').slice(0, 12)}`
}

export interface RootfsProgress {
  step(message: string): void
  log(line: string): void
}

export interface EnsureRootfsResult {
  image: string
  created: boolean
  seconds: number
}

/** Run a program, streaming its output lines; resolves with the exit code and the last lines. */
async function run(cmd: string, args: string[], onLine: (line: string) => void, env?: NodeJS.ProcessEnv): Promise<{code: number; tail: string[]}> {
  const {code, tail} = await runProgram(cmd, args, {onLine, env})
  return {code, tail}
}

async function ensureDebootstrap(progress: RootfsProgress): Promise<string> {
  const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg'
  let path = findProgram('debootstrap')
  if (path && existsSync(keyring)) return path
  const aptGet = findProgram('apt-get')
  if (!aptGet) {
    throw prerequisiteError('Offline image builds need debootstrap and the Debian archive keyring, and there is no apt-get to install them', 'DEBOOTSTRAP_MISSING', [
      'install debootstrap and debian-archive-keyring with your package manager',
      'or build from the official images with `sandbox build --online`',
    ])
  }
  progress.step('Installing debootstrap and debian-archive-keyring with apt-get')
  const env = {...process.env, DEBIAN_FRONTEND: 'noninteractive'}
  const install = () => run(aptGet, ['install', '-y', '--no-install-recommends', 'debootstrap', 'debian-archive-keyring'], progress.log, env)
  let res = await install()
  if (res.code !== 0) {
    await run(aptGet, ['update'], progress.log, env)
    res = await install()
  }
  path = findProgram('debootstrap')
  if (res.code !== 0 || !path) {
    throw prerequisiteError(`Could not install debootstrap with apt-get: ${res.tail.slice(-3).join(' / ')}`, 'DEBOOTSTRAP_MISSING', [
      'run `apt-get install debootstrap debian-archive-keyring` as root',
      'or build from the official images with `sandbox build --online`',
    ])
  }
  return path
}

/** Remove everything below dir except files named `keep`. */
function prune(dir: string, keep?: string): void {
  if (!existsSync(dir)) return
  for (const entry of readdirSync(dir, {withFileTypes: true})) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) {
      prune(p, keep)
      if (readdirSync(p).length === 0) rmSync(p, {recursive: true, force: true})
    } else if (!keep || entry.name !== keep) rmSync(p, {force: true})
  }
}

/** Make the debootstrapped tree small and container-friendly. */
export function postProcessRootfs(dir: string, m: DebianMirrors): void {
  writeFileSync(join(dir, 'etc/apt/sources.list'), rootfsSourcesList(m))
  writeFileSync(join(dir, 'etc/apt/apt.conf.d/90sandbox'), APT_CONF)
  writeFileSync(join(dir, 'etc/dpkg/dpkg.cfg.d/90sandbox-minimal'), DPKG_EXCLUDES)
  prune(join(dir, 'usr/share/doc'), 'copyright')
  for (const sub of ['usr/share/man', 'usr/share/info', 'usr/share/lintian']) prune(join(dir, sub))
  for (const entry of existsSync(join(dir, 'usr/share/locale')) ? readdirSync(join(dir, 'usr/share/locale')) : []) {
    if (entry !== 'locale.alias') rmSync(join(dir, 'usr/share/locale', entry), {recursive: true, force: true})
  }
  prune(join(dir, 'var/cache/apt'))
  prune(join(dir, 'var/lib/apt/lists'))
  prune(join(dir, 'var/log'))
  // the host's resolver and name must not leak into images (Docker provides both at run time)
  writeFileSync(join(dir, 'etc/resolv.conf'), '')
  writeFileSync(join(dir, 'etc/hostname'), 'sandbox\n')
}

/** Stream `tar` of dir into the daemon as a new image. */
async function importDir(dir: string, tag: string, m: DebianMirrors, progress: RootfsProgress): Promise<void> {
  const [repo, version] = tag.split(':')
  const tar = spawn('tar', ['--numeric-owner', '-C', dir, '-cf', '-', '.'], {stdio: ['ignore', 'pipe', 'pipe']})
  let tarErr = ''
  tar.stderr.on('data', (b: Buffer) => {
    tarErr += b.toString()
  })
  const tarDone = new Promise<number>((resolve, reject) => {
    tar.on('error', reject)
    tar.on('close', (code) => resolve(code ?? 1))
  })
  await withDaemon(async (d) => {
    const stream = await d.importImage(tar.stdout, {
      repo,
      tag: version,
      message: `debootstrap --variant=minbase ${ROOTFS_SUITE} from ${m.mirror}`,
      changes: ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `LABEL ${ROOTFS_LABEL}=${ROOTFS_SUITE}`, 'CMD ["bash"]'],
    })
    await new Promise<void>((resolve, reject) => {
      d.modem.followProgress(
        stream,
        (err: Error | null) => (err ? reject(err) : resolve()),
        (event: {error?: string; status?: string}) => {
          if (event.error) reject(new Error(event.error))
          else if (event.status) progress.log(event.status)
        },
      )
    })
  })
  const code = await tarDone
  if (code !== 0) throw new Error(`tar exited with ${code}: ${tarErr.trim()}`)
}

/** Remove a work tree, first unmounting anything debootstrap left mounted inside it (proc, sys). */
async function removeTree(dir: string): Promise<void> {
  let mounts: string[] = []
  try {
    mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
      .filter((p): p is string => Boolean(p) && p.startsWith(dir + '/'))
      .sort((a, b) => b.length - a.length)
  } catch {
    // no /proc: nothing to unmount
  }
  for (const m of mounts) await run('umount', ['-l', m], () => {})
  if (mounts.length > 0 && readFileSync('/proc/self/mounts', 'utf8').includes(` ${dir}/`)) return // never rm through a mount
  rmSync(dir, {recursive: true, force: true})
}

export async function rootfsExists(tag: string): Promise<boolean> {
  return withDaemon(async (d) => {
    try {
      await d.getImage(tag).inspect()
      return true
    } catch (error) {
      if ((error as {statusCode?: number}).statusCode === 404) return false
      throw error
    }
  })
}

/**
 * The root filesystem image for these mirrors: found by tag, or made now with
 * debootstrap (root only; installs debootstrap with apt-get when missing).
 */
export async function ensureRootfs(mirrors: DebianMirrors, progress: RootfsProgress): Promise<EnsureRootfsResult> {
  const started = Date.now()
  const tag = rootfsImageTag(mirrors)
  if (await rootfsExists(tag)) return {image: tag, created: false, seconds: 0}

  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw prerequisiteError('Offline image builds need root: debootstrap creates device files and runs chroot', 'ROOT_REQUIRED', [
      'run the build as root (e.g. `sudo npx sandbox build`)',
      'or build from the official images with `sandbox build --online`',
    ])
  }
  const debootstrap = await ensureDebootstrap(progress)
  const dir = mkdtempSync(join(cacheDir(), 'rootfs-'))
  try {
    progress.step(`Creating a Debian ${ROOTFS_SUITE} root filesystem with debootstrap from ${mirrors.mirror} (once; about 30 s)`)
    const res = await run(debootstrap, ['--variant=minbase', '--components=main', ROOTFS_SUITE, dir, mirrors.mirror], progress.log)
    if (res.code !== 0) {
      const logFile = join(dir, 'debootstrap', 'debootstrap.log')
      const detail = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-5) : res.tail.slice(-5)
      throw prerequisiteError(`debootstrap failed (exit ${res.code}) for ${mirrors.mirror}: ${detail.join(' / ')}`, 'ROOTFS_FAILED', [
        `check that ${mirrors.mirror} is reachable from this host`,
        'pick another mirror with `sandbox build --debian-mirror URL`',
      ])
    }
    postProcessRootfs(dir, mirrors)
    progress.step(`Importing the root filesystem as ${tag}`)
    try {
      await importDir(dir, tag, mirrors, progress)
    } catch (error) {
      if (error instanceof SandboxError) throw error
      throw prerequisiteError(`Importing the root filesystem into Docker failed: ${errorMessage(error)}`, 'ROOTFS_FAILED', [], error)
    }
  } finally {
    await removeTree(dir)
  }
  return {image: tag, created: true, seconds: (Date.now() - started) / 1000}
}
