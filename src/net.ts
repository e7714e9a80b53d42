import {configError} from './errors.js'

/**
 * The URL of a manager (or any HTTP endpoint) as a user typed it: http or https only. One
 * parser for every --endpoint flag and every caller, so a malformed value is the same error
 * everywhere (ENDPOINT_INVALID; a usage error, exit 2, when it comes from a flag).
 */
export function parseEndpointUrl(url: string): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw configError(`Invalid endpoint URL "${url}"`, 'ENDPOINT_INVALID', ['use the manager address, e.g. http://127.0.0.1:9385'])
  }
  if (!/^https?:$/.test(parsed.protocol)) throw configError(`Invalid endpoint URL "${url}": only http and https`, 'ENDPOINT_INVALID')
  return parsed
}

/**
 * fetch with a deadline. Unlike AbortSignal.timeout (an unref'd timer), the timer here keeps
 * the process alive while a request is pending, and is cleared as soon as it settles: a CLI
 * awaiting a stalled request must not exit with "unsettled top-level await" (code 13).
 */
export async function fetchWithTimeout(url: string | URL, init: RequestInit = {}, timeoutMs: number): Promise<Response> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')), timeoutMs)
  const outer = init.signal
  const onOuterAbort = () => controller.abort(outer?.reason)
  outer?.addEventListener('abort', onOuterAbort, {once: true})
  try {
    const response = await fetch(url, {...init, signal: controller.signal})
    // the body is read later by the caller: keep the deadline until then
    const body = await response.arrayBuffer()
    return new Response(body, {status: response.status, statusText: response.statusText, headers: response.headers})
  } finally {
    clearTimeout(timer)
    outer?.removeEventListener('abort', onOuterAbort)
  }
}

/** base URL of a manager from what a user typed (http://host:port, with or without a path such as /run) */
export function managerBase(url: string): string {
  const parsed = parseEndpointUrl(url)
  const path = parsed.pathname.replace(/\/+$/, '').replace(/\/(run|healthz|status|metrics)$/, '')
  return `${parsed.origin}${path}`
}
