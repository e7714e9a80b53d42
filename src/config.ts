/**
 * Settings of the toolkit: `.env` file, then the process environment, then flags
 * (later wins). Variable names are RAGFlow's SANDBOX_* ones where RAGFlow has them.
 */
import {existsSync, readFileSync} from 'node:fs'
import {resolve} from 'node:path'

import {AUTO_BACKEND, BACKEND_IDS, defaultBackend, isBackendId, type BackendId} from './backends/index.js'
import {parseEnv} from './dotenv.js'
import {defaultMaxConcurrentRuns} from './engine/admission.js'
import {configError} from './errors.js'
import {RUNTIMES} from './languages/index.js'
import {DEFAULT_POLICY_LEVEL, isPolicyMode, policyLevel, POLICY_MODES, type PolicyLevel} from './policy/types.js'

export interface SandboxConfig {
  /** what makes the sandboxes (src/backends/<id>/): docker or runsc (SANDBOX_BACKEND / --backend) */
  backend: BackendId
  /** who chose it: a flag, the environment (.env), or this host (auto: src/backends/index.ts defaultBackend) */
  backendChosenBy: 'flag' | 'env' | 'host'
  poolSize: number
  /** preloaded data-science runners kept per runtime that has a preload (Python), filled with idle capacity only; 0: none */
  preloadPoolSize: number
  pythonImage: string
  nodejsImage: string
  host: string
  port: number
  /** seconds */
  timeoutSeconds: number
  /** docker memory string, e.g. 256m */
  memory: string
  memoryBytes: number
  enableSeccomp: boolean
  /** allow runc (weaker isolation) when runsc is missing */
  allowRunc: boolean
  apiToken: string | undefined
  /** static code policy level (`on` is read as `ragflow`) */
  codePolicy: PolicyLevel
  /** how long a caller waits for a free container, seconds */
  queueTimeoutSeconds: number
  /** admission cap: sandbox containers alive at once (warm, busy, starting, being removed) */
  maxConcurrentRuns: number
  /** the manager honours a per-request `policy` field (needs an API token) */
  allowPolicyOverride: boolean
  /** also print main's return value on stdout as RAGFlow's old runners did (SANDBOX_RESULT_IN_STDOUT; manager only) */
  resultInStdout: boolean
  /** serve the admin API and settings page (SANDBOX_ADMIN_API / start --admin; needs an API token; manager only) */
  adminApi: boolean
  /** largest return value of main, bytes of compact JSON */
  maxResultBytes: number
  /** Extra packages for `sandbox build` */
  extraPythonPackages: string[]
  extraDebianPackages: string[]
  extraNpmPackages: string[]
  /** where the values came from (for status output) */
  envFile: string | undefined
  /**
   * where the run limits came from: a flag (an override), the environment (or .env), or the
   * default. The run settings resolver (src/run/settings.ts) lets a stored provider setting
   * beat only a default. Absent: every value counts as a default.
   */
  sources?: Partial<Record<RunSettingKey, 'flag' | 'env' | 'default'>>
}

/** The settings a stored `docker` provider row may also give (src/run/settings.ts). */
export type RunSettingKey = 'timeoutSeconds' | 'memory' | 'codePolicy' | 'allowRunc'

/** SandboxConfig key → the environment variable that sets it */
export const RUN_SETTING_ENV: Record<RunSettingKey, keyof typeof ENV_VARS> = {
  timeoutSeconds: 'SANDBOX_TIMEOUT',
  memory: 'SANDBOX_MAX_MEMORY',
  codePolicy: 'SANDBOX_CODE_POLICY',
  allowRunc: 'SANDBOX_ALLOW_RUNC',
}

export const DEFAULTS = {
  poolSize: 2,
  preloadPoolSize: 1,
  pythonImage: RUNTIMES.python.image.default,
  nodejsImage: RUNTIMES.nodejs.image.default,
  host: '127.0.0.1',
  port: 9385,
  timeout: '10s',
  memory: '256m',
  queueTimeoutSeconds: 10,
  maxResultBytes: '4m',
} as const

/** Parse a `.env` file with dotenv's rules (quotes, inline comments, `export`, multi-line values): see src/dotenv.ts. */
export function parseEnvFile(text: string): Record<string, string> {
  return parseEnv(text)
}

/**
 * Duration to seconds: "10", "10s", "2m", "1m30s" (RAGFlow's format plus bare seconds).
 * Throws on anything else or on zero.
 */
export function parseDuration(input: string | number, name = 'timeout'): number {
  if (typeof input === 'number') {
    if (Number.isFinite(input) && input > 0) return input
    throw configError(`Invalid ${name} "${input}": must be greater than 0`, 'INVALID_DURATION')
  }
  const s = String(input).trim().toLowerCase()
  let seconds: number | undefined
  if (/^\d+(\.\d+)?$/.test(s)) seconds = Number(s)
  else {
    const m = /^(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(s)
    if (m && (m[1] || m[2])) seconds = Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)
  }
  if (seconds === undefined || !(seconds > 0)) {
    throw configError(`Invalid ${name} "${input}": use seconds or a duration like 10, 10s, 2m or 1m30s`, 'INVALID_DURATION')
  }
  return seconds
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`
  const m = Math.floor(seconds / 60)
  const s = Math.round(seconds - m * 60)
  return s ? `${m}m${s}s` : `${m}m`
}

const MEMORY_UNITS: Record<string, number> = {b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3}
/** the smallest memory limit a run may have: both runners can start in it */
export const MIN_MEMORY_BYTES = 32 * 1024 ** 2

/** Docker memory string (RAGFlow rule: positive integer + one of b k m g) to bytes. */
export function parseMemory(input: string, name = 'memory'): number {
  const m = /^([1-9]\d*)([bkmg])$/.exec(String(input).trim().toLowerCase())
  if (!m) throw configError(`Invalid ${name} "${input}": use a size like 256m or 1g (units b, k, m, g)`, 'INVALID_MEMORY')
  const bytes = Number(m[1]) * MEMORY_UNITS[m[2]]
  // measured: under gVisor the Python runner starts from 24 MiB, the Node.js runner from 32 MiB (the sentry counts too)
  if (bytes < MIN_MEMORY_BYTES) throw configError(`Invalid ${name} "${input}": at least 32m is needed to start a runtime`, 'INVALID_MEMORY')
  return bytes
}

/** A byte count: a whole number of bytes, or with a unit (512k, 4m; b k m g, powers of 1024), within [min, max]. */
export function parseByteSize(input: string, name: string, min: number, max: number): number {
  const m = /^(\d+)([bkmg]?)$/.exec(String(input).trim().toLowerCase())
  const bytes = m ? Number(m[1]) * MEMORY_UNITS[m[2] || 'b'] : Number.NaN
  if (!Number.isSafeInteger(bytes) || bytes < min || bytes > max) {
    throw configError(`Invalid ${name} "${input}": use a whole number of bytes or a size like 512k or 4m, from ${min} to ${max} bytes`, 'INVALID_SIZE')
  }
  return bytes
}

const TRUTHY = new Set(['1', 'true', 'yes', 'on'])
const FALSY = new Set(['0', 'false', 'no', 'off', ''])
export function parseBoolean(input: string, name: string): boolean {
  const s = input.trim().toLowerCase()
  if (TRUTHY.has(s)) return true
  if (FALSY.has(s)) return false
  throw configError(`Invalid ${name} "${input}": use true or false`, 'INVALID_BOOLEAN')
}

function parseInteger(input: string, name: string, min: number, max: number): number {
  const n = Number(input.trim())
  if (!Number.isInteger(n) || n < min || n > max) {
    throw configError(`Invalid ${name} "${input}": must be a whole number from ${min} to ${max}`, 'INVALID_NUMBER')
  }
  return n
}

/** space- or comma-separated; a comma inside a version range (pandas>=2,<3) does not split */
export const parseList = (v: string | undefined) =>
  (v ?? '')
    .split(/\s+|,(?![<>=!~])/)
    .map((x) => x.trim())
    .filter(Boolean)

export interface LoadConfigOptions {
  /** path of the .env file; default ./.env when it exists */
  envFile?: string
  env?: NodeJS.ProcessEnv
  /** values from flags, already typed; undefined ones are ignored */
  overrides?: Partial<Record<keyof SandboxConfig, unknown>>
}

/** The variables this toolkit reads, and their meaning (also used to write `.env`). */
export const ENV_VARS = {
  SANDBOX_BACKEND: `what makes the sandboxes: ${BACKEND_IDS.join(', ')} or ${AUTO_BACKEND} (default ${AUTO_BACKEND}: runsc, gVisor without Docker, where this host allows it (root, runsc, cgroup v1), else docker)`,
  SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: 'warm containers kept per language',
  SANDBOX_PRELOAD_POOL_SIZE: 'warm Python runners with numpy, pandas and matplotlib already imported (filled only when idle; 0 turns them off)',
  SANDBOX_BASE_PYTHON_IMAGE: 'Python base image',
  SANDBOX_BASE_NODEJS_IMAGE: 'Node.js base image',
  SANDBOX_EXECUTOR_MANAGER_HOST: 'address the manager listens on',
  SANDBOX_EXECUTOR_MANAGER_PORT: 'port the manager listens on',
  SANDBOX_TIMEOUT: 'wall-clock limit per run (10, 10s, 1m30s)',
  SANDBOX_MAX_MEMORY: 'memory limit per run (b, k, m, g)',
  SANDBOX_ENABLE_SECCOMP: 'apply seccomp/default.json (only matters under runc)',
  SANDBOX_ALLOW_RUNC: 'run with runc when runsc is missing (weaker isolation)',
  SANDBOX_API_TOKEN: 'bearer token required by /run and /metrics when set',
  SANDBOX_CODE_POLICY: 'static code policy: ragflow (default; on is the same), standard or off',
  SANDBOX_QUEUE_TIMEOUT: 'how long a run waits for a free container',
  SANDBOX_MAX_CONCURRENT_RUNS: 'admission cap: sandbox containers alive at once (default min(4 x cores, half the memory / memory limit))',
  SANDBOX_ALLOW_POLICY_OVERRIDE: 'let token holders choose the code policy per request (POST /run "policy"; needs SANDBOX_API_TOKEN)',
  SANDBOX_RESULT_IN_STDOUT: "manager: also print main's return value on stdout as RAGFlow's old runners did (for RAGFlow releases that parse stdout)",
  SANDBOX_ADMIN_API: "manager: serve RAGFlow's sandbox admin API (/api/v1/admin/sandbox/...) and the settings page (/admin/); needs SANDBOX_API_TOKEN",
  SANDBOX_MAX_RESULT_BYTES: 'largest return value of main, as JSON (bytes, or 512k, 4m; at most 64m)',
  SANDBOX_EXTRA_PYTHON_PACKAGES: 'extra pip packages for online Python builds',
  SANDBOX_EXTRA_DEBIAN_PACKAGES: 'extra Debian packages for offline builds',
  SANDBOX_EXTRA_NPM_PACKAGES: 'extra npm packages for the Node.js image',
} as const

export function loadConfig(options: LoadConfigOptions = {}): SandboxConfig {
  const envFile = options.envFile ? resolve(options.envFile) : existsSync('.env') ? resolve('.env') : undefined
  let fileVars: Record<string, string> = {}
  if (envFile) {
    if (!existsSync(envFile)) throw configError(`The env file ${envFile} does not exist`, 'ENV_FILE_MISSING', ['run `sandbox setup --yes` to write one'])
    fileVars = parseEnvFile(readFileSync(envFile, 'utf8'))
  }
  const env = {...fileVars, ...(options.env ?? process.env)}
  const get = (k: keyof typeof ENV_VARS) => {
    const v = env[k]
    return v === undefined || v === '' ? undefined : v
  }
  const o = options.overrides ?? {}
  const pick = <T>(key: keyof SandboxConfig, fromEnv: () => T | undefined, fallback: T): T => (o[key] !== undefined ? (o[key] as T) : (fromEnv() ?? fallback))
  const envInteger = (k: keyof typeof ENV_VARS, min: number, max: number) => () => {
    const v = get(k)
    return v === undefined ? undefined : parseInteger(v, k, min, max)
  }
  const envBoolean = (k: keyof typeof ENV_VARS) => () => {
    const v = get(k)
    return v === undefined ? undefined : parseBoolean(v, k)
  }

  const memory = pick('memory', () => get('SANDBOX_MAX_MEMORY'), DEFAULTS.memory as string)
  const memoryBytes = parseMemory(memory, o.memory === undefined ? 'SANDBOX_MAX_MEMORY' : '--memory')
  const timeoutRaw = o.timeoutSeconds ?? get('SANDBOX_TIMEOUT') ?? DEFAULTS.timeout
  const policyRaw = pick('codePolicy', () => get('SANDBOX_CODE_POLICY'), DEFAULT_POLICY_LEVEL as string)
  const policyName = String(policyRaw).trim().toLowerCase()
  if (!isPolicyMode(policyName)) {
    throw configError(`Invalid SANDBOX_CODE_POLICY "${String(policyRaw)}": use ${POLICY_MODES.join(', ')}`, 'INVALID_POLICY', [
      "ragflow is the default (RAGFlow's rules; on is the same), standard suits agent-written code, off relies on the sandbox alone",
    ])
  }
  const policy = policyLevel(policyName)
  const sources = Object.fromEntries(
    (Object.keys(RUN_SETTING_ENV) as RunSettingKey[]).map((k) => [k, o[k] !== undefined ? 'flag' : get(RUN_SETTING_ENV[k]) !== undefined ? 'env' : 'default'] as const),
  ) as Record<RunSettingKey, 'flag' | 'env' | 'default'>

  const backendRaw = pick('backend', () => get('SANDBOX_BACKEND'), AUTO_BACKEND as string)
  const backendChosenBy = backendRaw === AUTO_BACKEND ? 'host' : o.backend !== undefined ? 'flag' : 'env'
  const backend = backendRaw === AUTO_BACKEND ? defaultBackend() : backendRaw
  if (!isBackendId(backend))
    throw configError(`Invalid ${o.backend === undefined ? 'SANDBOX_BACKEND' : '--backend'} "${backend}": use ${BACKEND_IDS.join(', ')} or ${AUTO_BACKEND}`, 'INVALID_BACKEND', [
      'docker makes containers through dockerd; runsc drives gVisor directly (root, cgroup v1); auto picks runsc where it can',
    ])

  return {
    backend,
    backendChosenBy,
    poolSize: pick('poolSize', envInteger('SANDBOX_EXECUTOR_MANAGER_POOL_SIZE', 1, 64), DEFAULTS.poolSize as number),
    preloadPoolSize: pick('preloadPoolSize', envInteger('SANDBOX_PRELOAD_POOL_SIZE', 0, 16), DEFAULTS.preloadPoolSize as number),
    pythonImage: pick('pythonImage', () => get('SANDBOX_BASE_PYTHON_IMAGE'), DEFAULTS.pythonImage as string),
    nodejsImage: pick('nodejsImage', () => get('SANDBOX_BASE_NODEJS_IMAGE'), DEFAULTS.nodejsImage as string),
    host: pick('host', () => get('SANDBOX_EXECUTOR_MANAGER_HOST'), DEFAULTS.host as string),
    port: pick('port', envInteger('SANDBOX_EXECUTOR_MANAGER_PORT', 1, 65_535), DEFAULTS.port as number),
    timeoutSeconds: parseDuration(timeoutRaw as string | number, 'SANDBOX_TIMEOUT'),
    memory,
    memoryBytes,
    enableSeccomp: pick('enableSeccomp', envBoolean('SANDBOX_ENABLE_SECCOMP'), false),
    allowRunc: pick('allowRunc', envBoolean('SANDBOX_ALLOW_RUNC'), false),
    apiToken: pick('apiToken', () => get('SANDBOX_API_TOKEN'), undefined as string | undefined),
    codePolicy: policy,
    queueTimeoutSeconds: pick(
      'queueTimeoutSeconds',
      () => {
        const v = get('SANDBOX_QUEUE_TIMEOUT')
        return v === undefined ? undefined : parseDuration(v, 'SANDBOX_QUEUE_TIMEOUT')
      },
      DEFAULTS.queueTimeoutSeconds as number,
    ),
    maxConcurrentRuns: pick('maxConcurrentRuns', envInteger('SANDBOX_MAX_CONCURRENT_RUNS', 1, 1024), defaultMaxConcurrentRuns(memoryBytes)),
    allowPolicyOverride: pick('allowPolicyOverride', envBoolean('SANDBOX_ALLOW_POLICY_OVERRIDE'), false),
    resultInStdout: pick('resultInStdout', envBoolean('SANDBOX_RESULT_IN_STDOUT'), false),
    adminApi: pick('adminApi', envBoolean('SANDBOX_ADMIN_API'), false),
    maxResultBytes: pick(
      'maxResultBytes',
      () => {
        const v = get('SANDBOX_MAX_RESULT_BYTES')
        return v === undefined ? undefined : parseByteSize(v, 'SANDBOX_MAX_RESULT_BYTES', 1, 64 * 1024 ** 2)
      },
      parseByteSize(DEFAULTS.maxResultBytes, 'maxResultBytes', 1, 64 * 1024 ** 2),
    ),
    extraPythonPackages: pick('extraPythonPackages', () => parseList(get('SANDBOX_EXTRA_PYTHON_PACKAGES')), [] as string[]),
    extraDebianPackages: pick('extraDebianPackages', () => parseList(get('SANDBOX_EXTRA_DEBIAN_PACKAGES')), [] as string[]),
    extraNpmPackages: pick('extraNpmPackages', () => parseList(get('SANDBOX_EXTRA_NPM_PACKAGES')), [] as string[]),
    envFile,
    sources,
  }
}
