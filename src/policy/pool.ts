/**
 * Inspection off the caller's event loop, within a budget.
 *
 * A check of a big program is seconds of synchronous parsing (about 3 s for 2 MB of Python);
 * on the manager's event loop that stalls /healthz and every other run. So:
 * - code up to `inlineMaxBytes` (16 KiB: well under 50 ms even for Python, usually < 1 ms) is
 *   inspected inline, which spares the usual snippet a thread round trip and `sandbox run` a
 *   worker start;
 * - bigger code goes to a small fixed pool of worker threads (2 by default), with a time budget
 *   per check (2 s of the worker's time; the worker is terminated when it is over and a fresh
 *   one takes its place). Big programs (over 128 KiB) may occupy all workers but one, so a
 *   check of ordinary size never waits behind them;
 * - code over `maxBytes` (1 MiB) is not inspected at all;
 * - a check that no worker has taken within `queueMs` (30 s) is refused.
 * Over a budget, a crashed worker or a worker that cannot start: the code is refused with a
 * finding that says so and how to proceed. The policy never fails open.
 *
 * Workers are unref'd while idle (a CLI exits as soon as its work is done) and ref'd while
 * they hold a job; closePolicyWorkers() ends them.
 */
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {pathToFileURL} from 'node:url'
import {Worker} from 'node:worker_threads'

import {prerequisiteError} from '../errors.js'
import {analyse, type InspectedLevel} from './analyse.js'
import type {PolicyIssue, PolicyLanguage} from './types.js'
import type {WorkerJob, WorkerReply} from './worker.js'

export interface PolicyBudget {
  /** worker threads for big programs */
  poolSize: number
  /** CPU time one check may take in a worker, ms (wall-clock time where the thread's CPU time cannot be read) */
  timeMs: number
  /** larger code is refused without being inspected, bytes (UTF-8) */
  maxBytes: number
  /** code up to this size is inspected inline, bytes (UTF-8) */
  inlineMaxBytes: number
  /** code over this size is "big": big checks may hold all workers but one, bytes (UTF-8) */
  bigBytes: number
  /** a check that no worker has taken after this long is refused, ms */
  queueMs: number
}

export const DEFAULT_POLICY_BUDGET: Readonly<PolicyBudget> = Object.freeze({
  poolSize: 2,
  timeMs: 2000,
  maxBytes: 1024 * 1024,
  inlineMaxBytes: 16 * 1024,
  bigBytes: 128 * 1024,
  queueMs: 30_000,
})

let budget: PolicyBudget = {...DEFAULT_POLICY_BUDGET}

/** Change the budget (tests, benchmarks); returns the previous one. Running workers are kept. */
export function setPolicyBudget(change: Partial<PolicyBudget>): PolicyBudget {
  const previous = budget
  budget = {...budget, ...change}
  return previous
}

export const policyBudget = (): Readonly<PolicyBudget> => budget

const budgetHint = (what: string) =>
  what === 'waiting'
    ? 'the policy workers are busy with other big programs, so the code is refused: send it again later, send smaller code (up to 16 KiB is checked at once), or run with --policy off (the sandbox still contains the code)'
    : `the policy check's ${what} budget was exceeded, so the code is refused: send smaller code (move data into arguments), or run with --policy off (the sandbox still contains the code)`

function refusal(message: string, hint: string): PolicyIssue[] {
  return [{line: 1, message, hint}]
}

// ---------------------------------------------------------------- workers

interface Job extends WorkerJob {
  big: boolean
  /** refuses the check if no worker has taken it in time */
  waiting?: NodeJS.Timeout
  resolve: (issues: PolicyIssue[]) => void
  reject: (error: unknown) => void
}

interface Slot {
  worker: Worker
  job: Job | undefined
  timer: NodeJS.Timeout | undefined
  ready: Promise<void>
  /** the worker thread's kernel id, when /proc tells it */
  tid: number | undefined
}

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const USER_HZ = 100

/** CPU time (user + system) of one thread of this process, ms; undefined when it cannot be read. */
export function threadCpuMs(tid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // after the command: state is field 3, utime 14, stime 15 (1-based, counting pid and comm)
    const ticks = Number(fields[11]) + Number(fields[12])
    return Number.isFinite(ticks) ? (ticks * 1000) / USER_HZ : undefined
  } catch {
    return undefined
  }
}

/** However slow the host, a check that has had this many times its CPU budget of wall-clock time is ended. */
const WALL_FACTOR = 10

/** A worker that has not loaded its parsers by then is given up (its check is refused). */
const START_TIMEOUT_MS = 60_000

const slots: Slot[] = []
const queue: Job[] = []
let nextId = 1

/**
 * How a worker thread loads this package: the compiled worker.js next to this file, or, when
 * running from the TypeScript sources (bin/dev.js, tests), worker.ts through tsx's loader.
 */
function workerSource(): {code: string; entry: string; tsx: string | undefined} {
  const fromSource = import.meta.url.endsWith('.ts')
  const entry = new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url).href
  const tsx = fromSource ? pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href : undefined
  // valid as a CommonJS script and as an ES module (a parent's --input-type reaches eval workers)
  const code = `
    import('node:worker_threads').then(async ({workerData, parentPort}) => {
      try {
        if (workerData.tsx) {
          const api = await import(workerData.tsx)
          ;(api.register ?? api.default.register)()
        }
        await import(workerData.entry)
      } catch (error) {
        parentPort.postMessage({ready: false, error: {message: String((error && error.stack) || error)}})
      }
    })
  `
  return {code, entry, tsx}
}

function startSlot(): Slot {
  const source = workerSource()
  const worker = new Worker(source.code, {
    eval: true,
    workerData: {entry: source.entry, tsx: source.tsx},
    // the parse trees live in wasm memory; this bounds the JavaScript side (acorn's AST)
    resourceLimits: {maxOldGenerationSizeMb: 512},
    stdout: false,
    stderr: false,
  })
  worker.unref()
  let readyResolve!: () => void
  let readyReject!: (error: unknown) => void
  const slot: Slot = {worker, job: undefined, timer: undefined, tid: undefined, ready: new Promise<void>((resolve, reject) => ((readyResolve = resolve), (readyReject = reject)))}
  slot.ready.catch(() => {})
  // a worker that never gets its parsers loaded must not leave a check waiting forever
  const startTimer = setTimeout(() => {
    const error = prerequisiteError(`A policy worker did not start within ${START_TIMEOUT_MS / 1000} s`, 'POLICY_WORKER_FAILED')
    readyReject(error)
    fail(slot, error)
  }, START_TIMEOUT_MS)
  startTimer.unref()
  void slot.ready.finally(() => clearTimeout(startTimer)).catch(() => {})
  worker.on('message', (reply: WorkerReply) => {
    if ('ready' in reply) {
      if (reply.ready) {
        slot.tid = reply.tid
        readyResolve()
      } else {
        const error = prerequisiteError(`A policy worker could not start: ${reply.error.message}`, reply.error.code ?? 'POLICY_WORKER_FAILED', reply.error.suggestions ?? [])
        readyReject(error)
        fail(slot, error)
      }
      return
    }
    const job = slot.job
    if (!job || job.id !== reply.id) return
    finish(slot)
    if (job.big && !queue.some((waiting) => waiting.big)) {
      // the parser's wasm memory grows with the program and is never given back: after a big
      // program the worker is retired (about 100 MB for 700 KB of Python) once no other big
      // program waits (a burst reuses it, instead of paying a worker start per program), and a
      // fresh one starts when the next check needs it
      slots.splice(slots.indexOf(slot), 1)
      void slot.worker.terminate().catch(() => {})
    }
    if ('issues' in reply) job.resolve(reply.issues)
    else job.reject(prerequisiteError(reply.error.message, reply.error.code ?? 'POLICY_CHECK_FAILED', reply.error.suggestions ?? []))
    dispatch()
  })
  worker.on('error', (error) => {
    readyReject(error)
    fail(slot, error)
  })
  worker.on('exit', () => fail(slot, new Error('the policy worker exited')))
  slots.push(slot)
  return slot
}

function finish(slot: Slot): void {
  if (slot.timer) clearInterval(slot.timer)
  slot.timer = undefined
  slot.job = undefined
  slot.worker.unref()
}

/** A worker that died or was terminated: its job is refused (never waved through), the slot is dropped. */
function fail(slot: Slot, error: unknown): void {
  const index = slots.indexOf(slot)
  if (index === -1) return
  slots.splice(index, 1)
  const job = slot.job
  finish(slot)
  void slot.worker.terminate().catch(() => {})
  if (job) {
    const reason = error instanceof Error ? error.message : String(error)
    job.resolve(
      refusal(
        `Policy Check Failed: ${/memory/i.test(reason) ? 'the inspection ran out of memory' : reason}`,
        'the policy check could not finish, so the code is refused: send smaller code, or run with --policy off (the sandbox still contains the code)',
      ),
    )
  }
  dispatch()
}

function dispatch(): void {
  while (queue.length > 0) {
    // big programs may hold all workers but one, so an ordinary check never waits behind them
    const bigRunning = slots.filter((s) => s.job?.big).length
    const index = queue.findIndex((job) => !job.big || bigRunning < Math.max(1, budget.poolSize - 1))
    if (index === -1) return
    let slot = slots.find((s) => s.job === undefined)
    if (!slot) {
      if (slots.length >= Math.max(1, budget.poolSize)) return
      slot = startSlot()
    }
    const [job] = queue.splice(index, 1)
    if (job.waiting) clearTimeout(job.waiting)
    run(slot, job)
  }
}

function run(slot: Slot, job: Job): void {
  slot.job = job
  slot.worker.ref()
  const {id, code, language, level} = job
  slot.worker.postMessage({id, code, language, level} satisfies WorkerJob)
  // the clock starts when the worker has its parsers: a cold start is not the program's fault
  void slot.ready.then(
    () => {
      if (slot.job === job) watch(slot, job)
    },
    () => {},
  )
}

/**
 * The time budget: the worker thread's own CPU time, read from /proc, so that a busy host does
 * not turn a fair check into a refusal; wall-clock time where that cannot be read, and as a
 * backstop (WALL_FACTOR times the budget).
 */
function watch(slot: Slot, job: Job): void {
  const {timeMs} = budget
  const startWall = performance.now()
  const startCpu = slot.tid === undefined ? undefined : threadCpuMs(slot.tid)
  const over = (): string | undefined => {
    const wall = performance.now() - startWall
    if (startCpu === undefined || slot.tid === undefined) return wall > timeMs ? `the inspection took more than ${timeMs / 1000} s` : undefined
    const cpu = (threadCpuMs(slot.tid) ?? startCpu) - startCpu
    if (cpu > timeMs) return `the inspection took more than ${timeMs / 1000} s of CPU time`
    if (wall > timeMs * WALL_FACTOR) return `the inspection took more than ${(timeMs * WALL_FACTOR) / 1000} s`
    return undefined
  }
  slot.timer = setInterval(
    () => {
      if (slot.job !== job) return
      const reason = over()
      if (reason === undefined) return
      slots.splice(slots.indexOf(slot), 1)
      finish(slot)
      void slot.worker.terminate().catch(() => {})
      job.resolve(refusal(`Policy Budget: ${reason}`, budgetHint('time')))
      dispatch()
    },
    Math.max(5, Math.min(250, timeMs / 4)),
  )
}

function inWorker(code: string, language: PolicyLanguage, level: InspectedLevel, big: boolean): Promise<PolicyIssue[]> {
  return new Promise<PolicyIssue[]>((resolve, reject) => {
    const job: Job = {id: nextId++, code, language, level, big, resolve, reject}
    job.waiting = setTimeout(() => {
      const index = queue.indexOf(job)
      if (index === -1) return
      queue.splice(index, 1)
      resolve(refusal(`Policy Budget: the check waited more than ${budget.queueMs / 1000} s for a policy worker`, budgetHint('waiting')))
    }, budget.queueMs)
    queue.push(job)
    dispatch()
  })
}

// ---------------------------------------------------------------- entry points

/** Inspect within the budget: inline when small, else in a worker; over budget is a refusal. */
export async function inspectWithinBudget(code: string, language: PolicyLanguage, level: InspectedLevel): Promise<PolicyIssue[]> {
  const bytes = Buffer.byteLength(code, 'utf8')
  if (bytes > budget.maxBytes) {
    return refusal(`Policy Budget: the code is ${bytes} bytes; the policy inspects at most ${budget.maxBytes}`, budgetHint('size'))
  }
  if (bytes <= budget.inlineMaxBytes) return analyse(code, language, level)
  return inWorker(code, language, level, bytes > budget.bigBytes)
}

/** Start the workers and load their parsers now (the manager does this at start). */
export async function warmUpPolicyWorkers(): Promise<void> {
  while (slots.length < Math.max(1, budget.poolSize)) startSlot()
  await Promise.all(slots.map((slot) => slot.ready))
}

/** End every policy worker; queued checks are refused. The next big check starts workers again. */
export async function closePolicyWorkers(): Promise<void> {
  const closing = slots.splice(0)
  for (const job of queue.splice(0)) {
    if (job.waiting) clearTimeout(job.waiting)
    job.resolve(refusal('Policy Check Failed: the policy workers were stopped', 'the service is shutting down: send the code again'))
  }
  await Promise.all(
    closing.map(async (slot) => {
      const job = slot.job
      finish(slot)
      job?.resolve(refusal('Policy Check Failed: the policy workers were stopped', 'the service is shutting down: send the code again'))
      await slot.worker.terminate().catch(() => {})
    }),
  )
}

/** For tests: how many workers exist and how many checks wait. */
export const policyWorkerStats = () => ({workers: slots.length, busy: slots.filter((s) => s.job).length, queued: queue.length})
