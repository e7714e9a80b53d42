/**
 * Prometheus text exposition (format 0.0.4) for the manager: runs by status and language,
 * latency histogram, pool gauges, queue depth, HTTP answers by code, process memory.
 * Plus a small parser used by `sandbox status` and the load benchmark.
 */
import type {EngineStatus} from '../engine/engine.js'
import type {RunResult} from '../engine/result.js'

export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const

interface Histogram {
  buckets: number[]
  sum: number
  count: number
}

export interface ProcessFigures {
  rssBytes: number
  heapUsedBytes: number
  startTimeSeconds: number
  cpuSeconds: number
}

export function processFigures(startTimeSeconds: number): ProcessFigures {
  const cpu = process.cpuUsage()
  const mem = process.memoryUsage()
  return {rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, startTimeSeconds, cpuSeconds: (cpu.user + cpu.system) / 1e6}
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const labels = (l: Record<string, string | number>) => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${esc(String(v))}"`)
  return parts.length ? `{${parts.join(',')}}` : ''
}
const num = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN')

export class Metrics {
  private readonly runs = new Map<string, number>()
  private readonly runnerErrors = new Map<string, number>()
  private readonly http = new Map<string, number>()
  private readonly latency = new Map<string, Histogram>()
  private readonly overrides = new Map<string, number>()
  inFlight = 0
  readonly startTimeSeconds = Date.now() / 1000

  /** One answered POST /run (HTTP 200). */
  recordRun(language: string, result: Pick<RunResult, 'status' | 'exit_code'>, seconds: number): void {
    inc(this.runs, `${language}\u0000${result.status}`)
    if (result.status === 'program_runner_error') inc(this.runnerErrors, `${language}\u0000${result.exit_code}`)
    let h = this.latency.get(language)
    if (!h) this.latency.set(language, (h = {buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0}))
    h.count++
    h.sum += seconds
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= LATENCY_BUCKETS[i]) h.buckets[i]++
  }

  recordHttp(route: string, code: number): void {
    inc(this.http, `${route}\u0000${code}`)
  }

  /** a run asked for its own code policy (POST /run "policy"), honoured */
  recordPolicyOverride(policy: string): void {
    inc(this.overrides, policy)
  }

  /** runs answered so far, as data (GET /status) */
  runSummary(): {total: number; byStatus: Record<string, number>; byLanguage: Record<string, number>; busy: number} {
    const out = {total: 0, byStatus: {} as Record<string, number>, byLanguage: {} as Record<string, number>, busy: 0}
    for (const [key, n] of this.runs) {
      const [language, status] = key.split('\u0000')
      out.total += n
      out.byStatus[status] = (out.byStatus[status] ?? 0) + n
      out.byLanguage[language] = (out.byLanguage[language] ?? 0) + n
    }
    for (const [key, n] of this.runnerErrors) if (key.endsWith('\u0000-10')) out.busy += n
    return out
  }

  /** HTTP 4xx answers so far (nothing ran for them) */
  rejectedRequests(): number {
    let n = 0
    for (const [key, count] of this.http) {
      const code = Number(key.split('\u0000')[1])
      if (code >= 400 && code < 500) n += count
    }
    return n
  }

  render(engine: EngineStatus, proc: ProcessFigures = processFigures(this.startTimeSeconds), info: Record<string, string> = {}): string {
    const out: string[] = []
    const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)

    family('sandbox_info', 'gauge', 'Constant 1; labels describe the manager.')
    out.push(`sandbox_info${labels({...info, runtime: engine.runtime ?? 'none'})} 1`)
    family('sandbox_healthy', 'gauge', '1 when the manager can serve runs (same as GET /healthz 200).')
    out.push(`sandbox_healthy ${engine.healthy ? 1 : 0}`)

    family('sandbox_runs_total', 'counter', 'Runs answered by POST /run, by language and result status.')
    for (const [key, n] of sorted(this.runs)) {
      const [language, status] = key.split('\u0000')
      out.push(`sandbox_runs_total${labels({language, status})} ${n}`)
    }
    family('sandbox_runner_errors_total', 'counter', 'program_runner_error answers by synthetic exit code (-10 no container, -999 unsafe code, -3 internal).')
    for (const [key, n] of sorted(this.runnerErrors)) {
      const [language, exit_code] = key.split('\u0000')
      out.push(`sandbox_runner_errors_total${labels({language, exit_code})} ${n}`)
    }
    family('sandbox_run_duration_seconds', 'histogram', 'Time from request to answer of POST /run, by language.')
    for (const [language, h] of [...this.latency.entries()].sort()) {
      LATENCY_BUCKETS.forEach((le, i) => out.push(`sandbox_run_duration_seconds_bucket${labels({language, le: String(le)})} ${h.buckets[i]}`))
      out.push(`sandbox_run_duration_seconds_bucket${labels({language, le: '+Inf'})} ${h.count}`)
      out.push(`sandbox_run_duration_seconds_sum${labels({language})} ${num(h.sum)}`)
      out.push(`sandbox_run_duration_seconds_count${labels({language})} ${h.count}`)
    }
    family('sandbox_http_requests_total', 'counter', 'HTTP answers by route and status code (4xx: malformed or unauthorised, nothing ran).')
    for (const [key, n] of sorted(this.http)) {
      const [route, code] = key.split('\u0000')
      out.push(`sandbox_http_requests_total${labels({route, code})} ${n}`)
    }
    family('sandbox_policy_overrides_total', 'counter', 'Runs that chose their own code policy (POST /run "policy"; only with --allow-policy-override).')
    for (const [policy, n] of sorted(this.overrides)) out.push(`sandbox_policy_overrides_total${labels({policy})} ${n}`)
    family('sandbox_runs_in_flight', 'gauge', 'POST /run requests being served now.')
    out.push(`sandbox_runs_in_flight ${this.inFlight}`)

    const pools: Array<[string, string, string, keyof EngineStatus['pools'][number]]> = [
      ['sandbox_pool_size', 'gauge', 'Warm containers wanted per language.', 'size'],
      ['sandbox_pool_ready', 'gauge', 'Warm containers ready to take a run.', 'ready'],
      ['sandbox_pool_busy', 'gauge', 'Containers running a job.', 'busy'],
      ['sandbox_pool_creating', 'gauge', 'Containers being created.', 'creating'],
      ['sandbox_queue_depth', 'gauge', 'Runs waiting for a free container.', 'waiting'],
      ['sandbox_queue_rejected_total', 'counter', 'Runs refused because no container was free within the queue timeout (answered -10).', 'rejected'],
      ['sandbox_containers_created_total', 'counter', 'Containers created since start.', 'created'],
      ['sandbox_container_failures_total', 'counter', 'Failed container creations since start.', 'failures'],
    ]
    for (const [name, type, help, key] of pools) {
      family(name, type, help)
      for (const p of engine.pools) out.push(`${name}${labels({language: p.language, ...(p.kind === 'preloaded' ? {kind: p.kind} : {})})} ${Number(p[key] ?? 0)}`)
    }

    const a = engine.admission
    family('sandbox_admission_limit', 'gauge', 'Admission cap: sandbox containers that may exist at once (SANDBOX_MAX_CONCURRENT_RUNS).')
    out.push(`sandbox_admission_limit ${num(a.limit)}`)
    family('sandbox_containers_live', 'gauge', 'Sandbox containers that exist now: warm, busy, starting or being removed (never above the cap).')
    out.push(`sandbox_containers_live ${a.live}`)
    family('sandbox_runs_executing', 'gauge', 'Runs holding a container now.')
    out.push(`sandbox_runs_executing ${a.executing}`)
    family('sandbox_admission_evictions_total', 'counter', 'Idle warm containers removed to make room for waiting runs of another language.')
    out.push(`sandbox_admission_evictions_total ${a.evictions}`)

    family('process_resident_memory_bytes', 'gauge', 'Resident memory size of the manager process in bytes.')
    out.push(`process_resident_memory_bytes ${proc.rssBytes}`)
    family('process_heap_used_bytes', 'gauge', 'V8 heap in use in bytes.')
    out.push(`process_heap_used_bytes ${proc.heapUsedBytes}`)
    family('process_cpu_seconds_total', 'counter', 'User and system CPU time spent in seconds.')
    out.push(`process_cpu_seconds_total ${num(proc.cpuSeconds)}`)
    family('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.')
    out.push(`process_start_time_seconds ${num(Math.floor(proc.startTimeSeconds))}`)
    return out.join('\n') + '\n'
  }
}

function inc(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1)
}

const sorted = (m: Map<string, number>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Parse Prometheus text (the subset we emit: no timestamps, no exemplars). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/.exec(line)
    if (!m) continue
    const lbl: Record<string, string> = {}
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g
      let l: RegExpExecArray | null
      while ((l = re.exec(m[3]))) lbl[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\')
    }
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4])
    samples.push({name: m[1], labels: lbl, value})
  }
  return samples
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sumMetric(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0)
}

/** Approximate quantile of a histogram from its buckets (linear within a bucket). */
export function histogramQuantile(samples: Sample[], name: string, q: number, match: Record<string, string> = {}): number | null {
  const buckets = new Map<number, number>()
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || !Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le)
    buckets.set(le, (buckets.get(le) ?? 0) + s.value)
  }
  const list = [...buckets.entries()].sort((a, b) => a[0] - b[0])
  const total = list.at(-1)?.[1] ?? 0
  if (!total) return null
  const rank = q * total
  let prevLe = 0
  let prevCount = 0
  for (const [le, count] of list) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return prevLe
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount)
    }
    prevLe = le
    prevCount = count
  }
  return prevLe
}
