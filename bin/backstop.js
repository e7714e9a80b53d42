/**
 * The backstop behind correct cleanup. After a command has returned, the process exits by
 * itself at once. If an open handle keeps it alive (a bug), exit after a grace period with the
 * exit code the command set, and name what was left open.
 */
export function exitBackstop(graceMs = 3000) {
  const timer = setTimeout(() => {
    const handles = process._getActiveHandles?.() ?? []
    const open = handles.map((h) => h?.constructor?.name ?? 'handle').filter((n) => !['Timeout', 'WriteStream', 'ReadStream', 'TTY'].includes(n))
    process.stderr.write(`sandbox: exiting although ${open.length ? open.join(', ') : 'a handle'} is still open (a bug: please report it)\n`)
    process.exit()
  }, graceMs)
  // never keeps the process alive by itself: it only fires while something else does
  timer.unref()
}
