/**
 * Hardened runner containers: create + attach + start a container whose main process is a
 * language runner blocked on stdin; hand it one job; watch it exit; remove it.
 * Also: find and remove containers carrying our labels.
 */
import {readFileSync} from 'node:fs'
import type {Duplex} from 'node:stream'

import Dockerode from 'dockerode'

import {abandonedCreation, throwIfAbandoned} from '../engine/runner.js'
import {RunnerStdio, untilReady} from '../engine/runner-stdio.js'
import {type OwnerIdentity, ownerState, ownIdentity} from '../owner.js'
import {docker, withDaemon} from './client.js'

export const LABELS = {
  managed: 'io.sandbox.managed',
  role: 'io.sandbox.role',
  language: 'io.sandbox.language',
  owner: 'io.sandbox.owner',
  ownerPid: 'io.sandbox.owner-pid',
  ownerHost: 'io.sandbox.owner-host',
  /** the kernel boot id and start time (clock ticks) of the owner process: its pid names it only with them (src/owner.ts) */
  ownerBoot: 'io.sandbox.owner-boot',
  ownerStart: 'io.sandbox.owner-start',
} as const

export interface RunnerContainerSpec {
  image: string
  /** argv of the runner, e.g. ['python3', '-I', '-S', '-B', '-u', '-c', source] */
  cmd: string[]
  language: string
  /** unique id of the engine that owns the container */
  owner: string
  runtime: 'runsc' | 'runc'
  memoryBytes: number
  /** seccomp profile JSON text (only meaningful under runc) */
  seccompProfile?: string
  nanoCpus?: number
  /** process cap enforced inside the sandbox (ulimit nproc) */
  maxProcesses?: number
  /** largest file the code may write, bytes (ulimit fsize) */
  maxFileBytes?: number
  workspaceBytes?: number
  tmpBytes?: number
  env?: string[]
  /** network mode; 'none' unless a test deliberately weakens it */
  network?: string
  /** the daemon removes the container when it exits (one-shot runs: nobody waits for removal) */
  autoRemove?: boolean
  /** how long the runner may take to boot */
  readyTimeoutMs?: number
  /** abandon the creation: the container is removed and the start rejects */
  signal?: AbortSignal
}

export {READY_MARKER} from '../engine/runner-stdio.js'

/** The labels (Docker) or annotations (runsc) that mark a runner as ours and name its owner. */
export function ownerLabels(language: string, owner: string): Record<string, string> {
  const self = ownIdentity()
  return {
    [LABELS.managed]: 'true',
    [LABELS.role]: 'runner',
    [LABELS.language]: language,
    [LABELS.owner]: owner,
    [LABELS.ownerPid]: String(self.pid),
    [LABELS.ownerHost]: self.host,
    ...(self.boot ? {[LABELS.ownerBoot]: self.boot} : {}),
    ...(self.startTicks === undefined ? {} : {[LABELS.ownerStart]: String(self.startTicks)}),
  }
}

/** The owner a container's labels record (src/owner.ts), or undefined when they name no valid pid. */
export function ownerOfLabels(labels: Record<string, string>): OwnerIdentity | undefined {
  const pid = Number(labels[LABELS.ownerPid])
  if (!labels[LABELS.ownerPid] || !Number.isInteger(pid) || pid <= 0) return undefined
  const start = Number(labels[LABELS.ownerStart])
  return {
    host: labels[LABELS.ownerHost] ?? '',
    pid,
    boot: labels[LABELS.ownerBoot] || undefined,
    startTicks: labels[LABELS.ownerStart] && Number.isSafeInteger(start) ? start : undefined,
  }
}

export interface ContainerExit {
  exitCode: number
  /** the daemon's OOM flag; undefined when the daemon could not be asked */
  oomKilled: boolean | undefined
}

/**
 * The isolation numbers every sandbox gets, whatever the backend makes it (the docker backend's
 * HostConfig below, the runsc backend's OCI spec in src/backends/runsc/spec.ts).
 */
export const SANDBOX_ISOLATION = {
  uid: 65534,
  gid: 65534,
  workdir: '/workspace',
  /** process cap enforced inside the sandbox (ulimit nproc) */
  maxProcesses: 64,
  /** ulimit fsize */
  maxFileBytes: 64 * 1024 * 1024,
  /** ulimit nofile */
  maxOpenFiles: 1024,
  workspaceBytes: 100 * 1024 * 1024,
  tmpBytes: 50 * 1024 * 1024,
  shmBytes: 16 * 1024 * 1024,
  /** one CPU */
  nanoCpus: 1_000_000_000,
  // gVisor's sentry panics when user code exceeds a pids cgroup limit; nproc is enforced
  // gracefully inside the sandbox (fork fails with EAGAIN). The pids limit is only a backstop.
  // threads count against the pids cgroup (a Node process has ~10): keep the backstop well above nproc
  pidsBackstop: (maxProcesses: number): number => Math.max(4096, maxProcesses * 64),
} as const

/** The HostConfig every sandbox container gets (docs/security.md, "The layers and what each one stops"). */
export function hardenedHostConfig(spec: RunnerContainerSpec): Dockerode.HostConfig {
  const I = SANDBOX_ISOLATION
  const maxProcesses = spec.maxProcesses ?? I.maxProcesses
  const fsize = spec.maxFileBytes ?? I.maxFileBytes
  const securityOpt = ['no-new-privileges']
  if (spec.seccompProfile) securityOpt.push(`seccomp=${spec.seccompProfile}`)
  return {
    Runtime: spec.runtime,
    NetworkMode: spec.network ?? 'none',
    ReadonlyRootfs: true,
    Tmpfs: {
      '/workspace': `rw,exec,nosuid,nodev,size=${spec.workspaceBytes ?? I.workspaceBytes},uid=${I.uid},gid=${I.gid},mode=0755`,
      '/tmp': `rw,exec,nosuid,nodev,size=${spec.tmpBytes ?? I.tmpBytes},mode=1777`,
    },
    CapDrop: ['ALL'],
    SecurityOpt: securityOpt,
    Memory: spec.memoryBytes,
    MemorySwap: spec.memoryBytes,
    NanoCpus: spec.nanoCpus ?? I.nanoCpus,
    PidsLimit: I.pidsBackstop(maxProcesses),
    ShmSize: I.shmBytes,
    Ulimits: [
      {Name: 'nproc', Soft: maxProcesses, Hard: maxProcesses},
      {Name: 'fsize', Soft: fsize, Hard: fsize},
      {Name: 'nofile', Soft: I.maxOpenFiles, Hard: I.maxOpenFiles},
    ],
    AutoRemove: spec.autoRemove ?? false,
    // what a runner writes is the user's (and may be large): never into Docker's log store on
    // the host's disk. The attach stream, which the engine reads, does not depend on it.
    LogConfig: {Type: 'none', Config: {}},
    Privileged: false,
    IpcMode: 'private',
  }
}

/**
 * A started container whose runner waits for a job on stdin.
 * Output is delivered through the callbacks given to `send`.
 */
export class RunnerContainer {
  private exitPromise: Promise<ContainerExit> | undefined
  private readonly stdio = new RunnerStdio()
  private exited = false
  /** we sent the SIGKILL (time or output limit, cleanup): its 137 needs no explanation */
  private killedByUs = false
  /** when this container was created, in the daemon's event clock (unix seconds) */
  private readonly createdAt = Math.floor(Date.now() / 1000) - 1
  private streamEnded: Promise<void>
  private streamClosed = false
  /** resolves when the runner has booted and waits for its job on stdin */
  readonly ready: Promise<void> = this.stdio.ready

  constructor(
    readonly id: string,
    private readonly container: Dockerode.Container,
    private readonly stream: Duplex,
    private readonly autoRemove = false,
  ) {
    let header = Buffer.alloc(0)
    let need = 0
    let kind: 1 | 2 = 1
    // Docker multiplexes stdout/stderr (Tty false): 8-byte header [stream,0,0,0,len32be] + payload
    stream.on('data', (chunk: Buffer) => {
      let buf = header.length ? Buffer.concat([header, chunk]) : chunk
      header = Buffer.alloc(0)
      while (buf.length) {
        if (need === 0) {
          if (buf.length < 8) {
            header = Buffer.from(buf)
            return
          }
          kind = buf[0] === 2 ? 2 : 1
          need = buf.readUInt32BE(4)
          buf = buf.subarray(8)
          continue
        }
        const part = buf.subarray(0, need)
        need -= part.length
        buf = buf.subarray(part.length)
        this.stdio.deliver(kind, part)
      }
    })
    this.streamEnded = new Promise<void>((resolve) => {
      stream.once('end', resolve)
      stream.once('close', resolve)
      stream.once('error', () => resolve())
    }).then(() => {
      this.streamClosed = true
    })
  }

  /** the runner's output before it was ready, and the job's routing (src/engine/runner-stdio.ts) */
  get output(): RunnerStdio {
    return this.stdio
  }

  /** resolves when our attach stream has gone: no job can reach this runner any more */
  get detached(): Promise<void> {
    return this.streamEnded
  }

  /** exited, or our attach stream is gone (a lost daemon connection): never hand it out */
  get isUnusable(): boolean {
    return this.exited || this.streamClosed
  }

  /** Resolves when the container stops (and its output stream has drained). */
  waitExit(): Promise<ContainerExit> {
    this.exitPromise ??= (async () => {
      // `container.wait()` never settles when its connection breaks mid-response (daemon gone):
      // once our attach stream has ended, give it 2 s, then ask the daemon directly.
      const wait = this.container.wait() as Promise<{StatusCode: number}>
      const lost = this.streamEnded.then(() => orAfter(wait, 2000, 'lost' as const))
      let waited = await Promise.race([wait, lost])
      if (waited === 'lost') {
        const info = await this.container.inspect()
        if (info.State.Running) {
          await this.container.kill({signal: 'SIGKILL'}).catch(() => {})
          throw new Error('lost the connection to the container')
        }
        waited = {StatusCode: info.State.ExitCode}
      }
      this.exited = true
      await orAfter(this.streamEnded, 1000, undefined)
      let oomKilled: boolean | undefined = false
      if (waited.StatusCode !== 0) {
        const oomFlag = async () => {
          const info = await this.container.inspect().catch(() => undefined)
          return info ? Boolean(info.State?.OOMKilled) : undefined
        }
        oomKilled = await oomFlag()
        // a SIGKILL we did not send: the OOM killer, or the program itself. Two facts say which:
        // the inspect flag and the daemon's "oom" event for this container (the only one left
        // when the container removed itself). Both can trail the exit under load: ask for up to 2 s.
        if (oomKilled !== true && waited.StatusCode === 137 && !this.killedByUs) {
          for (let i = 0; i < 8; i++) {
            const event = await this.sawOomEvent()
            if (event) {
              oomKilled = true
              break
            }
            await orAfter(new Promise(() => {}), 250, undefined)
            const flag = await oomFlag()
            if (flag === true) {
              oomKilled = true
              break
            }
            // the events answered "none" (the flag may be unknown: the container is gone)
            if (event === false) oomKilled = false
          }
        }
      }
      return {exitCode: waited.StatusCode, oomKilled}
    })()
    return this.exitPromise
  }

  /**
   * The container's peak memory in KiB, as the host's memory cgroup accounts it (user code,
   * gVisor's own use and files in its tmpfs), or null when this host does not expose the
   * container's cgroup (e.g. the engine itself runs in a container). Read it before the
   * container exits: its cgroup goes with it.
   */
  peakMemoryKb(): number | null {
    return readPeakMemoryKb(this.id)
  }

  /** Stop receiving: drop whatever the container still writes (a cap was hit; it is being killed). */
  stopOutput(): void {
    this.stdio.drop()
    this.stream.destroy()
  }

  /** Hand the runner its job (one JSON line) and route output to the sink. */
  send(job: string, sink: {stdout: (b: Buffer) => void; stderr: (b: Buffer) => void}): void {
    this.stdio.attach(sink)
    this.stream.write(job.endsWith('\n') ? job : job + '\n')
    this.stream.end()
  }

  async kill(): Promise<void> {
    this.killedByUs = true
    await this.container.kill({signal: 'SIGKILL'}).catch(() => {})
  }

  /** Whether the daemon logged an "oom" event for this container; undefined when it cannot be asked. */
  private async sawOomEvent(): Promise<boolean | undefined> {
    try {
      const modem = (this.container as unknown as {modem: Dockerode['modem']}).modem
      // `until` not in the future: the daemon answers at once instead of waiting for that time
      const until = (Date.now() / 1000).toFixed(3)
      const filters = JSON.stringify({container: [this.id], event: ['oom'], type: ['container']})
      // with `until`, the daemon answers the events it already has and closes the stream
      const text = await orAfter(
        new Promise<string>((resolve, reject) => {
          modem.dial({path: '/events?', method: 'GET', options: {since: String(this.createdAt), until, filters}, statusCodes: {200: true}, isStream: true}, (error, result) => {
            if (error || !result) return reject(error ?? new Error('no answer'))
            const stream = result as NodeJS.ReadableStream
            const chunks: Buffer[] = []
            stream.on('data', (c: Buffer) => chunks.push(Buffer.from(c)))
            stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
            stream.on('error', reject)
          })
        }),
        3000,
        undefined,
      )
      if (text === undefined) return undefined
      return text.split('\n').some((line) => line.includes('"oom"'))
    } catch {
      return undefined
    }
  }

  /**
   * Done with this container. Auto-removed containers only need to stop (the runner exits by
   * itself after its job; a kill covers the rest); others are force-removed.
   */
  async retire(): Promise<void> {
    this.killedByUs = true
    if (!this.autoRemove) return this.remove()
    this.stream.destroy()
    await this.container.kill({signal: 'SIGKILL'}).catch(() => {})
    await this.settleExit()
  }

  /**
   * waitExit's request to the daemon stays open until the container has ended (under load,
   * seconds after a kill): settle it before the container counts as gone, so that nothing of
   * ours is left in flight when a run's cleanup returns.
   */
  private async settleExit(): Promise<void> {
    if (this.exitPromise)
      await orAfter(
        this.exitPromise.catch(() => undefined),
        10_000,
        undefined,
      )
  }

  async remove(): Promise<void> {
    this.killedByUs = true
    this.stream.destroy()
    await this.container.remove({force: true, v: true}).catch((error: {statusCode?: number}) => {
      if (error.statusCode !== 404 && error.statusCode !== 409) throw error
    })
    await this.settleExit()
  }
}

/**
 * `promise`, or `fallback` after `ms`. The timer is awaited, so it holds the process (an
 * unref'd one let `sandbox run` end with Node's exit 13, "unsettled top-level await", while it
 * waited for a killed container's exit), and it is cleared as soon as the race is decided.
 */
export function orAfter<T, U>(promise: Promise<T>, ms: number, fallback: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([promise, new Promise<U>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)))]).finally(() => clearTimeout(timer))
}

/** Where Docker puts a container's memory cgroup: v1 (cgroupfs, systemd), then v2. */
export function memoryCgroupFiles(id: string, root = '/sys/fs/cgroup'): string[] {
  return [
    `${root}/memory/docker/${id}/memory.max_usage_in_bytes`,
    `${root}/memory/system.slice/docker-${id}.scope/memory.max_usage_in_bytes`,
    `${root}/system.slice/docker-${id}.scope/memory.peak`,
    `${root}/docker/${id}/memory.peak`,
  ]
}

/** Peak memory of a running container from its cgroup, in KiB; null when unavailable. */
export function readPeakMemoryKb(id: string, root?: string): number | null {
  if (!/^[0-9a-f]{12,64}$/.test(id)) return null
  for (const file of memoryCgroupFiles(id, root)) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    const bytes = Number(text.trim())
    if (Number.isSafeInteger(bytes) && bytes > 0) return Math.round(bytes / 1024)
  }
  return null
}

/** Create, attach and start a runner container. */
export async function startRunnerContainer(spec: RunnerContainerSpec): Promise<RunnerContainer> {
  return withDaemon(async (d) => {
    throwIfAbandoned(spec.signal)
    const container = await d.createContainer({
      Image: spec.image,
      Cmd: spec.cmd,
      User: `${SANDBOX_ISOLATION.uid}:${SANDBOX_ISOLATION.gid}`,
      WorkingDir: SANDBOX_ISOLATION.workdir,
      Env: spec.env,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      OpenStdin: true,
      StdinOnce: true,
      Tty: false,
      NetworkDisabled: (spec.network ?? 'none') === 'none',
      Labels: ownerLabels(spec.language, spec.owner),
      HostConfig: hardenedHostConfig(spec),
    })
    let stream: Duplex | undefined
    let runner: RunnerContainer | undefined
    // abandoned while it boots: the kill ends its readiness wait, and it is removed below
    const abandon = () => void runner?.kill().catch(() => {})
    spec.signal?.addEventListener('abort', abandon, {once: true})
    try {
      stream = (await container.attach({stream: true, stdin: true, stdout: true, stderr: true, hijack: true})) as unknown as Duplex
      runner = new RunnerContainer(container.id, container, stream, spec.autoRemove)
      throwIfAbandoned(spec.signal)
      await container.start()
      // abandoned while it started (a kill before the start finds nothing running)
      throwIfAbandoned(spec.signal)
      // ready = the runner booted and blocks on stdin; a runner that exits first explains why
      await untilReady(runner.output, runner.waitExit(), spec.readyTimeoutMs ?? 30_000)
      throwIfAbandoned(spec.signal)
      return runner
    } catch (error) {
      // the hijacked attach socket is ours to close: when the container is removed before it
      // started, the daemon never closes it, and it would keep this process alive for good
      stream?.destroy()
      await container.remove({force: true}).catch(() => {})
      throw spec.signal?.aborted ? abandonedCreation() : error
    } finally {
      spec.signal?.removeEventListener('abort', abandon)
    }
  })
}

export interface ManagedContainer {
  id: string
  name: string
  state: string
  labels: Record<string, string>
}

export async function listManagedContainers(filter: Record<string, string> = {}): Promise<ManagedContainer[]> {
  return withDaemon(async (d) => {
    const labels = [`${LABELS.managed}=true`, ...Object.entries(filter).map(([k, v]) => `${k}=${v}`)]
    const list = await d.listContainers({all: true, filters: {label: labels}})
    return list.map((c) => ({id: c.Id, name: (c.Names?.[0] ?? '').replace(/^\//, ''), state: c.State, labels: c.Labels ?? {}}))
  })
}

/**
 * Resolves when each container is gone (an auto-removed container on its way out), or after
 * timeoutMs; the wait requests are cancelled then, so none is left open.
 */
export async function waitRemoved(ids: string[], timeoutMs = 10_000): Promise<void> {
  const d = docker()
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), timeoutMs)
  try {
    await Promise.allSettled(ids.map((id) => d.getContainer(id).wait({condition: 'removed', abortSignal: abort.signal})))
  } finally {
    clearTimeout(timer)
    abort.abort()
  }
}

export async function removeContainers(ids: string[]): Promise<number> {
  const d = docker()
  const results = await Promise.allSettled(ids.map((id) => d.getContainer(id).remove({force: true, v: true})))
  return results.filter((r) => r.status === 'fulfilled').length
}

/**
 * Containers left by engines that are gone: an owner of this host that no longer runs
 * (src/owner.ts). Containers of a live engine (a running manager) or of another host are never
 * touched.
 */
export async function findLeftovers(options: {ownProcess?: boolean} = {}): Promise<ManagedContainer[]> {
  const all = await listManagedContainers({[LABELS.role]: 'runner'})
  return all.filter((c) => {
    const owner = ownerOfLabels(c.labels)
    if (!owner) return false
    const state = ownerState(owner)
    // our own pid: another engine of this process may be using them, unless the process has none
    return state === 'gone' || (state === 'self' && options.ownProcess === true)
  })
}
