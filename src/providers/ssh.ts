/**
 * `ssh`: RAGFlow's SSH provider (agent/sandbox/providers/ssh.py at HEAD) over the `ssh2` package.
 * The code runs on a remote host that the administrator trusts to run it: as RAGFlow, one
 * temporary workspace per run (`mktemp -d <work_dir>/ragflow-codeexec.XXXXXX` with artifacts/),
 * the wrapped script uploaded over SFTP, `cd <dir> && <bin> <script>` with every part
 * shell-quoted, the effective timeout min(requested, configured), the workspace removed after.
 *
 * The host key is checked against known_hosts BEFORE anything is sent (the check runs during the
 * key exchange, before authentication): the system files (~/.ssh/known_hosts,
 * /etc/ssh/ssh_known_hosts) plus the configured `known_hosts` (a file path, or the lines
 * themselves). An unknown host, a changed key or a revoked key is refused (fail closed), and an
 * unreadable configured file is an error, never a fallback. Password or private key (PEM/OpenSSH
 * text or a path on this host, optional passphrase); no agent, no key look-up.
 *
 * Ours on top of RAGFlow: the timeout kills the remote process group (sshd makes the command's
 * shell a session leader; the command records its pid and `exec`s the interpreter, so
 * `kill -KILL -<pid>` ends it and its children) instead of only closing the channel, and the
 * group is also killed when main's process ends (a background child does not outlive its run);
 * the output cap stops the run; artifacts are read over SFTP within max_artifacts /
 * max_artifact_bytes and checked like a runner's report; the outcome is decided by the engine's
 * classifier (remoteResult → decideOutcome).
 */
import {existsSync, readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {posix} from 'node:path'
import {randomUUID} from 'node:crypto'

import type {Client as SshClient, ClientChannel, ConnectConfig, SFTPWrapper} from 'ssh2'

import {LANGUAGES, type Language} from '../languages/index.js'
import type {RunResult} from '../engine/result.js'
import {configError, errorMessage, remoteError, SandboxError} from '../errors.js'
import {configNumbers, LIMIT_DEFAULTS, limitError, limitField, RemoteInstances} from './remote-limits.js'
import {remoteResult} from './result.js'
import {assertRules} from './schema.js'
import {checkHostKey, fingerprint, hostKeyAlgorithms, hostLookupName, keyBlobType, parseKnownHosts, type KnownHostEntry} from './ssh-known-hosts.js'
import type {ExecuteRequest, HealthStatus, ProviderConfig, ProviderContext, ProviderDefinition, SandboxInstance, SandboxProvider} from './types.js'
import {wrapCode} from './wrapper.js'

const DEFAULTS = {
  port: 22,
  python_bin: 'python3',
  node_bin: 'node',
  work_dir: '/tmp',
  ...LIMIT_DEFAULTS,
} as const

/** The system known_hosts files RAGFlow's paramiko client loads (load_system_host_keys) and ssh reads. */
export const SYSTEM_KNOWN_HOSTS = () => [posix.join(homedir(), '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts']

const str = (value: unknown) => (value === undefined || value === null ? '' : String(value))

/** RAGFlow's SSHProvider.validate_config, with its messages (null when fine). */
export function validateSshConfig(config: ProviderConfig): string | null {
  if (!str(config.host).trim()) return 'SSH host is required'
  if (!str(config.username).trim()) return 'SSH username is required'
  if (!str(config.password) && !str(config.private_key)) return 'Either password or private_key must be provided'
  if (config.python_bin !== undefined && !str(config.python_bin).trim()) return 'Python binary is required'
  if (config.node_bin !== undefined && !str(config.node_bin).trim()) return 'Node.js binary is required'
  const port = config.port === undefined || config.port === '' ? DEFAULTS.port : Number(config.port)
  if (!Number.isInteger(port)) return 'SSH port must be an integer'
  if (port <= 0 || port > 65535) return 'SSH port must be between 1 and 65535'
  const limits = limitError(config, ['timeout', 'max_output_bytes', 'max_artifacts', 'max_artifact_bytes'])
  if (limits) return limits
  if (str(config.host).trim().startsWith('-') || /\s/.test(str(config.host).trim())) return `Invalid SSH host: ${str(config.host).trim()}`
  return null
}

export const sshDefinition: ProviderDefinition = {
  id: 'ssh',
  runsOnHost: false,
  command: 'ssh',
  aliases: [],
  name: 'SSH',
  description: 'Runs code on a remote host over SSH in a temporary workspace (host key checked against known_hosts; no sandbox beyond that host)',
  tags: ['remote', 'ssh', 'custom-runtime'],
  schema: {
    host: {type: 'string', required: true, label: 'SSH Host', placeholder: '192.168.1.10', description: 'Remote host that will execute generated code.', env: ['SSH_HOST']},
    port: {type: 'integer', required: true, label: 'SSH Port', default: DEFAULTS.port, min: 1, max: 65535, description: 'SSH port on the remote host.', env: ['SSH_PORT']},
    username: {type: 'string', required: true, label: 'SSH Username', placeholder: 'ragflow', description: 'Username used to connect to the remote host.', env: ['SSH_USERNAME']},
    password: {
      type: 'string',
      required: false,
      label: 'SSH Password',
      secret: true,
      placeholder: 'Optional when using a private key',
      description: 'Password-based SSH authentication.',
      env: ['SSH_PASSWORD'],
    },
    private_key: {
      type: 'string',
      required: false,
      label: 'SSH Private Key',
      secret: true,
      multiline: true,
      placeholder: 'Paste PEM content or enter a local file path',
      description: 'Private key PEM content or a readable private key path on the RAGFlow host.',
      env: ['SSH_PRIVATE_KEY', 'SSH_PRIVATE_KEY_PATH'],
    },
    passphrase: {
      type: 'string',
      required: false,
      label: 'Private Key Passphrase',
      secret: true,
      placeholder: 'Optional',
      description: 'Passphrase for the private key if it is encrypted.',
      env: ['SSH_PASSPHRASE'],
    },
    known_hosts: {
      type: 'string',
      required: false,
      label: 'SSH known_hosts File',
      placeholder: '/etc/ragflow/ssh_known_hosts',
      description:
        "Path to an OpenSSH-format known_hosts file used to verify the remote host's key (or its lines themselves). When set, the file is loaded on top of the system host keys (~/.ssh/known_hosts). When unset, only system keys are used and unknown hosts are rejected.",
      env: ['SSH_KNOWN_HOSTS'],
    },
    python_bin: {
      type: 'string',
      required: false,
      default: DEFAULTS.python_bin,
      label: 'Python Binary',
      description: 'Python executable used for remote code execution.',
      env: ['SSH_PYTHON_BIN'],
    },
    node_bin: {
      type: 'string',
      required: false,
      default: DEFAULTS.node_bin,
      label: 'Node.js Binary',
      description: 'Node.js executable used for remote JavaScript execution.',
      env: ['SSH_NODE_BIN'],
    },
    work_dir: {
      type: 'string',
      required: false,
      label: 'Remote Workspace Root',
      default: DEFAULTS.work_dir,
      placeholder: '/tmp',
      description: 'Writable remote directory used to create a temporary workspace.',
      env: ['SSH_WORK_DIR'],
    },
    timeout: limitField('timeout', {description: 'Maximum SSH execution time for a single run.', env: ['SSH_TIMEOUT']}),
    max_output_bytes: limitField('max_output_bytes', {description: 'Maximum combined stdout and stderr size.', env: ['SSH_MAX_OUTPUT_BYTES']}),
    max_artifacts: limitField('max_artifacts', {description: 'Maximum number of files collected from the remote artifacts directory.', env: ['SSH_MAX_ARTIFACTS']}),
    max_artifact_bytes: limitField('max_artifact_bytes', {description: 'Maximum size of a single artifact file in bytes.', env: ['SSH_MAX_ARTIFACT_BYTES']}),
  },
  validate: validateSshConfig,
  notes: (config) => [
    config.known_hosts
      ? 'The host key is checked against the configured known_hosts and the system files; an unknown or changed key is refused'
      : 'No known_hosts configured: only ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts are trusted, so an unlisted host is refused (add its key with `ssh-keyscan -p PORT HOST >> FILE` after checking it, then --known-hosts FILE)',
    'The code runs as this account on the remote host: use a dedicated low-privilege account',
  ],
  create: (config, context) => new SshProvider(config, context),
}

/** POSIX shell single-quoting. */
export const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`

interface Settings {
  host: string
  port: number
  username: string
  password: string
  privateKey: string
  passphrase: string
  knownHosts: string
  python_bin: string
  node_bin: string
  workDir: string
  timeout: number
  maxOutput: number
  maxArtifacts: number
  maxArtifactBytes: number
}

function settingsOf(config: ProviderConfig): Settings {
  const n = configNumbers(config, {port: DEFAULTS.port, ...LIMIT_DEFAULTS})
  const text = (key: string, fallback = '') => str(config[key]).trim() || fallback
  return {
    host: text('host'),
    port: n.port,
    username: text('username'),
    password: str(config.password),
    privateKey: str(config.private_key),
    passphrase: str(config.passphrase),
    knownHosts: text('known_hosts'),
    python_bin: text('python_bin', DEFAULTS.python_bin),
    node_bin: text('node_bin', DEFAULTS.node_bin),
    workDir: text('work_dir', DEFAULTS.work_dir).replace(/\/+$/, '') || '/tmp',
    timeout: n.timeout,
    maxOutput: n.max_output_bytes,
    maxArtifacts: n.max_artifacts,
    maxArtifactBytes: n.max_artifact_bytes,
  }
}

/** A known_hosts setting that holds lines rather than naming a file. */
const looksLikeKnownHostsText = (value: string) => value.includes('\n') || /^\S+\s+(ssh-|ecdsa-|sk-)\S*\s+[A-Za-z0-9+/]+={0,2}(\s|$)/.test(value)

/** The trusted host keys: the system files (when readable) plus the configured file or lines (which must load). */
export function loadKnownHosts(setting: string, systemFiles: string[] = SYSTEM_KNOWN_HOSTS()): KnownHostEntry[] {
  const entries: KnownHostEntry[] = []
  for (const file of systemFiles) {
    try {
      entries.push(...parseKnownHosts(readFileSync(file, 'utf8'), file))
    } catch {
      // a missing or unreadable system file adds no trust
    }
  }
  if (!setting) return entries
  if (looksLikeKnownHostsText(setting)) return [...entries, ...parseKnownHosts(setting, 'known_hosts setting')]
  try {
    return [...entries, ...parseKnownHosts(readFileSync(setting, 'utf8'), setting)]
  } catch (error) {
    // fail closed: an unreadable trust store never falls back to the system keys alone
    throw configError(
      'Failed to load configured SSH known_hosts file.',
      'SSH_KNOWN_HOSTS_UNREADABLE',
      [`${setting}: ${errorMessage(error)}`, 'Fix the path with `sandbox configure ssh --known-hosts FILE`'],
      error,
    )
  }
}

/** how long a killed run's channel may take to close by itself */
const CLOSE_GRACE_MS = 5000

const SUPPORTED_HOST_KEY_ALGORITHMS = new Set([
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
  'ssh-dss',
])

interface Remote {
  client: SshClient
  sftp: SFTPWrapper
  dir: string
}

interface CommandOutcome {
  stdout: string
  stderr: string
  code: number | null
  signal: string | null
  timedOut: boolean
  overflow: boolean
}

class SshProvider implements SandboxProvider {
  readonly id = 'ssh' as const
  private readonly s: Settings
  private readonly remotes = new RemoteInstances<Remote>('ssh', 'SSH sandbox', 'SSH_NO_INSTANCE')

  constructor(
    config: ProviderConfig,
    private readonly context: ProviderContext,
  ) {
    assertRules('SSH', validateSshConfig(config))
    this.s = settingsOf(config)
  }

  private get target(): string {
    return `${this.s.username}@${this.s.host}:${this.s.port}`
  }

  private privateKey(): Buffer | undefined {
    const value = this.s.privateKey.trim()
    if (!value) return undefined
    let key: Buffer
    try {
      key = !value.includes('\n') && existsSync(value) ? readFileSync(value) : Buffer.from(value.replace(/\\n/g, '\n') + '\n', 'utf8')
    } catch (error) {
      throw configError(`Failed to load SSH private key. ${errorMessage(error)}`, 'SSH_PRIVATE_KEY_INVALID', [], error)
    }
    return key
  }

  /** A connected, authenticated client — only after the host key passed the known_hosts check. */
  private async connect(): Promise<SshClient> {
    const {Client, utils} = await import('ssh2')
    const known = loadKnownHosts(this.s.knownHosts)
    const privateKey = this.privateKey()
    if (privateKey) {
      const parsed = utils.parseKey(privateKey, this.s.passphrase || undefined)
      if (parsed instanceof Error)
        throw configError(`Failed to load SSH private key. ${parsed.message}`, 'SSH_PRIVATE_KEY_INVALID', [
          'Give the key as PEM/OpenSSH text or a readable path, with --passphrase if it is encrypted',
        ])
    }
    const algorithms = hostKeyAlgorithms(known, this.s.host, this.s.port).filter((a) => SUPPORTED_HOST_KEY_ALGORITHMS.has(a))
    const client = new Client()
    let refusal: SandboxError | undefined
    const hostVerifier = (blob: Buffer): boolean => {
      const verdict = checkHostKey(known, this.s.host, this.s.port, blob)
      if (verdict.status === 'known') return true
      refusal = this.hostKeyRefusal(verdict, blob)
      return false
    }
    const config: ConnectConfig = {
      host: this.s.host,
      port: this.s.port,
      username: this.s.username,
      readyTimeout: this.s.timeout * 1000,
      hostVerifier,
      tryKeyboard: false,
      ...(this.s.password ? {password: this.s.password} : {}),
      ...(privateKey ? {privateKey, ...(this.s.passphrase ? {passphrase: this.s.passphrase} : {})} : {}),
      ...(algorithms.length ? {algorithms: {serverHostKey: algorithms as NonNullable<ConnectConfig['algorithms']>['serverHostKey']}} : {}),
    }
    return new Promise<SshClient>((resolve, reject) => {
      const fail = (error: Error & {level?: string}) => {
        client.end()
        if (refusal) return reject(refusal)
        if (error.level === 'client-authentication') {
          return reject(
            configError(
              `Failed to connect to SSH host ${this.target}: authentication failed (the ${[this.s.password && 'password', privateKey && 'private key'].filter(Boolean).join(' and ')} was refused)`,
              'SSH_AUTH_FAILED',
              ['Check --username and --password / --private-key (`sandbox configure ssh`)'],
              error,
            ),
          )
        }
        reject(remoteError(`Failed to connect to SSH host ${this.target}: ${errorMessage(error)}`, 'SSH_UNREACHABLE', ['Check --host and --port and that sshd runs there'], error))
      }
      client.once('ready', () => {
        client.removeListener('error', fail)
        client.on('error', (error) => this.context.onEvent?.({level: 'warn', message: `SSH connection to ${this.target}: ${errorMessage(error)}`}))
        resolve(client)
      })
      client.once('error', fail)
      client.connect(config)
    })
  }

  private hostKeyRefusal(verdict: ReturnType<typeof checkHostKey>, blob: Buffer): SandboxError {
    const presented = `${keyBlobType(blob)} ${fingerprint(blob)}`
    const name = hostLookupName(this.s.host, this.s.port)
    if (verdict.status === 'changed') {
      return configError(
        `SSH host key for ${name} has CHANGED: the server presented ${presented}, which does not match known_hosts (${verdict.known.join(', ')}); refusing to connect, nothing was sent`,
        'SSH_HOST_KEY_MISMATCH',
        ['Someone may be intercepting the connection, or the host was reinstalled: check the key with its administrator before replacing the known_hosts line'],
      )
    }
    if (verdict.status === 'revoked') {
      return configError(`SSH host key for ${name} (${presented}) is marked @revoked in ${verdict.origin}; refusing to connect, nothing was sent`, 'SSH_HOST_KEY_REVOKED')
    }
    return configError(`SSH host ${name} is not in known_hosts (it presented ${presented}); refusing to connect to an unknown host, nothing was sent`, 'SSH_HOST_KEY_UNKNOWN', [
      `Check the key with the host's administrator, add its line (ssh-keyscan -p ${this.s.port} ${this.s.host}) to a file and pass it with \`sandbox configure ssh --known-hosts FILE\``,
    ])
  }

  private openSftp(client: SshClient): Promise<SFTPWrapper> {
    return new Promise((resolve, reject) =>
      client.sftp((error, sftp) => (error ? reject(remoteError(`SFTP on ${this.target} failed: ${error.message}`, 'SSH_SFTP_FAILED', [], error)) : resolve(sftp))),
    )
  }

  /** Run one command; the timer, the output cap and an abort kill the remote process group recorded in `pidFile`. */
  private exec(
    client: SshClient,
    command: string,
    options: {timeoutMs: number; maxOutput?: number; pidFile?: string; onOutput?: ExecuteRequest['onOutput']; signal?: AbortSignal},
  ): Promise<CommandOutcome> {
    return new Promise((resolve, reject) => {
      client.exec(command, (error, channel: ClientChannel) => {
        if (error) return reject(remoteError(`SSH command on ${this.target} failed to start: ${error.message}`, 'SSH_EXEC_FAILED', [], error))
        const out: Buffer[] = []
        const err: Buffer[] = []
        let bytes = 0
        const state = {timedOut: false, overflow: false, code: null as number | null, signal: null as string | null, killed: false}
        /** kill the recorded group; `close` also closes the channel (timeout, cap, abort) — after main's own exit the channel closes by itself once its output is drained */
        const killGroup = (close: boolean) => {
          if (state.killed || !options.pidFile) {
            if (close) channel.close()
            return
          }
          state.killed = true
          const kill = `pid=$(cat ${shellQuote(options.pidFile)} 2>/dev/null) && [ -n "$pid" ] && kill -KILL -"$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null; true`
          // after the kill the channel closes by itself once the group is gone (its output reaches EOF);
          // close it from here only if that does not happen soon
          const forceClose = () => {
            if (close) setTimeout(() => channel.close(), CLOSE_GRACE_MS).unref()
          }
          client.exec(kill, (e, ch) => {
            if (e) return close && channel.close()
            ch.on('close', forceClose).resume()
            ch.stderr.resume()
          })
        }
        const stop = () => killGroup(true)
        const take = (into: Buffer[], stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
          if (state.overflow) return
          const max = options.maxOutput ?? Number.POSITIVE_INFINITY
          if (bytes + chunk.length > max) {
            into.push(chunk.subarray(0, Math.max(0, max - bytes)))
            bytes = max
            state.overflow = true
            stop()
            return
          }
          bytes += chunk.length
          into.push(chunk)
          options.onOutput?.(stream, chunk)
        }
        const timer = setTimeout(() => {
          state.timedOut = true
          stop()
        }, options.timeoutMs)
        const onAbort = () => stop()
        options.signal?.addEventListener('abort', onAbort, {once: true})
        channel.on('data', take(out, 'stdout'))
        channel.stderr.on('data', take(err, 'stderr'))
        channel.on('exit', (code: number | null, signal?: string) => {
          state.code = code ?? null
          state.signal = signal ?? null
          // main's process ended: what it left running in its group ends with it
          killGroup(false)
        })
        channel.on('close', () => {
          clearTimeout(timer)
          options.signal?.removeEventListener('abort', onAbort)
          resolve({
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8'),
            code: state.code,
            signal: state.signal,
            timedOut: state.timedOut,
            overflow: state.overflow,
          })
        })
      })
    })
  }

  async createInstance(language: Language): Promise<SandboxInstance> {
    const client = await this.connect()
    try {
      const sftp = await this.openSftp(client)
      const template = posix.join(this.s.workDir, 'ragflow-codeexec.XXXXXX')
      const made = await this.exec(client, `mkdir -p ${shellQuote(this.s.workDir)} && mktemp -d ${shellQuote(template)}`, {timeoutMs: Math.min(this.s.timeout, 10) * 1000})
      const dir = made.stdout.trim().split('\n').pop() ?? ''
      if (made.code !== 0 || !dir.startsWith(`${this.s.workDir}/ragflow-codeexec.`)) {
        throw remoteError(`Failed to create remote workspace on ${this.s.host}: ${made.stderr.trim() || made.stdout.trim() || 'unknown error'}`, 'SSH_WORKSPACE_FAILED', [
          'Check --work-dir: it must be writable by the SSH user',
        ])
      }
      const artifacts = await this.exec(client, `mkdir -p ${shellQuote(posix.join(dir, 'artifacts'))}`, {timeoutMs: Math.min(this.s.timeout, 10) * 1000})
      if (artifacts.code !== 0) throw remoteError(`Failed to create remote artifacts directory: ${artifacts.stderr.trim() || 'unknown error'}`, 'SSH_WORKSPACE_FAILED')
      const instanceId = randomUUID()
      this.remotes.add(instanceId, {client, sftp, dir})
      return {instanceId, provider: 'ssh', status: 'running', metadata: {language, remote_work_dir: dir, host: this.s.host}}
    } catch (error) {
      client.end()
      throw error
    }
  }

  async executeCode(instance: SandboxInstance, request: ExecuteRequest): Promise<RunResult> {
    const remote = this.remotes.forRun(instance, request)
    const timeoutSeconds = Math.min(request.timeoutSeconds, this.s.timeout)
    const lang = LANGUAGES[request.language].runtime.script
    const script = posix.join(remote.dir, lang.fileName)
    const pidFile = posix.join(remote.dir, '.sandbox-pid')
    const source = wrapCode(request.language, request.code, request.arguments ?? {}, {collectArtifacts: false})
    await new Promise<void>((resolve, reject) =>
      remote.sftp.writeFile(script, source, {mode: 0o600}, (error) =>
        error ? reject(remoteError(`Uploading the script to ${this.target} failed: ${error.message}`, 'SSH_UPLOAD_FAILED', [], error)) : resolve(),
      ),
    )
    const command = `cd ${shellQuote(remote.dir)} && echo $$ > ${shellQuote(pidFile)} && exec ${shellQuote(this.s[lang.binSetting])} ${shellQuote(script)}`
    const started = performance.now()
    const outcome = await this.exec(remote.client, command, {
      timeoutMs: timeoutSeconds * 1000,
      maxOutput: this.s.maxOutput,
      pidFile,
      onOutput: request.onOutput,
      signal: request.signal,
    })
    const wallMs = performance.now() - started
    const signals: Record<string, number> = {HUP: 1, INT: 2, QUIT: 3, ABRT: 6, KILL: 9, SEGV: 11, PIPE: 13, TERM: 15, XCPU: 24, XFSZ: 25}
    const exitCode = outcome.code ?? (outcome.signal ? 128 + (signals[outcome.signal.replace(/^SIG/, '')] ?? 9) : 1)
    const stopped = outcome.timedOut || outcome.overflow
    return remoteResult({
      stdout: outcome.stdout,
      stderr: outcome.stderr,
      exitCode,
      timedOut: outcome.timedOut,
      timeoutSeconds,
      wallMs,
      outputOverflow: outcome.overflow,
      maxOutputBytes: this.s.maxOutput,
      artifacts: stopped ? [] : await this.collectArtifacts(remote.sftp, posix.join(remote.dir, 'artifacts')),
    })
  }

  /** Regular files in artifacts/ (plain names, within max_artifacts / max_artifact_bytes), read over SFTP, as a runner would report them. */
  private async collectArtifacts(sftp: SFTPWrapper, dir: string): Promise<unknown[]> {
    const entries = await new Promise<Array<{filename: string; attrs: {mode: number; size: number}}>>((resolve) => sftp.readdir(dir, (error, list) => resolve(error ? [] : list)))
    const found: unknown[] = []
    for (const entry of entries.sort((a, b) => a.filename.localeCompare(b.filename))) {
      if (found.length >= this.s.maxArtifacts) break
      const regular = (entry.attrs.mode & 0o170000) === 0o100000
      if (!regular || entry.filename.startsWith('.') || entry.attrs.size === 0 || entry.attrs.size > this.s.maxArtifactBytes) continue
      const content = await new Promise<Buffer | undefined>((resolve) => sftp.readFile(posix.join(dir, entry.filename), (error, data) => resolve(error ? undefined : data)))
      if (content && content.length <= this.s.maxArtifactBytes) found.push({name: entry.filename, size: content.length, content_b64: content.toString('base64')})
    }
    return found
  }

  async destroyInstance(instance: SandboxInstance): Promise<boolean> {
    const remote = this.remotes.take(instance.instanceId)
    if (!remote) return true
    let ok = true
    try {
      if (!remote.dir.startsWith(`${this.s.workDir}/ragflow-codeexec.`)) throw new Error(`refusing to remove ${remote.dir}`)
      const removed = await this.exec(remote.client, `rm -rf ${shellQuote(remote.dir)}`, {timeoutMs: Math.min(this.s.timeout, 10) * 1000})
      if (removed.code !== 0) throw new Error(removed.stderr.trim() || 'unknown error')
    } catch (error) {
      ok = false
      this.context.onEvent?.({level: 'warn', message: `Failed to clean remote workspace ${remote.dir}: ${errorMessage(error)}`})
    } finally {
      remote.sftp.end()
      remote.client.end()
    }
    return ok
  }

  async healthCheck(): Promise<HealthStatus> {
    try {
      const client = await this.connect()
      try {
        const r = await this.exec(client, 'true', {timeoutMs: Math.min(this.s.timeout, 10) * 1000})
        if (r.code !== 0) return {healthy: false, detail: `SSH connectivity check failed on ${this.target}: ${r.stderr.trim() || 'remote command returned non-zero exit status'}`}
        return {healthy: true, detail: `SSH host ${this.target} reached, host key verified`}
      } finally {
        client.end()
      }
    } catch (error) {
      return {healthy: false, detail: errorMessage(error)}
    }
  }

  supportedLanguages(): string[] {
    return ['python', 'javascript', 'nodejs']
  }

  runtimeLabel(): string {
    return `ssh ${this.target}`
  }

  async close(): Promise<void> {
    await this.remotes.closeAll((instance) => this.destroyInstance(instance))
  }
}
