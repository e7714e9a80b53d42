/**
 * The OCI runtime spec of one runsc sandbox: a pure function of the request, with the same
 * isolation as the docker backend's containers (SANDBOX_ISOLATION in src/docker/containers.ts):
 * non-root user, no capabilities, no-new-privileges, read-only root, sized tmpfs for /workspace,
 * /tmp and /dev/shm, rlimits nproc/fsize/nofile, memory with swap equal to memory, a pids
 * backstop, one CPU, its own namespaces (no network: runsc runs with --network=none).
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
    }
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
      {destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620']},
      tmpfs('/dev/shm', ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${I.shmBytes}`]),
      tmpfs(I.workdir, ['rw', 'exec', 'nosuid', 'nodev', `size=${I.workspaceBytes}`, `uid=${I.uid}`, `gid=${I.gid}`, 'mode=0755']),
      tmpfs('/tmp', ['rw', 'exec', 'nosuid', 'nodev', `size=${I.tmpBytes}`, 'mode=1777']),
      {destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro']},
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
      },
      // Docker's defaults (gVisor serves its own /proc and /sys; kept for parity)
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware'],
      readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  }
}
