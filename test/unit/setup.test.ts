/**
 * runSetup's logic against a fake host: check order, what gets fixed and how, pid-file
 * handling, daemon.json merging in place, root/non-root, systemd/no systemd.
 * The real machine is covered by test/integration/setup.test.ts.
 */
import {describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import type {DaemonInfo} from '../../src/docker/client.js'
import type {ProbeOptions, ProbeResult} from '../../src/docker/probe.js'
import {CHECK_ORDER} from '../../src/setup/checks.js'
import {clearStalePidFile, inspectPidFile} from '../../src/setup/pid-file.js'
import {runSetup} from '../../src/setup/service.js'
import type {ImageBuildOptions, RunOptions, SetupHost, SetupOptions} from '../../src/setup/types.js'

const config = loadConfig({env: {SANDBOX_BACKEND: 'docker'}, envFile: '/dev/null'})
const HOST_KERNEL = '6.1.0-18-amd64'
const DAEMON_JSON = '/etc/docker/daemon.json'
const PID_FILE = '/var/run/docker.pid'

interface FakeState {
  root: boolean
  systemd: boolean
  apt: boolean
  dockerInstalled: boolean
  runscInstalled: boolean
  daemonUp: boolean
  endpoint: string
  /** runtimes the running daemon knows (read from daemon.json at start / SIGHUP) */
  runtimes: string[]
  images: Record<string, 'current' | 'stale' | 'missing'>
  /** memory limits enforced by the kernel */
  memoryCgroup: boolean
  /** runtimeArgs of the runsc entry the daemon loaded; without --network=none runsc refuses to start */
  runscArgs: string[]
  freeBytes: number
  /** the socket refuses this user */
  daemonDenied?: boolean
  /** dockerd ignores SIGHUP (runtimes only load at start) */
  hupIgnored?: boolean
  /** a started dockerd exits at once, writing this to its log */
  dockerdCrash?: string
  files: Map<string, string>
  procs: Map<number, string>
}

class FakeHost implements SetupHost {
  s: FakeState
  calls: string[] = []
  nextPid = 4000
  clock = 0

  constructor(state: Partial<FakeState> = {}) {
    this.s = {
      root: true,
      systemd: false,
      apt: true,
      dockerInstalled: true,
      runscInstalled: true,
      daemonUp: true,
      endpoint: 'unix:///var/run/docker.sock',
      runtimes: ['io.containerd.runc.v2', 'runc', 'runsc'],
      images: {python: 'current', nodejs: 'current'},
      memoryCgroup: true,
      runscArgs: ['--network=none'],
      freeBytes: 80 * 1024 ** 3,
      files: new Map([['/work/.env', 'SANDBOX_TIMEOUT=10s\n']]),
      procs: new Map([[1, 'init']]),
      ...state,
    }
  }

  /** what the daemon loads from daemon.json */
  private loadDaemonJson() {
    const text = this.s.files.get(DAEMON_JSON)
    const runtimes = text ? (JSON.parse(text).runtimes ?? {}) : {}
    this.s.runtimes = ['io.containerd.runc.v2', 'runc', ...Object.keys(runtimes)]
    this.s.runscArgs = runtimes.runsc?.runtimeArgs ?? []
  }

  platform = () => 'linux'
  kernelRelease = () => HOST_KERNEL
  distro = async () => 'Debian GNU/Linux 12 (bookworm)'
  isRoot = () => this.s.root
  async which(command: string) {
    const present: Record<string, boolean> = {
      dockerd: this.s.dockerInstalled,
      runsc: this.s.runscInstalled,
      'apt-get': this.s.apt,
      systemctl: this.s.systemd,
    }
    return present[command] ? `/usr/bin/${command}` : undefined
  }

  async run(command: string, args: string[], options: RunOptions = {}) {
    const line = [command, ...args].join(' ')
    if (!(command.endsWith('runsc') && args[0] === '--version')) this.calls.push(line)
    if (command === 'apt-get' && args[0] === 'update') {
      expect(options.env?.DEBIAN_FRONTEND).toBe('noninteractive')
    }
    if (command === 'apt-get' && args[0] === 'install') {
      expect(options.env?.DEBIAN_FRONTEND).toBe('noninteractive')
      if (args.includes('docker.io')) this.s.dockerInstalled = true
      if (args.includes('runsc')) this.s.runscInstalled = true
    }
    if (line === 'systemctl start docker') {
      this.loadDaemonJson()
      this.s.daemonUp = true
    }
    if (line === 'systemctl reload docker') this.loadDaemonJson()
    if (command.endsWith('runsc')) return {code: 0, stdout: 'runsc version release-20221219.0\nspec: 1.0.2-dev\n', stderr: ''}
    return {code: 0, stdout: '', stderr: ''}
  }

  async readFile(path: string) {
    return this.s.files.get(path)
  }

  async writeFile(path: string, text: string) {
    this.calls.push(`write ${path}`)
    this.s.files.set(path, text)
  }

  async removeFile(path: string) {
    this.calls.push(`rm ${path}`)
    this.s.files.delete(path)
  }

  async exists(path: string) {
    if (path === '/run/systemd/system') return this.s.systemd
    return this.s.files.has(path)
  }

  async processName(pid: number) {
    return this.s.procs.get(pid)
  }

  async findProcesses(name: string) {
    return [...this.s.procs].filter(([, n]) => n === name).map(([pid]) => pid)
  }

  async signal(pid: number, signal: NodeJS.Signals) {
    this.calls.push(`kill -${signal} ${pid}`)
    if (signal === 'SIGHUP' && this.s.procs.get(pid) === 'dockerd' && !this.s.hupIgnored) this.loadDaemonJson()
    if (signal === 'SIGTERM' && this.s.procs.get(pid) === 'dockerd') {
      // a clean exit removes its pid file
      this.s.procs.delete(pid)
      this.s.files.delete(PID_FILE)
      this.s.daemonUp = false
    }
  }

  async spawnDetached(command: string, args: string[], logFile: string) {
    this.calls.push(`spawn ${[command, ...args].join(' ')} > ${logFile}`)
    if (this.s.files.has(PID_FILE)) throw new Error('pid file found, ensure docker is not running')
    const pid = this.nextPid++
    if (this.s.dockerdCrash) {
      this.s.files.set(logFile, `${this.s.files.get(logFile) ?? ''}${this.s.dockerdCrash}\n`)
      return pid
    }
    this.s.procs.set(pid, 'dockerd')
    this.s.files.set(PID_FILE, String(pid))
    this.loadDaemonJson()
    this.s.daemonUp = true
    return pid
  }

  async freeBytes() {
    return this.s.freeBytes
  }

  sleep = async (ms: number) => {
    this.clock += ms
  }

  now = () => this.clock

  docker = {
    endpoint: () => this.s.endpoint,
    ping: async () => {
      if (this.s.daemonDenied) throw new Error(`Cannot reach the Docker daemon at ${this.s.endpoint}: connect EACCES /var/run/docker.sock`)
      if (!this.s.daemonUp) throw new Error(`Cannot reach the Docker daemon at ${this.s.endpoint}: connect ENOENT`)
    },
    info: async (): Promise<DaemonInfo> => {
      if (!this.s.daemonUp) throw new Error('connect ENOENT')
      return {
        endpoint: this.s.endpoint,
        serverVersion: '20.10.24',
        apiVersion: '1.41',
        runtimes: [...this.s.runtimes],
        defaultRuntime: 'runc',
        cgroupVersion: '1',
        memoryLimit: this.s.memoryCgroup,
        kernelVersion: HOST_KERNEL,
        os: 'Debian',
        ncpu: 2,
        memTotal: 1,
        dockerRootDir: '/var/lib/docker',
      }
    },
    probe: async (o: ProbeOptions): Promise<ProbeResult> => {
      this.calls.push(`probe ${o.runtime}${o.memory ? ' memory' : ''}`)
      if (!this.s.runtimes.includes(o.runtime ?? 'runc')) throw new Error(`unknown or invalid runtime name: ${o.runtime}`)
      if (!this.s.runscArgs.includes('--network=none'))
        return {exitCode: 127, stdout: '', stderr: 'cannot run with network enabled in root network namespace', oomKilled: false, timedOut: false}
      if (o.memory) {
        return this.s.memoryCgroup
          ? {exitCode: 137, stdout: '', stderr: '', oomKilled: true, timedOut: false}
          : {exitCode: 0, stdout: '209715200\n', stderr: '', oomKilled: false, timedOut: false}
      }
      return {exitCode: 0, stdout: '4.4.0\n', stderr: '', oomKilled: false, timedOut: false}
    },
    imageStatus: async () =>
      (['python', 'nodejs'] as const).map((language) => ({
        language,
        image: language === 'python' ? config.pythonImage : config.nodejsImage,
        present: this.s.images[language] !== 'missing',
        current: this.s.images[language] === 'current',
        reason: this.s.images[language] === 'stale' ? 'inputs changed' : undefined,
      })),
    buildImages: async (o: ImageBuildOptions) => {
      this.calls.push(`build ${(o.languages ?? []).join(',')}`)
      return (o.languages ?? []).map((language) => {
        o.onProgress?.({language, kind: 'step', message: 'building'})
        this.s.images[language] = 'current'
        return {language, image: `sandbox-base-${language}:latest`, skipped: false}
      })
    },
  }
}

const setup = (host: FakeHost, options: SetupOptions = {}) =>
  runSetup({host, config, envFile: '/work/.env', daemonJsonPath: DAEMON_JSON, dockerdLog: '/var/log/sandbox-dockerd.log', ...options})

const check = (report: Awaited<ReturnType<typeof runSetup>>, id: string) => {
  const found = report.checks.find((c) => c.id === id)
  if (!found) throw new Error(`no check ${id}`)
  return found
}

const READY_DAEMON_JSON = JSON.stringify({runtimes: {runsc: {path: '/usr/bin/runsc', runtimeArgs: ['--network=none']}}})

describe('runSetup on a ready host', () => {
  it('reports every check, in order, and changes nothing (also with fix)', async () => {
    for (const fix of [false, true]) {
      const host = new FakeHost({
        procs: new Map([
          [1, 'init'],
          [2581, 'dockerd'],
        ]),
        files: new Map([
          ['/work/.env', ''],
          [DAEMON_JSON, READY_DAEMON_JSON],
          [PID_FILE, '2581'],
        ]),
      })
      const report = await setup(host, {fix})
      expect(report.checks.map((c) => c.id)).toEqual(CHECK_ORDER)
      expect(report.ok).toBe(true)
      expect(report.changed).toEqual([])
      expect(report.checks.every((c) => c.fixed === undefined && c.fix === undefined)).toBe(true)
      // only the two probes touch Docker; no apt, no writes, no signals
      expect(host.calls.sort()).toEqual(['probe runsc', 'probe runsc memory'])
      expect(check(report, 'isolation').detail).toContain('4.4.0')
      expect(check(report, 'docker-daemon').detail).toContain('API 1.41')
    }
  })

  it('omits the .env check when envFile is null', async () => {
    const report = await setup(new FakeHost(), {envFile: null})
    expect(report.checks.map((c) => c.id)).toEqual(CHECK_ORDER.filter((id) => id !== 'env-file'))
  })
})

describe('runSetup without fixes', () => {
  it('a stopped daemon fails its check with the fix, and the checks that need it say so', async () => {
    const host = new FakeHost({daemonUp: false})
    const report = await setup(host)
    expect(report.ok).toBe(false)
    expect(report.checks.map((c) => c.id)).toEqual(CHECK_ORDER)
    const daemon = check(report, 'docker-daemon')
    expect(daemon.ok).toBe(false)
    expect(daemon.fix).toMatch(/sandbox setup --yes/)
    for (const id of ['runsc-registered', 'images', 'isolation', 'memory']) {
      expect(check(report, id).ok).toBe(false)
      expect(check(report, id).detail).toMatch(/not checked/)
    }
    expect(check(report, 'runsc-installed').ok).toBe(true)
    expect(host.calls).toEqual([])
  })

  it('a runtime the daemon does not know fails "runsc registered" with the daemon.json fix', async () => {
    const report = await setup(new FakeHost(), {runtime: 'runsc-missing'})
    const registered = check(report, 'runsc-registered')
    expect(registered.ok).toBe(false)
    expect(registered.detail).toContain('runsc-missing')
    expect(registered.fix).toContain('/etc/docker/daemon.json')
    expect(check(report, 'isolation').ok).toBe(false)
  })

  it('a daemon at another DOCKER_HOST gets a fix naming that endpoint', async () => {
    const report = await setup(new FakeHost({daemonUp: false, endpoint: 'unix:///tmp/nothing.sock'}))
    expect(check(report, 'docker-daemon').fix).toContain('unix:///tmp/nothing.sock')
  })

  it('a socket this user may not open points at the docker group', async () => {
    const report = await setup(new FakeHost({root: false, daemonDenied: true}))
    expect(check(report, 'docker-daemon').fix).toContain('docker group')
  })

  it('memory limits that are not enforced fail the memory check', async () => {
    const report = await setup(new FakeHost({memoryCgroup: false}))
    const memory = check(report, 'memory')
    expect(memory.ok).toBe(false)
    expect(memory.fix).toContain('cgroup_enable=memory')
  })

  it('low disk warns, very low disk fails', async () => {
    const low = await setup(new FakeHost({freeBytes: 3 * 1024 ** 3}))
    expect(check(low, 'disk')).toMatchObject({ok: true, warning: true})
    expect(low.ok).toBe(true)
    const tiny = await setup(new FakeHost({freeBytes: 100 * 1024 ** 2}))
    expect(check(tiny, 'disk').ok).toBe(false)
  })

  it('a missing .env is a warning, fixed only with fix', async () => {
    const host = new FakeHost({files: new Map()})
    const report = await setup(host)
    expect(check(report, 'env-file')).toMatchObject({ok: true, warning: true})
    expect(host.s.files.has('/work/.env')).toBe(false)
  })
})

describe('runSetup with fixes on a fresh Debian host (root, no systemd)', () => {
  it('installs, registers runsc, clears the stale pid file, starts dockerd, writes .env, builds images', async () => {
    const host = new FakeHost({
      dockerInstalled: false,
      runscInstalled: false,
      daemonUp: false,
      runtimes: [],
      runscArgs: [],
      images: {python: 'missing', nodejs: 'missing'},
      files: new Map([
        [DAEMON_JSON, JSON.stringify({'log-level': 'warn'})],
        [PID_FILE, '1234'], // left behind by a killed daemon; pid 1234 is gone
      ]),
    })
    const events: string[] = []
    const report = await setup(host, {fix: true, onProgress: (e) => events.push(`${e.kind}: ${e.message}`)})

    expect(report.ok).toBe(true)
    const mutations = host.calls.filter((c) => !c.startsWith('probe'))
    expect(mutations).toEqual([
      'apt-get update',
      'apt-get install -y docker.io runsc',
      `write ${DAEMON_JSON}`,
      `rm ${PID_FILE}`,
      'spawn /usr/bin/dockerd > /var/log/sandbox-dockerd.log',
      'write /work/.env',
      'build python,nodejs',
    ])
    expect(JSON.parse(host.s.files.get(DAEMON_JSON) ?? '{}')).toEqual({
      'log-level': 'warn',
      runtimes: {runsc: {path: '/usr/bin/runsc', runtimeArgs: ['--network=none']}},
    })
    expect(host.s.files.get('/work/.env')).toContain('SANDBOX_MAX_MEMORY=256m')
    for (const id of ['docker-installed', 'docker-daemon', 'runsc-installed', 'runsc-registered', 'images', 'isolation', 'memory', 'env-file']) {
      expect(check(report, id).fixed, id).toBe(true)
    }
    expect(check(report, 'os').fixed).toBeUndefined()
    expect(report.changed.join('\n')).toMatch(/installed docker.io, runsc/)
    expect(report.changed.join('\n')).toMatch(/removed stale \/var\/run\/docker.pid/)
    expect(events).toContain('step: python: building')

    // and a second run finds nothing to do
    host.calls = []
    const again = await setup(host, {fix: true})
    expect(again.ok).toBe(true)
    expect(again.changed).toEqual([])
    expect(host.calls.filter((c) => !c.startsWith('probe'))).toEqual([])
  })

  it('a dockerd that exits at once is reported with the end of its log, without waiting out the timeout', async () => {
    const host = new FakeHost({daemonUp: false, dockerdCrash: 'failed to start daemon: error initializing graphdriver', files: new Map([['/work/.env', '']])})
    const report = await setup(host, {fix: true})
    const daemon = check(report, 'docker-daemon')
    expect(daemon.ok).toBe(false)
    expect(daemon.fix).toMatch(/dockerd \(pid \d+\) exited: failed to start daemon: error initializing graphdriver/)
    expect(host.clock).toBeLessThan(5000)
  })

  it('uses systemctl when systemd runs', async () => {
    const host = new FakeHost({systemd: true, daemonUp: false, runtimes: [], files: new Map([['/work/.env', '']])})
    const report = await setup(host, {fix: true})
    expect(report.ok).toBe(true)
    expect(host.calls.filter((c) => !c.startsWith('probe'))).toEqual([`write ${DAEMON_JSON}`, 'systemctl start docker'])
  })

  it('never starts a second dockerd next to a live one, and leaves its pid file alone', async () => {
    const host = new FakeHost({
      daemonUp: false,
      procs: new Map([[77, 'dockerd']]),
      files: new Map([
        [PID_FILE, '77'],
        ['/work/.env', ''],
      ]),
    })
    const report = await setup(host, {fix: true})
    expect(host.calls.some((c) => c.startsWith('spawn') || c.startsWith('rm'))).toBe(false)
    expect(check(report, 'docker-daemon').ok).toBe(false)
    expect(check(report, 'docker-daemon').fix).toMatch(/dockerd \(pid 77\) runs but does not answer/)
  })

  it('registers runsc in a running daemon by merging daemon.json and sending SIGHUP; apt is not touched', async () => {
    const host = new FakeHost({
      runtimes: ['runc'],
      runscArgs: [],
      procs: new Map([[2581, 'dockerd']]),
      files: new Map([
        ['/work/.env', ''],
        [PID_FILE, '2581'],
        [DAEMON_JSON, JSON.stringify({runtimes: {kata: {path: '/opt/kata'}}, debug: false})],
      ]),
    })
    const report = await setup(host, {fix: true})
    expect(report.ok).toBe(true)
    expect(host.calls.filter((c) => !c.startsWith('probe'))).toEqual([`write ${DAEMON_JSON}`, 'kill -SIGHUP 2581'])
    expect(JSON.parse(host.s.files.get(DAEMON_JSON) ?? '{}')).toEqual({
      runtimes: {kata: {path: '/opt/kata'}, runsc: {path: '/usr/bin/runsc', runtimeArgs: ['--network=none']}},
      debug: false,
    })
    expect(check(report, 'runsc-registered').fixed).toBe(true)
  })

  it('restarts dockerd when a reload does not bring the runtime in', async () => {
    const host = new FakeHost({
      hupIgnored: true,
      runtimes: ['runc'],
      runscArgs: [],
      procs: new Map([[2581, 'dockerd']]),
      files: new Map([
        ['/work/.env', ''],
        [PID_FILE, '2581'],
      ]),
    })
    const report = await setup(host, {fix: true})
    expect(report.ok).toBe(true)
    expect(host.calls.filter((c) => !c.startsWith('probe'))).toEqual([
      `write ${DAEMON_JSON}`,
      'kill -SIGHUP 2581',
      'kill -SIGTERM 2581',
      'spawn /usr/bin/dockerd > /var/log/sandbox-dockerd.log',
    ])
    expect(report.changed).toContain('restarted the Docker daemon')
  })

  it('adds --network=none when runsc is registered without it and refuses to start', async () => {
    const host = new FakeHost({
      runscArgs: [],
      procs: new Map([[2581, 'dockerd']]),
      files: new Map([
        ['/work/.env', ''],
        [PID_FILE, '2581'],
        [DAEMON_JSON, JSON.stringify({runtimes: {runsc: {path: '/usr/bin/runsc'}}})],
      ]),
    })
    const before = await setup(host)
    expect(check(before, 'isolation').ok).toBe(false)
    expect(check(before, 'isolation').fix).toContain('--network=none')
    const report = await setup(host, {fix: true})
    expect(report.ok).toBe(true)
    expect(JSON.parse(host.s.files.get(DAEMON_JSON) ?? '{}').runtimes.runsc.runtimeArgs).toEqual(['--network=none'])
    expect(check(report, 'isolation').fixed).toBe(true)
  })

  it('a broken daemon.json is reported, not overwritten', async () => {
    const broken = '{"runtimes": {"runsc": '
    const host = new FakeHost({
      runtimes: ['runc'],
      procs: new Map([[2581, 'dockerd']]),
      files: new Map([
        ['/work/.env', ''],
        [PID_FILE, '2581'],
        [DAEMON_JSON, broken],
      ]),
    })
    const report = await setup(host, {fix: true})
    expect(report.ok).toBe(false)
    expect(host.s.files.get(DAEMON_JSON)).toBe(broken)
    expect(check(report, 'runsc-registered').fix).toMatch(/not valid JSON/)
  })

  it('rebuilds only stale or missing images', async () => {
    const host = new FakeHost({images: {python: 'current', nodejs: 'stale'}})
    const report = await setup(host, {fix: true})
    expect(host.calls.filter((c) => c.startsWith('build'))).toEqual(['build nodejs'])
    expect(check(report, 'images').fixed).toBe(true)
  })

  it('does not claim a build when the builder found the image current (built meanwhile by someone else)', async () => {
    const host = new FakeHost({images: {python: 'missing', nodejs: 'current'}})
    host.docker.buildImages = async (o: ImageBuildOptions) => {
      host.s.images.python = 'current'
      return (o.languages ?? []).map((language) => ({language, image: `sandbox-base-${language}:latest`, skipped: true}))
    }
    const report = await setup(host, {fix: true})
    expect(report.ok).toBe(true)
    expect(report.changed).toEqual([])
  })

  it('never overwrites an existing .env', async () => {
    const host = new FakeHost({files: new Map([['/work/.env', 'SANDBOX_TIMEOUT=30s\n']])})
    await setup(host, {fix: true})
    expect(host.s.files.get('/work/.env')).toBe('SANDBOX_TIMEOUT=30s\n')
  })

  it('asks before changing anything, and a "no" changes nothing', async () => {
    const host = new FakeHost({daemonUp: false, files: new Map()})
    let asked: string[] = []
    const report = await setup(host, {
      fix: true,
      confirm: async (plan) => {
        asked = plan
        return false
      },
    })
    expect(asked.some((p) => p.includes('start the Docker daemon'))).toBe(true)
    expect(host.calls).toEqual([])
    expect(report.changed).toEqual([])
    expect(report.notes.join(' ')).toMatch(/declined/)
  })
})

describe('runSetup with fixes as a normal user', () => {
  it('says it is not root, skips system changes, still writes .env', async () => {
    const host = new FakeHost({root: false, daemonUp: false, runscInstalled: false, files: new Map()})
    const report = await setup(host, {fix: true})
    expect(report.ok).toBe(false)
    expect(host.calls).toEqual(['write /work/.env'])
    expect(report.notes.join(' ')).toMatch(/not root/)
  })
})

describe('pid file', () => {
  it('tells a live dockerd from a stale file, and removes only a stale one', async () => {
    const live = new FakeHost({procs: new Map([[10, 'dockerd']]), files: new Map([[PID_FILE, '10\n']])})
    expect((await clearStalePidFile(live)).state).toBe('live')
    expect(live.s.files.has(PID_FILE)).toBe(true)

    const dead = new FakeHost({procs: new Map(), files: new Map([[PID_FILE, '10']])})
    expect(await clearStalePidFile(dead)).toMatchObject({state: 'stale', pid: 10})
    expect(dead.s.files.has(PID_FILE)).toBe(false)

    // the pid was reused by another program: still stale
    const reused = new FakeHost({procs: new Map([[10, 'bash']]), files: new Map([[PID_FILE, '10']])})
    expect((await clearStalePidFile(reused)).state).toBe('stale')

    const garbage = new FakeHost({procs: new Map(), files: new Map([[PID_FILE, 'hello']])})
    expect(await clearStalePidFile(garbage)).toMatchObject({state: 'stale', pid: undefined})

    // stale file but some dockerd runs (another -p pidfile?): leave it
    const foreign = new FakeHost({procs: new Map([[11, 'dockerd']]), files: new Map([[PID_FILE, '10']])})
    expect((await clearStalePidFile(foreign)).state).toBe('foreign')
    expect(foreign.s.files.has(PID_FILE)).toBe(true)

    expect((await inspectPidFile(new FakeHost({files: new Map()}))).state).toBe('absent')
  })
})
