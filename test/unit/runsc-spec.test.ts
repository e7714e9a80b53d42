import {describe, expect, it, vi} from 'vitest'

import {existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {cgroupProblem, createMemoryCgroup, oomKilled, peakMemoryKb} from '../../src/backends/runsc/cgroup.js'
import {defaultBackend} from '../../src/backends/index.js'
import {removeOrphanCgroups} from '../../src/backends/runsc/index.js'
import {configFromFlags} from '../../src/commands/start.js'
import {runscProblems} from '../../src/backends/runsc/host.js'
import {runscFlags} from '../../src/backends/runsc/sandbox.js'
import {buildSpec, mergeEnv, type SpecInput} from '../../src/backends/runsc/spec.js'
import {loadConfig} from '../../src/config.js'
import {hardenedHostConfig, SANDBOX_ISOLATION} from '../../src/docker/containers.js'

const MiB = 1024 * 1024

const spec = (extra: Partial<SpecInput> = {}) =>
  buildSpec({
    rootfs: '/cache/runsc-rootfs/abc/rootfs',
    args: ['python3', '-I', '-c', 'print(1)'],
    imageEnv: ['PATH=/usr/bin:/bin', 'HOME=/root', 'LANG=C.UTF-8'],
    env: ['HOME=/tmp', 'TMPDIR=/tmp'],
    memoryBytes: 256 * MiB,
    cgroupsPath: '/sandbox-runsc/sbx-1',
    annotations: {'io.sandbox.owner': 'engine-1', 'io.sandbox.owner-pid': '42'},
    ...extra,
  })

describe('runsc OCI spec (the docker backend isolation, field by field)', () => {
  it('runs the runner as nobody, with no capabilities and no new privileges, in /workspace', () => {
    const {process: p} = spec()
    // as a container with User 65534:65534: the group is also the one supplementary group (os.getgroups() == [65534])
    expect(p.user).toEqual({uid: 65534, gid: 65534, additionalGids: [65534]})
    expect(p.args).toEqual(['python3', '-I', '-c', 'print(1)'])
    expect(p.cwd).toBe('/workspace')
    expect(p.terminal).toBe(false)
    expect(p.noNewPrivileges).toBe(true)
    for (const set of Object.values(p.capabilities)) expect(set).toEqual([])
    expect(Object.keys(p.capabilities).sort()).toEqual(['ambient', 'bounding', 'effective', 'inheritable', 'permitted'])
  })

  it("environment: HOSTNAME (the sandbox's hostname, as Docker sets it), then the image, the request wins per name (as Docker merges them)", () => {
    expect(spec().process.env).toEqual(['HOSTNAME=sandbox', 'PATH=/usr/bin:/bin', 'HOME=/tmp', 'LANG=C.UTF-8', 'TMPDIR=/tmp'])
    expect(spec({hostname: 'sbx-0123'}).process.env[0]).toBe('HOSTNAME=sbx-0123')
    expect(mergeEnv(['A=1', 'B=2'], ['A=3'])).toEqual(['A=3', 'B=2'])
  })

  it('rlimits nproc, fsize and nofile as the containers ulimits', () => {
    const limits = Object.fromEntries(spec().process.rlimits.map((r) => [r.type, [r.soft, r.hard]]))
    expect(limits).toEqual({RLIMIT_NPROC: [64, 64], RLIMIT_FSIZE: [64 * MiB, 64 * MiB], RLIMIT_NOFILE: [1024, 1024]})
    const docker = hardenedHostConfig({image: 'i', cmd: [], language: 'python', owner: 'o', runtime: 'runsc', memoryBytes: 256 * MiB})
    expect(docker.Ulimits?.map((u) => [u.Name, u.Soft])).toEqual([
      ['nproc', limits.RLIMIT_NPROC[0]],
      ['fsize', limits.RLIMIT_FSIZE[0]],
      ['nofile', limits.RLIMIT_NOFILE[0]],
    ])
  })

  it('read-only shared root; sized tmpfs for /workspace (owned by nobody), /tmp and /dev/shm', () => {
    const s = spec()
    expect(s.root).toEqual({path: '/cache/runsc-rootfs/abc/rootfs', readonly: true})
    const mount = (d: string) => s.mounts.find((m) => m.destination === d)
    expect(mount('/workspace')).toMatchObject({type: 'tmpfs'})
    expect(mount('/workspace')?.options).toEqual(expect.arrayContaining([`size=${100 * MiB}`, 'uid=65534', 'gid=65534', 'mode=0755', 'nosuid', 'nodev']))
    expect(mount('/tmp')?.options).toEqual(expect.arrayContaining([`size=${50 * MiB}`, 'mode=1777', 'nosuid', 'nodev']))
    expect(mount('/dev/shm')?.options).toEqual(expect.arrayContaining([`size=${16 * MiB}`, 'mode=1777', 'noexec', 'nosuid', 'nodev']))
    expect(mount('/sys')?.options).toContain('ro')
    // no bind mount of anything of the host
    expect(s.mounts.filter((m) => m.type === 'bind')).toEqual([])
  })

  it('memory with swap equal to memory, one CPU, a pids backstop far above nproc (gVisor panics at a pids limit)', () => {
    const {linux} = spec()
    expect(linux.resources.memory).toEqual({limit: 256 * MiB, swap: 256 * MiB})
    expect(linux.resources.cpu).toEqual({shares: 1024, quota: 100_000, period: 100_000})
    expect(linux.resources.pids.limit).toBe(SANDBOX_ISOLATION.pidsBackstop(64))
    expect(linux.resources.pids.limit).toBeGreaterThanOrEqual(4096)
    expect(linux.cgroupsPath).toBe('/sandbox-runsc/sbx-1')
  })

  it('its own pid, ipc, uts, mount and network namespaces; runsc itself runs with --network=none on ptrace', () => {
    expect(
      spec()
        .linux.namespaces.map((n) => n.type)
        .sort(),
    ).toEqual(['ipc', 'mount', 'network', 'pid', 'uts'])
    const flags = runscFlags('/state/o/state')
    expect(flags).toContain('--network=none')
    expect(flags).toContain('--platform=ptrace')
    expect(flags.slice(0, 2)).toEqual(['--root', '/state/o/state'])
  })

  it('annotations carry the owner (leftovers are found by it)', () => {
    expect(spec().annotations).toEqual({'io.sandbox.owner': 'engine-1', 'io.sandbox.owner-pid': '42'})
  })
})

describe('runsc memory cgroup (facts read from files)', () => {
  it('writes the limit (and memsw when present) and reads the OOM kill count and the peak', () => {
    const root = mkdtempSync(join(tmpdir(), 'cgroup-'))
    try {
      mkdirSync(join(root, 'memory'))
      writeFileSync(join(root, 'memory', 'memory.limit_in_bytes'), '9223372036854771712\n')
      expect(cgroupProblem(root)).toBeUndefined()
      const dir = join(root, 'memory', 'sandbox-runsc', 'sbx-1')
      mkdirSync(dir, {recursive: true})
      writeFileSync(join(dir, 'memory.memsw.limit_in_bytes'), '')
      createMemoryCgroup('sbx-1', 256 * MiB, root)
      expect(oomKilled('sbx-1', root)).toBeUndefined()
      writeFileSync(join(dir, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n')
      expect(oomKilled('sbx-1', root)).toBe(false)
      writeFileSync(join(dir, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n')
      expect(oomKilled('sbx-1', root)).toBe(true)
      writeFileSync(join(dir, 'memory.max_usage_in_bytes'), `${20 * MiB}\n`)
      expect(peakMemoryKb('sbx-1', root)).toBe(20 * 1024)
      expect(peakMemoryKb('sbx-2', root)).toBeNull()
    } finally {
      rmSync(root, {recursive: true, force: true})
    }
  })

  it('sweeps runsc’s groups that no bundle names, once empty and past the grace; ours (memory), named, busy, young and foreign ones stay', () => {
    const root = mkdtempSync(join(tmpdir(), 'cgroup-'))
    const base = mkdtempSync(join(tmpdir(), 'runsc-state-'))
    try {
      const id = (n: number) => `sbx-${String(n).padStart(16, '0')}`
      const group = (controller: string, name: string, ageMs: number, busy = false) => {
        const dir = join(root, controller, 'sandbox-runsc', name)
        mkdirSync(dir, {recursive: true})
        // a group with processes cannot be removed: here, a directory that is not empty
        if (busy) writeFileSync(join(dir, 'tasks'), '42\n')
        const t = (Date.now() - ageMs) / 1000
        utimesSync(dir, t, t)
        return dir
      }
      const orphan = ['pids', 'cpu'].map((c) => group(c, id(1), 120_000))
      const ours = group('memory', id(1), 120_000)
      const young = group('pids', id(2), 1_000)
      const busy = group('pids', id(3), 120_000, true)
      const named = group('cpu', id(4), 120_000)
      const foreign = group('pids', 'exp-999-65', 120_000)
      mkdirSync(join(base, 'engine-1', 'bundles', id(4)), {recursive: true})
      writeFileSync(join(base, 'engine-1', 'owner.json'), JSON.stringify({owner: 'engine-1', pid: 1, host: 'h'}))

      expect(removeOrphanCgroups({base, root})).toBe(1)
      for (const dir of orphan) expect(existsSync(dir), dir).toBe(false)
      for (const dir of [ours, young, busy, named, foreign]) expect(existsSync(dir), dir).toBe(true)
      // once the young one is past the grace it goes too
      expect(removeOrphanCgroups({base, root, now: Date.now() + 60_000})).toBe(1)
      expect(existsSync(young)).toBe(false)
      expect(removeOrphanCgroups({base, root: join(root, 'nothing-here')})).toBe(0)
    } finally {
      rmSync(root, {recursive: true, force: true})
      rmSync(base, {recursive: true, force: true})
    }
  })

  it('says why a host cannot serve: cgroup v2 only, or no memory controller', () => {
    const root = mkdtempSync(join(tmpdir(), 'cgroup-'))
    try {
      expect(cgroupProblem(root)).toMatch(/no cgroup v1 memory controller/)
      writeFileSync(join(root, 'cgroup.controllers'), 'memory pids\n')
      expect(cgroupProblem(root)).toMatch(/cgroup v2/)
    } finally {
      rmSync(root, {recursive: true, force: true})
    }
  })
})

describe('SANDBOX_BACKEND', () => {
  it('by default (auto) the host decides: runsc where it can drive gVisor directly, else docker', () => {
    expect(loadConfig({env: {}})).toMatchObject({backend: defaultBackend(), backendChosenBy: 'host'})
    expect(loadConfig({env: {SANDBOX_BACKEND: 'auto'}})).toMatchObject({backend: defaultBackend(), backendChosenBy: 'host'})
    expect(defaultBackend()).toBe(runscProblems().length === 0 ? 'runsc' : 'docker')
    // CI runs as root on a host with runsc and cgroup v1: the default there is runsc
    if (process.env.CI) expect(runscProblems()).toEqual([])
    const path = process.env.PATH
    try {
      process.env.PATH = '/nonexistent'
      expect(runscProblems().map((p) => p.code)).toContain('RUNSC_MISSING')
      expect(loadConfig({env: {}}).backend).toBe('docker')
    } finally {
      process.env.PATH = path
    }
  })

  it('the manager container (start --docker) takes the docker backend unless runsc was chosen, which it refuses', () => {
    const flags = {wait: 1, docker: true, verbose: false, 'env-file': '/dev/null'}
    vi.stubEnv('SANDBOX_BACKEND', '')
    try {
      delete process.env.SANDBOX_BACKEND
      expect(configFromFlags(flags).backend).toBe('docker')
      expect(configFromFlags({...flags, docker: false}).backend).toBe(defaultBackend())
      expect(() => configFromFlags({...flags, backend: 'runsc'})).toThrow(/runs on the host only/)
      vi.stubEnv('SANDBOX_BACKEND', 'runsc')
      expect(() => configFromFlags(flags)).toThrow(/runs on the host only/)
    } finally {
      vi.unstubAllEnvs()
    }
  })

  it('chooses the backend; a flag wins; anything else is a clear configuration error', () => {
    expect(loadConfig({env: {SANDBOX_BACKEND: 'runsc'}})).toMatchObject({backend: 'runsc', backendChosenBy: 'env'})
    expect(loadConfig({env: {SANDBOX_BACKEND: 'runsc'}, overrides: {backend: 'docker'}})).toMatchObject({backend: 'docker', backendChosenBy: 'flag'})
    expect(() => loadConfig({env: {SANDBOX_BACKEND: 'kvm'}})).toThrow(/Invalid SANDBOX_BACKEND "kvm": use docker, runsc or auto/)
    expect(() => loadConfig({env: {}, overrides: {backend: 'x'}})).toThrow(/Invalid --backend "x"/)
  })
})
