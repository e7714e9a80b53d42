/**
 * The Docker connection. This folder is the only place that imports dockerode.
 * DOCKER_HOST is honoured (docker-modem reads it).
 */
import Dockerode from 'dockerode'

import {errorMessage, prerequisiteError} from '../errors.js'

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
