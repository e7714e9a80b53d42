/**
 * The memory cgroup of one runsc sandbox, made by us (cgroup v1) before runsc starts: runsc
 * then leaves its memory settings alone and does not remove it, so that the OOM verdict
 * (memory.oom_control's oom_kill count) and the peak (memory.max_usage_in_bytes) can still be
 * read after the sandbox has gone. runsc makes and removes the other controllers' groups
 * (cpu, pids…) at the same path itself.
 */
import {existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

export const CGROUP_ROOT = '/sys/fs/cgroup'
/** the parent of every sandbox's cgroup, in each controller */
export const CGROUP_PARENT = 'sandbox-runsc'

export const cgroupPathOf = (id: string): string => `/${CGROUP_PARENT}/${id}`

const memoryDir = (id: string, root = CGROUP_ROOT) => join(root, 'memory', CGROUP_PARENT, id)

/** Why this host's cgroups cannot hold runsc sandboxes the way this backend needs, or undefined. */
export function cgroupProblem(root = CGROUP_ROOT): string | undefined {
  if (existsSync(join(root, 'memory', 'memory.limit_in_bytes'))) return undefined
  if (existsSync(join(root, 'cgroup.controllers'))) return 'this host uses cgroup v2 only; the runsc backend reads its OOM verdict from cgroup v1 memory controllers'
  return `no cgroup v1 memory controller at ${join(root, 'memory')}`
}

/** Make the sandbox's memory cgroup with its limit (swap equal to memory: no swap at all). */
export function createMemoryCgroup(id: string, memoryBytes: number, root = CGROUP_ROOT): void {
  const dir = memoryDir(id, root)
  mkdirSync(dir, {recursive: true})
  writeFileSync(join(dir, 'memory.limit_in_bytes'), String(memoryBytes))
  // present only with swap accounting; without it there is no swap to limit
  const memsw = join(dir, 'memory.memsw.limit_in_bytes')
  if (existsSync(memsw)) writeFileSync(memsw, String(memoryBytes))
}

const readNumber = (file: string): number | undefined => {
  try {
    const n = Number(readFileSync(file, 'utf8').trim())
    return Number.isSafeInteger(n) ? n : undefined
  } catch {
    return undefined
  }
}

/** Peak memory in KiB as the host accounts it (sentry, user code, tmpfs); null when unknown. */
export function peakMemoryKb(id: string, root = CGROUP_ROOT): number | null {
  const bytes = readNumber(join(memoryDir(id, root), 'memory.max_usage_in_bytes'))
  return bytes && bytes > 0 ? Math.round(bytes / 1024) : null
}

/** Whether the kernel's OOM killer acted in the sandbox's cgroup; undefined when it cannot be read. */
export function oomKilled(id: string, root = CGROUP_ROOT): boolean | undefined {
  let text: string
  try {
    text = readFileSync(join(memoryDir(id, root), 'memory.oom_control'), 'utf8')
  } catch {
    return undefined
  }
  const kills = /^oom_kill\s+(\d+)/m.exec(text)
  if (kills) return Number(kills[1]) > 0
  // kernels before 4.13 have no oom_kill count: the limit was hit
  const failures = readNumber(join(memoryDir(id, root), 'memory.failcnt'))
  return failures === undefined ? undefined : failures > 0
}

/** Remove the sandbox's memory cgroup (it must have no processes left); whether it is gone. */
export function removeMemoryCgroup(id: string, root = CGROUP_ROOT): boolean {
  try {
    rmdirSync(memoryDir(id, root))
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT'
  }
}

/**
 * Every controller's group of this sandbox (runsc's, which it leaves when it did not end the
 * sandbox itself), removed; the memory group (ours) stays. Whether none is left: a group with
 * processes in it cannot be removed.
 */
export function removeRunscCgroups(id: string, root = CGROUP_ROOT): boolean {
  let clear = true
  for (const c of runscControllers(root)) {
    try {
      rmdirSync(join(root, c, CGROUP_PARENT, id))
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'ENOTDIR') clear = false
    }
  }
  return clear
}

/** The controllers whose groups runsc makes itself: every one but memory (ours); none when the root cannot be read. */
function runscControllers(root: string): string[] {
  try {
    return readdirSync(root).filter((c) => c !== 'memory')
  } catch {
    return []
  }
}

/** the shape of a sandbox's id (src/backends/runsc/index.ts), the only groups under our parent that are ever swept */
const SANDBOX_ID = /^sbx-[0-9a-f]{16}$/

/**
 * runsc's groups of sandboxes (every controller but memory, which is ours), by sandbox id, each
 * with the latest mtime of its groups (ms since the epoch). A group's mtime is when the kernel
 * made its inode: the group's creation, or later (kernfs may drop an idle group's inode and make
 * it again), never earlier, and moving processes in or out does not change it; so a group is
 * never taken for older than it is.
 */
export function runscCgroupGroups(root = CGROUP_ROOT): Map<string, number> {
  const groups = new Map<string, number>()
  for (const c of runscControllers(root)) {
    const parent = join(root, c, CGROUP_PARENT)
    let ids: string[] = []
    try {
      ids = readdirSync(parent).filter((name) => SANDBOX_ID.test(name))
    } catch {
      continue
    }
    for (const id of ids) {
      try {
        groups.set(id, Math.max(groups.get(id) ?? 0, statSync(join(parent, id)).mtimeMs))
      } catch {
        // gone meanwhile
      }
    }
  }
  return groups
}
