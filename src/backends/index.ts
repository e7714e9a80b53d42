/**
 * Runner backends by id. Each lives in src/backends/<id>/ and exports `createBackend()`
 * returning a RunnerBackend (src/engine/runner.ts); registering one is its line below,
 * loaded on first use (a backend's client library is not loaded by commands that never run code).
 */
import {configError} from '../errors.js'
import type {RunnerBackend} from '../engine/runner.js'

type BackendModule = {createBackend: () => RunnerBackend}

const BACKENDS = {
  docker: (): Promise<BackendModule> => import('./docker/index.js'),
  runsc: (): Promise<BackendModule> => import('./runsc/index.js'),
} satisfies Record<string, () => Promise<BackendModule>>

export type BackendId = keyof typeof BACKENDS

export const BACKEND_IDS = Object.keys(BACKENDS) as BackendId[]

export const DEFAULT_BACKEND: BackendId = 'docker'

export const isBackendId = (id: unknown): id is BackendId => typeof id === 'string' && Object.hasOwn(BACKENDS, id)

export async function loadBackend(id: string = DEFAULT_BACKEND): Promise<RunnerBackend> {
  if (!isBackendId(id)) throw configError(`Unknown backend "${id}"`, 'UNKNOWN_BACKEND', [`use one of: ${BACKEND_IDS.join(', ')}`])
  return (await BACKENDS[id]()).createBackend()
}
