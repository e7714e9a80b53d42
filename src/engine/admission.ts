/**
 * Admission control: one budget of sandbox containers for the whole engine.
 *
 * At most `limit` containers exist at once, whatever state they are in: being created,
 * warm and idle in a pool, running a job, or being removed after it. A pool takes a slot
 * before it creates a container and gives it back only when that container is gone, so the
 * number of live containers a `docker ps` shows never exceeds the limit — and neither do the
 * runs executing at once nor the memory they can hold (limit × the per-run memory limit).
 *
 * Runs that find no container wait in their pool's FIFO queue, bounded by the queue timeout
 * (then the -10 "Container pool is busy" answer). Free slots go first to the oldest waiting
 * run across languages, then to warm refills, one language at a time in turn. When runs wait,
 * no slot is free and another language holds idle warm containers, one of those is removed
 * to make room: idle capacity never blocks work. While runs wait, only their languages refill:
 * the others' warm pools stay short until the waiting is over.
 *
 * A member marked idleOnly (the preloaded data-science pool: ~1 s of CPU per runner) is filled
 * only with idle capacity: it gets a slot only when every other member is quiet (no waiting run,
 * no warm deficit, no creation, no run executing) and no container is being removed, so it never
 * takes a slot or CPU that plain refills or runs want; its idle runners are the first evicted, and
 * a creation of it still in flight when runs start waiting is abandoned.
 */
import {availableParallelism, totalmem} from 'node:os'

/** What the budget needs from a pool (RunnerPool implements it). */
export interface BudgetMember {
  /** queue position (see ContainerBudget.nextSeq) of the oldest waiting run that no creation in progress will serve */
  oldestUncoveredWaiter(): number | undefined
  /** how many waiting runs no creation in progress will serve */
  uncoveredWaiters(): number
  /** how many runs wait for one of its containers (served by a creation in progress or not) */
  waitingRuns(): number
  /** its last creation failed: only a creation that succeeds shows it can serve again */
  recovering(): boolean
  /** warm containers this pool still wants */
  warmDeficit(): number
  /** false while the pool cannot start a creation (closed, backing off after a failure, at its creation cap) */
  canCreate(): boolean
  /** idle warm containers it holds */
  idleCount(): number
  /** start one creation; the slot is already taken for it, the pool gives it back when the container is gone */
  grant(): void
  /** remove one idle warm container (it calls leaving(), then release(true) when gone); false when it has none */
  evict(): boolean
  /** fill only with idle capacity (see the module comment) */
  readonly idleOnly?: boolean
  /** nothing waits, is being created or runs, and (unless idle-only) no warm container is missing */
  quiet(): boolean
  /** abandon every creation in flight (each gives its slot back once the backend has removed it); how many */
  abandonCreations(): number
}

export interface BudgetStats {
  /** the cap: containers that may exist at once */
  limit: number
  /** containers that exist now (creating, idle, busy, being removed) */
  live: number
  /** idle warm containers removed to make room for waiting runs of another language */
  evictions: number
}

export class ContainerBudget {
  private used = 0
  /** containers being removed: their slots come back soon */
  private departing = 0
  private evictions = 0
  private seq = 0
  private turn = 0
  private pumping = false
  private again = false
  private readonly members: BudgetMember[] = []

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`container budget must be at least 1, got ${limit}`)
  }

  /** an unlimited budget (a pool on its own, tests) */
  static unlimited(): ContainerBudget {
    return new ContainerBudget(Number.POSITIVE_INFINITY)
  }

  join(member: BudgetMember): void {
    this.members.push(member)
  }

  leave(member: BudgetMember): void {
    const i = this.members.indexOf(member)
    if (i >= 0) this.members.splice(i, 1)
  }

  /** a global, increasing queue position: waiting runs of every language are served in this order */
  nextSeq(): number {
    return ++this.seq
  }

  stats(): BudgetStats {
    return {limit: this.limit, live: this.used, evictions: this.evictions}
  }

  /** a container is being removed: its slot comes back with release(…, true) */
  leaving(): void {
    this.departing++
  }

  /** a container (or a creation that failed) is gone: its slot is free again */
  release(evicted = false, departed = false): void {
    this.used = Math.max(0, this.used - 1)
    if (departed) this.departing = Math.max(0, this.departing - 1)
    if (evicted) this.evictions++
    this.pump()
  }

  /** Hand free slots out (waiting runs first, then warm refills) or make room for waiting runs. */
  pump(): void {
    if (this.pumping) {
      this.again = true
      return
    }
    this.pumping = true
    try {
      do {
        this.again = false
        this.abandonIdleOnlyCreations()
        while (this.used < this.limit && this.grantOne()) {
          // granted one; look again
        }
        if (this.used >= this.limit) this.makeRoom()
      } while (this.again)
    } finally {
      this.pumping = false
    }
  }

  /**
   * runs wait: an idle-only member's creation in flight (a preloaded runner's boot, ~1 s of CPU)
   * started while all was quiet and is abandoned, so that its CPU and its slot go to them
   */
  private abandonIdleOnlyCreations(): void {
    if (!this.members.some((m) => !m.idleOnly && m.waitingRuns() > 0)) return
    for (const m of this.members) if (m.idleOnly) m.abandonCreations()
  }

  private grantOne(): boolean {
    // the oldest waiting run first, whatever its language
    let best: BudgetMember | undefined
    let bestSeq = Number.POSITIVE_INFINITY
    for (const m of this.members) {
      const s = m.oldestUncoveredWaiter()
      if (s !== undefined && s < bestSeq && m.canCreate()) {
        best = m
        bestSeq = s
      }
    }
    if (!best) {
      // then warm refills, one language at a time in turn; idle-only members when all else is quiet.
      // While runs of one language wait, other languages do not refill: a warm container that
      // would be evicted for those runs again costs a whole boot of CPU for nothing. A language
      // whose last creation failed still refills: that is how it recovers (and turns healthy).
      const idle = this.departing === 0 && this.members.every((m) => m.quiet())
      const pressed = this.members.some((m) => m.waitingRuns() > 0)
      for (let i = 0; i < this.members.length; i++) {
        const m = this.members[(this.turn + i) % this.members.length]
        if (m.idleOnly && !idle) continue
        if (pressed && m.waitingRuns() === 0 && !m.recovering()) continue
        if (m.warmDeficit() > 0 && m.canCreate()) {
          this.turn = (this.turn + i + 1) % this.members.length
          best = m
          break
        }
      }
    }
    if (!best) return false
    this.used++
    best.grant()
    return true
  }

  /**
   * every slot is taken: when runs wait, remove idle warm containers to free slots for them, and
   * for plain refills remove idle runners of idle-only members (those go first: they were made
   * with idle capacity and are remade only with idle capacity, so under load they cost nothing)
   */
  private makeRoom(): void {
    // slots of containers being removed (finished runs, earlier evictions) are on their way:
    // evict only for waiting runs those will not serve. A pool with waiters has nothing idle,
    // so evicting never takes from the pool that needs room.
    const order = (a: BudgetMember, b: BudgetMember) => Number(b.idleOnly ?? false) - Number(a.idleOnly ?? false) || b.idleCount() - a.idleCount()
    let waiting = this.members.reduce((n, m) => n + (m.canCreate() ? m.uncoveredWaiters() : 0), 0) - this.departing
    while (waiting > 0) {
      const donor = this.members.filter((m) => m.idleCount() > 0).sort(order)[0]
      if (!donor || !donor.evict()) return
      waiting--
    }
    // what is left of the departing slots serves refills; idle-only runners make room for the rest
    let refills = this.members.reduce((n, m) => n + (!m.idleOnly && m.canCreate() ? m.warmDeficit() : 0), 0) + Math.min(0, waiting)
    while (refills > 0) {
      const donor = this.members.find((m) => m.idleOnly && m.idleCount() > 0)
      if (!donor || !donor.evict()) return
      refills--
    }
  }
}

/** Default cap of live sandbox containers: min(4 × CPU cores, half of the host's memory / the per-run memory limit), at least 1. */
export function defaultMaxConcurrentRuns(memoryBytes: number, host: {cores?: number; memoryBytes?: number} = {}): number {
  const cores = host.cores ?? availableParallelism()
  const mem = host.memoryBytes ?? totalmem()
  return Math.max(1, Math.min(4 * cores, Math.floor((0.5 * mem) / memoryBytes)))
}
