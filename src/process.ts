/** Facts about local processes (pid files, liveness). No Docker here: cheap to import. */
import {readFileSync} from 'node:fs'

/** A positive whole pid from a pid file's text, or undefined. */
export function parsePid(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text.trim())
  return Number.isInteger(n) && n > 0 ? n : undefined
}

/** Whether a process with this pid exists (EPERM: it exists but is not ours). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Whether the process has exited and only waits for its parent to reap it (Linux /proc). */
export function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
  } catch {
    return false
  }
}

/** Alive and not a zombie: the process still runs. */
export const isProcessRunning = (pid: number): boolean => isProcessAlive(pid) && !isZombie(pid)

/** Process start time in clock ticks since boot (field 22 of /proc/<pid>/stat); undefined off Linux. */
export function processStartTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the command name (field 2) may contain spaces and parentheses: split after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[19])
    return Number.isFinite(ticks) ? ticks : undefined
  } catch {
    return undefined
  }
}

/** Alive and the same process (not a reused pid) when the start time is known. */
export function isSameProcess(pid: number, startTicks?: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid)) return false
  if (startTicks === undefined) return true
  const now = processStartTicks(pid)
  return now === undefined || now === startTicks
}
