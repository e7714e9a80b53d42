/**
 * The engine against the real Docker daemon and real gVisor (issue 3's "must show").
 */
import {createServer, type Server} from 'node:net'
import {readFileSync} from 'node:fs'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import {LABELS} from '../../src/docker/containers.js'
import {Engine} from '../../src/engine/engine.js'
import {EXIT} from '../../src/engine/result.js'
import {poolExecutor} from '../../src/executors/local.js'
import {Pipeline} from '../../src/run/pipeline.js'
import {expectNoRunnerLogs, sandboxesOfOwner} from '../helpers/containers.js'
import {forgedFrameProgram} from '../helpers/forge.js'

const config = loadConfig({env: {...process.env, SANDBOX_TIMEOUT: '20s'}})
let engine: Engine
let listener: Server
let listenerPort = 0
let connections = 0

beforeAll(async () => {
  listener = createServer((socket) => {
    connections++
    socket.end('hello from the host\n')
  })
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  listenerPort = (listener.address() as {port: number}).port
  engine = new Engine({config, poolSize: 2})
  await engine.start()
})

afterAll(async () => {
  await engine?.stop()
  listener?.close()
})

// the engine runs what the run pipeline's policy gate lets through
const gated = () => new Pipeline(poolExecutor(engine), {timeoutSeconds: config.timeoutSeconds, policy: 'off'})
const py = (code: string, args: Record<string, unknown> = {}, extra: {timeoutSeconds?: number; policy?: 'on' | 'off'} = {}) =>
  gated().run({language: 'python', code, arguments: args, ...extra})
const js = (code: string, args: Record<string, unknown> = {}, extra: {timeoutSeconds?: number; policy?: 'on' | 'off'} = {}) =>
  gated().run({language: 'nodejs', code, arguments: args, ...extra})

describe('engine: results', () => {
  it('runs examples/hello.py and returns main’s value', async () => {
    const r = await py(readFileSync('examples/hello.py', 'utf8'), {name: 'World'}, {policy: 'on'})
    expect(r.status).toBe('success')
    expect(r.exit_code).toBe(0)
    expect(r.stdout).toBe('Hello from Python, World!\n')
    expect(r.result).toEqual({present: true, value: {greeting: 'Hello, World!', length: 5}, type: 'json'})
    expect(r.time_used_ms).toBeGreaterThan(0)
    expect(r.memory_used_kb).toBeGreaterThan(1000)
  })

  it('runs examples/hello.js (CommonJS) and an ES module with an async main', async () => {
    const cjs = await js(readFileSync('examples/hello.js', 'utf8'), {name: 'World'}, {policy: 'on'})
    expect(cjs).toMatchObject({status: 'success', stdout: 'Hello from Node.js, World!\n', result: {value: {greeting: 'Hello, World!', length: 5}}})
    const esm = await js('export async function main(args) {\n  await new Promise((r) => setTimeout(r, 5))\n  return {n: args.n + 1}\n}\n', {n: 41})
    expect(esm).toMatchObject({status: 'success', result: {value: {n: 42}}})
    const global = await js('function main(a) { return a.x }', {x: [1, 'two']})
    expect(global.result?.value).toEqual([1, 'two'])
  })

  it('passes arguments as data: booleans, null, nested, unicode, 1 MB', async () => {
    const big = 'x'.repeat(1024 * 1024)
    const args = {t: true, f: false, n: null, nested: {a: [1, {b: 'ü 漢字 🎉'}]}, big}
    const r = await py('def main(t, f, n, nested, big):\n    return {"t": t, "f": f, "n": n, "nested": nested, "len": len(big)}\n', args)
    expect(r.status).toBe('success')
    expect(r.result?.value).toEqual({t: true, f: false, n: null, nested: args.nested, len: big.length})
    const j = await js('module.exports.main = (a) => ({t: a.t, n: a.n, s: a.nested.a[1].b, len: a.big.length})', args)
    expect(j.result?.value).toEqual({t: true, n: null, s: 'ü 漢字 🎉', len: big.length})
  })

  it('a forged result marker printed by the code does not override main’s return value', async () => {
    const forged = '__RAGFLOW_RESULT__:' + Buffer.from(JSON.stringify({present: true, value: 'forged', type: 'json'})).toString('base64')
    const r = await py(`def main():\n    print(${JSON.stringify(forged)})\n    print("after")\n    return "real"\n`)
    expect(r.result?.value).toBe('real')
    expect(r.stdout).toBe('after\n')
  })
})

describe('engine: user errors', () => {
  it('no main → program_error saying so', async () => {
    const r = await py('x = 1\n')
    expect(r.status).toBe('program_error')
    expect(r.stderr).toMatch(/main\(\) is not defined/)
    const j = await js('const x = 1\n')
    expect(j.status).toBe('program_error')
    expect(j.stderr).toMatch(/main\(\) is not defined/)
  })

  it('syntax error → program_error with the line', async () => {
    const r = await py('def main():\n    return 1 +\n')
    expect(r.status).toBe('program_error')
    expect(r.stderr).toMatch(/line 2/)
    expect(r.stderr).toMatch(/SyntaxError/)
    const j = await js('function main() {\n  return 1 +\n}\n')
    expect(j.status).toBe('program_error')
    expect(j.stderr).toMatch(/main\.js:3/)
    expect(j.stderr).toMatch(/SyntaxError/)
  })

  it('an exception → program_error with the traceback of the user code only', async () => {
    const r = await py('def main():\n    return 1 / 0\n')
    expect(r).toMatchObject({status: 'program_error', exit_code: 1, runtime_error_type: 'nonzero_exit'})
    expect(r.stderr).toMatch(/main\.py", line 2, in main/)
    expect(r.stderr).toMatch(/ZeroDivisionError/)
    expect(r.stderr).not.toMatch(/python_runner|<string>/)
  })

  it('a return value that is not JSON-serialisable → program_error', async () => {
    const r = await py('def main():\n    return {1, 2}\n')
    expect(r.status).toBe('program_error')
    expect(r.stderr).toMatch(/not JSON-serializable/)
    const j = await js('module.exports.main = () => ({toJSON: () => undefined})')
    expect(j.status).toBe('program_error')
    expect(j.stderr).toMatch(/non-JSON-serializable/)
  })

  it('the static policy refuses unsafe code with RAGFlow’s answer', async () => {
    const r = await py('import os\ndef main():\n    return os.getcwd()\n', {}, {policy: 'on'})
    expect(r).toMatchObject({status: 'program_runner_error', exit_code: EXIT.UNSAFE_CODE, detail: 'Code is unsafe'})
    expect(r.stderr).toMatch(/^Line 1: /)
  })
})

describe('engine: limits and isolation', () => {
  it('an infinite loop ends as -124 after the timeout', async () => {
    const r = await py('def main():\n    while True:\n        pass\n', {}, {timeoutSeconds: 2})
    expect(r).toMatchObject({status: 'resource_limit_exceeded', exit_code: EXIT.TIMEOUT, resource_limit_type: 'time'})
    expect(r.stderr).toContain('Execution timeout')
  })

  it('a memory bomb ends as -137', async () => {
    const r = await py('def main():\n    chunks = []\n    while True:\n        chunks.append(bytearray(16 * 1024 * 1024))\n')
    expect(r.status).toBe('resource_limit_exceeded')
    expect(r.resource_limit_type).toBe('memory')
    expect([EXIT.OUT_OF_MEMORY, 1]).toContain(r.exit_code)
  })

  it('a print flood is capped and stopped', async () => {
    const r = await py('def main():\n    while True:\n        print("x" * 1000)\n')
    expect(r).toMatchObject({status: 'resource_limit_exceeded', resource_limit_type: 'output', exit_code: EXIT.OUTPUT_LIMIT})
    expect(r.stdout.length).toBeLessThanOrEqual(1024 * 1024)
    expect(r.stderr).toMatch(/output truncated/)
  })

  it('a chart comes back as an artifact', async () => {
    const r = await py(readFileSync('examples/chart.py', 'utf8'), {title: 'Test'}, {policy: 'on'})
    expect(r.status).toBe('success')
    expect(r.artifacts).toHaveLength(1)
    expect(r.artifacts[0]).toMatchObject({name: 'chart.png', mime_type: 'image/png'})
    const png = Buffer.from(r.artifacts[0].content_b64, 'base64')
    expect(png.subarray(1, 4).toString()).toBe('PNG')
    expect(r.artifacts[0].size).toBe(png.length)
  })

  it('artifacts: symlinks, wrong types and traversal are refused', async () => {
    const r = await py(
      'import os\ndef main():\n    os.symlink("/etc/passwd", "artifacts/passwd.csv")\n    open("artifacts/run.exe", "w").write("x")\n    open("artifacts/ok.json", "w").write("{}")\n    return 1\n',
    )
    expect(r.status).toBe('success')
    expect(r.artifacts.map((a) => a.name)).toEqual(['ok.json'])
    expect(r.stderr).toMatch(/passwd\.csv skipped: symbolic links/)
    expect(r.stderr).toMatch(/run\.exe skipped: type \.exe is not allowed/)
  })

  it('a file written by one run is not visible to the next', async () => {
    const w = await py(
      'def main():\n    with open("/workspace/secret.txt", "w") as f:\n        f.write("s3cret")\n    with open("/tmp/secret.txt", "w") as f:\n        f.write("s3cret")\n    return "written"\n',
    )
    expect(w.result?.value).toBe('written')
    const r = await py('import os\ndef main():\n    return [os.path.exists("/workspace/secret.txt"), os.path.exists("/tmp/secret.txt")]\n')
    expect(r.result?.value).toEqual([false, false])
  })

  it('a TCP connect to a listener on the host’s 127.0.0.1 fails', async () => {
    const before = connections
    const r = await py(
      `import socket\ndef main():\n    s = socket.socket()\n    s.settimeout(3)\n    try:\n        s.connect(("127.0.0.1", ${listenerPort}))\n        return "connected: " + s.recv(100).decode()\n    except OSError as e:\n        return "blocked: " + type(e).__name__\n`,
    )
    expect(r.status).toBe('success')
    expect(String(r.result?.value)).toMatch(/^blocked/)
    expect(connections).toBe(before)
  })

  it('a program that closes its stdout and stderr still gets its result back (Python and Node.js)', async () => {
    const p = await py('import os\ndef main():\n    print("before", flush=True)\n    os.close(1)\n    os.close(2)\n    return {"closed": True}\n')
    expect(p).toMatchObject({status: 'success', result: {value: {closed: true}}})
    expect(p.stdout).toContain('before')
    const j = await js("const fs = require('fs')\nmodule.exports.main = async () => { console.log('before'); fs.closeSync(1); fs.closeSync(2); return {closed: true} }\n")
    expect(j).toMatchObject({status: 'success', result: {value: {closed: true}}})
    expect(j.stdout).toContain('before')
    // through a stream over the descriptor, and fs.close with a callback
    const s = await js(
      "const fs = require('fs')\nmodule.exports.main = async () => { await new Promise((r) => fs.createWriteStream(null, {fd: 1}).end('streamed\\n', r)); await new Promise((r) => fs.close(2, r)); return 'ok' }\n",
    )
    expect(s).toMatchObject({status: 'success', result: {value: 'ok'}})
    expect(s.stdout).toContain('streamed')
  })

  it('localhost resolves to the loopback in Python and Node.js, and a server inside the sandbox answers on it', async () => {
    // /etc/hosts is empty in every sandbox: the images' nsswitch answers localhost (glibc's myhostname)
    const p = await py(
      'import socket, threading\ndef main():\n    addrs = sorted({a[4][0] for a in socket.getaddrinfo("localhost", 80, proto=socket.IPPROTO_TCP)})\n    srv = socket.create_server(("localhost", 0))\n    port = srv.getsockname()[1]\n    threading.Thread(target=lambda: srv.accept()[0].sendall(b"hi"), daemon=True).start()\n    c = socket.create_connection(("localhost", port), timeout=5)\n    return {"addrs": addrs, "reply": c.recv(2).decode()}\n',
    )
    expect(p.status, p.stderr).toBe('success')
    expect(p.result?.value).toEqual({addrs: expect.arrayContaining(['127.0.0.1']), reply: 'hi'})
    expect((p.result?.value as {addrs: string[]}).addrs.every((a) => a === '127.0.0.1' || a === '::1')).toBe(true)
    const j = await js("const dns = require('node:dns').promises\nmodule.exports.main = async () => (await dns.lookup('localhost', {all: true})).map((a) => a.address).sort()\n")
    expect(j.status, j.stderr).toBe('success')
    expect(j.result?.value).toEqual(expect.arrayContaining(['127.0.0.1']))
  })

  it('runs under gVisor, as nobody, with a read-only root', async () => {
    const r = await py(
      'import os, platform\ndef main():\n    try:\n        open("/etc/x", "w")\n        ro = False\n    except OSError:\n        ro = True\n    return {"uid": os.getuid(), "release": platform.release(), "ro": ro}\n',
    )
    const host = (await import('node:os')).release()
    expect(r.result?.value).toMatchObject({uid: 65534, ro: true})
    expect((r.result?.value as {release: string}).release).not.toBe(host)
  })

  it('each run gets a fresh sandbox that is removed afterwards', async () => {
    // a file left in /tmp by one run is not there for the next: no sandbox serves two runs
    const marker = 'import os\ndef main():\n    seen = os.path.exists("/tmp/used")\n    open("/tmp/used", "w").close()\n    return seen\n'
    const together = await Promise.all([py(marker), py(marker)])
    const after = [await py(marker), await py(marker)]
    expect([...together, ...after].map((r) => r.result?.value)).toEqual([false, false, false, false])
    // the used sandboxes are removed (not reused); what is left is the pool's own
    await engine.removalsSettled()
    const live = engine.status().pools.reduce((n, p) => n + p.ready + p.busy + p.creating, 0)
    expect((await sandboxesOfOwner(engine.id)).length).toBeLessThanOrEqual(live)
  })
})

describe('engine: what leaves the sandbox is bounded, checked and measured from outside (issue 11)', () => {
  const forge = forgedFrameProgram

  it('750,005 bytes printed in 5 writes arrive whole, on stdout and on stderr, in Python and Node.js', async () => {
    // 750,005 bytes on each stream, one stream per run (the cap, 1 MiB, is for both together)
    const line = 150_000
    const whole = 5 * (line + 1)
    const pOut = await py(`def main():\n    for i in range(5):\n        print("x" * ${line})\n    return 1\n`)
    expect(pOut.status).toBe('success')
    expect(Buffer.byteLength(pOut.stdout)).toBe(whole)
    const pErr = await py(`import sys\ndef main():\n    for i in range(5):\n        sys.stderr.write("y" * ${line} + "\\n")\n    return 1\n`)
    expect(pErr.status).toBe('success')
    expect(Buffer.byteLength(pErr.stderr)).toBe(whole)
    const jOut = await js(`function main() {\n  for (let i = 0; i < 5; i++) console.log('x'.repeat(${line}))\n  return 1\n}\n`)
    expect(jOut.status).toBe('success')
    expect(Buffer.byteLength(jOut.stdout)).toBe(whole)
    const jErr = await js(`function main() {\n  for (let i = 0; i < 5; i++) console.error('y'.repeat(${line}))\n  return 1\n}\n`)
    expect(jErr.status).toBe('success')
    expect(Buffer.byteLength(jErr.stderr)).toBe(whole)
  })

  it('output written just before the program ends itself arrives whole (Node process.exit, Python os._exit)', async () => {
    const line = 150_000
    const whole = 5 * (line + 1)
    const node = await js(`function main() {\n  for (let i = 0; i < 5; i++) console.log('x'.repeat(${line}))\n  console.error('y'.repeat(${line}))\n  process.exit(0)\n}\n`)
    expect(Buffer.byteLength(node.stdout)).toBe(whole)
    expect(Buffer.byteLength(node.stderr)).toBe(line + 1)
    const python = await py(`import os, sys\ndef main():\n    for i in range(5):\n        print("x" * ${line})\n    sys.stderr.write("y" * ${line})\n    os._exit(0)\n`)
    expect(Buffer.byteLength(python.stdout)).toBe(whole)
    expect(Buffer.byteLength(python.stderr)).toBe(line)
  })

  it('a 150 MB frame is stopped at the frame cap as an output limit, with the engine’s RSS under 250 MB', async () => {
    const r = await py(
      `def main():\n    import os, sys\n    os.write(1, sys._getframe(1).f_locals["prefix"].encode())\n    chunk = memoryview(b"A" * (1 << 20))\n    for i in range(150):\n        view = chunk\n        while view:\n            view = view[os.write(1, view):]\n    return 1\n`,
    )
    expect(r).toMatchObject({status: 'resource_limit_exceeded', resource_limit_type: 'output', exit_code: EXIT.OUTPUT_LIMIT})
    expect(r.detail).toMatch(/^Output limit exceeded: the runner's report is over the \d+-byte frame limit$/)
    expect(r.stderr).toMatch(/frame limit; the run was stopped/)
    expect(process.resourceUsage().maxRSS).toBeLessThan(250 * 1024)
  })

  it('a return value over SANDBOX_MAX_RESULT_BYTES is refused by the runner with a clear error; one at the cap comes back', async () => {
    const cap = config.maxResultBytes
    // a JSON string of n characters is n + 2 bytes
    const at = await py(`def main():\n    return "x" * ${cap - 2}\n`)
    expect(at.status).toBe('success')
    expect((at.result?.value as string).length).toBe(cap - 2)
    const over = await py(`def main():\n    return "x" * ${cap - 1}\n`)
    expect(over).toMatchObject({status: 'resource_limit_exceeded', resource_limit_type: 'output', exit_code: EXIT.OUTPUT_LIMIT, result: null})
    expect(over.stderr).toContain(`main() returned ${cap + 1} bytes, over the ${cap}-byte result limit`)
    expect(over.detail).toMatch(/result limit \(SANDBOX_MAX_RESULT_BYTES\)$/)
    const node = await js(`function main() { return 'x'.repeat(${cap - 1}) }`)
    expect(node).toMatchObject({status: 'resource_limit_exceeded', resource_limit_type: 'output', exit_code: EXIT.OUTPUT_LIMIT})
    expect(node.stderr).toContain(`main() returned ${cap + 1} bytes, over the ${cap}-byte result limit`)
  })

  it('a forged frame (nonce known) with guest time, guest memory and wrong types is a program_runner_error; time and memory stay the host’s', async () => {
    const r = await py(forge({ok: true, result: 'forged', error: null, artifacts: [], notes: [], time_used_ms: 'soon', memory_used_kb: {}}))
    expect(r).toMatchObject({status: 'program_runner_error', exit_code: EXIT.MALFORMED_REPORT, result: null})
    expect(r.detail).toMatch(/^malformed runner report: /)
    expect(typeof r.time_used_ms).toBe('number')
    expect(typeof r.memory_used_kb).toBe('number')
    expect(r.memory_used_kb).toBeGreaterThan(1000)
  })

  it('a well-formed forged frame is only what main could have returned: the types are checked and time and memory are measured outside', async () => {
    const r = await py(forge({ok: true, result: {present: true, value: {claimed: 1}, type: 'json'}, error: null, error_type: null, exit_code: 0, artifacts: [], notes: []}))
    expect(r).toMatchObject({status: 'success', result: {present: true, value: {claimed: 1}, type: 'json'}})
    expect(typeof r.time_used_ms).toBe('number')
    expect(r.memory_used_kb).toBeGreaterThan(1000)
  })

  it('the host enforces the result cap itself: a forged frame with an over-cap value is an output limit', async () => {
    const cap = config.maxResultBytes
    const code =
      'import base64, json, os, sys\n' +
      'def main():\n' +
      '    runner = sys._getframe(1).f_locals\n' +
      '    os.write(2, ("__SANDBOX_END_" + runner["job"]["nonce"] + "__\\n").encode())\n' +
      `    c = {"ok": True, "result": {"present": True, "value": "x" * ${cap}, "type": "json"}, "error": None, "error_type": None, "exit_code": 0, "artifacts": [], "notes": []}\n` +
      '    view = memoryview((runner["prefix"] + base64.b64encode(json.dumps(c).encode()).decode() + "\\n").encode())\n' +
      '    while view:\n' +
      '        view = view[os.write(1, view):]\n' +
      '    os._exit(0)\n'
    const r = await py(code)
    expect(r).toMatchObject({status: 'resource_limit_exceeded', resource_limit_type: 'output', exit_code: EXIT.OUTPUT_LIMIT, result: null})
    expect(r.detail).toBe(`Output limit exceeded: main() returned ${cap + 2} bytes, over the ${cap}-byte result limit (SANDBOX_MAX_RESULT_BYTES)`)
  })

  it('exit statuses outside 0..255 are reported as the OS would, never as a malformed report', async () => {
    const big = await py('import sys\ndef main():\n    sys.exit(300)\n')
    expect(big.status).not.toBe('program_runner_error')
    expect(big.exit_code).toBe(44)
    const negative = await py('import sys\ndef main():\n    sys.exit(-1)\n')
    expect(negative.status).not.toBe('program_runner_error')
    expect(negative.exit_code).toBe(255)
  })

  it('odd but honest output never makes a malformed report: non-UTF-8 file names, lone surrogates, huge error messages', async () => {
    const names = await py(
      'import os\ndef main():\n    with open(os.open(b"artifacts/" + b"\\xff\\xfe" * 100 + b".csv", os.O_CREAT | os.O_WRONLY), "w") as f:\n        f.write("x")\n    return "\\ud800 lone"\n',
    )
    expect(names.status).toBe('success')
    expect(names.stderr).toMatch(/skipped: the name is not UTF-8/)
    expect(names.result?.value).toBe('\ud800 lone')
    const surrogates = await py('def main():\n    raise ValueError("\\ud800" * 5000)\n')
    expect(surrogates.status).not.toBe('program_runner_error')
    const long = await py('def main():\n    raise ValueError("\\U0001F600" * 20000)\n')
    expect(long.status).not.toBe('program_runner_error')
    const node = await js('function main() { throw new Error("\\u{1F600}".repeat(20000)) }')
    expect(node.status).not.toBe('program_runner_error')
  })

  it('long error records stay valid reports and keep their meaning: a 150-character exception name, a 64-character code, a 10,000-character message (clipped to 4,000)', async () => {
    const name = 'N'.repeat(150)
    const python = await py(`import errno\nclass ${name}(PermissionError):\n    pass\ndef main():\n    raise ${name}(errno.EACCES, "m" * 10000)\n`)
    expect(python).toMatchObject({status: 'unauthorized_access', unauthorized_access_type: 'file_access', exit_code: 1})
    const code = 'E' + 'A'.repeat(63)
    const node = await js(`function main() { const e = new Error('m'.repeat(10000)); e.name = '${name}'; e.code = '${code}'; throw e }`)
    expect(node).toMatchObject({status: 'program_error', exit_code: 1, runtime_error_type: 'nonzero_exit'})
    expect(node.detail).toHaveLength(4000)
  })

  it('memory_used_kb is the container’s peak from its cgroup, not the runner’s claim', async () => {
    const small = await py('def main():\n    return 1\n')
    const big = await py('def main():\n    x = bytearray(100 * 1024 * 1024)\n    return len(x)\n')
    expect(big.status).toBe('success')
    expect(big.memory_used_kb).toBeGreaterThan(100 * 1024)
    expect(small.memory_used_kb).toBeLessThan(big.memory_used_kb!)
  })

  it('onOutput streams exactly the user’s bytes, never the frames', async () => {
    const seen = {stdout: [] as Buffer[], stderr: [] as Buffer[]}
    const r = await engine.run({
      language: 'python',
      code: 'import sys\ndef main():\n    print("one")\n    sys.stderr.write("two")\n    print("three", end="")\n    return {"x": "a-result"}\n',
      onOutput: (s, b) => seen[s].push(b),
    })
    expect(r.status).toBe('success')
    expect(Buffer.concat(seen.stdout).toString()).toBe('one\nthree')
    expect(Buffer.concat(seen.stderr).toString()).toBe('two')
    expect(r.stdout).toBe('one\nthree')
    const j: string[] = []
    const n = await engine.run({language: 'nodejs', code: 'function main() { console.log("hi"); return 2 }', onOutput: (_, b) => j.push(b.toString())})
    expect(n.result?.value).toBe(2)
    expect(j.join('')).toBe('hi\n')
  })

  it('artifacts: the total cap holds and a flood of skipped files keeps the report valid', async () => {
    const r = await py(
      'def main():\n    for n in ("a.csv", "b.csv"):\n        with open("artifacts/" + n, "wb") as f:\n            f.write(b"x" * (9 * 1024 * 1024))\n    for i in range(100):\n        open("artifacts/f%d.exe" % i, "w").write("x")\n    return 1\n',
    )
    expect(r.status).toBe('success')
    expect(r.artifacts.map((a) => a.name)).toEqual(['a.csv'])
    expect(r.stderr).toMatch(/b\.csv skipped: the artifacts together would be over the 16777216-byte total limit/)
    expect(r.stderr).toMatch(/more notes left out/)
  })

  it('runner sandboxes keep no logs: nothing in Docker’s log store, no runsc log files', async () => {
    await expectNoRunnerLogs(config.backend, {[LABELS.owner]: engine.id})
  })
})

describe('engine: bad setup', () => {
  it('missing images → a clear error telling to run sandbox build', async () => {
    const broken = new Engine({config: {...config, pythonImage: 'sandbox-no-such-image:1'}, languages: ['python'], poolSize: 0})
    await expect(broken.start()).rejects.toThrow(/sandbox-no-such-image:1[\s\S]*/)
    await expect(broken.start()).rejects.toMatchObject({code: 'IMAGES_MISSING', exit: 3, suggestions: ['run `sandbox build`']})
    await broken.stop()
  })
})
