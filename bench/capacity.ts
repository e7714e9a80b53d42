/**
 * The figures of the load model in docs/scale-out.md, measured on one host (loopback only):
 *   - runs/s of a real manager (`sandbox start`) under 10 closed-loop clients sending a trivial
 *     Python main, `seconds` long;
 *   - CPU-seconds of the whole machine per completed run (/proc/stat), with the machine's busy
 *     rate in an equally long quiet window just before (manager idle, pool full) subtracted,
 *     since other work may share the host; runs/s per core = 1 / net CPU-s per run;
 *   - the same attributed to its parts, which holds on a busy shared host too: the sandboxes
 *     (each runner container's cpuacct cgroup: gVisor's Sentry, Gofer and the runner), the
 *     manager process, and dockerd + containerd in proportion to this manager's share of the
 *     containers created on the daemon meanwhile (the per-container shims and their runsc
 *     calls are not counted: a lower bound);
 *   - memory of one warm runner container (the pool's containers while idle: the working set
 *     from the Docker stats API) and the manager's own RSS.
 */
import {readdirSync, readFileSync} from 'node:fs'
import {cpus} from 'node:os'

import {docker} from '../src/docker/client.js'
import {LABELS, listManagedContainers} from '../src/docker/containers.js'
import type {StatusDocument} from '../src/server/status.js'
import {startManagerForBench} from './load.js'
import {processCpuSeconds} from './measure.js'

export interface CapacityFigures {
  date: string
  cores: number
  clients: number
  seconds: number
  runs: number
  failed: number
  runsPerSecond: number
  /** busy cores of the whole machine during the load window */
  busyCoresLoad: number
  /** busy cores of the whole machine in the quiet window before it (other work, idle manager) */
  busyCoresQuiet: number
  cpuSecondsPerRunGross: number
  /** null when the quiet window already kept the machine busy: nothing can be isolated */
  cpuSecondsPerRunNet: number | null
  runsPerSecondPerCore: number | null
  /** CPU-s per run by part (lower bound: shims and runsc CLI calls not counted) */
  attributed: {sandbox: number; manager: number; daemons: number; total: number; daemonShare: number; containers: number}
  warmRunnerMemoryMiB: {python: number | null; nodejs: number | null}
  managerRssMiB: number
}

const PYTHON_MAIN = 'def main():\n    return 1\n'

/** busy and total jiffies of all CPUs (/proc/stat first line) */
function cpuTicks(): {busy: number; total: number} {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields
  const busy = user + nice + system + irq + softirq + steal
  return {busy, total: busy + idle + iowait}
}

/** busy cores over a window = busy share of all jiffies × cores */
function busyCores(a: {busy: number; total: number}, b: {busy: number; total: number}, cores: number): number {
  return ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * cores
}

const CGROUP_CPU = '/sys/fs/cgroup/cpuacct/docker'

function pidsOf(comm: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/comm`, 'utf8').trim() === comm
      } catch {
        return false
      }
    })
    .map(Number)
}

/**
 * Follows container creation on the daemon while it runs: every container created (for the
 * daemon share), and the CPU of the cgroups of those labelled with `ownerPid`, sampled every
 * 100 ms until each cgroup is gone (the last < 100 ms of each is missed).
 */
async function followContainers(ownerPid: number) {
  const ours = new Map<string, number>()
  let all = 0
  const stream = (await docker().getEvents({filters: JSON.stringify({type: ['container'], event: ['create']})})) as unknown as NodeJS.ReadableStream & {destroy(): void}
  let pending = ''
  stream.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8')
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const l of lines) {
      if (!l.trim()) continue
      const e = JSON.parse(l) as {id: string; Actor?: {Attributes?: Record<string, string>}}
      all++
      if (e.Actor?.Attributes?.[LABELS.ownerPid] === String(ownerPid)) ours.set(e.id, 0)
    }
  })
  const sample = () => {
    for (const [id, last] of ours) {
      try {
        ours.set(id, Math.max(last, Number(readFileSync(`${CGROUP_CPU}/${id}/cpuacct.usage`, 'utf8')) / 1e9))
      } catch {
        // not started yet, or gone: keep the last sample
      }
    }
  }
  const timer = setInterval(sample, 100)
  return {
    stop(): {sandboxCpuSeconds: number; ours: number; all: number} {
      clearInterval(timer)
      sample()
      stream.destroy()
      return {sandboxCpuSeconds: [...ours.values()].reduce((a, b) => a + b, 0), ours: ours.size, all}
    },
  }
}

async function status(endpoint: string): Promise<StatusDocument> {
  const res = await fetch(new URL('/status', endpoint))
  if (res.status !== 200) throw new Error(`GET /status answered ${res.status}`)
  return (await res.json()) as StatusDocument
}

async function waitPoolsFull(endpoint: string): Promise<StatusDocument> {
  for (;;) {
    const s = await status(endpoint)
    if (s.pools.every((p) => p.ready >= p.size)) return s
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function warmRunnerMemoryMiB(pid: number): Promise<CapacityFigures['warmRunnerMemoryMiB']> {
  const list = await listManagedContainers({[LABELS.role]: 'runner', [LABELS.ownerPid]: String(pid)})
  const byLanguage: Record<string, number[]> = {}
  for (const c of list) {
    const s = (await docker().getContainer(c.id).stats({stream: false})) as {memory_stats?: {usage?: number; stats?: {total_inactive_file?: number}}}
    // the working set, as the kubelet counts it: usage less inactive file pages (gVisor's
    // application memory is a memfd, which cgroup v1 counts as cache, so cache stays in)
    const usage = (s.memory_stats?.usage ?? 0) - (s.memory_stats?.stats?.total_inactive_file ?? 0)
    if (usage > 0) (byLanguage[c.labels[LABELS.language]] ??= []).push(usage / 2 ** 20)
  }
  const mean = (v?: number[]) => (v?.length ? Math.round((v.reduce((a, b) => a + b, 0) / v.length) * 10) / 10 : null)
  return {python: mean(byLanguage.python), nodejs: mean(byLanguage.nodejs)}
}

export async function capacityBench(opts: {seconds: number; clients?: number; log?: (line: string) => void}): Promise<CapacityFigures> {
  const log = opts.log ?? console.log
  const clients = opts.clients ?? 10
  const cores = cpus().length
  const manager = await startManagerForBench()
  try {
    const idle = await waitPoolsFull(manager.endpoint)
    const warmRunnerMemory = await warmRunnerMemoryMiB(idle.pid)
    const q0 = cpuTicks()
    await new Promise((r) => setTimeout(r, opts.seconds * 1000))
    const q1 = cpuTicks()
    const body = JSON.stringify({code_b64: Buffer.from(PYTHON_MAIN).toString('base64'), language: 'python', arguments: {}})
    let runs = 0
    let failed = 0
    const daemons = [...pidsOf('dockerd'), ...pidsOf('containerd')]
    const daemonCpu = () => daemons.reduce((a, p) => a + processCpuSeconds(p), 0)
    const follow = await followContainers(idle.pid)
    const m0 = processCpuSeconds(idle.pid)
    const d0 = daemonCpu()
    const l0 = cpuTicks()
    const t0 = performance.now()
    const deadline = t0 + opts.seconds * 1000
    await Promise.all(
      Array.from({length: clients}, async () => {
        while (performance.now() < deadline) {
          const res = await fetch(new URL('/run', manager.endpoint), {method: 'POST', headers: {'content-type': 'application/json'}, body})
          const r = (await res.json()) as {status?: string}
          if (res.status === 200 && r.status === 'success') runs++
          else failed++
        }
      }),
    )
    const elapsed = (performance.now() - t0) / 1000
    const l1 = cpuTicks()
    const managerCpu = processCpuSeconds(idle.pid) - m0
    const daemonsCpu = daemonCpu() - d0
    // the sandboxes of the runs of the window finish being removed just after it
    const followed = follow.stop()
    const after = await status(manager.endpoint)
    const busyLoad = busyCores(l0, l1, cores)
    const busyQuiet = busyCores(q0, q1, cores)
    const gross = (busyLoad * elapsed) / Math.max(1, runs)
    const saturated = busyQuiet > 0.9 * cores
    const net = saturated ? null : (Math.max(0, busyLoad - busyQuiet) * elapsed) / Math.max(1, runs)
    const r2 = (n: number) => Math.round(n * 100) / 100
    const r3 = (n: number) => Math.round(n * 1000) / 1000
    const perRun = (cpu: number) => cpu / Math.max(1, runs)
    const daemonShare = followed.all ? followed.ours / followed.all : 1
    const parts = {sandbox: perRun(followed.sandboxCpuSeconds), manager: perRun(managerCpu), daemons: perRun(daemonsCpu * daemonShare)}
    const attributed = {
      sandbox: r3(parts.sandbox),
      manager: r3(parts.manager),
      daemons: r3(parts.daemons),
      total: r3(parts.sandbox + parts.manager + parts.daemons),
      daemonShare: r2(daemonShare),
      containers: followed.ours,
    }
    const figures: CapacityFigures = {
      date: new Date().toISOString(),
      cores,
      clients,
      seconds: r2(elapsed),
      runs,
      failed,
      runsPerSecond: r2(runs / elapsed),
      busyCoresLoad: r2(busyLoad),
      busyCoresQuiet: r2(busyQuiet),
      cpuSecondsPerRunGross: r2(gross),
      cpuSecondsPerRunNet: net === null ? null : r2(net),
      runsPerSecondPerCore: net ? r2(1 / net) : null,
      attributed,
      warmRunnerMemoryMiB: warmRunnerMemory,
      managerRssMiB: Math.round(after.rssBytes / 2 ** 20),
    }
    log(`  ${clients} clients, ${figures.seconds} s: ${figures.runsPerSecond} runs/s (${runs} runs, ${failed} failed)`)
    log(`  machine busy: ${figures.busyCoresLoad} cores under load, ${figures.busyCoresQuiet} cores in the quiet window before`)
    log(
      net === null
        ? `  CPU-s per run: ${figures.cpuSecondsPerRunGross} gross; the machine was already busy before the load, so no net figure (see the parts)`
        : `  CPU-s per run: ${figures.cpuSecondsPerRunGross} gross, ${figures.cpuSecondsPerRunNet} net of the quiet window → ${figures.runsPerSecondPerCore} runs/s per core`,
    )
    log(
      `  CPU-s per run by part: sandbox ${attributed.sandbox} + manager ${attributed.manager} + dockerd/containerd ${attributed.daemons} (${Math.round(daemonShare * 100)}% of their containers were ours) = ${attributed.total} (shims and runsc calls not counted) → at most ${r2(1 / Math.max(0.001, attributed.total))} runs/s per core`,
    )
    log(`  warm runner memory: Python ${warmRunnerMemory.python ?? '?'} MiB, Node.js ${warmRunnerMemory.nodejs ?? '?'} MiB; manager RSS ${figures.managerRssMiB} MiB`)
    return figures
  } finally {
    await manager.stop()
  }
}
