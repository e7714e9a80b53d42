/**
 * Shapes shared by the setup service, its host adapter and the `sandbox setup` command.
 */
import type {SandboxConfig} from '../config.js'
import type {DaemonInfo} from '../docker/client.js'
import type {ProbeOptions, ProbeResult} from '../docker/probe.js'

export type CheckId =
  'os' | 'docker-installed' | 'docker-daemon' | 'runsc-installed' | 'runsc-registered' | 'disk' | 'env-file' | 'images' | 'isolation' | 'memory' | 'runsc-backend'

/** One line of the report. `ok` with `warning` is a pass that deserves attention. */
export interface SetupCheck {
  id: CheckId
  title: string
  ok: boolean
  detail: string
  /** what to do when the check fails (or warns) */
  fix?: string
  /** failed before this run's fixes, passes after them */
  fixed?: boolean
  warning?: boolean
}

export interface SetupReport {
  checks: SetupCheck[]
  /** what this run changed on the host, in order; empty on a ready host */
  changed: string[]
  /** things the user should know (e.g. "not root: system changes skipped") */
  notes: string[]
  ok: boolean
  durationMs: number
}

export type SetupProgressKind = 'check' | 'fix' | 'step' | 'log'
export interface SetupProgressEvent {
  kind: SetupProgressKind
  message: string
  /** kind 'check': the check the message renders */
  check?: SetupCheck
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export interface RunOptions {
  env?: Record<string, string>
  timeoutMs?: number
}

/** Image state as reported by src/docker/images.ts `imageStatus`. */
export interface ImageState {
  language: string
  image: string
  present: boolean
  current: boolean
  reason?: string
}

export interface ImageBuildEvent {
  language: string
  kind: 'step' | 'log' | 'done'
  message: string
}

/** What src/docker/images.ts `buildImages` returns per language (the fields setup reads). */
export interface ImageBuildResult {
  language: string
  image: string
  /** already current: nothing was built */
  skipped: boolean
}

export interface ImageBuildOptions {
  config: SandboxConfig
  languages?: string[]
  source?: 'auto' | 'online' | 'offline'
  force?: boolean
  onProgress?: (e: ImageBuildEvent) => void
}

/** The Docker operations setup needs (real ones live in src/docker). */
export interface SetupDocker {
  endpoint(): string
  ping(timeoutMs?: number): Promise<void>
  info(): Promise<DaemonInfo>
  probe(options: ProbeOptions): Promise<ProbeResult>
  imageStatus(config: SandboxConfig, languages?: string[]): Promise<ImageState[]>
  buildImages(options: ImageBuildOptions): Promise<ImageBuildResult[]>
}

/**
 * Everything setup does to the machine goes through this interface, so that the
 * logic (ordering, planning, daemon.json merging, pid-file handling) is unit-testable
 * with a fake host; `realHost()` is the real machine.
 */
export interface SetupHost {
  platform(): string
  kernelRelease(): string
  /** PRETTY_NAME from /etc/os-release, when readable */
  distro(): Promise<string | undefined>
  isRoot(): boolean
  /** absolute path of an executable in PATH, or undefined */
  which(command: string): Promise<string | undefined>
  run(command: string, args: string[], options?: RunOptions): Promise<RunResult>
  /** file text, or undefined when the file does not exist */
  readFile(path: string): Promise<string | undefined>
  /** atomic write; an existing file keeps its mode, a new one gets `mode` (default 0644) */
  writeFile(path: string, text: string, mode?: number): Promise<void>
  removeFile(path: string): Promise<void>
  exists(path: string): Promise<boolean>
  /** process name (/proc/PID/comm) of a live process, undefined when no such process */
  processName(pid: number): Promise<string | undefined>
  /** pids of live processes whose name is `name` */
  findProcesses(name: string): Promise<number[]>
  signal(pid: number, signal: NodeJS.Signals): Promise<void>
  /** start a process in its own process group that survives this one; output appended to logFile */
  spawnDetached(command: string, args: string[], logFile: string): Promise<number>
  /** free bytes for unprivileged users on the file system holding `path`; undefined when path is absent */
  freeBytes(path: string): Promise<number | undefined>
  sleep(ms: number): Promise<void>
  now(): number
  docker: SetupDocker
}

export interface SetupOptions {
  /** apply fixes (the command sets this for --yes or after a confirm) */
  fix?: boolean
  /** asked once, with the planned fixes, before anything changes; false cancels the fixes */
  confirm?: (plan: string[]) => Promise<boolean>
  /** .env to check/write; default ./.env; null skips the .env check */
  envFile?: string | null
  /** Docker runtime name to require (default runsc) */
  runtime?: string
  /** image sources for builds (see buildImages) */
  buildSource?: 'auto' | 'online' | 'offline'
  /** settings (image names); default loadConfig() from the env file */
  config?: SandboxConfig
  host?: SetupHost
  /** path of daemon.json (default /etc/docker/daemon.json) */
  daemonJsonPath?: string
  /** dockerd log when setup starts it (default /var/log/sandbox-dockerd.log) */
  dockerdLog?: string
  /** warn when the Docker root dir has less free space (bytes, default 5 GiB) */
  minFreeBytes?: number
  onProgress?: (event: SetupProgressEvent) => void
}
