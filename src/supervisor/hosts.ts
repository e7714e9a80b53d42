/** The choice of host, made once: from the recorded state, or from the start flags. */
import type {ManagerMode, ManagerState, Recorded} from '../server/state.js'
import {containerHost} from './container-host.js'
import type {ManagerHost} from './host.js'
import {processHost} from './process-host.js'

const HOSTS: Record<ManagerMode, ManagerHost> = {process: processHost, docker: containerHost}

/** Every host (clean asks each for its leftovers). */
export const ALL_HOSTS: readonly ManagerHost[] = Object.values(HOSTS)

/** The host of a recorded manager (a process when nothing is recorded). */
export function hostOf(rec: Recorded | {info?: Pick<ManagerState, 'mode'>}): ManagerHost {
  const info = 'info' in rec ? rec.info : undefined
  return HOSTS[info?.mode ?? 'process']
}

/** The host a start asks for (--docker: the container). */
export function hostFor(mode: ManagerMode): ManagerHost {
  return HOSTS[mode]
}

export function startMode(docker: boolean): ManagerMode {
  return docker ? 'docker' : 'process'
}
