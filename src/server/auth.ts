/** Optional bearer token of the manager (SANDBOX_API_TOKEN). */
import {createHash, timingSafeEqual} from 'node:crypto'

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest()

/**
 * True when the Authorization header carries `Bearer <token>`. Constant time: both sides
 * are hashed first, so neither the content nor the length of the token leaks through timing.
 * No token configured: every request is allowed.
 */
export function checkBearer(header: string | string[] | undefined, token: string | undefined): boolean {
  if (!token) return true
  const value = Array.isArray(header) ? header[0] : header
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(value ?? '')
  const given = m ? m[1] : ''
  const ok = timingSafeEqual(digest(given), digest(token))
  return ok && m !== null
}

export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1'
}

/** Warnings about how the manager is exposed (printed at start and by `status`). */
export function exposureWarnings(host: string, token: string | undefined): string[] {
  if (isLoopbackHost(host) || token) return []
  return [
    `WARNING: the manager listens on ${host} (not loopback) WITHOUT an API token: anyone who can reach this port can run code on this host's sandbox. Set SANDBOX_API_TOKEN (our self_managed provider and sandbox test --token send it; RAGFlow itself cannot, so keep a RAGFlow-facing manager on a private Docker network), or bind to 127.0.0.1.`,
  ]
}
