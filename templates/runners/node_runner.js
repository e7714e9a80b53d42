// sandbox Node.js runner. Passed to the container as `node -e`, it waits for ONE job
// (a JSON line on stdin), runs `await main(arguments)` from the user's code, reports, and exits.
// CommonJS (module.exports / a top-level function main) and ES modules (export function main) both work.
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

function boot() {
  // everything that does not depend on the job happens before we say we are ready
  // Blocking writes to stdout/stderr: a program that prints in a loop waits for the host to read
  // (which stops it at the output cap) instead of queueing its output in memory until the OOM kill.
  for (const stream of [process.stdout, process.stderr]) {
    try { if (stream._handle && typeof stream._handle.setBlocking === 'function') stream._handle.setBlocking(true) } catch {}
  }
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
    process.resourceUsage()
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

const ERROR_CHARS = 4000

function describe(error) {
  // user errors may have throwing getters or toString: never let that take the runner down
  try {
    const message = error && typeof error === 'object' && 'message' in error ? error.message : error
    return String(message).slice(0, ERROR_CHARS)
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
  try { fs.writeSync(2, lines.join('\n') + '\n') } catch {}
}

async function run() {
  boot()
  const job = JSON.parse(readLine())
  const prefix = '__SANDBOX_CONTROL_' + job.nonce + '__:'
  const workdir = job.workdir || '/workspace'
  const limits = job.artifacts || {}
  const maxFiles = limits.max_files ?? 10
  const maxBytes = limits.max_bytes ?? 10 * 1024 * 1024
  const allowed = new Set(limits.extensions || ['png', 'jpg', 'jpeg', 'svg', 'pdf', 'csv', 'json', 'html'])
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

  const control = {ok: false, result: null, error: null, error_type: null, exit_code: 1, artifacts: [], notes: []}
  const started = performance.now()
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
    if (control.time_used_ms === undefined) control.time_used_ms = Math.round((performance.now() - started) * 1000) / 1000
    if (control.ok) collectArtifacts(control, workdir, allowed, maxFiles, maxBytes)
    control.memory_used_kb = process.resourceUsage().maxRSS
    const payload = Buffer.from(JSON.stringify(control), 'utf8').toString('base64')
    // end of stderr first, then the control frame: when both have arrived, all output has
    fs.writeSync(2, '\n__SANDBOX_END_' + job.nonce + '__\n')
    const frame = Buffer.from('\n' + prefix + payload + '\n')
    for (let off = 0; off < frame.length; ) {
      try { off += fs.writeSync(1, frame, off) } catch (error) { if (error.code !== 'EAGAIN') throw error }
    }
  }

  // an error thrown where main's promise cannot see it (a callback, an unhandled rejection)
  process.on('uncaughtException', (error) => {
    if (reported) return
    record(error)
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
  control.time_used_ms = Math.round((performance.now() - started) * 1000) / 1000
  const flushAndExit = () => {
    if (reported) return
    report()
    process.exit(control.ok ? 0 : control.exit_code || 1)
  }
  if (process.stdout.writableLength > 0) process.stdout.once('drain', flushAndExit)
  else flushAndExit()
}

function collectArtifacts(control, workdir, allowed, maxFiles, maxBytes) {
  let names = []
  let dirIsLink = false
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
    const fd = fs.openSync(full, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
    const data = fs.readFileSync(fd)
    fs.closeSync(fd)
    control.artifacts.push({name, size: data.length, content_b64: data.toString('base64')})
  }
}

run().catch((error) => {
  // the runner itself failed: no frame, the host reports the exit status
  process.removeAllListeners('exit')
  try { fs.writeSync(2, 'sandbox runner failed: ' + (error && error.stack ? error.stack : error) + '\n') } catch {}
  process.exit(70)
})
