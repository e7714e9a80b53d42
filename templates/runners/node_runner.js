// sandbox Node.js runner. Passed to the container as `node -e`, it waits for ONE job
// (a JSON line on stdin), runs `await main(arguments)` from the user's code, reports, and exits.
// CommonJS (module.exports / a top-level function main) and ES modules (export function main) both work.
// Protocol: user stdout/stderr pass through; at the end the runner writes END_PREFIX + "\n" to
// stderr, then CONTROL_PREFIX + base64(JSON) + "\n" to stdout (both prefixes carry the job's
// nonce), and waits to be removed: the host measures the container from outside first.
'use strict'
const fs = require('fs')
const path = require('path')
const vm = require('vm')
const {pathToFileURL} = require('url')

function readLine() {
  const chunks = []
  const buf = Buffer.alloc(65536)
  for (;;) {
    let n
    try {
      n = fs.readSync(0, buf, 0, buf.length, null)
    } catch (error) {
      if (error.code === 'EAGAIN') continue
      if (error.code === 'EOF') break
      throw error
    }
    if (n === 0) break
    const nl = buf.subarray(0, n).indexOf(10)
    if (nl >= 0) {
      chunks.push(Buffer.from(buf.subarray(0, nl)))
      break
    }
    chunks.push(Buffer.from(buf.subarray(0, n)))
  }
  return Buffer.concat(chunks).toString('utf8')
}

function isModuleSource(code) {
  try {
    new vm.Script(code, {filename: 'main.js'})
    return false
  } catch (error) {
    return /import statement|Unexpected token 'export'|await is only valid|Cannot use 'import\.meta'/.test(String(error && error.message))
  }
}

const Module = require('module')

/** Compile a CommonJS module from text (what require does, minus the file round trip). */
function loadCommonJS(file, source) {
  const mod = new Module(file, null)
  mod.filename = file
  mod.paths = Module._nodeModulePaths(path.dirname(file))
  mod._compile(source, file)
  return mod.exports
}

const BOOT_DIR = '/workspace'
// after its report the runner waits this long for the host to remove the container (a safety
// net: the host removes it at once; this only ends a runner whose host went away). A backend that
// reads the memory of a sandbox after it has exited (runsc: its own cgroup) sets 0: the runner then
// ends itself and the sandbox goes down the cheap way. Taken out of the environment user code sees.
const LINGER_MS = lingerMs(process.env.SANDBOX_RUNNER_LINGER_MS)
/** what 1 and 2 are at the start: a program that puts something else there cannot be reported on */
const stdioIdentity = () => [1, 2].map((fd) => { const st = fs.fstatSync(fd); return `${st.dev}:${st.ino}` }).join(' ')
const REAL_STDIO = stdioIdentity()
// taken before the program runs (it may replace process.exit): ends the process, no 'exit' handlers
const exitAtOnce = process.reallyExit.bind(process)
delete process.env.SANDBOX_RUNNER_LINGER_MS

function lingerMs(text) {
  const value = text === undefined ? NaN : Number(text)
  return Number.isInteger(value) && value >= 0 && value <= 30000 ? value : 30000
}

/**
 * process.stdout/stderr write every byte synchronously. Under gVisor a large write to a pipe can
 * be partial; Node then queues the rest, and a program that calls process.exit() (or is killed)
 * loses it silently (five 150,000-character lines delivered 65,536 bytes). Writing synchronously
 * also makes a program that prints in a loop wait for the host to read (which stops it at the
 * output cap) instead of queueing its output in memory until the OOM kill.
 */
function wholeWrites(stream, fd) {
  stream._writev = null
  stream._write = (chunk, encoding, callback) => {
    try {
      writeAll(fd, typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk)
    } catch (error) {
      callback(error)
      return
    }
    callback()
  }
}

/**
 * The runner's frames go out on 1 and 2 after the program has run, so a program's close of either
 * is a no-op (the Python runner keeps os.dup copies instead; Node cannot dup, and gVisor cannot
 * reopen a host pipe through /proc/self/fd). Streams over them (fs.createWriteStream({fd: 1}))
 * close through fs.close as well.
 */
function keepStdioOpen() {
  const {close, closeSync} = fs
  fs.closeSync = function (fd) {
    if (fd === 1 || fd === 2) return
    return closeSync.apply(this, arguments)
  }
  fs.close = function (fd, callback) {
    if (fd === 1 || fd === 2) {
      if (typeof callback === 'function') process.nextTick(callback, null)
      return
    }
    return close.apply(this, arguments)
  }
}

function boot() {
  // everything that does not depend on the job happens before we say we are ready
  wholeWrites(process.stdout, 1)
  wholeWrites(process.stderr, 2)
  keepStdioOpen()
  try {
    process.chdir(BOOT_DIR)
    fs.mkdirSync('artifacts', {recursive: true})
  } catch {}
  // walk the job's code path once so that the user's run does not pay first-use costs
  try {
    const code = JSON.parse(JSON.stringify({code: 'function main() { return null }'})).code
    isModuleSource(code)
    const exported = loadCommonJS(path.join(BOOT_DIR, '_sandbox_warm_up.js'), code + '\n;module.exports.main = main\n')
    JSON.stringify(exported.main({}))
    fs.readdirSync('artifacts')
    Buffer.from('{}').toString('base64')
  } catch {}
  fs.writeSync(2, '__SANDBOX_READY__\n')
}

// --- error record: begin (also embedded by the remote wrapper, src/providers/wrapper.ts) ---
function sandboxErrorType(error) {
  // "Name" or "Name:CODE" of what the program threw. CODE is the system error code (ECONNREFUSED,
  // EACCES, EAI_AGAIN…) at the root of its cause chain (fetch's TypeError, AggregateError), else
  // the error's own code. A thrown value that is not an object has no type.
  if (error === null || (typeof error !== 'object' && typeof error !== 'function')) return null
  const read = (o, k) => { try { return o[k] } catch { return undefined } }
  const valid = (c) => typeof c === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(c)
  const own = read(error, 'code')
  let root = null
  const queue = [error]
  const seen = new Set()
  while (queue.length && seen.size < 32) {
    const e = queue.shift()
    if (e === null || (typeof e !== 'object' && typeof e !== 'function') || seen.has(e)) continue
    seen.add(e)
    const c = read(e, 'code')
    if (valid(c) && /^E(?!RR_)/.test(c)) root = c
    queue.push(read(e, 'cause'))
    const errors = read(e, 'errors')
    if (Array.isArray(errors)) queue.push(...errors.slice(0, 8))
  }
  const code = root || (valid(own) ? own : null)
  const name = read(error, 'name')
  const label = (typeof name === 'string' && name ? name : 'Error').slice(0, 100)
  return code ? label + ':' + code : label
}
// --- error record: end ---

function describe(error) {
  // user errors may have throwing getters or toString: never let that take the runner down
  // (the report bounds its length)
  try {
    const message = error && typeof error === 'object' && 'message' in error ? error.message : error
    return String(message)
  } catch {
    return '<unprintable error>'
  }
}

function writeStack(error) {
  let text
  try {
    text = error && error.stack ? String(error.stack) : String(error)
  } catch {
    text = describe(error)
  }
  // keep the user's frames, drop the runner's (evaluated as [eval])
  const lines = text.split('\n').filter((l) => !/\[eval\]|node:internal|evalScript/.test(l))
  try { writeAll(2, Buffer.from(lines.join('\n') + '\n')) } catch {}
}

async function run() {
  boot()
  const job = JSON.parse(readLine())
  const prefix = '__SANDBOX_CONTROL_' + job.nonce + '__:'
  const workdir = job.workdir || '/workspace'
  const limits = job.artifacts || {}
  const artifactLimits = {
    maxFiles: limits.max_files ?? 10,
    maxBytes: limits.max_bytes ?? 10 * 1024 * 1024,
    maxTotal: limits.max_total_bytes ?? 16 * 1024 * 1024,
    allowed: new Set(limits.extensions || ['png', 'jpg', 'jpeg', 'svg', 'pdf', 'csv', 'json', 'html']),
  }
  const frameLimits = job.limits || {}
  if (workdir !== BOOT_DIR) {
    process.chdir(workdir)
    fs.mkdirSync('artifacts', {recursive: true})
  }
  const esm = isModuleSource(job.code)
  const file = path.join(workdir, esm ? 'main.mjs' : 'main.js')
  // CommonJS: make a top-level `function main` reachable without changing line numbers
  const source = esm
    ? job.code
    : job.code + '\n;if (typeof main === "function" && (module.exports == null || typeof module.exports !== "function" && typeof module.exports.main !== "function")) module.exports.main = main;\n'
  if (esm) fs.writeFileSync(file, source)
  process.argv = [process.argv[0], file]

  // the frame's fields, all of them always (the host's schema: src/engine/frame.ts)
  const control = {ok: false, result: null, error: null, error_type: null, exit_code: 1, artifacts: [], notes: []}
  let reported = false
  const record = (error) => {
    writeStack(error)
    control.ok = false
    control.error = describe(error)
    try { control.error_type = sandboxErrorType(error) } catch { control.error_type = null }
    control.exit_code = 1
  }

  const report = () => {
    reported = true
    refuseLargeResult(control, frameLimits.max_result_bytes ?? 4 * 1024 * 1024)
    if (control.ok) collectArtifacts(control, workdir, artifactLimits)
    sendReport(job, prefix, control, frameLimits)
  }

  // an error thrown where main's promise cannot see it (a callback, an unhandled rejection)
  process.on('uncaughtException', (error) => {
    if (reported) return
    record(error)
    process.exit(1)
  })
  // nothing is left to run while main's promise (or the module's top-level await) is pending: it
  // can never settle, which is a failure, not the success of a process that ended with status 0
  process.once('beforeExit', () => {
    if (reported) return
    control.error = 'main() never returned: its promise was still pending when nothing was left to run'
    control.error_type = 'UnsettledPromise'
    control.exit_code = 1
    report()
    linger()
    process.exit(1)
  })
  // the program ended the process itself (process.exit) or left nothing to wait for: report how
  process.on('exit', (code) => {
    if (reported) return
    const status = Number(code) & 0xff
    if (control.error === null) {
      if (status === 0) {
        control.ok = true
        control.result = null
      } else {
        // process.exit(n), or an unsettled top-level await (13)
        control.error = 'the program ended the process with exit status ' + status
        control.error_type = 'ProcessExit'
      }
    }
    control.exit_code = status
    try { report() } catch {}
    // the process ends when this handler returns: wait here
    linger()
  })

  try {
    let main
    if (esm) {
      const mod = await import(pathToFileURL(file).href)
      main = typeof mod.main === 'function' ? mod.main : mod.default && typeof mod.default.main === 'function' ? mod.default.main : typeof mod.default === 'function' ? mod.default : undefined
    } else {
      const mod = loadCommonJS(file, source)
      main = typeof mod === 'function' ? mod : mod && typeof mod.main === 'function' ? mod.main : mod && mod.default && typeof mod.default.main === 'function' ? mod.default.main : undefined
    }
    if (typeof main !== 'function') throw new Error('main() is not defined: define a function named main (or export it)')
    const args = job.arguments == null ? {} : job.arguments
    let value = await Promise.resolve(main(args))
    // a main that returns nothing succeeds with null, as a Python main that returns None
    if (value === undefined) value = null
    let encoded
    try {
      encoded = JSON.stringify(value)
    } catch (error) {
      throw new Error('main() returned a non-JSON-serializable value: ' + error.message)
    }
    if (encoded === undefined) throw new Error('main() returned a non-JSON-serializable value.')
    // process.exitCode set by the program is its exit status, as when node ends by itself
    const declared = Number(process.exitCode || 0) & 0xff
    if (declared) {
      control.error = 'main() returned, but the program set process.exitCode = ' + declared
      control.error_type = 'ProcessExit'
      control.exit_code = declared
    } else {
      control.ok = true
      control.result = {present: true, value: JSON.parse(encoded), type: 'json'}
      control.exit_code = 0
    }
  } catch (error) {
    record(error)
  }
  // stdout and stderr are written synchronously (wholeWrites): all output is out before the report
  report()
  linger()
  process.exit(control.ok ? 0 : control.exit_code || 1)
}

/** the host enforces the cap too; refusing here says why, and saves building a huge frame */
function refuseLargeResult(control, maxBytes) {
  if (!control.ok || control.result === null) return
  const size = Buffer.byteLength(JSON.stringify(control.result.value), 'utf8')
  if (size <= maxBytes) return
  const message = `main() returned ${size} bytes, over the ${maxBytes}-byte result limit`
  try { writeAll(2, Buffer.from(message + '\n')) } catch {}
  Object.assign(control, {ok: false, result: null, error: message, error_type: 'ResultLimitExceeded', exit_code: 1})
}

function clip(text, max) {
  return text.length <= max ? text : text.slice(0, max - 1) + '\u2026'
}

const pause = new Int32Array(new SharedArrayBuffer(4))

/** write all of data to fd, whatever a single write takes (partial writes, a full non-blocking pipe) */
function writeAll(fd, data) {
  for (let off = 0; off < data.length; ) {
    try {
      off += fs.writeSync(fd, data, off)
    } catch (error) {
      if (error.code !== 'EAGAIN') throw error
      // the reader is behind: wait 1 ms instead of spinning
      Atomics.wait(pause, 0, 0, 1)
    }
  }
}

/**
 * Wait to be removed: the host reads the container's memory from its cgroup, which goes away when
 * the container exits. Synchronous, so that it also holds in an 'exit' handler and nothing of the
 * program runs after its report.
 */
function linger() {
  if (LINGER_MS > 0) Atomics.wait(pause, 0, 0, LINGER_MS)
}

function sendReport(job, prefix, control, limits) {
  if (typeof control.error === 'string') control.error = clip(control.error, limits.max_error_chars ?? 4000)
  if (typeof control.error_type === 'string') control.error_type = clip(control.error_type, limits.max_error_type_chars ?? 165)
  const maxNotes = limits.max_notes ?? 64
  let notes = control.notes.map((n) => clip(String(n), limits.max_note_chars ?? 1024))
  if (notes.length > maxNotes) notes = [...notes.slice(0, maxNotes - 1), `${notes.length - maxNotes + 1} more notes left out`]
  control.notes = notes
  // what the OS makes of an exit status: 256 is 0, -1 is 255
  const code = Math.trunc(Number(control.exit_code))
  control.exit_code = Number.isFinite(code) ? ((code % 256) + 256) % 256 : 1
  const payload = Buffer.from(JSON.stringify(control), 'utf8').toString('base64')
  // the program closed 1 or 2 and opened something else in their place: no report can reach the
  // host, so end at once and without one (exit status 1: the host says the program ended without a
  // result), never a success the host would have to guess, on every backend
  let intact
  try { intact = stdioIdentity() === REAL_STDIO } catch { intact = false }
  if (!intact) exitAtOnce(1)
  // end of stderr first, then the control frame: when both have arrived, all output has arrived
  writeAll(2, Buffer.from('__SANDBOX_END_' + job.nonce + '__\n'))
  writeAll(1, Buffer.from(prefix + payload + '\n'))
}

function collectArtifacts(control, workdir, {maxFiles, maxBytes, maxTotal, allowed}) {
  let names = []
  let dirIsLink = false
  let total = 0
  try { dirIsLink = fs.lstatSync('artifacts').isSymbolicLink() } catch {}
  if (dirIsLink) control.notes.push('artifacts/ is a symbolic link: nothing collected')
  else try { names = fs.readdirSync('artifacts').sort() } catch {}
  for (const name of names) {
    const ext = name.includes('.') ? name.split('.').pop().toLowerCase() : ''
    const full = path.join(workdir, 'artifacts', name)
    if (name.startsWith('.') || name.includes('/') || name.includes('\\') || name.includes('..')) { control.notes.push(`artifact ${name} skipped: invalid name`); continue }
    let st
    try { st = fs.lstatSync(full) } catch { continue }
    if (st.isSymbolicLink()) { control.notes.push(`artifact ${name} skipped: symbolic links are not allowed`); continue }
    if (!st.isFile()) { control.notes.push(`artifact ${name} skipped: not a regular file`); continue }
    if (!allowed.has(ext)) { control.notes.push(`artifact ${name} skipped: type .${ext} is not allowed (${[...allowed].sort().join(', ')})`); continue }
    if (st.size === 0) { control.notes.push(`artifact ${name} skipped: empty`); continue }
    if (st.size > maxBytes) { control.notes.push(`artifact ${name} skipped: ${st.size} bytes is over the ${maxBytes} byte limit`); continue }
    if (control.artifacts.length >= maxFiles) { control.notes.push(`artifact ${name} skipped: at most ${maxFiles} artifacts are returned`); continue }
    if (total + st.size > maxTotal) { control.notes.push(`artifact ${name} skipped: the artifacts together would be over the ${maxTotal}-byte total limit`); continue }
    const fd = fs.openSync(full, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
    const data = fs.readFileSync(fd)
    fs.closeSync(fd)
    if (data.length > maxBytes || total + data.length > maxTotal) { control.notes.push(`artifact ${name} skipped: it grew while it was read`); continue }
    total += data.length
    control.artifacts.push({name, size: data.length, content_b64: data.toString('base64')})
  }
}

run().catch((error) => {
  // the runner itself failed: no frame, the host reports the exit status
  process.removeAllListeners('exit')
  try { fs.writeSync(2, 'sandbox runner failed: ' + (error && error.stack ? error.stack : error) + '\n') } catch {}
  process.exit(70)
})
