/**
 * OpenSSH known_hosts, read the way `ssh` reads it, for the ssh provider's host key check.
 *
 * A line is `[marker] patterns keytype base64 [comment]`: patterns are comma-separated host
 * names with `*`/`?` wildcards and `!` negation, `[host]:port` for a port other than 22, or one
 * hashed name `|1|salt|hmac` (HMAC-SHA1 of the name under the salt). `@revoked` marks a key that
 * must never be accepted; `@cert-authority` lines (host certificates) are not supported and
 * never match. The verdict is one of: the key is known (accept), the host has other keys (the
 * key CHANGED), or the host is not listed at all (unknown) — only the first one connects.
 */
import {createHash, createHmac, timingSafeEqual} from 'node:crypto'

export interface KnownHostEntry {
  marker: 'revoked' | 'cert-authority' | null
  patterns: string
  keyType: string
  key: Buffer
  /** where the line came from: "file:line" */
  origin: string
}

export type HostKeyVerdict = {status: 'known'; keyType: string} | {status: 'revoked'; origin: string} | {status: 'changed'; known: string[]} | {status: 'unknown'}

/** Every valid line of a known_hosts text; comments, blank and malformed lines are skipped. */
export function parseKnownHosts(text: string, source = 'known_hosts'): KnownHostEntry[] {
  const entries: KnownHostEntry[] = []
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim()
    if (!line || line.startsWith('#')) return
    const fields = line.split(/\s+/)
    let marker: KnownHostEntry['marker'] = null
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift() === '@revoked' ? 'revoked' : 'cert-authority'
    const [patterns, keyType, keyB64] = fields
    if (!patterns || !keyType || !keyB64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(keyB64)) return
    entries.push({marker, patterns, keyType, key: Buffer.from(keyB64, 'base64'), origin: `${source}:${index + 1}`})
  })
  return entries
}

/** The name ssh looks up for host:port ("host" for 22, else "[host]:port"). */
export function hostLookupName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

function wildcardMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  )
  return re.test(name)
}

/** Whether the entry's patterns name `lookup` (negations win, as in OpenSSH). */
export function entryMatches(patterns: string, lookup: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|')
    if (!salt || !hash) return false
    const expected = Buffer.from(hash, 'base64')
    const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(lookup).digest()
    return expected.length === actual.length && timingSafeEqual(expected, actual)
  }
  let matched = false
  for (const pattern of patterns.split(',')) {
    if (pattern.startsWith('!')) {
      if (wildcardMatch(pattern.slice(1), lookup)) return false
    } else if (wildcardMatch(pattern, lookup)) matched = true
  }
  return matched
}

/** The key type named inside an SSH public key blob (its first string). */
export function keyBlobType(blob: Buffer): string {
  if (blob.length < 4) return ''
  const length = blob.readUInt32BE(0)
  return blob.subarray(4, 4 + length).toString('latin1')
}

/** The verdict for the key the server presented (`blob`, SSH wire format). */
export function checkHostKey(entries: KnownHostEntry[], host: string, port: number, blob: Buffer): HostKeyVerdict {
  const lookup = hostLookupName(host, port)
  const forHost = entries.filter((e) => e.marker !== 'cert-authority' && entryMatches(e.patterns, lookup))
  const revoked = forHost.find((e) => e.marker === 'revoked' && e.key.equals(blob))
  if (revoked) return {status: 'revoked', origin: revoked.origin}
  const plain = forHost.filter((e) => e.marker === null)
  const match = plain.find((e) => e.key.equals(blob))
  if (match) return {status: 'known', keyType: match.keyType}
  if (plain.length > 0) return {status: 'changed', known: plain.map((e) => `${e.keyType} (${e.origin})`)}
  return {status: 'unknown'}
}

/** The server host key algorithms (ssh2 names) that can present the key types known for this host: ask only for those, as ssh does. */
export function hostKeyAlgorithms(entries: KnownHostEntry[], host: string, port: number): string[] {
  const lookup = hostLookupName(host, port)
  const types = new Set(entries.filter((e) => e.marker === null && entryMatches(e.patterns, lookup)).map((e) => e.keyType))
  const out: string[] = []
  for (const type of types) {
    if (type === 'ssh-rsa') out.push('rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa')
    else out.push(type)
  }
  return out
}

/** SHA256 fingerprint as `ssh-keygen -l` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}
