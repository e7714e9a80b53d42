/**
 * Where a manager runs, as the CLI supervises it: one ManagerHost interface, two hosts — a
 * detached process of this machine (process-host.ts) and the container sandbox-executor-manager
 * (container-host.ts). The host is chosen once, here: from the recorded state of the state
 * directory, or from the start flags. Nothing outside the two hosts asks which mode it is.
 * Nothing here prints: results are returned, progress goes to the optional callback.
 */
import type {SandboxConfig} from '../config.js'
import type {StatusDocument} from '../server/status.js'
import type {LaunchRecord, ManagerFiles, ManagerMode, ManagerState, Recorded} from '../server/state.js'
import type {HealthAnswer} from '../executors/manager-client.js'

export type Progress = (message: string) => void

export interface StartRequest {
  /** what this start was told (flags as variables, manager variables of the environment): recorded for restart */
  launch: LaunchRecord
  /** the configuration that launch gives (compared with a manager that already runs) */
  config: SandboxConfig
  files: ManagerFiles
  /** how long to wait for /healthz, ms (default 90 s) */
  waitMs?: number
  /** container host: image and network */
  image?: string
  network?: string
  /** process host: the environment and working directory of the child */
  env?: NodeJS.ProcessEnv
  cwd?: string
  onProgress?: Progress
}

export interface StartResult {
  already: boolean
  mode: ManagerMode
  pid: number | null
  endpoint: string
  /** where its log is: a file, or how to read it */
  logFile: string
  /** how the human output names it: "pid 4242", "container sandbox-executor-manager" */
  where: string
  /** ms from spawning the manager until /healthz answered ok */
  startedInMs: number | null
  warnings: string[]
  runtime: string | null
  /** what makes its sandboxes (docker, runsc) */
  backend: string | null
  staleRemoved: boolean
}

export interface StopResult {
  wasRunning: boolean
  mode: ManagerMode | null
  pid: number | null
  /** how the human output names what was stopped: "manager 4242", "the manager container" */
  who: string | null
  signal: 'SIGTERM' | 'SIGKILL' | null
  stoppedInMs: number
  staleRemoved: boolean
  /** containers and runsc sandboxes of this manager removed after it stopped (leftovers of a forced stop) */
  containersRemoved: number
  /** containers and runsc sandboxes of this manager still present (should be 0) */
  containersRemaining: number
  /** false when Docker could not be asked */
  dockerChecked: boolean
  warnings: string[]
}

export interface HostView {
  running: boolean
  /** how `sandbox status` names it: "pid 4242", "container 0123abcd on docker_ragflow" */
  where: string
  /** said after "Manager: not running" when there is more to say */
  notRunning: string | null
  /** where its log is, for `sandbox status` */
  log: string
  container?: {id: string; state: string; health: string | null; networks: string[]} | null
  warnings: string[]
}

/** A manager of this state directory as one kind of host runs it. */
export interface ManagerHost {
  readonly mode: ManagerMode
  /** "as a process", "in Docker" */
  readonly named: string
  /** the command that starts one on this host */
  readonly startCommand: string
  /** the manager of this host that runs (answers: it also answers HTTP); undefined when none runs */
  running(rec: Recorded, files: ManagerFiles): Promise<{pid: number | null; info: ManagerState | undefined; answers: boolean; logFile: string; where: string} | undefined>
  /** start one and wait until it is healthy (the caller has checked that none runs) */
  start(request: StartRequest, rec: Recorded): Promise<StartResult>
  /** graceful stop within deadlineMs, then forced; remove what it left; remove its state files */
  stop(rec: Recorded, files: ManagerFiles, deadlineMs: number, progress: Progress): Promise<StopResult>
  /** what the host knows about it (status) */
  view(rec: Recorded, files: ManagerFiles): Promise<HostView>
  /** log lines (the last n), and following new ones until the signal aborts */
  logs(files: ManagerFiles, n: number): Promise<{source: string; lines: string[]}>
  follow(files: ManagerFiles, onLine: (line: string) => void, signal: AbortSignal): Promise<void>
  /** clean: remove what this kind of host may leave with no record of it (returns containers removed) */
  removeLeftovers(progress: Progress): Promise<number>
}

export type {HealthAnswer, StatusDocument}

export function emptyStop(): StopResult {
  return {
    wasRunning: false,
    mode: null,
    pid: null,
    who: null,
    signal: null,
    stoppedInMs: 0,
    staleRemoved: false,
    containersRemoved: 0,
    containersRemaining: 0,
    dockerChecked: false,
    warnings: [],
  }
}
