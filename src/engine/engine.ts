/**
 * The in-process execution engine: a warm container per run (after the policy gate's verdict), limits enforced
 * from outside, outcome classification into RAGFlow's result shape.
 */
import {randomBytes, randomUUID} from 'node:crypto'
import {readFileSync} from 'node:fs'

import type {SandboxConfig} from '../config.js'
import {loadBackend} from '../backends/index.js'
import {packagePath} from '../paths.js'
import {ContainerBudget, type BudgetStats} from './admission.js'
import {LANGUAGES, RUNTIMES, imageOf, runnableCode, type Language, type RuntimeId} from './languages.js'
import {OutputCollector} from './output.js'
import {PoolBusyError, RunnerPool, type PoolStats} from './pool.js'
import {wantsPreloaded} from './preload.js'
import {classify, joinLines} from './classify.js'
import {ARTIFACT_CAPS, frameLimits, RESULT_LIMIT_ERROR_TYPE, runnerLimits} from './frame.js'
import type {Runner, RunnerBackend} from './runner.js'
import {busyResult, emptyResult, EXIT, extractResultMarker, internalErrorResult, MIME_TYPES, type RunResult} from './result.js'

export interface EngineEvent {
  level: 'debug' | 'info' | 'warn' | 'error'
  message: string
  [key: string]: unknown
}

export interface EngineOptions {
  config: SandboxConfig
  /** what makes the sandboxes: a RunnerBackend or a backend id (src/backends/<id>/); default docker */
  backend?: RunnerBackend | string
  /**
   * languages to serve (default: all): one warm pool per runtime they run on, and every
   * language on such a runtime runs (TypeScript on Node.js's)
   */
  languages?: Language[]
  /** warm containers per language; default config.poolSize; 0 = create on demand */
  poolSize?: number
  /** preloaded (data-science) runners per runtime that has a preload, filled with idle capacity only; default config.preloadPoolSize; 0 = none (always 0 with poolSize 0) */
  preloadPoolSize?: number
  /** force a runtime; default runsc, or runc when runsc is missing and config.allowRunc */
  runtime?: 'runsc' | 'runc'
  /** network mode of sandbox containers. Only tests of the test suite weaken this. */
  network?: string
  /** skip the image staleness check (images still must exist) */
  allowStaleImages?: boolean
  /** this process runs no other engine (the manager): runners labelled with its pid are leftovers at start */
  ownProcess?: boolean
  maxOutputBytes?: number
  /** let the daemon remove containers when they exit instead of waiting for removal (one-shot runs) */
  autoRemove?: boolean
  /** admission cap: containers alive at once; default config.maxConcurrentRuns */
  maxConcurrentRuns?: number
  onEvent?: (event: EngineEvent) => void
}

export interface RunRequest {
  language: Language
  code: string
  arguments?: Record<string, unknown> | null
  /** seconds; default config.timeoutSeconds */
  timeoutSeconds?: number
  /**
   * the policy gate's verdict (src/run/pipeline.ts, the one place that applies the code policy):
   * the code runs only once it has resolved to undefined; a refusal is returned as the result
   */
  verdict?: Promise<RunResult | undefined>
  /**
   * The user's output as it arrives: stdout and stderr bytes in order per stream, never the
   * runner's frames, never past the output cap. The same bytes end up in the result.
   */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void
  /** aborting kills the run's container; the run then returns what it has (the caller says it was stopped) */
  signal?: AbortSignal
}

export interface EngineStatus {
  runtime: 'runsc' | 'runc' | null
  /** what makes the sandboxes (docker, runsc); null before start */
  backend: string | null
  healthy: boolean
  reason: string | null
  pools: PoolStats[]
  /** the container budget shared by the pools (admission control) */
  admission: BudgetStats & {executing: number; queued: number; rejected: number}
}

const KILL_GRACE_MS = 5000

/** argv of a runtime's runner (its source inline: nothing of ours is in the image); `preloaded`: one that imports its runtime's preload first */
export function runnerCommand(runtime: RuntimeId, options: {preloaded?: boolean} = {}): string[] {
  const {runner} = RUNTIMES[runtime]
  return runner.command(readFileSync(packagePath('templates', 'runners', runner.file), 'utf8'), options.preloaded ? runner.preload?.modules : undefined)
}

const RUNNER_ENV = ['HOME=/tmp', 'TMPDIR=/tmp', 'MPLBACKEND=Agg', 'MPLCONFIGDIR=/tmp/matplotlib', 'PYTHONIOENCODING=utf-8', 'LANG=C.UTF-8']

export class Engine {
  readonly id = randomUUID()
  /** one pool per runtime */
  private pools = new Map<RuntimeId, RunnerPool>()
  /** one pool of preloaded runners per runtime that has a preload (src/engine/preload.ts) */
  private preloaded = new Map<RuntimeId, RunnerPool>()
  private budget: ContainerBudget | undefined
  private runtime: 'runsc' | 'runc' | null = null
  private backend: RunnerBackend | undefined
  private startError: string | null = null
  private readonly pendingRemovals = new Set<Promise<void>>()
  private readonly inFlight = new Set<Promise<RunResult>>()
  private stopped = false

  constructor(private readonly options: EngineOptions) {}

  get config(): SandboxConfig {
    return this.options.config
  }

  private emit(level: EngineEvent['level'], message: string, extra: Record<string, unknown> = {}): void {
    this.options.onEvent?.({level, message, ...extra})
  }

  /** Preflight (the backend: daemon, runtime, images), remove leftovers, start warm pools. */
  async start(options: {waitReady?: boolean} = {}): Promise<void> {
    const {config} = this.options
    const languages = this.options.languages ?? (Object.keys(LANGUAGES) as Language[])
    const runtimes = [...new Set(languages.map((l) => LANGUAGES[l].runtime.id))]
    const chosen = this.options.backend ?? config.backend
    const backend = (this.backend = typeof chosen === 'object' ? chosen : await loadBackend(chosen))
    // leftovers of engines that are gone are removed whatever the preflight finds
    const [facts, removed] = await Promise.all([
      backend.preflight({config, runtimes, isolation: this.options.runtime, allowStaleImages: this.options.allowStaleImages}),
      backend.removeLeftovers({ownProcess: this.options.ownProcess}),
    ])
    this.runtime = facts.isolation
    for (const warning of facts.warnings) this.emit('warn', warning, {runtime: facts.isolation})
    if (removed) this.emit('info', `removed ${removed} leftover container(s) of a previous run`, {count: removed})
    const size = this.options.poolSize ?? config.poolSize
    const budget = (this.budget = new ContainerBudget(this.options.maxConcurrentRuns ?? config.maxConcurrentRuns))
    if (size * runtimes.length > budget.limit) {
      this.emit(
        'warn',
        `the warm pools want ${size * runtimes.length} containers but at most ${budget.limit} may exist at once (SANDBOX_MAX_CONCURRENT_RUNS): the pools share them`,
        {pool_size: size, max_concurrent_runs: budget.limit},
      )
    }
    // an engine without warm pools (one-shot runs) makes its sandboxes on demand: nothing to preload for
    const preloadSize = size > 0 ? (this.options.preloadPoolSize ?? config.preloadPoolSize) : 0
    for (const runtime of runtimes) {
      const image = imageOf(config, runtime)
      const pool = (preloaded: boolean) => {
        const cmd = runnerCommand(runtime, {preloaded})
        return new RunnerPool({
          language: runtime,
          kind: preloaded ? 'preloaded' : 'plain',
          size: preloaded ? preloadSize : size,
          // creations include the runner's boot; 4 at a time keeps up with the daemon's churn rate on 2 cores.
          // Preloaded runners: one at a time, only with idle capacity (ContainerBudget)
          maxCreating: preloaded ? 1 : Math.max(4, Math.min(size, 8)),
          idleOnly: preloaded,
          budget,
          create: (signal) =>
            backend.createRunner({
              runtime,
              image,
              command: cmd,
              owner: this.id,
              memoryBytes: config.memoryBytes,
              env: RUNNER_ENV,
              network: this.options.network,
              autoRemove: this.options.autoRemove,
              signal,
            }),
          onEvent: (e) => {
            if (e.type === 'create_failed') this.emit('warn', `cannot start a ${preloaded ? 'preloaded ' : ''}${runtime} container: ${e.message}`, {language: runtime})
          },
        })
      }
      this.pools.set(runtime, pool(false))
      if (preloadSize > 0 && RUNTIMES[runtime].runner.preload) this.preloaded.set(runtime, pool(true))
    }
    const fills = [...this.pools.values()].map((p) => p.fill())
    if (options.waitReady !== false) await Promise.all(fills)
  }

  status(): EngineStatus {
    // the preloaded pools are listed (kind preloaded) but do not decide health: plain runners serve every job
    const pools = [...this.pools.values(), ...this.preloaded.values()].map((p) => p.stats())
    const broken = [...this.pools.values()].filter((p) => !p.healthy)
    const reason = this.startError ?? (broken.length ? broken.map((p) => `${p.language}: ${p.stats().lastError}`).join('; ') : null)
    const budget = this.budget?.stats() ?? {limit: this.options.maxConcurrentRuns ?? this.options.config.maxConcurrentRuns, live: 0, evictions: 0}
    const sum = (k: 'busy' | 'waiting' | 'rejected') => pools.reduce((n, p) => n + p[k], 0)
    const admission = {...budget, executing: sum('busy'), queued: sum('waiting'), rejected: sum('rejected')}
    return {
      runtime: this.runtime,
      backend: this.backend?.id ?? null,
      healthy: !this.stopped && this.pools.size > 0 && reason === null,
      reason: this.stopped ? 'stopped' : reason,
      pools,
      admission,
    }
  }

  async run(request: RunRequest): Promise<RunResult> {
    const p = this.runInner(request)
    this.inFlight.add(p)
    try {
      return await p
    } finally {
      this.inFlight.delete(p)
    }
  }

  private async runInner(request: RunRequest): Promise<RunResult> {
    const {config} = this.options
    const pool = this.pools.get(LANGUAGES[request.language]?.runtime.id)
    if (!pool) return internalErrorResult(`language ${request.language} is not enabled in this engine`)
    // with no warm pool, start the container while the policy looks at the code
    const early = pool.size === 0 ? pool.acquire(config.queueTimeoutSeconds * 1000) : undefined
    early?.catch(() => {})
    const refused = await request.verdict
    if (refused) {
      // the container started for this run is not needed: its removal is tracked like any other (stop() waits for it)
      if (early)
        this.track(
          early.then(
            (c) => pool.release(c),
            () => {},
          ),
        )
      return refused
    }
    let container: Runner
    // data-science code takes a preloaded runner when one is ready now, else a plain one
    const preloaded = early ? undefined : await this.takePreloaded(request)
    const from = preloaded ? preloaded.pool : pool
    try {
      container = preloaded?.runner ?? (await (early ?? pool.acquire(config.queueTimeoutSeconds * 1000)))
    } catch (error) {
      return busyResult(error instanceof PoolBusyError ? error.reason : String(error))
    }
    try {
      return await this.execute(container, request)
    } catch (error) {
      return internalErrorResult(`internal error: ${(error as Error).message}`)
    } finally {
      this.track(from.release(container))
    }
  }

  /** a ready preloaded runner for this job, if its code wants one (src/engine/preload.ts) */
  private async takePreloaded(request: RunRequest): Promise<{pool: RunnerPool; runner: Runner} | undefined> {
    const pool = this.preloaded.get(LANGUAGES[request.language].runtime.id)
    // nothing ready: no need to read the code
    if (!pool || pool.idleCount() === 0 || !(await wantsPreloaded(request.language, request.code))) return undefined
    const runner = pool.take()
    return runner ? {pool, runner} : undefined
  }

  private track(removal: Promise<void>): void {
    this.pendingRemovals.add(removal)
    void removal.finally(() => this.pendingRemovals.delete(removal))
  }

  private async execute(container: Runner, request: RunRequest): Promise<RunResult> {
    const {config} = this.options
    const timeoutSeconds = request.timeoutSeconds ?? config.timeoutSeconds
    const maxOutput = this.options.maxOutputBytes ?? 1024 * 1024
    const limits = frameLimits(config.maxResultBytes)
    const nonce = randomBytes(12).toString('hex')
    let timedOut = false
    // measured from outside, never taken from the runner: the container's peak memory, read from
    // its cgroup while it still exists (before any kill, and before the runner, which waits once
    // it has reported, is removed)
    let memoryKb: number | null | undefined
    const measureMemory = () => {
      memoryKb ??= container.peakMemoryKb()
    }
    // after we kill a container, its exit must be seen within KILL_GRACE_MS (a lost daemon never answers)
    // (the grace timer is awaited, so it holds the process, and is cleared once the run is decided)
    let abandon!: () => void
    let graceTimer: NodeJS.Timeout | undefined
    let decided = false
    const abandoned = new Promise<{exitCode: number; oomKilled: boolean}>((resolve) => {
      abandon = () => {
        if (!decided) graceTimer ??= setTimeout(() => resolve({exitCode: 137, oomKilled: false}), KILL_GRACE_MS)
      }
    })
    const kill = () => {
      measureMemory()
      void container.kill()
      abandon()
    }
    const collector = new OutputCollector({
      nonce,
      maxOutputBytes: maxOutput,
      limits,
      onLimit: () => {
        kill()
        // stop reading: nothing past a cap is wanted
        container.stopOutput()
      },
      onOutput: request.onOutput,
    })
    const job = JSON.stringify({
      nonce,
      workdir: '/workspace',
      // what actually runs (TypeScript: its JavaScript), the code the policy read
      code: runnableCode(request.language, request.code),
      arguments: request.arguments ?? {},
      artifacts: {
        max_files: ARTIFACT_CAPS.files,
        max_bytes: ARTIFACT_CAPS.fileBytes,
        max_total_bytes: ARTIFACT_CAPS.totalBytes,
        extensions: Object.keys(MIME_TYPES),
      },
      limits: runnerLimits(limits),
    })
    const started = performance.now()
    const timer = setTimeout(() => {
      timedOut = true
      kill()
    }, timeoutSeconds * 1000)
    let exit: {exitCode: number; oomKilled: boolean | undefined}
    request.signal?.addEventListener('abort', kill, {once: true})
    if (request.signal?.aborted) kill()
    try {
      container.send(job, {stdout: (b) => collector.stdout(b), stderr: (b) => collector.stderr(b)})
      // the runner's frames arrive before the container has exited: do not wait for teardown
      const first = await Promise.race([collector.complete.then(() => 'frames' as const), container.waitExit(), abandoned])
      if (first === 'frames') measureMemory()
      exit = first === 'frames' ? {exitCode: -1, oomKilled: false} : first
    } finally {
      decided = true
      clearTimeout(timer)
      clearTimeout(graceTimer)
      request.signal?.removeEventListener('abort', kill)
    }
    // the host's clock: from handing over the job to the runner's report (or the container's end)
    const wallMs = Math.round((performance.now() - started) * 1000) / 1000
    const {stdout: rawStdout, stderr, frame} = collector.finish()
    const {stdout, result: markerResult} = extractResultMarker(rawStdout)
    if (frame?.kind === 'malformed' && !timedOut) {
      // the report cannot be used (only code that forges one gets here): say so, with what was measured
      return emptyResult({
        time_used_ms: wallMs,
        memory_used_kb: memoryKb ?? null,
        status: 'program_runner_error',
        exit_code: EXIT.MALFORMED_REPORT,
        stdout,
        stderr: joinLines(stderr, `[the runner's report was malformed: ${frame.reason}]`),
        detail: `malformed runner report: ${frame.reason}`,
      })
    }
    const control = frame?.kind === 'ok' ? frame.frame : undefined
    if (exit.exitCode === -1) exit = {exitCode: control?.ok ? 0 : control?.exit_code || 1, oomKilled: false}
    // a cap on what leaves the sandbox: the stream (collector), the frame's contents, or the
    // runner's own refusal of an over-cap result
    const cap =
      collector.limit ??
      (frame?.kind === 'limit' ? {detail: `Output limit exceeded: ${frame.detail}`, note: `[${frame.detail}]`} : undefined) ??
      (control && !control.ok && control.error_type === RESULT_LIMIT_ERROR_TYPE && control.error
        ? {detail: `Output limit exceeded: ${control.error.slice(0, 200)} (SANDBOX_MAX_RESULT_BYTES)`, note: ''}
        : undefined)
    return classify({
      stdout,
      stderr,
      control: cap ? undefined : control,
      markerResult,
      exitCode: exit.exitCode,
      oomKilled: exit.oomKilled,
      timedOut,
      outputOverflow: cap !== undefined && !timedOut,
      outputLimitDetail: cap?.detail,
      outputLimitNote: cap?.note,
      wallMs,
      memoryKb: memoryKb ?? null,
      timeoutSeconds,
      memoryBytes: config.memoryBytes,
      maxOutputBytes: maxOutput,
    })
  }

  /**
   * Stop accepting runs, let in-flight runs finish up to deadlineMs, remove every container.
   * When it resolves nothing of this engine is left: no container (also none whose creation was
   * still in flight) and no open connection to the daemon, so a one-shot process can exit.
   */
  /** resolves once the containers of finished runs are removed (what a run used is gone) */
  async removalsSettled(): Promise<void> {
    while (this.pendingRemovals.size) await Promise.allSettled([...this.pendingRemovals])
  }

  async stop(deadlineMs = 10_000): Promise<void> {
    this.stopped = true
    if (this.inFlight.size) {
      await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, deadlineMs).unref())])
    }
    const pools = [...this.pools.values(), ...this.preloaded.values()]
    await Promise.allSettled(pools.map((p) => p.close()))
    await Promise.allSettled([...this.pendingRemovals])
    // sweep: anything of ours still running (an exited auto-removed container is on its way out).
    // This also cuts short creations in flight: their start or boot fails at once.
    await this.sweep()
    // a creation in flight may still produce a container after the sweep: wait until each has
    // settled and removed what it made, then sweep once more
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.allSettled(pools.map((p) => p.drained())), new Promise((r) => (timer = setTimeout(r, Math.max(deadlineMs, 5000))))]).finally(() =>
      clearTimeout(timer),
    )
    await Promise.allSettled([...this.pendingRemovals])
    await this.sweep()
  }

  private async sweep(): Promise<void> {
    await this.backend?.removeOwned(this.id, {autoRemove: this.options.autoRemove}).catch(() => {})
  }
}
