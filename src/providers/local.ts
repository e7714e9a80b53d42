/**
 * `local`: RAGFlow's local provider (agent/sandbox/providers/local.py at HEAD). The code runs
 * as a child process ON THIS HOST, with this process's user: NO sandbox, no network isolation,
 * no filesystem isolation, no code policy of its own beyond the one every provider gets.
 *
 * As RAGFlow: one directory per run under work_dir (mode 0700) holding main.py / main.js and
 * artifacts/, the child in a new session (its own process group) with HOME and TMPDIR set to
 * that directory, rlimits CPU = timeout+1 s, address space = max_memory_mb, file size =
 * max_artifact_bytes, 64 open files (each capped at the current hard limit), the effective
 * timeout min(requested, configured), the whole process group killed on timeout. (Node gets
 * the memory figure as RLIMIT_DATA: under RLIMIT_AS it cannot start below about 1 GB.)
 * Ours on top: the group is also killed when the main process ends (a background child does not
 * outlive its run), the output cap stops the run instead of reading on, the wrapper is the one
 * the remote providers use (arguments as data, the runners' error record) and the outcome is
 * decided by the engine's classifier (remoteResult → decideOutcome).
 *
 * Unsafe by design: it runs only with an explicit opt-in (SANDBOX_ALLOW_LOCAL_PROVIDER=on or
 * `sandbox run --allow-unsandboxed`), and every run emits a warning.
 */
import {spawn, execFileSync} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {accessSync, constants as fsConstants, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {constants as osConstants} from 'node:os'
import {isAbsolute, join, resolve} from 'node:path'

import {LANGUAGES, type Language} from '../engine/languages.js'
import {EXIT, emptyResult, type RunResult} from '../engine/result.js'
import {configError, prerequisiteError} from '../errors.js'
import {checkRunTimeout} from './remote-limits.js'
import {remoteResult} from './result.js'
import {assertRules} from './schema.js'
import type {ExecuteRequest, HealthStatus, ProviderConfig, ProviderContext, ProviderDefinition, SandboxInstance, SandboxProvider} from './types.js'
import {wrapCode} from './wrapper.js'

/** The opt-in variable: without it (or --allow-unsandboxed) the local provider is refused. */
export const LOCAL_OPT_IN_ENV = 'SANDBOX_ALLOW_LOCAL_PROVIDER'

export const LOCAL_WARNING =
  'WARNING: the local provider runs the code as a plain child process on this host, with NO sandbox (no gVisor, no network or filesystem isolation); only rlimits apply'

const ON = new Set(['1', 'on', 'true', 'yes'])

/** Whether the user opted in to the unsandboxed local provider (flag, or the variable set to on/1/true/yes). */
export function localProviderAllowed(options: {allowUnsandboxed?: boolean; env?: NodeJS.ProcessEnv} = {}): boolean {
  if (options.allowUnsandboxed === true) return true
  return ON.has(
    String((options.env ?? process.env)[LOCAL_OPT_IN_ENV] ?? '')
      .trim()
      .toLowerCase(),
  )
}

/** Throws LOCAL_PROVIDER_NOT_ALLOWED (exit 4) unless the user opted in. `where` says how local was chosen. */
export function assertLocalAllowed(options: {allowUnsandboxed?: boolean; env?: NodeJS.ProcessEnv; where?: string} = {}): void {
  if (localProviderAllowed(options)) return
  throw configError(`The local provider${options.where ?? ''} runs code on this host without any sandbox and is refused without an explicit opt-in`, 'LOCAL_PROVIDER_NOT_ALLOWED', [
    `Opt in with ${LOCAL_OPT_IN_ENV}=on (or \`sandbox run --allow-unsandboxed\`) if running untrusted code unsandboxed on this host is really meant`,
    'Otherwise pick a sandboxed provider: `sandbox configure use docker` or `sandbox configure self-managed`',
  ])
}

const DEFAULTS = {
  python_bin: 'python3',
  node_bin: 'node',
  work_dir: '/tmp/ragflow-codeexec',
  timeout: 30,
  max_memory_mb: 512,
  max_output_bytes: 1024 * 1024,
  max_artifacts: 20,
  max_artifact_bytes: 10 * 1024 * 1024,
} as const

/** RAGFlow's _validate_limits, with its messages (null when fine). */
export function validateLocalLimits(config: ProviderConfig): string | null {
  const n = (key: keyof typeof DEFAULTS) => Number(config[key] ?? DEFAULTS[key])
  if (!(n('timeout') > 0)) return 'SANDBOX_LOCAL_TIMEOUT must be greater than 0.'
  if (!(n('max_memory_mb') > 0)) return 'SANDBOX_LOCAL_MAX_MEMORY_MB must be greater than 0.'
  if (!(n('max_output_bytes') > 0)) return 'SANDBOX_LOCAL_MAX_OUTPUT_BYTES must be greater than 0.'
  if (!(n('max_artifacts') >= 0)) return 'SANDBOX_LOCAL_MAX_ARTIFACTS must be greater than or equal to 0.'
  if (!(n('max_artifact_bytes') > 0)) return 'SANDBOX_LOCAL_MAX_ARTIFACT_BYTES must be greater than 0.'
  return null
}

export const localDefinition: ProviderDefinition = {
  id: 'local',
  runsOnHost: true,
  command: 'local',
  aliases: [],
  name: 'Local (NO sandbox)',
  description: "Runs code as a child process on this host with rlimits only: NOT a sandbox (RAGFlow's local provider); needs SANDBOX_ALLOW_LOCAL_PROVIDER=on",
  tags: ['local', 'unsandboxed'],
  schema: {
    python_bin: {type: 'string', required: false, default: DEFAULTS.python_bin, label: 'Python Binary', description: 'Python executable used for local code execution.'},
    node_bin: {type: 'string', required: false, default: DEFAULTS.node_bin, label: 'Node.js Binary', description: 'Node.js executable used for local JavaScript execution.'},
    work_dir: {
      type: 'string',
      required: false,
      default: DEFAULTS.work_dir,
      label: 'Working Directory',
      description: 'Directory used to store temporary scripts and artifacts on the current host.',
    },
    timeout: {
      type: 'integer',
      required: false,
      default: DEFAULTS.timeout,
      label: 'Timeout (seconds)',
      description: 'Maximum execution time for each local run. Unit: seconds.',
      min: 1,
      max: 600,
      env: ['SANDBOX_LOCAL_TIMEOUT'],
    },
    max_memory_mb: {
      type: 'integer',
      required: false,
      default: DEFAULTS.max_memory_mb,
      label: 'Max Memory (MB)',
      description: 'Address-space memory limit for the local child process. Unit: MB.',
      min: 1,
      max: 65536,
      env: ['SANDBOX_LOCAL_MAX_MEMORY_MB'],
    },
    max_output_bytes: {
      type: 'integer',
      required: false,
      default: DEFAULTS.max_output_bytes,
      label: 'Max Output (bytes)',
      description: 'Maximum combined stdout and stderr size. Unit: bytes.',
      min: 1024,
      max: 10485760,
      env: ['SANDBOX_LOCAL_MAX_OUTPUT_BYTES'],
    },
    max_artifacts: {
      type: 'integer',
      required: false,
      default: DEFAULTS.max_artifacts,
      label: 'Max Artifacts',
      description: 'Maximum number of files collected from the artifacts directory.',
      min: 0,
      max: 100,
      env: ['SANDBOX_LOCAL_MAX_ARTIFACTS'],
    },
    max_artifact_bytes: {
      type: 'integer',
      required: false,
      default: DEFAULTS.max_artifact_bytes,
      label: 'Max Artifact Size (bytes)',
      description: 'Maximum size of a single artifact file. Unit: bytes.',
      min: 1024,
      max: 104857600,
      env: ['SANDBOX_LOCAL_MAX_ARTIFACT_BYTES'],
    },
  },
  validate: validateLocalLimits,
  notes: () => [LOCAL_WARNING, `Runs are refused unless ${LOCAL_OPT_IN_ENV}=on (or \`sandbox run --allow-unsandboxed\`)`],
  create: (config, context) => {
    // the one gate: every path that would run local code builds the provider here
    assertLocalAllowed({allowUnsandboxed: context.allowUnsandboxed})
    return new LocalProvider(config, context)
  },
}

/** The stdout+stderr of the child read so far, and whether the cap stopped it. */
interface Captured {
  stdout: Buffer[]
  stderr: Buffer[]
  bytes: number
  overflow: boolean
}

let hardLimitsCache: Record<string, number | null> | undefined

/** This process's hard limits (inherited by the child), from util-linux prlimit; null = unlimited. */
function hardLimits(): Record<string, number | null> {
  if (hardLimitsCache) return hardLimitsCache
  let text: string
  try {
    text = execFileSync('prlimit', ['--output', 'RESOURCE,HARD', '--raw', '--noheadings', `--pid=${process.pid}`], {encoding: 'utf8'})
  } catch (error) {
    throw prerequisiteError(
      'The local provider needs util-linux `prlimit` to set the rlimits of its child process',
      'PRLIMIT_MISSING',
      ['Install it: apt-get install util-linux'],
      error,
    )
  }
  const limits: Record<string, number | null> = {}
  for (const line of text.split('\n')) {
    const [name, value] = line.trim().split(/\s+/)
    if (name) limits[name] = value === 'unlimited' || value === undefined ? null : Number(value)
  }
  hardLimitsCache = limits
  return limits
}

/** RAGFlow's _set_resource_limit: the value, capped at the hard limit. */
function capped(name: string, value: number): number {
  const hard = hardLimits()[name]
  return hard === null || hard === undefined ? value : Math.min(value, hard)
}

interface LocalInstance extends SandboxInstance {
  metadata: {language: Language; work_dir: string}
}

class LocalProvider implements SandboxProvider {
  readonly id = 'local' as const
  private readonly settings: typeof DEFAULTS & Record<string, unknown>

  constructor(
    config: ProviderConfig,
    private readonly context: ProviderContext,
  ) {
    assertRules('Local', validateLocalLimits(config))
    this.settings = {...DEFAULTS, ...Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined && v !== ''))} as never
  }

  private get workDir(): string {
    return resolve(String(this.settings.work_dir))
  }

  /**
   * Create work_dir (0700) or check the one that exists: a real directory of this user that no
   * one else may write to. In a shared /tmp another account could otherwise create it first and
   * swap the script between our write and its run. Throws LOCAL_WORK_DIR_UNSAFE (exit 4).
   */
  private ensureWorkDir(): void {
    mkdirSync(this.workDir, {recursive: true, mode: 0o700})
    const st = lstatSync(this.workDir)
    const uid = process.getuid?.()
    const problem = !st.isDirectory()
      ? 'is not a directory (or is a symbolic link)'
      : uid !== undefined && st.uid !== uid
        ? `belongs to uid ${st.uid}, not to this user (uid ${uid})`
        : (st.mode & 0o022) !== 0
          ? `is writable by other users (mode ${(st.mode & 0o777).toString(8)})`
          : undefined
    if (problem) {
      throw configError(`The local provider's work_dir ${this.workDir} ${problem}`, 'LOCAL_WORK_DIR_UNSAFE', [
        'Use a directory of your own that only you can write to: sandbox configure local --work-dir DIR --no-activate',
      ])
    }
  }

  async createInstance(language: Language): Promise<SandboxInstance> {
    this.ensureWorkDir()
    const instanceId = randomUUID()
    const dir = join(this.workDir, instanceId)
    mkdirSync(dir, {mode: 0o700})
    mkdirSync(join(dir, 'artifacts'), {mode: 0o700})
    return {instanceId, provider: 'local', status: 'running', metadata: {language, work_dir: dir}}
  }

  async executeCode(instance: SandboxInstance, request: ExecuteRequest): Promise<RunResult> {
    this.warn()
    const dir = (instance as LocalInstance).metadata.work_dir
    const configured = Number(this.settings.timeout)
    const requested = request.timeoutSeconds
    checkRunTimeout(requested)
    const timeoutSeconds = Math.min(requested, configured)
    const run = LANGUAGES[request.language].runtime.script
    const script = join(dir, run.fileName)
    writeFileSync(script, wrapCode(request.language, request.code, request.arguments ?? {}, {collectArtifacts: false}), {mode: 0o600})
    const bin = String(this.settings[run.binSetting])

    const memoryBytes = Number(this.settings.max_memory_mb) * 1024 * 1024
    const limits = [
      `--cpu=${capped('CPU', Math.ceil(timeoutSeconds) + 1)}`,
      // Python: address space, as RAGFlow. Node reserves gigabytes of address space it never
      // touches (V8's code range: "Failed to reserve virtual memory" at startup under a 512 MB
      // RLIMIT_AS), so for Node the same figure caps its writable data (RLIMIT_DATA) instead
      run.memoryRlimit === 'as' ? `--as=${capped('AS', memoryBytes)}` : `--data=${capped('DATA', memoryBytes)}`,
      `--fsize=${capped('FSIZE', Number(this.settings.max_artifact_bytes))}`,
      `--nofile=${capped('NOFILE', 64)}`,
    ]
    const maxOutput = Number(this.settings.max_output_bytes)
    const started = performance.now()
    const captured: Captured = {stdout: [], stderr: [], bytes: 0, overflow: false}
    let timedOut = false
    const {code, signal, spawnError} = await new Promise<{code: number | null; signal: NodeJS.Signals | null; spawnError?: Error}>((done) => {
      const child = spawn('prlimit', [...limits, '--', bin, script], {cwd: dir, env: childEnv(dir), detached: true, stdio: ['ignore', 'pipe', 'pipe']})
      const killGroup = () => {
        if (child.pid === undefined) return
        try {
          process.kill(-child.pid, 'SIGKILL')
        } catch {
          // the group is gone already
        }
      }
      const timer = setTimeout(() => {
        timedOut = true
        killGroup()
      }, timeoutSeconds * 1000)
      const take = (into: Buffer[]) => (chunk: Buffer) => {
        if (captured.overflow) return
        const room = maxOutput - captured.bytes
        if (chunk.length > room) {
          into.push(chunk.subarray(0, Math.max(0, room)))
          captured.bytes = maxOutput
          captured.overflow = true
          killGroup()
          return
        }
        into.push(chunk)
        captured.bytes += chunk.length
      }
      child.stdout!.on('data', take(captured.stdout))
      child.stderr!.on('data', take(captured.stderr))
      let exit: {code: number | null; signal: NodeJS.Signals | null} = {code: null, signal: null}
      // the main process ended: what it left running in its group ends with it
      child.on('exit', (c, s) => {
        exit = {code: c, signal: s}
        killGroup()
      })
      child.on('error', (error) => {
        clearTimeout(timer)
        done({code: null, signal: null, spawnError: error})
      })
      child.on('close', () => {
        clearTimeout(timer)
        done(exit)
      })
    })
    const wallMs = performance.now() - started
    if (spawnError) throw prerequisiteError(`The local provider could not start prlimit: ${spawnError.message}`, 'PRLIMIT_MISSING', ['Install util-linux (prlimit)'], spawnError)
    const stdout = Buffer.concat(captured.stdout).toString('utf8')
    const stderr = Buffer.concat(captured.stderr).toString('utf8')
    const exitCode = code ?? (signal ? 128 + (osConstants.signals[signal] ?? 9) : 1)
    // prlimit itself reports a binary it cannot run (exit 1, "failed to execute"): not the user's code
    if (!timedOut && !captured.overflow && code === 1 && /^prlimit: failed to execute/m.test(stderr)) {
      return emptyResult({
        status: 'program_runner_error',
        exit_code: EXIT.INTERNAL_ERROR,
        stderr,
        detail: `cannot run ${bin}: set python_bin / node_bin with \`sandbox configure local\``,
        time_used_ms: Math.round(wallMs),
      })
    }
    const result = remoteResult({
      stdout,
      stderr,
      exitCode,
      timedOut,
      timeoutSeconds,
      wallMs,
      outputOverflow: captured.overflow,
      maxOutputBytes: maxOutput,
      artifacts: timedOut || captured.overflow ? [] : this.collectArtifacts(join(dir, 'artifacts')),
    })
    return result
  }

  /** The files main left in artifacts/ (regular files, plain names, within the configured caps), as a runner would report them. */
  private collectArtifacts(dir: string): unknown[] {
    const found: unknown[] = []
    let names: string[]
    try {
      names = readdirSync(dir).sort()
    } catch {
      return found
    }
    const maxFiles = Number(this.settings.max_artifacts)
    const maxBytes = Number(this.settings.max_artifact_bytes)
    for (const name of names) {
      if (found.length >= maxFiles) break
      const path = join(dir, name)
      const st = lstatSync(path)
      if (!st.isFile() || st.size === 0 || st.size > maxBytes) continue
      found.push({name, size: st.size, content_b64: readFileSync(path).toString('base64')})
    }
    return found
  }

  private warn(): void {
    if (this.context.onEvent) this.context.onEvent({level: 'warn', message: LOCAL_WARNING})
    else process.emitWarning(LOCAL_WARNING, 'UnsandboxedExecutionWarning')
  }

  async destroyInstance(instance: SandboxInstance): Promise<boolean> {
    const dir = (instance as LocalInstance).metadata.work_dir
    if (!dir || !isAbsolute(dir) || !dir.startsWith(this.workDir)) return false
    try {
      rmSync(dir, {recursive: true, force: true})
      return true
    } catch (error) {
      this.context.onEvent?.({level: 'warn', message: `could not remove ${dir}: ${(error as Error).message}`})
      return false
    }
  }

  async healthCheck(): Promise<HealthStatus> {
    try {
      this.ensureWorkDir()
      accessSync(this.workDir, fsConstants.W_OK)
      return {healthy: true, detail: `work directory ${this.workDir} writable (NO sandbox)`}
    } catch (error) {
      return {healthy: false, detail: (error as Error).message}
    }
  }

  supportedLanguages(): string[] {
    return ['python', 'javascript', 'nodejs']
  }

  runtimeLabel(): string {
    return 'local process (NO sandbox)'
  }

  async close(): Promise<void> {}
}

const THREAD_VARIABLES = ['OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'NUMEXPR_NUM_THREADS', 'BLIS_NUM_THREADS', 'VECLIB_MAXIMUM_THREADS']

/** RAGFlow's _build_child_env: nothing of this process's environment but PATH and the thread counts. */
function childEnv(dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {HOME: dir, MPLBACKEND: 'Agg', PATH: process.env.PATH ?? '', PYTHONUNBUFFERED: '1', TMPDIR: dir}
  for (const name of THREAD_VARIABLES) if (process.env[name] !== undefined) env[name] = process.env[name]
  return env
}
