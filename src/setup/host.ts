/**
 * The real machine behind SetupHost: processes, files, /proc, and the Docker layer.
 */
import {spawn} from 'node:child_process'
import {promises as fs, openSync, closeSync, mkdirSync} from 'node:fs'
import {release} from 'node:os'
import {dirname} from 'node:path'

import {daemonInfo, dockerEndpoint, pingDaemon} from '../docker/client.js'
import {runProbe} from '../docker/probe.js'
import {findProgram, runProgram} from '../exec.js'
import type {ImageBuildOptions, ImageState, RunOptions, RunResult, SetupDocker, SetupHost} from './types.js'

async function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const {code, stdout, stderr} = await runProgram(command, args, {env: options.env, timeoutMs: options.timeoutMs})
  return {code, stdout, stderr}
}

async function readFile(path: string): Promise<string | undefined> {
  try {
    return await fs.readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

async function processName(pid: number): Promise<string | undefined> {
  try {
    return (await fs.readFile(`/proc/${pid}/comm`, 'utf8')).trim()
  } catch {
    return undefined
  }
}

async function findProcesses(name: string): Promise<number[]> {
  let entries: string[]
  try {
    entries = await fs.readdir('/proc')
  } catch {
    return []
  }
  const pids = entries.filter((e) => /^\d+$/.test(e)).map(Number)
  const names = await Promise.all(pids.map((pid) => processName(pid)))
  return pids.filter((_, i) => names[i] === name)
}

async function spawnDetached(command: string, args: string[], logFile: string): Promise<number> {
  mkdirSync(dirname(logFile), {recursive: true})
  const fd = openSync(logFile, 'a')
  try {
    const child = spawn(command, args, {detached: true, stdio: ['ignore', fd, fd]})
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve)
      child.once('error', reject)
    })
    child.unref()
    return child.pid ?? -1
  } finally {
    closeSync(fd)
  }
}

async function freeBytes(path: string): Promise<number | undefined> {
  try {
    const st = await fs.statfs(path)
    return st.bavail * st.bsize
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

async function distro(): Promise<string | undefined> {
  const text = await readFile('/etc/os-release').catch(() => undefined)
  const m = text ? /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text) : null
  return m?.[1]
}

/**
 * src/docker/images.ts is loaded on first use: the image builder (and what it imports)
 * is only needed when images are checked or built.
 */
type ImagesModule = typeof import('../docker/images.js')
type ImageLanguage = Parameters<ImagesModule['imageStatus']>[1] extends (infer L)[] | undefined ? L : never
const loadImages = (): Promise<ImagesModule> => import('../docker/images.js')
const asLanguages = (languages?: string[]) => languages as ImageLanguage[] | undefined

export const realDocker: SetupDocker = {
  endpoint: dockerEndpoint,
  ping: (timeoutMs) => pingDaemon(timeoutMs),
  info: daemonInfo,
  probe: runProbe,
  async imageStatus(config, languages): Promise<ImageState[]> {
    return (await loadImages()).imageStatus(config, asLanguages(languages))
  },
  async buildImages(options: ImageBuildOptions) {
    const {onProgress, ...rest} = options
    return (await loadImages()).buildImages({...rest, languages: asLanguages(options.languages), onProgress})
  },
}

export function realHost(): SetupHost {
  return {
    platform: () => process.platform,
    kernelRelease: () => release(),
    distro,
    isRoot: () => typeof process.getuid === 'function' && process.getuid() === 0,
    which: async (command: string) => findProgram(command),
    run,
    readFile,
    async writeFile(path, text, mode = 0o644) {
      await fs.mkdir(dirname(path), {recursive: true})
      // an existing file keeps its permissions
      const existingMode = await fs.stat(path).then(
        (st) => st.mode & 0o7777,
        () => undefined,
      )
      // write next to the target and rename: a crash never leaves a half-written file
      const tmp = `${path}.sandbox-${process.pid}.tmp`
      await fs.writeFile(tmp, text, {mode: existingMode ?? mode})
      await fs.chmod(tmp, existingMode ?? mode)
      await fs.rename(tmp, path)
    },
    async removeFile(path) {
      await fs.rm(path, {force: true})
    },
    async exists(path) {
      try {
        await fs.access(path)
        return true
      } catch {
        return false
      }
    },
    processName,
    findProcesses,
    async signal(pid, sig) {
      process.kill(pid, sig)
    },
    spawnDetached,
    freeBytes,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: () => Date.now(),
    docker: realDocker,
  }
}
