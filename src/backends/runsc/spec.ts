/**
 * The OCI runtime spec of one runsc sandbox: a pure function of the request, with the same
 * isolation as the docker backend's containers (SANDBOX_ISOLATION in src/docker/containers.ts):
 * non-root user, no capabilities, no-new-privileges, read-only root, sized tmpfs for /workspace,
 * /tmp and /dev/shm, rlimits nproc/fsize/nofile, memory with swap equal to memory, a pids
 * backstop, one CPU, its own namespaces (no network: runsc runs with --network=none).
 *
 * Where Docker's daemon adds defaults of its own to that container's spec (mounts, masked and
 * read-only paths, device rules, sysctls), this spec has the same ones, so that runsc is given one
 * sandbox by either backend. test/integration/backend-parity.test.ts compares the two specs on this
 * host (Docker's, read from containerd's bundle) and what a probe sees in each. gVisor serves its
 * own /proc, /sys and /dev, so several of these change nothing under it (docs/security.md).
 */
import {SANDBOX_ISOLATION} from '../../docker/containers.js'

export interface SpecInput {
  /** absolute path of the shared, read-only root filesystem */
  rootfs: string
  args: string[]
  /** the image's Env, then the request's (later wins, as with Docker) */
  imageEnv: string[]
  env: string[]
  memoryBytes: number
  /** cgroup path (relative to each controller's root), e.g. /sandbox-runsc/<id> */
  cgroupsPath: string
  annotations: Record<string, string>
  /** the sandbox's hostname (default "sandbox"; the backend gives each its own id, as Docker gives a container its short id) */
  hostname?: string
  maxProcesses?: number
  maxFileBytes?: number
}

export interface OciMount {
  destination: string
  type: string
  source: string
  options: string[]
}

export interface OciSpec {
  ociVersion: string
  process: {
    terminal: boolean
    user: {uid: number; gid: number; additionalGids: number[]}
    args: string[]
    env: string[]
    cwd: string
    capabilities: Record<'bounding' | 'effective' | 'inheritable' | 'permitted' | 'ambient', string[]>
    rlimits: Array<{type: string; hard: number; soft: number}>
    noNewPrivileges: boolean
  }
  root: {path: string; readonly: boolean}
  hostname: string
  mounts: OciMount[]
  annotations: Record<string, string>
  linux: {
    namespaces: Array<{type: string}>
    cgroupsPath: string
    resources: {
      memory: {limit: number; swap: number}
      cpu: {shares: number; quota: number; period: number}
      pids: {limit: number}
      devices: Array<{allow: boolean; access: string; type?: string; major?: number; minor?: number}>
    }
    sysctl: Record<string, string>
    maskedPaths: string[]
    readonlyPaths: string[]
  }
}

/** Env entries merged by name: later ones replace earlier ones. */
export function mergeEnv(...lists: string[][]): string[] {
  const byName = new Map<string, string>()
  for (const entry of lists.flat()) {
    const eq = entry.indexOf('=')
    byName.set(eq < 0 ? entry : entry.slice(0, eq), entry)
  }
  return [...byName.values()]
}

const CPU_PERIOD_US = 100_000

/** Docker's device cgroup rules: deny all, then zero (1:5), null (1:3), urandom (1:9), random (1:8), tty (5:0) and console (5:1); FUSE (10:229) denied */
const DOCKER_DEVICE_RULES: OciSpec['linux']['resources']['devices'] = [
  {allow: false, access: 'rwm'},
  ...[
    [1, 5],
    [1, 3],
    [1, 9],
    [1, 8],
    [5, 0],
    [5, 1],
  ].map(([major, minor]) => ({allow: true, type: 'c', major, minor, access: 'rwm'})),
  {allow: false, type: 'c', major: 10, minor: 229, access: 'rwm'},
]

export function buildSpec(input: SpecInput): OciSpec {
  const I = SANDBOX_ISOLATION
  const maxProcesses = input.maxProcesses ?? I.maxProcesses
  const fsize = input.maxFileBytes ?? I.maxFileBytes
  const tmpfs = (destination: string, options: string[]): OciMount => ({destination, type: 'tmpfs', source: 'tmpfs', options})
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      // Docker's numeric User gives the group as the one supplementary group, and HOSTNAME in the environment
      user: {uid: I.uid, gid: I.gid, additionalGids: [I.gid]},
      args: input.args,
      env: mergeEnv([`HOSTNAME=${input.hostname ?? 'sandbox'}`], input.imageEnv, input.env),
      cwd: I.workdir,
      capabilities: {bounding: [], effective: [], inheritable: [], permitted: [], ambient: []},
      rlimits: [
        {type: 'RLIMIT_NPROC', hard: maxProcesses, soft: maxProcesses},
        {type: 'RLIMIT_FSIZE', hard: fsize, soft: fsize},
        {type: 'RLIMIT_NOFILE', hard: I.maxOpenFiles, soft: I.maxOpenFiles},
      ],
      noNewPrivileges: true,
    },
    root: {path: input.rootfs, readonly: true},
    hostname: input.hostname ?? 'sandbox',
    mounts: [
      {destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev']},
      tmpfs('/dev', ['nosuid', 'strictatime', 'mode=755', 'size=65536k']),
      {destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']},
      {destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro']},
      {destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev']},
      {destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev']},
      tmpfs('/dev/shm', ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${I.shmBytes}`]),
      tmpfs(I.workdir, ['rw', 'exec', 'nosuid', 'nodev', `size=${I.workspaceBytes}`, `uid=${I.uid}`, `gid=${I.gid}`, 'mode=0755']),
      tmpfs('/tmp', ['rw', 'exec', 'nosuid', 'nodev', `size=${I.tmpBytes}`, 'mode=1777']),
    ],
    annotations: input.annotations,
    linux: {
      // a network namespace of its own: with --network=none runsc gives the sandbox only a loopback
      namespaces: [{type: 'pid'}, {type: 'ipc'}, {type: 'uts'}, {type: 'mount'}, {type: 'network'}],
      cgroupsPath: input.cgroupsPath,
      resources: {
        memory: {limit: input.memoryBytes, swap: input.memoryBytes},
        cpu: {shares: 1024, quota: Math.round((I.nanoCpus / 1e9) * CPU_PERIOD_US), period: CPU_PERIOD_US},
        pids: {limit: I.pidsBackstop(maxProcesses)},
        devices: DOCKER_DEVICE_RULES,
      },
      sysctl: {'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647'},
      maskedPaths: [
        '/proc/asound',
        '/proc/acpi',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/proc/scsi',
        '/sys/firmware',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  }
}
