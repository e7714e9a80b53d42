/**
 * A pool of warm, single-use runner containers for one language.
 * Callers wait in FIFO order for a bounded time; every container serves one run and is
 * replaced in the background. Creation failures are retried with backoff and reported.
 * Every container holds a slot of the engine's ContainerBudget (admission.ts) from the start
 * of its creation until it has been removed; without a budget the pool is unbounded.
 */
import {errorMessage} from '../errors.js'
import {ContainerBudget, type BudgetMember} from './admission.js'
import type {Runner} from './runner.js'

/** what a pool's runners are: plain, or preloaded (a runtime's data-science modules imported before readiness) */
export type PoolKind = 'plain' | 'preloaded'

export interface PoolStats {
  language: string
  /** absent: plain */
  kind?: PoolKind
  size: number
  ready: number
  busy: number
  creating: number
  waiting: number
  created: number
  failures: number
  /** runs that found no container within their queue timeout (answered -10) */
  rejected: number
  /** runners handed to runs since start */
  served?: number
  /** creations abandoned because runs were waiting (a preloaded pool's boots that began while all was idle) */
  abandoned?: number
  lastError: string | null
}

export class PoolBusyError extends Error {
  constructor(readonly reason?: string) {
    super(reason ? `Container pool is busy: ${reason}` : 'Container pool is busy')
  }
}

interface Waiter {
  resolve: (c: Runner) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
  /** position in the engine-wide queue */
  seq: number
}

export interface RunnerPoolOptions {
  language: string
  /** warm containers kept ready (0: create on demand) */
  size: number
  /** make a runner; `signal` abandons the creation (the backend removes what it made and rejects) */
  create: (signal: AbortSignal) => Promise<Runner>
  /** concurrent creations at most */
  maxCreating?: number
  /**
   * a creation that has not settled after this long counts as failed (default 60 s): a daemon
   * that dies mid-request can leave its HTTP call unsettled forever, which would otherwise hold a
   * creation slot for good and stop the pool from ever refilling
   */
  createTimeoutMs?: number
  /** the engine's cap of live containers, shared by its pools (default: unlimited) */
  budget?: ContainerBudget
  /** default plain */
  kind?: PoolKind
  /**
   * fill only with idle capacity: this pool gets a slot only when no other pool of the budget
   * wants one, creates, or runs anything (ContainerBudget); its idle runners are the first
   * evicted, and its creations are abandoned when runs wait
   */
  idleOnly?: boolean
  onEvent?: (event: {type: 'created' | 'create_failed' | 'abandoned' | 'discarded' | 'evicted'; language: string; message?: string}) => void
}

export class RunnerPool implements BudgetMember {
  private readonly ready: Runner[] = []
  private readonly waiters: Waiter[] = []
  private creating = 0
  private busy = 0
  private created = 0
  private failures = 0
  private rejected = 0
  private served = 0
  private abandoned = 0
  private consecutiveFailures = 0
  private lastError: string | null = null
  private retryTimer: NodeJS.Timeout | undefined
  private closed = false
  private readonly maxCreating: number
  private readonly budget: ContainerBudget
  /** one per creation in flight */
  private readonly creations = new Set<AbortController>()

  constructor(private readonly options: RunnerPoolOptions) {
    this.maxCreating = options.maxCreating ?? Math.max(2, options.size)
    this.budget = options.budget ?? ContainerBudget.unlimited()
    this.budget.join(this)
  }

  get language(): string {
    return this.options.language
  }

  get idleOnly(): boolean {
    return this.options.idleOnly === true
  }

  /** warm containers kept ready */
  get size(): number {
    return this.options.size
  }

  /** Start filling; resolves when the first fill round has finished (ready or failed). */
  async fill(): Promise<void> {
    this.budget.pump()
    await Promise.all([...this.inProgress])
  }

  /** creations in flight, including the removal of a container that arrives after close() or too late */
  private readonly inProgress = new Set<Promise<void>>()

  private track(work: Promise<void>): void {
    this.inProgress.add(work)
    void work.finally(() => this.inProgress.delete(work))
  }

  /** True when the pool can serve: something ready, or nothing has failed lately. */
  get healthy(): boolean {
    return this.ready.length > 0 || this.lastError === null
  }

  stats(): PoolStats {
    return {
      language: this.options.language,
      kind: this.options.kind ?? 'plain',
      size: this.options.size,
      ready: this.ready.length,
      busy: this.busy,
      creating: this.creating,
      waiting: this.waiters.length,
      created: this.created,
      failures: this.failures,
      rejected: this.rejected,
      served: this.served,
      abandoned: this.abandoned,
      lastError: this.lastError,
    }
  }

  // ----- BudgetMember: creations in progress serve the waiters first (FIFO), the rest refill the warm pool

  oldestUncoveredWaiter(): number | undefined {
    return this.waiters[this.creating]?.seq
  }

  uncoveredWaiters(): number {
    return Math.max(0, this.waiters.length - this.creating)
  }

  waitingRuns(): number {
    return this.waiters.length
  }

  recovering(): boolean {
    return this.lastError !== null
  }

  warmDeficit(): number {
    const forWarm = Math.max(0, this.creating - this.waiters.length)
    return Math.max(0, this.options.size - this.ready.length - forWarm)
  }

  canCreate(): boolean {
    return !this.closed && !this.retryTimer && this.creating < this.maxCreating
  }

  idleCount(): number {
    return this.ready.length
  }

  quiet(): boolean {
    return this.waiters.length === 0 && this.creating === 0 && this.busy === 0 && (this.idleOnly || this.warmDeficit() === 0)
  }

  grant(): void {
    this.track(this.createOne())
  }

  abandonCreations(): number {
    let abandoned = 0
    for (const creation of this.creations) {
      if (creation.signal.aborted) continue
      creation.abort()
      // its slot is on its way back (the backend removes what it made): what makeRoom counts on
      this.budget.leaving()
      abandoned++
    }
    // counted when abandoned, not when the backend has removed it (which may outlast the runs it gave way to)
    this.abandoned += abandoned
    if (abandoned) this.options.onEvent?.({type: 'abandoned', language: this.options.language})
    return abandoned
  }

  evict(): boolean {
    const c = this.ready.shift()
    if (!c) return false
    this.options.onEvent?.({type: 'evicted', language: this.options.language})
    this.dispose(c, true)
    return true
  }

  /** remove a container of ours; its slot is free once it is gone */
  private dispose(container: Runner, evicted = false, how: 'remove' | 'retire' = 'remove'): Promise<void> {
    this.budget.leaving()
    const gone = how === 'retire' ? container.retire() : container.remove()
    return gone.catch(() => {}).finally(() => this.budget.release(evicted, true))
  }

  private replenish(): void {
    this.budget.pump()
  }

  /** runs with a budget slot already taken for it */
  private async createOne(): Promise<void> {
    this.creating++
    const creation = new AbortController()
    this.creations.add(creation)
    try {
      const container = await this.createBounded(creation.signal).finally(() => this.creations.delete(creation))
      this.creating--
      if (creation.signal.aborted) {
        // a backend that finished it anyway: nobody wants it (its departure was counted when it was abandoned)
        await container.remove().catch(() => {})
        this.budget.release(false, true)
        return
      }
      this.created++
      this.consecutiveFailures = 0
      this.lastError = null
      this.options.onEvent?.({type: 'created', language: this.options.language})
      if (this.closed) {
        // nobody wants it any more; drained() waits for this removal
        await this.dispose(container)
        return
      }
      // gone before use: exited, or its attach stream died with the daemon connection
      const discard = () => this.discardIfReady(container)
      container.waitExit().then(discard, discard)
      void container.detached.then(discard)
      const waiter = this.waiters.shift()
      if (waiter) {
        clearTimeout(waiter.timer)
        this.busy++
        this.served++
        waiter.resolve(container)
      } else this.ready.push(container)
    } catch (error) {
      this.creating--
      // only abandonCreations aborts a creation, and it counted the departure of its slot
      const departed = creation.signal.aborted
      // a creation cut short by close() is not a failure worth reporting
      if (this.closed) return this.budget.release(false, departed)
      // abandoned for waiting runs (ContainerBudget): its slot goes back, and that is no failure
      if (departed) return this.budget.release(false, true)
      // the slot comes back after the backoff is set, so it is not handed straight back to this pool
      // (a creation that timed out gives its slot back now; if its container still arrives, it is removed unseen)
      this.failures++
      this.consecutiveFailures++
      this.lastError = errorMessage(error)
      this.options.onEvent?.({type: 'create_failed', language: this.options.language, message: this.lastError})
      // fail fast: nobody should wait for a pool that cannot create containers
      for (const waiter of this.waiters.splice(0)) {
        clearTimeout(waiter.timer)
        waiter.reject(new PoolBusyError(`cannot start a ${this.options.language} container: ${this.lastError}`))
      }
      if (!this.closed && !this.retryTimer) {
        const delay = Math.min(5000, 250 * 2 ** Math.min(this.consecutiveFailures - 1, 5))
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined
          this.replenish()
        }, delay)
        this.retryTimer.unref()
      }
      this.budget.release()
      return
    }
    this.replenish()
  }

  /**
   * The creation, failed after createTimeoutMs. The deadline aborts the creation's signal too, so
   * the backend kills the boot and removes its sandbox; the error is still the timeout (a failure,
   * unlike an abandonment: `abandon` is the pool's own signal).
   */
  private createBounded(abandon: AbortSignal): Promise<Runner> {
    const ms = this.options.createTimeoutMs ?? 60_000
    const deadline = new AbortController()
    const pending = this.options.create(AbortSignal.any([abandon, deadline.signal]))
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // if it ever arrives, nobody wants it (drained() waits for that removal too)
        this.track(
          pending.then(
            (c) => c.remove().catch(() => {}),
            () => {},
          ),
        )
        reject(new Error(`starting a container did not finish within ${Math.round(ms / 1000)} s`))
        deadline.abort()
      }, ms)
      timer.unref()
    })
    return Promise.race([pending, expired]).finally(() => clearTimeout(timer))
  }

  /** a ready container died on its own (daemon restart, OOM at start): drop it */
  private discardIfReady(container: Runner): void {
    const i = this.ready.indexOf(container)
    if (i < 0) return
    this.ready.splice(i, 1)
    this.options.onEvent?.({type: 'discarded', language: this.options.language})
    void this.dispose(container)
  }

  /** A ready container now, or undefined (nothing ready, or closed): never waits. */
  take(): Runner | undefined {
    if (this.closed) return undefined
    while (this.ready.length) {
      const c = this.ready.shift()!
      if (c.isUnusable) {
        void this.dispose(c)
        continue
      }
      this.busy++
      this.served++
      // with another runner still ready, the refill waits for this run to end (release()): a
      // sandbox booting beside a warm run takes the CPU it needs (its in-sandbox time went from
      // 3.6 to 9 ms on two cores); with none left, it starts now, for whoever comes next
      if (this.ready.length === 0) this.replenish()
      return c
    }
    return undefined
  }

  /** Take a container, waiting up to timeoutMs in FIFO order. */
  acquire(timeoutMs: number): Promise<Runner> {
    if (this.closed) return Promise.reject(new PoolBusyError('the engine is shutting down'))
    const ready = this.take()
    if (ready) return Promise.resolve(ready)
    if (this.lastError && this.retryTimer) {
      return Promise.reject(new PoolBusyError(`cannot start a ${this.options.language} container: ${this.lastError}`))
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        seq: this.budget.nextSeq(),
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(waiter)
          if (i >= 0) this.waiters.splice(i, 1)
          this.rejected++
          reject(new PoolBusyError())
        }, timeoutMs),
      }
      this.waiters.push(waiter)
      this.replenish()
    })
  }

  /** A run finished with this container: it is never reused; its slot is free once it is removed. */
  release(container: Runner): Promise<void> {
    this.busy--
    const removal = this.dispose(container, false, 'retire')
    // an unlimited budget refills at once; a capped one when the slot comes back. At once means
    // after the caller has had its result: the synchronous part of making a sandbox (for runsc,
    // writing its bundle and spawning its process, 6-8 ms) would otherwise delay every answer
    setImmediate(() => this.replenish())
    return removal
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer)
      waiter.reject(new PoolBusyError('the engine is shutting down'))
    }
    await Promise.allSettled(this.ready.splice(0).map((c) => this.dispose(c)))
    this.budget.leave(this)
  }

  /**
   * After close(): resolves when every creation that was in flight has settled and a container
   * it produced late has been removed (so nothing of this pool outlives its engine's stop()).
   */
  async drained(): Promise<void> {
    while (this.inProgress.size) await Promise.allSettled([...this.inProgress])
  }
}
