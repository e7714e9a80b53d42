/**
 * The Docker connection. This folder is the only place that imports dockerode.
 * DOCKER_HOST is honoured (docker-modem reads it).
 */
import {createRequire} from 'node:module'

import type DockerodeClass from 'dockerode'

import {errorMessage, prerequisiteError} from '../errors.js'

const require = createRequire(import.meta.url)

/**
 * dockerode and docker-modem require, when loaded, two modules that only one kind of call uses:
 * BuildKit sessions (gRPC and protobufjs) for `buildImage` with `version: 2`, and an ssh2 agent
 * for ssh:// hosts. They are over half of dockerode's load time, which every `sandbox run` pays;
 * here they are loaded on their first call instead. Each stand-in is a function, as the module it
 * stands for exports.
 */
function loadOnFirstCall(from: string, id: string): void {
  const path = createRequire(from).resolve(id)
  if (require.cache[path]) return
  const standIn = function (this: unknown, ...args: unknown[]) {
    if (require.cache[path]?.exports === standIn) delete require.cache[path]
    return (require(path) as (...a: unknown[]) => unknown).apply(this, args)
  }
  require.cache[path] = {id: path, filename: path, loaded: true, exports: standIn} as unknown as NodeJS.Module
}
const dockerodeMain = require.resolve('dockerode')
loadOnFirstCall(dockerodeMain, './session.js')
loadOnFirstCall(createRequire(dockerodeMain).resolve('docker-modem'), './ssh.js')
const Dockerode = require('dockerode') as typeof DockerodeClass
type Dockerode = DockerodeClass

let client: Dockerode | undefined

export function docker(): Dockerode {
  client ??= new Dockerode()
  return client
}

export function dockerEndpoint(): string {
  return process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock'
}

export interface DaemonInfo {
  endpoint: string
  serverVersion: string
  apiVersion: string
  runtimes: string[]
  defaultRuntime: string
  cgroupVersion: string
  memoryLimit: boolean
  kernelVersion: string
  os: string
  ncpu: number
  memTotal: number
  dockerRootDir: string
}

export function isDaemonDown(error: unknown): boolean {
  const code = (error as {code?: string}).code
  const msg = errorMessage(error)
  return ['ENOENT', 'ECONNREFUSED', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code ?? '') || /connect ENOENT|ECONNREFUSED|socket hang up/.test(msg)
}

export function daemonUnreachable(error: unknown) {
  return prerequisiteError(
    `Cannot reach the Docker daemon at ${dockerEndpoint()}: ${errorMessage(error)}`,
    'DOCKER_UNREACHABLE',
    ['start it with `sandbox setup --yes` (or `systemctl start docker`)', 'set DOCKER_HOST if the daemon listens elsewhere'],
    error,
  )
}

/** Wrap a daemon call: connection failures become DOCKER_UNREACHABLE. */
export async function withDaemon<T>(fn: (d: Dockerode) => Promise<T>): Promise<T> {
  try {
    return await fn(docker())
  } catch (error) {
    if (isDaemonDown(error)) throw daemonUnreachable(error)
    throw error
  }
}

export async function pingDaemon(timeoutMs = 3000): Promise<void> {
  await withDaemon(async (d) => {
    await Promise.race([
      d.ping(),
      new Promise((_, reject) => setTimeout(() => reject(Object.assign(new Error(`no answer in ${timeoutMs} ms`), {code: 'ETIMEDOUT'})), timeoutMs).unref()),
    ])
  })
}

export async function daemonInfo(): Promise<DaemonInfo> {
  return withDaemon(async (d) => {
    const [info, version] = await Promise.all([d.info(), d.version()])
    return {
      endpoint: dockerEndpoint(),
      serverVersion: version.Version,
      apiVersion: version.ApiVersion,
      runtimes: Object.keys(info.Runtimes ?? {}),
      defaultRuntime: info.DefaultRuntime,
      cgroupVersion: info.CgroupVersion ?? '1',
      memoryLimit: Boolean(info.MemoryLimit),
      kernelVersion: info.KernelVersion,
      os: info.OperatingSystem,
      ncpu: info.NCPU,
      memTotal: info.MemTotal,
      dockerRootDir: info.DockerRootDir,
    }
  })
}
