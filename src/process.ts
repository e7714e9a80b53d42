/** Facts about local processes (pid files, liveness). No Docker here: cheap to import. */

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
