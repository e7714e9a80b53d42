/**
 * The manager as a container (`sandbox start --docker`): `sandbox-executor-manager` on a
 * chosen Docker network, the Docker socket mounted so it can start sibling sandbox
 * containers, and nothing privileged (no --privileged, all capabilities dropped,
 * no-new-privileges, read-only root, non-root user that only gains the socket's group).
 */
import {statSync} from 'node:fs'
import type {Readable} from 'node:stream'

import {docker, dockerEndpoint, withDaemon} from './client.js'
import {LABELS, listManagedContainers, removeContainers} from './containers.js'
import {prerequisiteError} from '../errors.js'

export const MANAGER_CONTAINER_NAME = 'sandbox-executor-manager'
/** hostname inside the container: the owner-host label of the sandbox containers it starts */
export const MANAGER_CONTAINER_HOSTNAME = 'sandbox-executor-manager'
export const MANAGER_IMAGE = 'sandbox-executor-manager:latest'
export const MANAGER_CONTAINER_PORT = 9385

export interface ManagerContainerSpec {
  image: string
  /** Docker network to join (RAGFlow: docker_ragflow); default: the default bridge */
  network?: string
  /** published port on the host */
  hostIp: string
  hostPort: number
  /** SANDBOX_* settings for the manager inside */
  env: Record<string, string>
  /** memory limit of the manager container itself, bytes (default 512 MiB) */
  memoryBytes?: number
}

export interface ManagerContainerInfo {
  id: string
  name: string
  image: string
  running: boolean
  state: string
  startedAt: string | null
  networks: string[]
  health: string | null
  exitCode: number | null
}

/** Path of the daemon's unix socket (docker mode needs one to mount). */
export function dockerSocketPath(): string {
  const endpoint = dockerEndpoint()
  if (!endpoint.startsWith('unix://')) {
    throw prerequisiteError(`The manager container needs the Docker socket, but DOCKER_HOST is ${endpoint}`, 'DOCKER_SOCKET_REQUIRED', [
      'run `sandbox start --docker` on the Docker host itself (unix socket)',
    ])
  }
  return endpoint.slice('unix://'.length)
}

export async function managerContainerInfo(): Promise<ManagerContainerInfo | undefined> {
  return withDaemon(async (d) => {
    try {
      const i = await d.getContainer(MANAGER_CONTAINER_NAME).inspect()
      return {
        id: i.Id,
        name: i.Name.replace(/^\//, ''),
        image: i.Config.Image,
        running: Boolean(i.State.Running),
        state: i.State.Status,
        startedAt: i.State.StartedAt ?? null,
        networks: Object.keys(i.NetworkSettings?.Networks ?? {}),
        health: (i.State as {Health?: {Status?: string}}).Health?.Status ?? null,
        exitCode: typeof i.State.ExitCode === 'number' ? i.State.ExitCode : null,
      }
    } catch (error) {
      if ((error as {statusCode?: number}).statusCode === 404) return undefined
      throw error
    }
  })
}

export async function networkExists(name: string): Promise<boolean> {
  return withDaemon(async (d) => {
    try {
      await d.getNetwork(name).inspect()
      return true
    } catch (error) {
      if ((error as {statusCode?: number}).statusCode === 404) return false
      throw error
    }
  })
}

/** Sandbox containers started by a manager container (its hostname is their owner-host). */
export async function managerContainerRunners(): Promise<string[]> {
  const list = await listManagedContainers({[LABELS.ownerHost]: MANAGER_CONTAINER_HOSTNAME})
  return list.map((c) => c.id)
}

/** Replace any previous manager container and start a new one. Returns its id. */
export async function runManagerContainer(spec: ManagerContainerSpec): Promise<string> {
  const socket = dockerSocketPath()
  let socketGid: number
  try {
    socketGid = statSync(socket).gid
  } catch (error) {
    throw prerequisiteError(`Cannot read the Docker socket ${socket}`, 'DOCKER_SOCKET_REQUIRED', [], error)
  }
  if (spec.network && !(await networkExists(spec.network))) {
    throw prerequisiteError(`Docker network "${spec.network}" does not exist`, 'NETWORK_MISSING', [
      `create it with \`docker network create ${spec.network}\`, or start RAGFlow's compose stack first`,
    ])
  }
  return withDaemon(async (d) => {
    // check the image before touching a running manager: a typo must not take it down
    try {
      await d.getImage(spec.image).inspect()
    } catch (error) {
      if ((error as {statusCode?: number}).statusCode === 404) {
        throw prerequisiteError(`The manager image ${spec.image} does not exist`, 'IMAGES_MISSING', ['build it with `sandbox build --manager`'])
      }
      throw error
    }
    await removeManagerContainer(10)
    const port = `${MANAGER_CONTAINER_PORT}/tcp`
    const container = await d.createContainer({
      name: MANAGER_CONTAINER_NAME,
      Hostname: MANAGER_CONTAINER_HOSTNAME,
      Image: spec.image,
      User: `65534:65534`,
      Env: Object.entries({
        ...spec.env,
        SANDBOX_EXECUTOR_MANAGER_HOST: '0.0.0.0',
        SANDBOX_EXECUTOR_MANAGER_PORT: String(MANAGER_CONTAINER_PORT),
        DOCKER_HOST: 'unix:///var/run/docker.sock',
        SANDBOX_MANAGER_MODE: 'docker',
      }).map(([k, v]) => `${k}=${v}`),
      ExposedPorts: {[port]: {}},
      Labels: {[LABELS.managed]: 'true', [LABELS.role]: 'manager'},
      HostConfig: {
        Binds: [`${socket}:/var/run/docker.sock`],
        GroupAdd: [String(socketGid)],
        PortBindings: {[port]: [{HostIp: spec.hostIp, HostPort: String(spec.hostPort)}]},
        NetworkMode: spec.network ?? 'bridge',
        RestartPolicy: {Name: 'unless-stopped'},
        ReadonlyRootfs: true,
        Tmpfs: {'/tmp': 'rw,nosuid,nodev,size=64m,mode=1777'},
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        Privileged: false,
        Init: true,
        Memory: spec.memoryBytes ?? 512 * 1024 * 1024,
        LogConfig: {Type: 'json-file', Config: {'max-size': '10m', 'max-file': '3'}},
      },
    })
    await container.start()
    return container.id
  })
}

/** Stop (graceful, `timeoutSeconds`) and remove the manager container, then any sandbox container it left. */
export async function removeManagerContainer(timeoutSeconds = 20): Promise<{removed: boolean; runnersRemoved: number}> {
  const info = await managerContainerInfo()
  let removed = false
  if (info) {
    const c = docker().getContainer(info.id)
    if (info.running) await c.stop({t: timeoutSeconds}).catch(() => {})
    await c.remove({force: true}).catch((error: {statusCode?: number}) => {
      if (error.statusCode !== 404) throw error
    })
    removed = true
  }
  const runners = await managerContainerRunners()
  const runnersRemoved = runners.length ? await removeContainers(runners) : 0
  return {removed, runnersRemoved}
}

/** Log lines of the manager container (stdout and stderr), the last `tail` of them. */
export async function managerContainerLogs(tail: number): Promise<string[]> {
  return withDaemon(async (d) => {
    const buf = (await d.getContainer(MANAGER_CONTAINER_NAME).logs({stdout: true, stderr: true, follow: false, tail})) as unknown as Buffer
    return demuxToLines(buf)
  })
}

/** Follow the manager container's log; returns a stop function. */
export async function followManagerContainerLogs(onLine: (line: string) => void): Promise<() => void> {
  return withDaemon(async (d) => {
    const stream = (await d.getContainer(MANAGER_CONTAINER_NAME).logs({stdout: true, stderr: true, follow: true, tail: 0})) as unknown as Readable
    let pending = Buffer.alloc(0)
    let partial = ''
    stream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk])
      while (pending.length >= 8) {
        const len = pending.readUInt32BE(4)
        if (pending.length < 8 + len) break
        partial += pending.subarray(8, 8 + len).toString('utf8')
        pending = pending.subarray(8 + len)
      }
      const lines = partial.split('\n')
      partial = lines.pop() ?? ''
      for (const l of lines) onLine(l)
    })
    return () => (stream as Readable & {destroy: () => void}).destroy()
  })
}

/** Docker's multiplexed log frames (Tty false) to text lines. */
export function demuxToLines(buf: Buffer): string[] {
  let text = ''
  let off = 0
  const framed = buf.length >= 8 && (buf[0] === 1 || buf[0] === 2) && buf[1] === 0 && buf[2] === 0 && buf[3] === 0
  if (!framed) text = buf.toString('utf8')
  else {
    while (off + 8 <= buf.length) {
      const len = buf.readUInt32BE(off + 4)
      text += buf.subarray(off + 8, off + 8 + len).toString('utf8')
      off += 8 + len
    }
  }
  return text.split('\n').filter((l, i, a) => l !== '' || i < a.length - 1)
}
