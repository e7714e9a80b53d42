/**
 * dockerd refuses to start ("pid file found, ensure docker is not running") when
 * /var/run/docker.pid survives a killed daemon. Setup removes such a stale file, and
 * only when no dockerd process is alive.
 */
import {parsePid} from '../process.js'
import type {SetupHost} from './types.js'

export const DOCKER_PID_FILE = '/var/run/docker.pid'

export type PidFileState =
  /** no pid file */
  | {state: 'absent'; livePids: number[]}
  /** the file names a live dockerd */
  | {state: 'live'; pid: number; livePids: number[]}
  /** the file names a dead process (or one that is not dockerd) and no dockerd runs */
  | {state: 'stale'; pid: number | undefined; livePids: number[]}
  /** the file is stale but some other dockerd runs: leave it alone */
  | {state: 'foreign'; pid: number | undefined; livePids: number[]}

export async function inspectPidFile(host: SetupHost, path = DOCKER_PID_FILE): Promise<PidFileState> {
  const text = await host.readFile(path)
  const livePids = await host.findProcesses('dockerd')
  if (text === undefined) return {state: 'absent', livePids}
  const pid = parsePid(text)
  if (pid !== undefined && (await host.processName(pid)) === 'dockerd') return {state: 'live', pid, livePids}
  return livePids.length > 0 ? {state: 'foreign', pid, livePids} : {state: 'stale', pid, livePids}
}

/** Remove the pid file when it is stale; returns what was found. */
export async function clearStalePidFile(host: SetupHost, path = DOCKER_PID_FILE): Promise<PidFileState> {
  const found = await inspectPidFile(host, path)
  if (found.state === 'stale') await host.removeFile(path)
  return found
}
