/** The background manager's log file: its last lines, and following it. */
import {closeSync, existsSync, openSync, readSync, statSync} from 'node:fs'

/** The last `n` lines of a file, read from its end. */
export function tailFile(path: string, n: number): string[] {
  if (n <= 0 || !existsSync(path)) return []
  const size = statSync(path).size
  const fd = openSync(path, 'r')
  try {
    let pos = size
    let text = ''
    const chunk = Buffer.alloc(64 * 1024)
    while (pos > 0) {
      const len = Math.min(chunk.length, pos)
      pos -= len
      readSync(fd, chunk, 0, len, pos)
      text = chunk.subarray(0, len).toString('utf8') + text
      if (text.split('\n').length > n + 1) break
    }
    const lines = text.split('\n')
    if (lines.at(-1) === '') lines.pop()
    return lines.slice(-n)
  } finally {
    closeSync(fd)
  }
}

/**
 * Follow a log file from its current end: calls onLine for each new line until the signal
 * aborts. Survives truncation and re-creation (e.g. `sandbox clean`, a new start).
 */
export async function followFile(path: string, onLine: (line: string) => void, signal: AbortSignal, intervalMs = 200): Promise<void> {
  let offset = existsSync(path) ? statSync(path).size : 0
  let partial = ''
  while (!signal.aborted) {
    await new Promise((r) => setTimeout(r, intervalMs))
    if (!existsSync(path)) continue
    const size = statSync(path).size
    if (size < offset) offset = 0
    if (size === offset) continue
    const fd = openSync(path, 'r')
    try {
      const buf = Buffer.alloc(size - offset)
      readSync(fd, buf, 0, buf.length, offset)
      offset = size
      const lines = (partial + buf.toString('utf8')).split('\n')
      partial = lines.pop() ?? ''
      for (const l of lines) onLine(l)
    } finally {
      closeSync(fd)
    }
  }
}
