/** known_hosts parsing and the host key verdicts of the ssh provider (fail closed), and RAGFlow's SSH validation messages. */
import {createHmac, generateKeyPairSync, randomBytes} from 'node:crypto'

import {describe, expect, it} from 'vitest'

import {sshDefinition, validationErrors} from '../../src/providers/index.js'
import {checkHostKey, entryMatches, hostKeyAlgorithms, hostLookupName, parseKnownHosts} from '../../src/providers/ssh-known-hosts.js'

/** An ed25519 public key blob in SSH wire format (string "ssh-ed25519", string key). */
function ed25519Blob(): Buffer {
  const {publicKey} = generateKeyPairSync('ed25519')
  const raw = publicKey.export({format: 'der', type: 'spki'}).subarray(-32)
  const part = (b: Buffer) => {
    const length = Buffer.alloc(4)
    length.writeUInt32BE(b.length)
    return Buffer.concat([length, b])
  }
  return Buffer.concat([part(Buffer.from('ssh-ed25519')), part(raw)])
}

const line = (patterns: string, blob: Buffer, marker = '') => `${marker ? marker + ' ' : ''}${patterns} ssh-ed25519 ${blob.toString('base64')}`

describe('known_hosts', () => {
  const key = ed25519Blob()
  const other = ed25519Blob()

  it('[host]:port for ports other than 22, the bare name for 22', () => {
    expect(hostLookupName('10.0.0.5', 22)).toBe('10.0.0.5')
    expect(hostLookupName('10.0.0.5', 2222)).toBe('[10.0.0.5]:2222')
  })

  it('known key → known; another key for the host → changed; host not listed → unknown; @revoked → revoked', () => {
    const entries = parseKnownHosts([line('[127.0.0.1]:2222', key), line('example.org', other), '# comment', '', 'garbage'].join('\n'))
    expect(checkHostKey(entries, '127.0.0.1', 2222, key)).toEqual({status: 'known', keyType: 'ssh-ed25519'})
    expect(checkHostKey(entries, '127.0.0.1', 2222, other).status).toBe('changed')
    // the same host on another port is another entry: unknown
    expect(checkHostKey(entries, '127.0.0.1', 22, key).status).toBe('unknown')
    const revoked = parseKnownHosts([line('[127.0.0.1]:2222', key), line('*', key, '@revoked')].join('\n'))
    expect(checkHostKey(revoked, '127.0.0.1', 2222, key).status).toBe('revoked')
    // a certificate authority line never makes a key known
    expect(checkHostKey(parseKnownHosts(line('*', key, '@cert-authority')), '127.0.0.1', 2222, key).status).toBe('unknown')
  })

  it('hashed names, wildcards and negation', () => {
    const salt = randomBytes(20)
    const hash = createHmac('sha1', salt).update('[db.internal]:2200').digest('base64')
    const hashed = parseKnownHosts(line(`|1|${salt.toString('base64')}|${hash}`, key))
    expect(checkHostKey(hashed, 'db.internal', 2200, key).status).toBe('known')
    expect(checkHostKey(hashed, 'db.internal', 22, key).status).toBe('unknown')
    expect(entryMatches('*.example.org,!bad.example.org', 'good.example.org')).toBe(true)
    expect(entryMatches('*.example.org,!bad.example.org', 'bad.example.org')).toBe(false)
    expect(entryMatches('host?', 'host1')).toBe(true)
    expect(entryMatches('host.', 'hostx')).toBe(false)
  })

  it('asks the server only for the key types known for the host', () => {
    const entries = parseKnownHosts([line('h', key), `h ssh-rsa ${key.toString('base64')}`].join('\n'))
    expect(hostKeyAlgorithms(entries, 'h', 22)).toEqual(['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'])
    expect(hostKeyAlgorithms(entries, 'other', 22)).toEqual([])
  })
})

describe("ssh config validation (RAGFlow's messages)", () => {
  const valid = {host: 'h', port: 22, username: 'u', password: 'p'}
  it('accepts a password or a key, and refuses neither', () => {
    expect(validationErrors(sshDefinition, valid)).toEqual([])
    expect(validationErrors(sshDefinition, {...valid, password: undefined, private_key: '-----BEGIN OPENSSH PRIVATE KEY-----'})).toEqual([])
    expect(validationErrors(sshDefinition, {...valid, password: ''})).toEqual(['Provider validation failed: Either password or private_key must be provided'])
  })
  it('required fields and the port range', () => {
    expect(validationErrors(sshDefinition, {port: 22, username: 'u', password: 'p'})).toEqual(["Required field 'host' is missing"])
    expect(validationErrors(sshDefinition, {...valid, port: 70000})).toEqual(["Field 'port' must be <= 65535"])
    expect(sshDefinition.validate({...valid, port: 70000})).toBe('SSH port must be between 1 and 65535')
    expect(sshDefinition.validate({...valid, host: ''})).toBe('SSH host is required')
    expect(sshDefinition.validate({...valid, username: ' '})).toBe('SSH username is required')
    expect(sshDefinition.validate({...valid, python_bin: ''})).toBe('Python binary is required')
    expect(sshDefinition.validate({...valid, host: '-oProxyCommand=x'})).toBe('Invalid SSH host: -oProxyCommand=x')
  })
  it('RAGFlow schema: secrets and the multiline private key', () => {
    expect(sshDefinition.schema.password.secret).toBe(true)
    expect(sshDefinition.schema.private_key).toMatchObject({secret: true, multiline: true})
    expect(sshDefinition.schema.passphrase.secret).toBe(true)
    expect(sshDefinition.schema.port).toMatchObject({required: true, default: 22, min: 1, max: 65535})
    expect(Object.keys(sshDefinition.schema)).toEqual([
      'host',
      'port',
      'username',
      'password',
      'private_key',
      'passphrase',
      'known_hosts',
      'python_bin',
      'node_bin',
      'work_dir',
      'timeout',
      'max_output_bytes',
      'max_artifacts',
      'max_artifact_bytes',
    ])
  })
})
