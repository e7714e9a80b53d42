/**
 * The supervisor's two questions to a manager: GET /healthz and GET /status. (The one client of
 * our HTTP API, part of the run pipeline, is meant to absorb them.)
 */
import {errorMessage} from '../errors.js'
import {fetchWithTimeout} from '../net.js'
import type {StatusDocument} from '../server/status.js'

export interface HealthAnswer {
  reachable: boolean
  healthy: boolean
  httpStatus: number | null
  body: {status?: string; reason?: string; phase?: string} | null
  error?: string
}

export async function fetchHealth(endpoint: string, timeoutMs = 2000): Promise<HealthAnswer> {
  try {
    const res = await fetchWithTimeout(`${endpoint}/healthz`, {}, timeoutMs)
    const body = (await res.json().catch(() => null)) as HealthAnswer['body']
    return {reachable: true, healthy: res.status === 200 && body?.status === 'ok', httpStatus: res.status, body}
  } catch (error) {
    return {reachable: false, healthy: false, httpStatus: null, body: null, error: errorMessage((error as {cause?: unknown}).cause ?? error)}
  }
}

/** GET /status: the manager's own JSON description (token-protected). */
export async function fetchStatus(endpoint: string, token?: string, timeoutMs = 3000): Promise<{status: 200; body: StatusDocument} | {status: number | null; error: string}> {
  try {
    const res = await fetchWithTimeout(`${endpoint}/status`, {headers: token ? {authorization: `Bearer ${token}`} : {}}, timeoutMs)
    const text = await res.text()
    if (res.status === 401) return {status: 401, error: token ? 'the manager refused the API token' : 'the manager requires an API token (set SANDBOX_API_TOKEN or --token)'}
    if (res.status === 404) return {status: 404, error: 'the manager has no GET /status (an older version?)'}
    if (res.status !== 200) return {status: res.status, error: `HTTP ${res.status}`}
    const body = JSON.parse(text) as StatusDocument
    if (!body || typeof body !== 'object' || !Array.isArray(body.pools)) return {status: res.status, error: 'GET /status did not answer a status document'}
    return {status: 200, body}
  } catch (error) {
    return {status: null, error: errorMessage((error as {cause?: unknown}).cause ?? error)}
  }
}
