/** What the bench parts share: percentiles, the machine's busy CPU time, and closed-loop load. */
import {readFileSync} from 'node:fs'

/** the p-th percentile (nearest rank, 0–100) of values; NaN when there are none */
export function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN
}

/** busy CPU time of the whole machine so far, seconds (/proc/stat: all but idle and iowait) */
export function busyCpuSeconds(): number {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/)
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number)
  return (user + nice + system + irq + softirq + (steal ?? 0)) / 100
}

/** CPU-seconds (user + system) of one process so far, 0 when it is gone (/proc/<pid>/stat) */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

export interface LoopResult {
  completed: number
  errors: number
  /** wall seconds of the loop */
  seconds: number
  /** busy CPU-seconds of the whole machine during the loop */
  cpuSeconds: number
}

/** Rounds of one point added up: runs, errors, seconds and CPU-seconds. */
export const sumLoops = (loops: LoopResult[]): LoopResult =>
  loops.reduce((a, b) => ({completed: a.completed + b.completed, errors: a.errors + b.errors, seconds: a.seconds + b.seconds, cpuSeconds: a.cpuSeconds + b.cpuSeconds}), {
    completed: 0,
    errors: 0,
    seconds: 0,
    cpuSeconds: 0,
  })

/**
 * `clients` closed loops of `once` (true: completed) for `seconds`; a throw counts as an error.
 * With `warmupSeconds`, the loops run that long first, uncounted (runs, errors and CPU), so that
 * the figure is the steady state: not the warm runners a pool had at the start. `onCounting` is
 * called when counting starts (to read other figures over the same window).
 */
export async function closedLoop(
  clients: number,
  seconds: number,
  once: () => Promise<boolean>,
  options: {warmupSeconds?: number; onCounting?: () => void} = {},
): Promise<LoopResult> {
  let completed = 0
  let errors = 0
  const deadline = performance.now() + ((options.warmupSeconds ?? 0) + seconds) * 1000
  let cpu0 = 0
  let t0 = 0
  let counting = false
  const count = () => {
    counting = true
    options.onCounting?.()
    cpu0 = busyCpuSeconds()
    t0 = performance.now()
  }
  const startCounting = options.warmupSeconds ? setTimeout(count, options.warmupSeconds * 1000) : undefined
  if (!startCounting) count()
  try {
    await Promise.all(
      Array.from({length: clients}, async () => {
        while (performance.now() < deadline) {
          const ok = await once().catch(() => false)
          if (!counting) continue
          if (ok) completed++
          else errors++
        }
      }),
    )
  } finally {
    clearTimeout(startCounting)
  }
  return {completed, errors, seconds: (performance.now() - t0) / 1000, cpuSeconds: busyCpuSeconds() - cpu0}
}
