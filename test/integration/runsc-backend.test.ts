/**
 * The runsc backend (gVisor without Docker) against the real runsc, as root: results, limits,
 * isolation, leftovers of a killed engine, and the rootfs cache.
 */
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, utimesSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {createInterface} from 'node:readline'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {findRunsc, type KeptSandbox, removeRunscLeftovers, RunscBackend, runscStateBase} from '../../src/backends/runsc/index.js'
import {cachedRootfs, ensureRootfs, rootfsCacheDir} from '../../src/backends/runsc/rootfs.js'
import {loadConfig} from '../../src/config.js'
import {Engine, type EngineEvent} from '../../src/engine/engine.js'
import {EXIT} from '../../src/engine/result.js'
import type {Runner, RunnerRequest} from '../../src/engine/runner.js'
import {poolExecutor} from '../../src/executors/local.js'
import {runProgram} from '../../src/exec.js'
import {Pipeline} from '../../src/run/pipeline.js'
import {cleanEverything} from '../../src/supervisor/clean.js'
import {startListener, type RunningListener} from '../../src/suite/fixtures.js'
import {gone} from '../helpers/processes.js'

const config = loadConfig({env: {...process.env, SANDBOX_TIMEOUT: '20s', SANDBOX_BACKEND: 'runsc'}})
const stateRoot = mkdtempSync(join(tmpdir(), 'runsc-backend-'))
const previousState = process.env.SANDBOX_STATE_DIR
let engine: Engine
let listener: RunningListener

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the runsc backend tests run as root (runsc makes cgroups and namespaces)')
  if (!findRunsc()) throw new Error('runsc is not installed: apt-get install runsc')
  process.env.SANDBOX_STATE_DIR = stateRoot
  listener = await startListener('tcp4')
  engine = new Engine({config, poolSize: 2})
  await engine.start()
})

afterAll(async () => {
  await engine?.stop()
  await listener?.close()
  if (previousState === undefined) delete process.env.SANDBOX_STATE_DIR
  else process.env.SANDBOX_STATE_DIR = previousState
  rmSync(stateRoot, {recursive: true, force: true})
})

const gated = () => new Pipeline(poolExecutor(engine), {timeoutSeconds: config.timeoutSeconds, policy: 'off'})
const py = (code: string, args: Record<string, unknown> = {}, extra: {timeoutSeconds?: number} = {}) => gated().run({language: 'python', code, arguments: args, ...extra})
const js = (code: string, args: Record<string, unknown> = {}) => gated().run({language: 'nodejs', code, arguments: args})

describe('runsc backend: results', () => {
  it('runs on runsc and says so', () => {
    expect(engine.status()).toMatchObject({runtime: 'runsc', healthy: true})
  })

  it('Python and Node.js: stdout, main’s value, measured memory', async () => {
    const p = await py(readFileSync('examples/hello.py', 'utf8'), {name: 'World'})
    expect(p).toMatchObject({status: 'success', exit_code: 0, stdout: 'Hello from Python, World!\n', result: {present: true, value: {greeting: 'Hello, World!', length: 5}}})
    expect(p.memory_used_kb).toBeGreaterThan(1000)
    const j = await js(readFileSync('examples/hello.js', 'utf8'), {name: 'World'})
    expect(j).toMatchObject({status: 'success', stdout: 'Hello from Node.js, World!\n', result: {value: {greeting: 'Hello, World!', length: 5}}})
  })

  it('an exception is a program error with its traceback', async () => {
    const r = await py('def main():\n    return 1 / 0\n')
    expect(r).toMatchObject({status: 'program_error', exit_code: 1})
    expect(r.stderr).toMatch(/ZeroDivisionError/)
  })
})

describe('runsc backend: limits', () => {
  it('an infinite loop ends as -124 after the timeout', async () => {
    const r = await py('def main():\n    while True:\n        pass\n', {}, {timeoutSeconds: 2})
    expect(r).toMatchObject({status: 'resource_limit_exceeded', exit_code: EXIT.TIMEOUT, resource_limit_type: 'time'})
  })

  it('a memory bomb ends as -137, the verdict from the cgroup', async () => {
    const r = await py('def main():\n    chunks = []\n    while True:\n        chunks.append(bytearray(16 * 1024 * 1024))\n')
    expect(r).toMatchObject({status: 'resource_limit_exceeded', resource_limit_type: 'memory', exit_code: EXIT.OUT_OF_MEMORY})
  })

  it('a print flood is capped and stopped (-25)', async () => {
    const r = await py('def main():\n    while True:\n        print("x" * 1000)\n')
    expect(r).toMatchObject({status: 'resource_limit_exceeded', resource_limit_type: 'output', exit_code: EXIT.OUTPUT_LIMIT})
    expect(r.stdout.length).toBeLessThanOrEqual(1024 * 1024)
  })

  it('a fork bomb is contained by the nproc rlimit, and the next run works', async () => {
    const bomb = [
      'import os',
      'def main():',
      '    n = 0',
      '    for _ in range(500):',
      '        try:',
      '            if os.fork() == 0:',
      '                import time; time.sleep(30); os._exit(0)',
      '            n += 1',
      '        except OSError:',
      '            break',
      '    return n',
    ].join('\n')
    const r = await py(bomb, {}, {timeoutSeconds: 10})
    // contained: fork fails at the cap (or the sleeping children fill the memory limit); the sandbox never crashes
    expect(['success', 'resource_limit_exceeded'], `${r.status}: ${r.stderr.slice(-300)}`).toContain(r.status)
    if (r.status === 'success') expect(r.result?.value).toBeLessThan(64)
    expect((await py('def main():\n    return 7\n')).result?.value).toBe(7)
  })
})

/** a runsc backend that keeps the runners it made */
class Watched extends RunscBackend {
  readonly made: Runner[] = []
  async createRunner(request: RunnerRequest): Promise<Runner> {
    const runner = await super.createRunner(request)
    this.made.push(runner)
    return runner
  }
}

describe('runsc backend: a killed sandbox leaves nothing', () => {
  /** the cgroup directories of a sandbox in every controller (runsc makes cpu, pids, …; we make memory) */
  const cgroupsOf = (id: string): string[] =>
    readdirSync('/sys/fs/cgroup')
      .map((controller) => `/sys/fs/cgroup/${controller}/sandbox-runsc/${id}`)
      .filter((dir) => existsSync(dir))

  it('after timeouts, an output flood and the engine’s stop, none of their cgroups (runsc’s own included) and no bundle remain', async () => {
    const backend = new Watched()
    // a pool of 2: stopping the engine kills its warm sandboxes too
    const own = new Engine({config, backend, poolSize: 2, languages: ['python']})
    await own.start()
    try {
      const run = (code: string) => new Pipeline(poolExecutor(own), {timeoutSeconds: 2, policy: 'off'}).run({language: 'python', code})
      // several at once: runsc's groups are busy longest after a kill on a loaded host
      const [flood, ...loops] = await Promise.all([
        run('def main():\n    while True:\n        print("x" * 1000)\n'),
        ...Array.from({length: 4}, () => run('def main():\n    while True:\n        pass\n')),
      ])
      expect(flood).toMatchObject({exit_code: EXIT.OUTPUT_LIMIT})
      for (const loop of loops) expect(loop).toMatchObject({exit_code: EXIT.TIMEOUT})
    } finally {
      await own.stop()
    }
    const made = backend.made.map((r) => r.id)
    expect(made.length).toBeGreaterThanOrEqual(5)
    for (const id of made) expect(cgroupsOf(id), id).toEqual([])
    for (const owner of readdirSync(runscStateBase())) for (const id of made) expect(existsSync(join(runscStateBase(), owner, 'bundles', id)), `${owner} ${id}`).toBe(false)
  })
})

describe('runsc backend: retirement', () => {
  it('a runner ends itself after its report: the sandbox exits with its status, not a kill, and leaves nothing behind', async () => {
    const backend = new Watched()
    const own = new Engine({config, backend, poolSize: 0, languages: ['python', 'nodejs']})
    await own.start()
    try {
      const run = (language: 'python' | 'nodejs', code: string) => new Pipeline(poolExecutor(own), {timeoutSeconds: 20, policy: 'off'}).run({language, code})
      // the setting that makes it end itself is not in the environment user code sees
      expect(await run('python', 'import os\ndef main():\n    return os.environ.get("SANDBOX_RUNNER_LINGER_MS")\n')).toMatchObject({status: 'success', result: {value: null}})
      expect(await run('nodejs', 'module.exports.main = () => process.env.SANDBOX_RUNNER_LINGER_MS ?? null\n')).toMatchObject({status: 'success', result: {value: null}})
      expect(await run('python', 'import sys\ndef main():\n    sys.exit(3)\n')).toMatchObject({exit_code: 3})
      expect(backend.made).toHaveLength(3)
      // exit statuses of the sandboxes themselves: a kill would be 137
      expect(await Promise.all(backend.made.map(async (r) => (await r.waitExit()).exitCode))).toEqual([0, 0, 3])
      for (const {id} of backend.made) {
        await expect.poll(() => existsSync(`/sys/fs/cgroup/memory/sandbox-runsc/${id}`), {timeout: 10_000}).toBe(false)
        for (const controller of ['pids', 'cpu']) expect(existsSync(`/sys/fs/cgroup/${controller}/sandbox-runsc/${id}`), `${controller} ${id}`).toBe(false)
      }
      for (const owner of readdirSync(runscStateBase())) {
        const bundles = join(runscStateBase(), owner, 'bundles')
        if (existsSync(bundles)) for (const {id} of backend.made) expect(existsSync(join(bundles, id)), id).toBe(false)
      }
    } finally {
      await own.stop()
    }
  })
})

describe('runsc backend: isolation', () => {
  it('no network: a listener on the host’s 127.0.0.1 is not reachable', async () => {
    const r = await py(
      [
        'import socket',
        'def main(port):',
        '    try:',
        '        socket.create_connection(("127.0.0.1", port), timeout=2).recv(100)',
        '        return "connected"',
        '    except OSError as e:',
        '        return "refused"',
        '',
      ].join('\n'),
      {port: listener.state.port},
    )
    expect(r.result?.value).toBe('refused')
    const ifaces = await py('import socket\ndef main():\n    return [n for _, n in socket.if_nameindex()]\n')
    expect(ifaces.result?.value).toEqual(['lo'])
    expect(listener.state.hits).toBe(0)
  })

  it('read-only root, non-root user, no capabilities, no new privileges, sized tmpfs', async () => {
    const r = await py(
      [
        'import os, shutil',
        'def main():',
        '    out = {"uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd()}',
        '    for path in ["/etc/x", "/usr/x", "/x"]:',
        '        try:',
        '            open(path, "w"); out[path] = "written"',
        '        except OSError as e:',
        '            out[path] = e.errno',
        '    status = dict(l.split(":\\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\\t" in l)',
        '    out["CapEff"] = status["CapEff"].strip(); out["CapBnd"] = status["CapBnd"].strip(); out["NoNewPrivs"] = status.get("NoNewPrivs", "").strip()',
        '    out["workspace"] = shutil.disk_usage("/workspace").total; out["tmp"] = shutil.disk_usage("/tmp").total',
        '    open("/workspace/ok", "w").write("x"); open("/tmp/ok", "w").write("x")',
        '    return out',
        '',
      ].join('\n'),
    )
    expect(r.status).toBe('success')
    const v = r.result?.value as Record<string, unknown>
    expect(v).toMatchObject({
      uid: 65534,
      gid: 65534,
      cwd: '/workspace',
      CapEff: '0000000000000000',
      CapBnd: '0000000000000000',
      workspace: 100 * 1024 * 1024,
      tmp: 50 * 1024 * 1024,
    })
    for (const path of ['/etc/x', '/usr/x', '/x']) expect(v[path], path).not.toBe('written')
    if (v.NoNewPrivs !== '') expect(v.NoNewPrivs).toBe('1')
  })
})

describe('runsc backend: ownership and the rootfs cache', () => {
  it('the sandboxes of a killed engine (one busy with a job) are removed when the next engine starts', async () => {
    // the child engine says "ready" when its job prints: that sandbox is busy for good (it ignores stdin)
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import {Engine} from ${JSON.stringify(resolve('dist/engine/engine.js'))}
import {loadConfig} from ${JSON.stringify(resolve('dist/config.js'))}
const engine = new Engine({config: loadConfig({env: {...process.env, SANDBOX_BACKEND: 'runsc'}}), poolSize: 2, languages: ['python']})
await engine.start()
let said = false
void engine.run({language: 'python', code: 'def main():\\n    print("looping", flush=True)\\n    while True:\\n        pass\\n', timeoutSeconds: 600, onOutput: () => { if (!said) { said = true; console.log('ready') } }})
setInterval(() => {}, 1000)`,
      ],
      {env: {...process.env, SANDBOX_STATE_DIR: stateRoot}, stdio: ['ignore', 'pipe', 'inherit']},
    )
    const exited = new Promise((ok) => child.once('exit', ok))
    const lines = createInterface({input: child.stdout})
    const first = await new Promise<string>((ok) => lines.once('line', ok))
    expect(first).toBe('ready')
    // a hidden name is an owner's directory being made (without its record yet)
    const ownerDirs = () =>
      readdirSync(runscStateBase())
        .filter((d) => !d.startsWith('.'))
        .filter((d) => JSON.parse(readFileSync(join(runscStateBase(), d, 'owner.json'), 'utf8')).pid === child.pid)
    const [dir] = ownerDirs()
    expect(dir).toBeDefined()
    const root = join(runscStateBase(), dir, 'state')
    const running = async () => {
      const listed = await runProgram(findRunsc()!, ['--root', root, 'list', '--format=json'])
      return (JSON.parse(listed.stdout || '[]') as Array<{id: string; pid: number; status: string}>).filter((c) => c.status === 'running')
    }
    // while its engine lives, its sandboxes are kept, and listed as kept (what `sandbox clean` prints)
    const kept: KeptSandbox[] = []
    await removeRunscLeftovers({kept})
    const live = readdirSync(join(runscStateBase(), dir, 'bundles')).sort()
    expect(live.length).toBeGreaterThanOrEqual(1)
    expect(
      kept
        .filter((k) => k.ownerPid === String(child.pid))
        .map((k) => k.id)
        .sort(),
    ).toEqual(live)
    expect(kept.find((k) => k.ownerPid === String(child.pid))?.reason).toMatch(/still running \(use --all\)/)
    child.kill('SIGKILL')
    await exited
    const ids = readdirSync(join(runscStateBase(), dir, 'bundles'))
    // the busy sandbox outlives its engine (idle ones may end on their closed stdin)
    const left = await running()
    expect(left.length).toBeGreaterThanOrEqual(1)
    expect(left.some((c) => !gone(c.pid))).toBe(true)

    const events: EngineEvent[] = []
    const next = new Engine({config, poolSize: 0, languages: ['python'], onEvent: (e) => events.push(e)})
    await next.start()
    await next.stop()
    expect(events.map((e) => e.message)).toContain(`removed ${ids.length} leftover container(s) of a previous run`)
    expect(ownerDirs()).toEqual([])
    expect(left.every((c) => gone(c.pid))).toBe(true)
    for (const id of ids) expect(existsSync(`/sys/fs/cgroup/memory/sandbox-runsc/${id}`), id).toBe(false)
    // nothing left for clean either
    expect(await removeRunscLeftovers()).toBe(0)
  })

  it('runsc’s cgroups that no record names any more are removed at engine start and by clean; busy and young ones stay', async () => {
    const made: string[] = []
    /** a real group in a controller runsc uses, last changed `ageMs` ago */
    const group = (controller: string, id: string, ageMs: number): string => {
      const dir = `/sys/fs/cgroup/${controller}/sandbox-runsc/${id}`
      mkdirSync(dir, {recursive: true})
      made.push(dir)
      const t = (Date.now() - ageMs) / 1000
      utimesSync(dir, t, t)
      return dir
    }
    const newId = () => `sbx-${randomBytes(8).toString('hex')}`
    const sleeper = spawn('sleep', ['120'], {stdio: 'ignore'})
    try {
      const [orphan, busy, young, cleaned] = [newId(), newId(), newId(), newId()]
      const orphanDirs = ['pids', 'cpu'].map((c) => group(c, orphan, 120_000))
      const busyDir = group('pids', busy, 120_000)
      writeFileSync(join(busyDir, 'cgroup.procs'), String(sleeper.pid))
      const youngDir = group('pids', young, 0)

      const next = new Engine({config, poolSize: 0, languages: ['python']})
      await next.start()
      await next.stop()
      for (const dir of orphanDirs) expect(existsSync(dir), dir).toBe(false)
      expect(existsSync(busyDir)).toBe(true)
      expect(existsSync(youngDir)).toBe(true)

      const cleanedDir = group('cpu', cleaned, 120_000)
      // (the count is the unit test's: any engine start on this host may sweep it first)
      expect((await cleanEverything()).warnings).toEqual([])
      expect(existsSync(cleanedDir)).toBe(false)
      expect(existsSync(busyDir)).toBe(true)
    } finally {
      sleeper.kill('SIGKILL')
      await new Promise((ok) => (sleeper.exitCode === null ? sleeper.once('exit', ok) : ok(undefined)))
      for (const dir of made)
        try {
          rmdirSync(dir)
        } catch {
          // removed by the test already
        }
    }
  })

  it('the rootfs is exported once per image and reused; an older export of the image is removed', async () => {
    const before = cachedRootfs().find((m) => m.image === config.pythonImage)
    expect(before).toBeDefined()
    const stale = join(rootfsCacheDir(), 'stale-export-of-the-same-image')
    mkdirSync(join(stale, 'rootfs'), {recursive: true})
    writeFileSync(join(stale, 'meta.json'), JSON.stringify({image: config.pythonImage, id: 'sha256:old', inputHash: null, env: [], exportedAt: '2020-01-01T00:00:00Z'}))
    const again = await ensureRootfs(config.pythonImage)
    expect(again).toMatchObject({exported: false, id: before!.id, path: join(before!.dir, 'rootfs')})
    expect(existsSync(stale)).toBe(false)
    expect(existsSync(join(again.path, 'usr', 'bin', 'python3'))).toBe(true)
  })

  it('an older export that a live process boots sandboxes from is kept; once its users are gone it is removed', async () => {
    const stale = join(rootfsCacheDir(), 'older-export-in-use')
    mkdirSync(join(stale, 'rootfs'), {recursive: true})
    mkdirSync(join(stale, 'users'))
    writeFileSync(join(stale, 'meta.json'), JSON.stringify({image: config.pythonImage, id: 'sha256:older', inputHash: null, env: [], exportedAt: '2020-01-01T00:00:00Z'}))
    try {
      // a live user (this process; any live pid on this host counts)
      writeFileSync(join(stale, 'users', `${hostname()}-${process.pid}`), '')
      await ensureRootfs(config.pythonImage)
      expect(existsSync(stale)).toBe(true)
      // its only user has exited
      const exited = spawn(process.execPath, ['-e', ''])
      const deadPid = exited.pid!
      await new Promise((r) => exited.once('exit', r))
      rmSync(join(stale, 'users', `${hostname()}-${process.pid}`))
      writeFileSync(join(stale, 'users', `${hostname()}-${deadPid}`), '')
      await ensureRootfs(config.pythonImage)
      expect(existsSync(stale)).toBe(false)
    } finally {
      rmSync(stale, {recursive: true, force: true})
    }
  })

  it('an export removed under a serving engine (clean --images --all, or by hand) is exported again before the next sandbox', async () => {
    const tag = `sandbox-test-reexport-${process.pid}:latest`
    // an image of its own (its own id, so its own export): the shared engine's exports stay untouched
    const child = spawn('docker', ['build', '-q', '-t', tag, '-'], {stdio: ['pipe', 'ignore', 'pipe']})
    child.stdin.end(`FROM ${config.nodejsImage}\nLABEL io.sandbox.test.reexport="${process.pid}"\n`)
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    expect(await new Promise((r) => child.once('close', r)), stderr).toBe(0)
    const exportsOf = () => cachedRootfs().filter((m) => m.image === tag)
    // no pool: every run boots a sandbox of its own, so each one resolves the export
    const oneShot = new Engine({config: {...config, nodejsImage: tag}, poolSize: 0, languages: ['nodejs']})
    const run = () =>
      new Pipeline(poolExecutor(oneShot), {timeoutSeconds: config.timeoutSeconds, policy: 'off'}).run({language: 'nodejs', code: 'module.exports.main = () => 8\n', arguments: {}})
    try {
      await oneShot.start()
      expect((await run()).result?.value).toBe(8)
      const [first] = exportsOf()
      expect(first).toBeDefined()
      const {removeRootfsCache} = await import('../../src/backends/runsc/rootfs.js')
      expect(removeRootfsCache({all: true, images: [tag]})).toEqual({removed: 1, kept: 0})
      expect(existsSync(first.dir)).toBe(false)
      const again = await run()
      expect(again.result?.value, JSON.stringify(again)).toBe(8)
      expect(exportsOf().map((m) => m.id)).toEqual([first.id])
      expect(existsSync(join(first.dir, 'rootfs', 'usr', 'bin', 'node')) || existsSync(join(first.dir, 'rootfs', 'usr', 'local', 'bin', 'node'))).toBe(true)
    } finally {
      await oneShot.stop()
      for (const m of exportsOf()) rmSync(m.dir, {recursive: true, force: true})
      await runProgram('docker', ['rmi', '-f', tag])
    }
  })

  it('an image rebuilt while an engine serves it: the engine keeps serving from its export, which clean --images keeps', async () => {
    const tag = `sandbox-test-rebuilt-${process.pid}:latest`
    const build = async (label: string) => {
      const child = spawn('docker', ['build', '-q', '-t', tag, '-'], {stdio: ['pipe', 'ignore', 'pipe']})
      child.stdin.end(`FROM ${config.nodejsImage}\nLABEL io.sandbox.test.rebuild="${label}"\n`)
      let stderr = ''
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
      const code = await new Promise((r) => child.once('close', r))
      expect(code, stderr).toBe(0)
    }
    const exportsOf = () => cachedRootfs().filter((m) => m.image === tag)
    const rebuilt = new Engine({config: {...config, nodejsImage: tag}, poolSize: 1, languages: ['nodejs']})
    const run = () =>
      new Pipeline(poolExecutor(rebuilt), {timeoutSeconds: config.timeoutSeconds, policy: 'off'}).run({language: 'nodejs', code: 'module.exports.main = () => 7\n', arguments: {}})
    try {
      await build('first')
      await rebuilt.start()
      expect((await run()).result?.value).toBe(7)
      const [first] = exportsOf()
      // rebuilt, and exported by another run of the same image (a one-shot `sandbox run` does this)
      await build('second')
      const second = await ensureRootfs(tag)
      expect(second.id).not.toBe(first.id)
      expect(
        exportsOf()
          .map((m) => m.id)
          .sort(),
      ).toEqual([first.id, second.id].sort())
      for (let i = 0; i < 3; i++) expect((await run()).result?.value).toBe(7)
      // `sandbox clean --images` keeps the exports this live process boots from
      const {removeRootfsCache} = await import('../../src/backends/runsc/rootfs.js')
      expect(removeRootfsCache({images: [tag]})).toEqual({removed: 0, kept: 2})
      expect(exportsOf()).toHaveLength(2)
    } finally {
      await rebuilt.stop()
      for (const m of exportsOf()) rmSync(m.dir, {recursive: true, force: true})
      await runProgram('docker', ['rmi', '-f', tag])
    }
  })
})
