/**
 * Runner backends by id. Each lives in src/backends/<id>/ and exports `createBackend()`
 * returning a RunnerBackend (src/engine/runner.ts); registering one is its line below,
 * loaded on first use (a backend's client library is not loaded by commands that never run code).
 */
import {configError} from '../errors.js'
import type {RunnerBackend} from '../engine/runner.js'
import {runscUsable} from './runsc/host.js'

type BackendModule = {createBackend: () => RunnerBackend}

const BACKENDS = {
  docker: (): Promise<BackendModule> => import('./docker/index.js'),
  runsc: (): Promise<BackendModule> => import('./runsc/index.js'),
} satisfies Record<string, () => Promise<BackendModule>>

export type BackendId = keyof typeof BACKENDS

export const BACKEND_IDS = Object.keys(BACKENDS) as BackendId[]

/** SANDBOX_BACKEND's value that lets the host decide (the default): see defaultBackend() */
export const AUTO_BACKEND = 'auto'

/**
 * The backend when none is chosen: runsc where this host can drive gVisor directly (root,
 * runsc, cgroup v1), since it makes sandboxes about twice as fast as Docker on the same host
 * (docs/benchmarks.md, "Backends"); docker everywhere else.
 */
export const defaultBackend = (): BackendId => (runscUsable() ? 'runsc' : 'docker')

export const isBackendId = (id: unknown): id is BackendId => typeof id === 'string' && Object.hasOwn(BACKENDS, id)

export async function loadBackend(id: string = defaultBackend()): Promise<RunnerBackend> {
  if (!isBackendId(id)) throw configError(`Unknown backend "${id}"`, 'UNKNOWN_BACKEND', [`use one of: ${BACKEND_IDS.join(', ')}`])
  return (await BACKENDS[id]()).createBackend()
}
