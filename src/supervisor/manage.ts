/**
 * Start, stop and read the log of the manager of a state directory, through its host
 * (hosts.ts chooses it once: from the recorded state, or from the start flags).
 */
import {ExitCode, SandboxError} from '../errors.js'
import {managerFiles, recordedManager, removeStateFiles, type ManagerFiles, type ManagerMode} from '../server/state.js'
import type {Progress, StartRequest, StartResult, StopResult} from './host.js'
import {hostFor, hostOf} from './hosts.js'
import {checkStartAgainstRunning, recordLaunch, type LaunchRecord} from './launch.js'
import type {SandboxConfig} from '../config.js'

/**
 * A manager of this state directory that already runs, checked against what this start asked
 * for: the same → its StartResult (already: true); other host, port or settings → throws (exit 4,
 * launch.ts); none → undefined.
 */
export async function alreadyRunning(mode: ManagerMode, launch: LaunchRecord, config: SandboxConfig, files: ManagerFiles = managerFiles()): Promise<StartResult | undefined> {
  const rec = recordedManager(files)
  const host = hostOf(rec)
  const live = await host.running(rec, files)
  if (!live) return undefined
  const endpoint = live.info?.endpoint ?? '(unknown)'
  if (!live.answers) {
    throw new SandboxError(`The manager of this state directory (${live.where}) runs but does not answer at ${endpoint}; stop it before starting another`, {
      code: 'MANAGER_RUNNING_ELSEWHERE',
      exit: ExitCode.CONFIG,
      suggestions: ['sandbox stop && sandbox start', 'see `sandbox logs`'],
    })
  }
  if (live.info) checkStartAgainstRunning(live.info, launch, config)
  if (host.mode !== mode) {
    const wanted = hostFor(mode)
    throw new SandboxError(`A manager of this state directory already runs at ${endpoint} (${live.where}); stop it before starting one ${wanted.named}`, {
      code: 'MANAGER_RUNNING_ELSEWHERE',
      exit: ExitCode.CONFIG,
      suggestions: [`sandbox stop && ${wanted.startCommand}`],
    })
  }
  return {
    already: true,
    mode: host.mode,
    pid: live.pid,
    endpoint,
    logFile: live.logFile,
    where: live.where,
    startedInMs: null,
    warnings: live.info?.warnings ?? [],
    runtime: live.info?.runtime ?? null,
    backend: live.info?.backend ?? null,
    staleRemoved: false,
  }
}

/** Start the manager on the host `mode` names (unless it already runs) and wait until it is healthy; the launch is recorded for restart. */
export async function startManager(mode: ManagerMode, request: Omit<StartRequest, 'files'> & {files?: ManagerFiles}): Promise<StartResult> {
  const files = request.files ?? managerFiles()
  const progress = request.onProgress ?? (() => {})
  const already = await alreadyRunning(mode, request.launch, request.config, files)
  if (already) return already
  // nothing of this state directory runs: its files describe nothing
  const rec = recordedManager(files)
  if (rec.state !== 'none') removeStateFiles(files)
  if (rec.state === 'stale') progress(`removed stale manager files (pid ${rec.pid ?? '?'} is gone)`)
  const result = await hostFor(mode).start({...request, files}, rec)
  recordLaunch(files, {mode, launch: request.launch, config: request.config, network: request.network, image: request.image})
  return {...result, staleRemoved: rec.state === 'stale'}
}

export async function stopManager(options: {deadlineMs?: number; files?: ManagerFiles; onProgress?: Progress} = {}): Promise<StopResult> {
  const files = options.files ?? managerFiles()
  const rec = recordedManager(files)
  return hostOf(rec).stop(rec, files, options.deadlineMs ?? 20_000, options.onProgress ?? (() => {}))
}

/** The last `n` log lines of the manager of this state directory, from its host. */
export function managerLogs(n: number, files: ManagerFiles = managerFiles()): Promise<{source: string; lines: string[]}> {
  return hostOf(recordedManager(files)).logs(files, n)
}

/** Follow its log until the signal aborts. */
export function followManagerLogs(onLine: (line: string) => void, signal: AbortSignal, files: ManagerFiles = managerFiles()): Promise<void> {
  return hostOf(recordedManager(files)).follow(files, onLine, signal)
}
