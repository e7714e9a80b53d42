/**
 * The seam between the engine and whatever makes sandboxes: a Runner is one started sandbox
 * whose main process is a language runner blocked on its job; a RunnerBackend makes them
 * (Docker today: src/backends/docker/; runsc without Docker next). The pool and the engine
 * use only these interfaces, so a backend lands in its own folder (src/backends/<id>/) plus
 * its line in the registry (src/backends/index.ts); the engine is given one, default docker.
 */
import type {SandboxConfig} from '../config.js'
import type {RuntimeId} from '../languages/index.js'

export interface RunnerExit {
  exitCode: number
  /** the backend's OOM verdict; undefined when it could not be asked */
  oomKilled: boolean | undefined
}

export interface OutputSink {
  stdout: (chunk: Buffer) => void
  stderr: (chunk: Buffer) => void
}

/** One started sandbox, used for one job, then retired. */
export interface Runner {
  readonly id: string
  /** resolves when the runner has booted and waits for its job (a backend hands out only ready runners) */
  readonly ready: Promise<void>
  /** resolves when the job channel has gone: no job can reach this runner any more */
  readonly detached: Promise<void>
  /** exited, or its job channel is gone: never hand it out */
  readonly isUnusable: boolean
  /** hand the runner its job (one JSON line) and route its output to the sink */
  send(job: string, sink: OutputSink): void
  /** drop whatever it still writes (a cap was hit; it is being killed) */
  stopOutput(): void
  /** SIGKILL; its exit then needs no explanation */
  kill(): Promise<void>
  /** resolves when the sandbox has stopped and its output has drained */
  waitExit(): Promise<RunnerExit>
  /** peak memory in KiB as the host accounts it, read while it still exists; null when unknown */
  peakMemoryKb(): number | null
  /** done after a job: make it go (the cheapest way the backend has) */
  retire(): Promise<void>
  /** remove it now, whatever its state */
  remove(): Promise<void>
}

/** What the engine asks a backend to start: everything language-specific is decided by the engine. */
export interface RunnerRequest {
  runtime: RuntimeId
  /** the runtime's image, as configured */
  image: string
  /** argv of the runner */
  command: string[]
  env: string[]
  /** the engine that owns it (leftovers and sweeps are found by it) */
  owner: string
  memoryBytes: number
  /** network mode; 'none' unless a test of the suite deliberately weakens it */
  network?: string
  /** nobody waits for its removal (one-shot runs): the backend removes it when it exits */
  autoRemove?: boolean
  /** abandon the creation: the backend removes what it has made of the runner and rejects */
  signal?: AbortSignal
}

/** The error of a creation abandoned through its RunnerRequest's signal. */
export const abandonedCreation = (): Error => new Error('the runner’s creation was abandoned')

/** Throws abandonedCreation() once the creation's signal has fired (between a backend's steps). */
export function throwIfAbandoned(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abandonedCreation()
}

export interface PreflightRequest {
  config: SandboxConfig
  /** the runtimes the engine will start runners of */
  runtimes: RuntimeId[]
  /** force the OCI runtime (tests of the suite, --allow-runc) */
  isolation?: 'runsc' | 'runc'
  /** images may be stale (they must still exist) */
  allowStaleImages?: boolean
}

export interface BackendFacts {
  /** what isolates user code */
  isolation: 'runsc' | 'runc'
  /** said once, loudly (e.g. running without gVisor) */
  warnings: string[]
}

export interface RunnerBackend {
  readonly id: string
  /** check what runners need (daemon, runtime, images); throws a prerequisite SandboxError */
  preflight(request: PreflightRequest): Promise<BackendFacts>
  /** start a runner; resolves once it is ready for its job (after a successful preflight) */
  createRunner(request: RunnerRequest): Promise<Runner>
  /**
   * remove what engines that are gone left behind; how many. `ownProcess`: this process runs no
   * other engine (the manager), so runners labelled with its own pid are leftovers too (an earlier
   * manager with the same pid: a restarted manager container, where pids repeat)
   */
  removeLeftovers(options?: {ownProcess?: boolean}): Promise<number>
  /** remove everything of this owner still there (waits for auto-removed ones on their way out) */
  removeOwned(owner: string, options?: {autoRemove?: boolean}): Promise<void>
}
