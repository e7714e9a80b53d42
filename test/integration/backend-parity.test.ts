/**
 * The two backends give gVisor the same sandbox. The docker backend's spec is the one Docker's own
 * daemon writes for our container (read from containerd's bundle on this host: a client we did not
 * write); the runsc backend's is the one it writes itself. Both are compared field by field, and the
 * same probe, run in a sandbox of each, must see the same thing. What differs on purpose is listed
 * here as data, each with its reason.
 */
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {DockerBackend} from '../../src/backends/docker/index.js'
import {findRunsc, RunscBackend, runscStateBase} from '../../src/backends/runsc/index.js'
import type {OciSpec} from '../../src/backends/runsc/spec.js'
import {loadConfig} from '../../src/config.js'
import {Engine} from '../../src/engine/engine.js'
import type {Runner, RunnerBackend, RunnerRequest} from '../../src/engine/runner.js'
import {poolExecutor} from '../../src/executors/local.js'
import {Pipeline} from '../../src/run/pipeline.js'

/** where Docker's containerd keeps a running container's bundle: dockerd's own containerd, or the host's */
const DOCKER_BUNDLE_ROOTS = ['/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby', '/run/containerd/io.containerd.runtime.v2.task/moby']

function dockerSpecOf(containerId: string): OciSpec {
  const file = DOCKER_BUNDLE_ROOTS.map((root) => join(root, containerId, 'config.json')).find((f) => existsSync(f))
  if (!file) throw new Error(`no containerd bundle of container ${containerId} under ${DOCKER_BUNDLE_ROOTS.join(' or ')}`)
  return JSON.parse(readFileSync(file, 'utf8')) as OciSpec
}

/** A backend that keeps its sandboxes, each with its language and the OCI spec it was started with. */
function recording<B extends RunnerBackend>(backend: B, specOf: (runner: Runner) => OciSpec): B & {made: Made[]} {
  const made: Made[] = []
  const create = backend.createRunner.bind(backend)
  return Object.assign(backend, {
    made,
    async createRunner(request: RunnerRequest): Promise<Runner> {
      const runner = await create(request)
      made.push({language: request.runtime, runner, spec: specOf(runner)})
      return runner
    },
  })
}

interface Made {
  language: string
  runner: Runner
  spec: OciSpec
}

/** The limits the host's cgroups (v1) hold for a sandbox, read from the files: what is enforced, whatever a spec says. */
function enforcedLimits(cgroupsPath: string): Record<string, string> {
  const files = {
    memory: ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes'],
    pids: ['pids.max'],
    cpu: ['cpu.cfs_quota_us', 'cpu.cfs_period_us', 'cpu.shares'],
  }
  const limits: Record<string, string> = {}
  for (const [controller, names] of Object.entries(files))
    for (const name of names) {
      const file = join('/sys/fs/cgroup', controller, cgroupsPath, name)
      // memsw exists only with swap accounting
      if (existsSync(file) || name !== 'memory.memsw.limit_in_bytes') limits[name] = readFileSync(file, 'utf8').trim()
    }
  return limits
}

type Spec = OciSpec & {linux: OciSpec['linux'] & {seccomp?: unknown}}

/** Go's omitempty, as runsc reads a spec: a zero value (false, 0, '', [], {}) is the same as none */
function pruned(value: unknown): unknown {
  if (Array.isArray(value)) return value.length ? value.map(pruned) : undefined
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .map(([k, v]) => [k, pruned(v)] as const)
      .filter(([, v]) => v !== undefined)
    return entries.length ? Object.fromEntries(entries) : undefined
  }
  return value === false || value === 0 || value === '' ? undefined : value
}

/**
 * The whole spec, less what differs on purpose:
 * - ociVersion: the label each writer puts on its spec (Docker's is 1.0.2-dev);
 * - hostname, HOSTNAME: each sandbox's own (12 hex digits on both);
 * - linux.cgroupsPath, annotations: where each backend keeps its sandboxes and how it marks them;
 * - root.path: Docker's overlay mount against the shared read-only export of the image;
 * - SANDBOX_RUNNER_LINGER_MS=0: the runsc backend's runner ends itself after its report (src/backends/runsc/sandbox.ts);
 * - /etc/hostname: Docker binds a file with the hostname; the runsc backend's sandboxes have the image's (empty) one;
 * - linux.seccomp: Docker's default profile, which runsc does not load without --oci-seccomp (neither backend passes it;
 *   the sentry's own filter is the host-side one).
 * and read as runsc reads it: zero values as none, mount options without propagation flags, a tmpfs's or
 * pseudo file system's source (a label) ignored, the mounts and the namespaces as sets, a CPU share of 0 as the kernel's 1024.
 */
function comparable(spec: Spec): unknown {
  const without = (o: object, ...keys: string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)))
  const {process: proc, linux} = spec
  return pruned({
    ...without(spec, 'ociVersion', 'hostname', 'annotations', 'process', 'mounts', 'root', 'linux'),
    process: {...proc, env: proc.env.filter((e) => !/^(HOSTNAME|SANDBOX_RUNNER_LINGER_MS)=/.test(e)).sort()},
    root: without(spec.root, 'path'),
    // by destination: Docker lists the --tmpfs mounts in its map's (random) order
    mounts: spec.mounts
      .filter((m) => m.destination !== '/etc/hostname')
      .sort((a, b) => a.destination.localeCompare(b.destination))
      .map((m) => ({...m, source: m.type === 'bind' ? m.source : '', options: m.options.filter((o) => !['rprivate', 'private', 'rbind'].includes(o)).sort()})),
    linux: {
      ...without(linux, 'cgroupsPath', 'seccomp'),
      namespaces: [...linux.namespaces].sort((a, b) => a.type.localeCompare(b.type)),
      resources: {...linux.resources, cpu: {...linux.resources.cpu, shares: linux.resources.cpu.shares || 1024}},
    },
  })
}

const config = loadConfig({env: {...process.env, SANDBOX_TIMEOUT: '20s'}})
const stateRoot = mkdtempSync(join(tmpdir(), 'backend-parity-'))
const previousState = process.env.SANDBOX_STATE_DIR
const engines: Engine[] = []
let docker: DockerBackend & {made: Made[]}
let runsc: RunscBackend & {made: Made[]}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the backend parity tests run as root (the runsc backend makes cgroups and namespaces)')
  if (!findRunsc()) throw new Error('runsc is not installed: apt-get install runsc')
  process.env.SANDBOX_STATE_DIR = stateRoot
  docker = recording(new DockerBackend(), (runner) => dockerSpecOf(runner.id))
  runsc = recording(new RunscBackend(), (runner) => {
    const owners = [...new Set(engines.map((e) => e.id))]
    const file = owners.map((owner) => join(runscStateBase(), owner, 'bundles', runner.id, 'config.json')).find((f) => existsSync(f))
    if (!file) throw new Error(`no bundle of runsc sandbox ${runner.id}`)
    return JSON.parse(readFileSync(file, 'utf8')) as OciSpec
  })
  for (const backend of [docker, runsc]) engines.push(new Engine({config, backend, poolSize: 1, languages: ['python', 'nodejs']}))
  await Promise.all(engines.map((e) => e.start()))
}, 120_000)

afterAll(async () => {
  await Promise.all(engines.map((e) => e.stop()))
  if (previousState === undefined) delete process.env.SANDBOX_STATE_DIR
  else process.env.SANDBOX_STATE_DIR = previousState
  rmSync(stateRoot, {recursive: true, force: true})
})

/** Run one probe in a sandbox of each backend: both succeed and see the same; that value. */
async function sameOnBoth(language: 'python' | 'nodejs', code: string): Promise<unknown> {
  const [fromDocker, fromRunsc] = await Promise.all(engines.map((engine) => new Pipeline(poolExecutor(engine), {timeoutSeconds: 20, policy: 'off'}).run({language, code})))
  expect(fromDocker.status, fromDocker.stderr).toBe('success')
  expect(fromRunsc.status, fromRunsc.stderr).toBe('success')
  expect(fromRunsc.result?.value).toEqual(fromDocker.result?.value)
  return fromDocker.result?.value
}

describe('the docker and runsc backends give gVisor the same sandbox', () => {
  it('one spec, field by field: the one Docker writes for our container and the one the runsc backend writes', () => {
    for (const language of ['python', 'nodejs']) {
      // the pools fill at once: pair the sandboxes by language, not by the order they became ready
      const [fromDocker, fromRunsc] = [docker, runsc].map((backend) => backend.made.find((m) => m.language === language)?.spec)
      expect(fromDocker, `a ${language} sandbox of the docker backend`).toBeDefined()
      expect(fromRunsc, `a ${language} sandbox of the runsc backend`).toBeDefined()
      expect(comparable(fromRunsc as Spec), language).toEqual(comparable(fromDocker as Spec))
    }
  })

  it('the host enforces the same limits on both: memory (and swap), pids, CPU quota and shares, read from the cgroups of a live sandbox', () => {
    // the warm runners made at start still wait for a job
    const [fromDocker, fromRunsc] = [docker, runsc].map((backend) => {
      const live = backend.made.find((m) => !m.runner.isUnusable)
      expect(live, `a live ${backend.id} sandbox`).toBeDefined()
      return enforcedLimits((live as Made).spec.linux.cgroupsPath)
    })
    expect(fromRunsc).toEqual(fromDocker)
    expect(fromRunsc).toMatchObject({'memory.limit_in_bytes': String(config.memoryBytes), 'pids.max': '4096', 'cpu.cfs_quota_us': '100000', 'cpu.cfs_period_us': '100000'})
  })

  it('the same probe sees the same sandbox: identity, limits, mounts, devices, hidden and read-only paths, network', async () => {
    const probe = [
      'import os, resource, socket, stat',
      'def main():',
      '    out = {"ids": [os.getuid(), os.geteuid(), os.getgid(), sorted(os.getgroups())], "cwd": os.getcwd(), "umask": os.umask(0o22)}',
      '    status = dict(l.split(":\\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\\t" in l)',
      '    out["status"] = {k: status.get(k, "").strip() for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"]}',
      '    out["rlimits"] = {n: resource.getrlimit(getattr(resource, n)) for n in ["RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_AS", "RLIMIT_CORE"]}',
      '    out["mounts"] = sorted(" ".join([l.split()[1], l.split()[2]] + sorted(o for o in l.split()[3].split(",") if not o.startswith(("rfdno", "wfdno", "cache=")))) for l in open("/proc/self/mounts") if l.split()[1] != "/etc/hostname")',
      '    out["dev"] = sorted(os.listdir("/dev"))',
      '    out["devnodes"] = {n: [stat.S_ISCHR(os.stat("/dev/" + n).st_mode), os.major(os.stat("/dev/" + n).st_rdev), os.minor(os.stat("/dev/" + n).st_rdev)] for n in ["null", "zero", "full", "random", "urandom", "tty"]}',
      '    paths = {}',
      '    for p in ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/proc/sysrq-trigger", "/proc/sys/kernel/hostname", "/sys/fs/cgroup", "/dev/mqueue"]:',
      '        try:',
      '            paths[p] = ["dir", sorted(os.listdir(p))] if os.path.isdir(p) else ["file", len(open(p, "rb").read(64))]',
      '        except OSError as e:',
      '            paths[p] = e.errno',
      '        try:',
      '            open(p, "w").write("1"); paths[p + " write"] = "written"',
      '        except OSError as e:',
      '            paths[p + " write"] = e.errno',
      '    out["paths"] = paths',
      '    out["ifaces"] = [n for _, n in socket.if_nameindex()]',
      '    s = socket.socket()',
      '    try:',
      '        s.bind(("127.0.0.1", 80)); out["bind80"] = True',
      '    except OSError as e:',
      '        out["bind80"] = e.errno',
      '    out["env"] = sorted(k for k in os.environ if k not in ("HOSTNAME", "SANDBOX_RUNNER_LINGER_MS"))',
      '    return out',
      '',
    ].join('\n')
    // the probe can fail: these are the facts both must show
    expect(await sameOnBoth('python', probe)).toMatchObject({ids: [65534, 65534, 65534, [65534]], cwd: '/workspace', ifaces: ['lo']})
  }, 60_000)

  it('Node.js sees the same limits and identity on both', async () => {
    const probe = [
      'const fs = require("fs"), os = require("os")',
      'function main() {',
      '  return {uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), cwd: process.cwd(), cpus: os.cpus().length > 0,',
      '    constrained: typeof process.constrainedMemory === "function" ? process.constrainedMemory() > 0 : null,',
      '    tmp: fs.statSync("/tmp").mode & 0o7777, workspace: fs.statSync("/workspace").mode & 0o7777}',
      '}',
      '',
    ].join('\n')
    expect(await sameOnBoth('nodejs', probe)).toMatchObject({uid: 65534, gid: 65534, cwd: '/workspace', tmp: 0o1777, workspace: 0o755})
  }, 60_000)
})
