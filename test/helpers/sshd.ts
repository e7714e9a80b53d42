/**
 * A real OpenSSH server on 127.0.0.1 for the ssh provider's tests: Debian's /usr/sbin/sshd started
 * as root with its own config, host key, pid file and a free port, a test account with a fresh
 * random password and an authorized key. Missing sshd (or not root) is a failure with the fix,
 * never a skip: CI installs openssh-server.
 */
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {aptInstall} from './apt.js'
import {freePort} from './ports.js'

export const SSHD = '/usr/sbin/sshd'
export const SSH_TEST_USER = 'sandbox-ssh-test'

export interface SshServer {
  host: '127.0.0.1'
  port: number
  user: string
  password: string
  /** the client key authorized for `user` (OpenSSH private key file) */
  privateKeyPath: string
  /** a known_hosts file holding the server's real host key */
  knownHostsFile: string
  /** the known_hosts line for the server's real key */
  knownHostsLine: string
  /** a known_hosts file that lists this host with ANOTHER key (a changed key / man in the middle) */
  wrongKnownHostsFile: string
  /** a work_dir owned by the test user */
  workDir: string
  dir: string
  /** what sshd logged so far (-e: to stderr) */
  log(): string
  stop(): Promise<void>
}

function keygen(file: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'sandbox-test', '-f', file], {stdio: 'ignore'})
  return readFileSync(`${file}.pub`, 'utf8').trim()
}

/** The test account, created when missing; a new random password each start. */
function ensureUser(): string {
  try {
    execFileSync('id', ['-u', SSH_TEST_USER], {stdio: 'ignore'})
  } catch {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', SSH_TEST_USER], {stdio: 'ignore'})
  }
  const password = `pw-${randomBytes(12).toString('hex')}`
  execFileSync('chpasswd', [], {input: `${SSH_TEST_USER}:${password}\n`})
  return password
}

export async function startSshd(): Promise<SshServer> {
  // CI starts on a fresh machine: Debian's OpenSSH server is installed when missing
  if (!existsSync(SSHD)) await aptInstall(['openssh-server'])
  if (process.getuid?.() !== 0) throw new Error('the ssh provider tests start sshd and create a test account: run them as root (CI does)')
  const dir = mkdtempSync(join(tmpdir(), 'sshd-test-'))
  chmodSync(dir, 0o755)
  const password = ensureUser()
  const hostPub = keygen(join(dir, 'host_ed25519'))
  const otherPub = keygen(join(dir, 'other_ed25519'))
  const clientPub = keygen(join(dir, 'client_ed25519'))
  writeFileSync(join(dir, 'authorized_keys'), `${clientPub}\n`, {mode: 0o644})
  const workDir = join(dir, 'work')
  mkdirSync(workDir, {mode: 0o755})
  execFileSync('chown', [SSH_TEST_USER, workDir])
  // sshd's privilege separation directory
  mkdirSync('/run/sshd', {recursive: true, mode: 0o755})

  const port = await freePort()
  const keyOf = (pub: string) => pub.split(/\s+/).slice(0, 2).join(' ')
  const knownHostsLine = `[127.0.0.1]:${port} ${keyOf(hostPub)}`
  writeFileSync(join(dir, 'known_hosts'), `${knownHostsLine}\n`)
  writeFileSync(join(dir, 'wrong_known_hosts'), `[127.0.0.1]:${port} ${keyOf(otherPub)}\n`)
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_ed25519')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    // the key file lives under /tmp (world-writable): StrictModes would refuse it
    'StrictModes no',
    'PasswordAuthentication yes',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin no',
    'UsePAM no',
    `AllowUsers ${SSH_TEST_USER}`,
    'Subsystem sftp internal-sftp',
    'LogLevel VERBOSE',
    'MaxStartups 50',
    '',
  ].join('\n')
  writeFileSync(join(dir, 'sshd_config'), config)

  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], {stdio: ['ignore', 'ignore', 'pipe']})
  let log = ''
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')))
  await new Promise<void>((resolve, reject) => {
    const onData = () => {
      if (new RegExp(`Server listening on 127\\.0\\.0\\.1 port ${port}`).test(log)) {
        child.stderr!.off('data', onData)
        child.off('exit', onExit)
        resolve()
      }
    }
    const onExit = (code: number | null) => reject(new Error(`sshd exited (${code}) before listening:\n${log}`))
    child.stderr!.on('data', onData)
    child.once('exit', onExit)
  })

  return {
    host: '127.0.0.1',
    port,
    user: SSH_TEST_USER,
    password,
    privateKeyPath: join(dir, 'client_ed25519'),
    knownHostsFile: join(dir, 'known_hosts'),
    knownHostsLine,
    wrongKnownHostsFile: join(dir, 'wrong_known_hosts'),
    workDir,
    dir,
    log: () => log,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        await exited
      }
      rmSync(dir, {recursive: true, force: true})
    },
  }
}
