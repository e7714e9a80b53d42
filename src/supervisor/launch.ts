/**
 * What the user said when a manager was started, and what a later start or restart does with it.
 *
 * A manager process reads its settings like every command: flags > environment > .env > defaults.
 * `start` records the settings its flags gave and the manager variables its environment set (the
 * launch record): in manager.json while the manager runs, and in manager.launch.json, which stop
 * keeps, with the host it ran on (process or container, network, image). Then:
 * - `restart` starts the new manager with: its own flags > the recorded flags > its own
 *   environment > the recorded environment > the same .env file (read again) > defaults.
 *   So a manager started with --port 9426 comes back on 9426, an edited .env takes effect for
 *   what no flag or variable pinned, and restart's flags change what they name.
 * - The API token is never recorded. The restarted manager reads it from the environment of
 *   `restart` or from the recorded .env file; a manager that required a token is not restarted
 *   without one (that would open it up).
 * - `start` while a manager of this state directory runs: when what this start asked for
 *   (its flags and manager variables) matches the running one, "already running" (exit 0);
 *   another host or port is MANAGER_RUNNING_ELSEWHERE, other settings MANAGER_RUNNING_DIFFERENT
 *   (both exit 4): one state directory holds one manager.
 */
import {readFileSync, renameSync, writeFileSync} from 'node:fs'
import {isAbsolute, resolve} from 'node:path'

import {loadConfig, parseMemory, type SandboxConfig} from '../config.js'
import {configError, SandboxError, ExitCode} from '../errors.js'
import {MANAGER_MODES, type LaunchRecord, type ManagerFiles, type ManagerMode, type ManagerState} from '../server/state.js'
import {effectiveSettings, type ManagerSettings} from '../server/status.js'

export type {LaunchRecord} from '../server/state.js'

/** Variables of the manager process that a launch may set, and the setting each one gives. Never the token. */
export const MANAGER_VARIABLES = {
  SANDBOX_EXECUTOR_MANAGER_HOST: 'host',
  SANDBOX_EXECUTOR_MANAGER_PORT: 'port',
  SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: 'poolSize',
  SANDBOX_PRELOAD_POOL_SIZE: null,
  SANDBOX_TIMEOUT: 'timeoutSeconds',
  SANDBOX_MAX_MEMORY: 'memory',
  SANDBOX_CODE_POLICY: 'codePolicy',
  SANDBOX_MAX_CONCURRENT_RUNS: 'maxConcurrentRuns',
  SANDBOX_QUEUE_TIMEOUT: 'queueTimeoutSeconds',
  SANDBOX_ALLOW_POLICY_OVERRIDE: 'allowPolicyOverride',
  SANDBOX_ALLOW_RUNC: 'allowRunc',
  SANDBOX_RESULT_IN_STDOUT: 'resultInStdout',
  SANDBOX_ADMIN_API: 'adminApi',
  SANDBOX_ENABLE_SECCOMP: null,
  SANDBOX_BASE_PYTHON_IMAGE: null,
  SANDBOX_BASE_NODEJS_IMAGE: null,
  SANDBOX_ENV_FILE: null,
  SANDBOX_LOG_LEVEL: null,
} as const satisfies Record<string, keyof ManagerSettings | null>

export type ManagerVariable = keyof typeof MANAGER_VARIABLES

/** the manager variables set (non-empty) in an environment */
export function managerEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of Object.keys(MANAGER_VARIABLES)) {
    const v = env[name]
    if (v !== undefined && v !== '') out[name] = v
  }
  return out
}

/**
 * The launch of a `start`: flags and environment. The .env file read is pinned by its absolute
 * path (a restart from another directory reads the same file again).
 */
export function launchFromStart(flagSettings: Record<string, string>, env: NodeJS.ProcessEnv, envFile: string | undefined): LaunchRecord {
  const environment = managerEnvironment(env)
  if (environment.SANDBOX_ENV_FILE) environment.SANDBOX_ENV_FILE = absolute(environment.SANDBOX_ENV_FILE)
  if (envFile && !flagSettings.SANDBOX_ENV_FILE) environment.SANDBOX_ENV_FILE = absolute(envFile)
  return {flags: {...flagSettings}, environment}
}

/** The launch of a `restart`: its flags > the recorded flags > its environment > the recorded environment. */
export function launchForRestart(previous: LaunchRecord | undefined, flagSettings: Record<string, string>, env: NodeJS.ProcessEnv): LaunchRecord {
  const now = managerEnvironment(env)
  if (now.SANDBOX_ENV_FILE) now.SANDBOX_ENV_FILE = absolute(now.SANDBOX_ENV_FILE)
  return {
    flags: {...previous?.flags, ...flagSettings},
    environment: {...previous?.environment, ...now},
  }
}

/** The variables the manager process gets (over its inherited environment). */
export function launchVariables(launch: LaunchRecord): Record<string, string> {
  return {...launch.environment, ...launch.flags}
}

/** The configuration a launch gives, resolved as the manager process will resolve it. */
export function launchConfig(launch: LaunchRecord, env: NodeJS.ProcessEnv = process.env): SandboxConfig {
  const vars = {...env, ...launchVariables(launch)}
  return loadConfig({envFile: vars.SANDBOX_ENV_FILE || undefined, env: vars})
}

/** A manager that required a token is never brought back without one. */
export function checkTokenKept(previous: Pick<ManagerState, 'settings' | 'tokenRequired'> | undefined, config: SandboxConfig): void {
  const required = previous?.settings?.tokenRequired ?? previous?.tokenRequired
  if (required && !config.apiToken) {
    const file = previous?.settings?.envFile
    throw configError('The manager ran with an API token, and this restart cannot find one: it would come back open to anyone who reaches its port', 'TOKEN_MISSING', [
      `set SANDBOX_API_TOKEN in the environment of \`sandbox restart\`${file ? ` or in ${file}` : ''}`,
      'the token is never stored in the state directory',
    ])
  }
}

const sameHost = (a: string, b: string) => {
  const n = (h: string) => {
    const x = h
      .trim()
      .toLowerCase()
      .replace(/^\[|\]$/g, '')
    return x === 'localhost' ? '127.0.0.1' : x
  }
  return n(a) === n(b)
}

/**
 * Compare a start request with the manager that runs. Returns normally when everything the
 * request said matches; throws MANAGER_RUNNING_ELSEWHERE / MANAGER_RUNNING_DIFFERENT (exit 4) otherwise.
 */
export function checkStartAgainstRunning(running: ManagerState, launch: LaunchRecord, wanted: SandboxConfig): void {
  const said = new Set(Object.keys(launchVariables(launch)))
  const current: ManagerSettings = running.settings ?? {...effectiveSettings(wanted), host: running.host, port: running.port, tokenRequired: running.tokenRequired}
  const want = effectiveSettings(wanted)
  const where = `${running.endpoint}${running.pid ? ` (pid ${running.pid})` : running.containerName ? ' (container)' : ''}`
  const elsewhere: string[] = []
  if (said.has('SANDBOX_EXECUTOR_MANAGER_PORT') && want.port !== current.port) elsewhere.push(`port ${want.port}`)
  if (said.has('SANDBOX_EXECUTOR_MANAGER_HOST') && !sameHost(want.host, current.host)) elsewhere.push(`host ${want.host}`)
  if (elsewhere.length) {
    throw new SandboxError(`A manager of this state directory already runs at ${where}; you asked for ${elsewhere.join(' and ')}. One state directory holds one manager`, {
      code: 'MANAGER_RUNNING_ELSEWHERE',
      exit: ExitCode.CONFIG,
      suggestions: [
        `move it: \`sandbox restart ${elsewhere.map((e) => `--${e}`).join(' ')}\``,
        'run a second manager with its own state directory: SANDBOX_STATE_DIR=/another/dir sandbox start …',
      ],
    })
  }
  const differ: string[] = []
  const names: Array<[ManagerVariable, keyof ManagerSettings, string]> = [
    ['SANDBOX_EXECUTOR_MANAGER_POOL_SIZE', 'poolSize', 'pool size'],
    ['SANDBOX_TIMEOUT', 'timeoutSeconds', 'timeout (s)'],
    ['SANDBOX_MAX_MEMORY', 'memory', 'memory'],
    ['SANDBOX_CODE_POLICY', 'codePolicy', 'code policy'],
    ['SANDBOX_MAX_CONCURRENT_RUNS', 'maxConcurrentRuns', 'max concurrent runs'],
    ['SANDBOX_QUEUE_TIMEOUT', 'queueTimeoutSeconds', 'queue timeout (s)'],
    ['SANDBOX_ALLOW_POLICY_OVERRIDE', 'allowPolicyOverride', 'policy override'],
    ['SANDBOX_ALLOW_RUNC', 'allowRunc', 'allow runc'],
    ['SANDBOX_RESULT_IN_STDOUT', 'resultInStdout', 'result on stdout'],
    ['SANDBOX_ADMIN_API', 'adminApi', 'admin API'],
  ]
  for (const [name, key, label] of names) {
    if (!said.has(name) || running.settings === undefined) continue
    const a = want[key]
    const b = current[key]
    const equal = key === 'memory' ? memoryEqual(String(a), String(b)) : a === b
    if (!equal) differ.push(`${label} ${String(b)} (you asked for ${String(a)})`)
  }
  // asking for a token-protected manager and finding an open one must never pass as "already running"
  if (want.tokenRequired && !current.tokenRequired) differ.push('no API token (you set SANDBOX_API_TOKEN)')
  if (differ.length) {
    throw new SandboxError(`A manager of this state directory already runs at ${where} with other settings: ${differ.join(', ')}`, {
      code: 'MANAGER_RUNNING_DIFFERENT',
      exit: ExitCode.CONFIG,
      suggestions: ['apply the new settings with `sandbox restart` and the same flags', 'or leave them out to use the running manager'],
    })
  }
}

function memoryEqual(a: string, b: string): boolean {
  try {
    return parseMemory(a) === parseMemory(b)
  } catch {
    return a === b
  }
}

function absolute(path: string): string {
  return isAbsolute(path) ? path : resolve(path)
}

/**
 * The last start of this state directory (manager.launch.json): what it was told and where the
 * manager ran. Written by every start, kept by stop, removed by clean; `restart` reads it, so a
 * restart after a stop comes back with the same settings. No token, ever.
 */
export interface RecordedLaunch {
  mode: ManagerMode
  launch: LaunchRecord
  /** container host: the network and image it ran with */
  network?: string
  image?: string
  /** the effective settings (tokenRequired, envFile: what checkTokenKept needs) */
  settings?: ManagerSettings
  tokenRequired: boolean
  at: string
}

export function recordLaunch(files: ManagerFiles, fields: {mode: ManagerMode; launch: LaunchRecord; config: SandboxConfig; network?: string; image?: string}): RecordedLaunch {
  const settings = effectiveSettings(fields.config)
  const record: RecordedLaunch = {
    mode: fields.mode,
    launch: fields.launch,
    ...(fields.network ? {network: fields.network} : {}),
    ...(fields.image ? {image: fields.image} : {}),
    settings,
    tokenRequired: settings.tokenRequired,
    at: new Date().toISOString(),
  }
  const tmp = `${files.launchFile}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(record, null, 2) + '\n', {mode: 0o600})
  renameSync(tmp, files.launchFile)
  return record
}

/** The recorded launch, else what manager.json says (a manager started by an older version or by hand); undefined when neither holds one. */
export function lastLaunch(files: ManagerFiles, state: ManagerState | undefined): RecordedLaunch | undefined {
  try {
    const r = JSON.parse(readFileSync(files.launchFile, 'utf8')) as RecordedLaunch
    if (r && MANAGER_MODES.includes(r.mode) && r.launch && typeof r.launch === 'object' && typeof r.tokenRequired === 'boolean') return r
  } catch {
    // absent or unreadable: fall back to the running manager's record
  }
  if (!state) return undefined
  return {
    mode: state.mode,
    launch: state.launch ?? {flags: {}, environment: {}},
    network: state.network,
    image: state.image,
    settings: state.settings,
    tokenRequired: state.tokenRequired,
    at: state.startedAt,
  }
}
