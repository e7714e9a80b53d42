/**
 * A pool of warm, single-use runner containers for one language.
 * Callers wait in FIFO order for a bounded time; every container serves one run and is
 * replaced in the background. Creation failures are retried with backoff and reported.
 */
import type {RunnerContainer} from '../docker/containers.js'
import {errorMessage} from '../errors.js'

export interface PoolStats {
  language: string
  size: number
  ready: number
  busy: number
  creating: number
  waiting: number
  created: number
  failures: number
  lastError: string | null
}

export class PoolBusyError extends Error {
  constructor(readonly reason?: string) {
    super(reason ? `Container pool is busy: ${reason}` : 'Container pool is busy')
  }
}

interface Waiter {
  resolve: (c: RunnerContainer) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
}

export interface RunnerPoolOptions {
  language: string
  /** warm containers kept ready (0: create on demand) */
  size: number
  create: () => Promise<RunnerContainer>
  /** concurrent creations at most */
  maxCreating?: number
  /**
   * a creation that has not settled after this long counts as failed (default 60 s): a daemon
   * that dies mid-request can leave its HTTP call unsettled forever, which would otherwise hold a
   * creation slot for good and stop the pool from ever refilling
   */
  createTimeoutMs?: number
  onEvent?: (event: {type: 'created' | 'create_failed' | 'discarded'; language: string; message?: string}) => void
}

export class RunnerPool {
  private readonly ready: RunnerContainer[] = []
  private readonly waiters: Waiter[] = []
  private creating = 0
  private busy = 0
  private created = 0
  private failures = 0
  private consecutiveFailures = 0
  private lastError: string | null = null
  private retryTimer: NodeJS.Timeout | undefined
  private closed = false
  /** creations in flight, including the removal of a container that arrives after close() */
  private readonly creations = new Set<Promise<void>>()
  private readonly maxCreating: number

  constructor(private readonly options: RunnerPoolOptions) {
    this.maxCreating = options.maxCreating ?? Math.max(2, options.size)
  }

  get language(): string {
    return this.options.language
  }

  /** warm containers kept ready */
  get size(): number {
    return this.options.size
  }

  /** Start filling; resolves when the first fill round has finished (ready or failed). */
  async fill(): Promise<void> {
    const rounds: Promise<void>[] = []
    while (this.wanted() > 0) rounds.push(this.createOne())
    await Promise.all(rounds)
  }

  /** True when the pool can serve: something ready, or nothing has failed lately. */
  get healthy(): boolean {
    return this.ready.length > 0 || this.lastError === null
  }

  stats(): PoolStats {
    return {
      language: this.options.language,
      size: this.options.size,
      ready: this.ready.length,
      busy: this.busy,
      creating: this.creating,
      waiting: this.waiters.length,
      created: this.created,
      failures: this.failures,
      lastError: this.lastError,
    }
  }

  private wanted(): number {
    if (this.closed || this.retryTimer) return 0
    const desired = this.options.size + this.waiters.length
    return Math.min(desired - this.ready.length - this.creating, this.maxCreating - this.creating)
  }

  private replenish(): void {
    while (this.wanted() > 0) void this.createOne()
  }

  private createOne(): Promise<void> {
    const creation = this.createOneInner()
    this.creations.add(creation)
    void creation.finally(() => this.creations.delete(creation))
    return creation
  }

  private async createOneInner(): Promise<void> {
    this.creating++
    try {
      const container = await this.createBounded()
      this.creating--
      this.created++
      this.consecutiveFailures = 0
      this.lastError = null
      this.options.onEvent?.({type: 'created', language: this.options.language})
      if (this.closed) {
        // nobody wants it any more; drained() waits for this removal
        await container.remove().catch(() => {})
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
        waiter.resolve(container)
      } else this.ready.push(container)
    } catch (error) {
      this.creating--
      // a creation cut short by close() is not a failure worth reporting
      if (this.closed) return
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
      return
    }
    this.replenish()
  }

  private createBounded(): Promise<RunnerContainer> {
    const ms = this.options.createTimeoutMs ?? 60_000
    const pending = this.options.create()
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // if it ever arrives, nobody wants it
        pending.then((c) => c.remove().catch(() => {}), () => {})
        reject(new Error(`starting a container did not finish within ${Math.round(ms / 1000)} s`))
      }, ms)
      timer.unref()
    })
    return Promise.race([pending, expired]).finally(() => clearTimeout(timer))
  }

  /** a ready container died on its own (daemon restart, OOM at start): drop it */
  private discardIfReady(container: RunnerContainer): void {
    const i = this.ready.indexOf(container)
    if (i < 0) return
    this.ready.splice(i, 1)
    this.options.onEvent?.({type: 'discarded', language: this.options.language})
    void container.remove().catch(() => {})
    this.replenish()
  }

  /** Take a container, waiting up to timeoutMs in FIFO order. */
  acquire(timeoutMs: number): Promise<RunnerContainer> {
    if (this.closed) return Promise.reject(new PoolBusyError('the engine is shutting down'))
    while (this.ready.length) {
      const c = this.ready.shift()!
      if (c.isUnusable) {
        void c.remove().catch(() => {})
        continue
      }
      this.busy++
      this.replenish()
      return Promise.resolve(c)
    }
    if (this.lastError && this.retryTimer) {
      return Promise.reject(new PoolBusyError(`cannot start a ${this.options.language} container: ${this.lastError}`))
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(waiter)
          if (i >= 0) this.waiters.splice(i, 1)
          reject(new PoolBusyError())
        }, timeoutMs),
      }
      this.waiters.push(waiter)
      this.replenish()
    })
  }

  /** A run finished with this container: it is never reused. */
  release(container: RunnerContainer): Promise<void> {
    this.busy--
    this.replenish()
    return container.retire().catch(() => {})
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer)
      waiter.reject(new PoolBusyError('the engine is shutting down'))
    }
    await Promise.allSettled(this.ready.splice(0).map((c) => c.remove()))
  }

  /**
   * After close(): resolves when every creation that was in flight has settled and a container
   * it produced late has been removed (so nothing of this pool outlives its engine's stop()).
   */
  async drained(): Promise<void> {
    while (this.creations.size) await Promise.allSettled([...this.creations])
  }
}
