/**
 * Entry point of the manager image (and of anyone who wants the service without the CLI):
 * `node dist/server/main.js`. Settings come from the environment and an optional .env
 * (SANDBOX_ENV_FILE); exits 0 after a graceful stop, or with the error's exit code
 * (3 prerequisite, 4 configuration). It does not load the oclif command tree, so the
 * CLI's other commands and their native modules are never imported here.
 */
import {realpathSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {loadConfig, parseByteSize} from '../config.js'
import {errorMessage, isSandboxError} from '../errors.js'
import {DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES, managerLogger, parseLogLevel, type LogRotation} from './logger.js'
import {runManager} from './manager.js'
import {MANAGER_MODES, type LaunchRecord} from './state.js'

/** SANDBOX_MANAGER_LAUNCH: what `sandbox start` was told (JSON, set by the CLI; no secrets) */
export function parseLaunch(text: string | undefined): LaunchRecord | undefined {
  if (!text) return undefined
  try {
    const v = JSON.parse(text) as LaunchRecord
    const strings = (o: unknown) => Boolean(o) && typeof o === 'object' && Object.values(o as object).every((x) => typeof x === 'string')
    return strings(v?.flags) && strings(v?.environment) ? {flags: v.flags, environment: v.environment} : undefined
  } catch {
    return undefined
  }
}

/**
 * SANDBOX_MANAGER_LOG_FILE (set by `sandbox start`: stdout and stderr append to it): rotated by
 * size, SANDBOX_LOG_MAX_BYTES (default 10m, at least 64k) and SANDBOX_LOG_KEEP rotated files (1 to
 * 20, default 3). A value it cannot read keeps the default and is named in `warning`.
 */
export function logRotation(env: NodeJS.ProcessEnv): {rotation?: LogRotation; warning?: string} {
  if (!env.SANDBOX_MANAGER_LOG_FILE) return {}
  const warnings: string[] = []
  let maxBytes = DEFAULT_LOG_MAX_BYTES
  let keep = DEFAULT_LOG_KEEP
  if (env.SANDBOX_LOG_MAX_BYTES) {
    try {
      maxBytes = parseByteSize(env.SANDBOX_LOG_MAX_BYTES, 'SANDBOX_LOG_MAX_BYTES', 64 * 1024, 1024 ** 3)
    } catch (error) {
      warnings.push(`${errorMessage(error)}; keeping ${DEFAULT_LOG_MAX_BYTES} bytes`)
    }
  }
  if (env.SANDBOX_LOG_KEEP) {
    const k = Number(env.SANDBOX_LOG_KEEP)
    if (Number.isInteger(k) && k >= 1 && k <= 20) keep = k
    else warnings.push(`Invalid SANDBOX_LOG_KEEP "${env.SANDBOX_LOG_KEEP}": use 1 to 20; keeping ${DEFAULT_LOG_KEEP}`)
  }
  return {rotation: {path: env.SANDBOX_MANAGER_LOG_FILE, maxBytes, keep}, ...(warnings.length ? {warning: warnings.join('; ')} : {})}
}

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const {rotation, warning} = logRotation(env)
  const logger = managerLogger({level: parseLogLevel(env.SANDBOX_LOG_LEVEL), rotation})
  if (warning) logger.warn(warning)
  try {
    const config = loadConfig({envFile: env.SANDBOX_ENV_FILE, env})
    const manager = await runManager({
      config,
      logger,
      ownProcess: true,
      mode: MANAGER_MODES.find((m) => m === env.SANDBOX_MANAGER_MODE),
      launch: parseLaunch(env.SANDBOX_MANAGER_LAUNCH),
    })
    await manager.done
    return 0
  } catch (error) {
    const code = isSandboxError(error) ? error.code : 'UNEXPECTED'
    logger.error(errorMessage(error), {code, suggestions: isSandboxError(error) ? error.suggestions : undefined})
    return isSandboxError(error) ? error.exit : 1
  }
}

const invokedDirectly = (() => {
  try {
    return Boolean(process.argv[1]) && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
})()

if (invokedDirectly) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${errorMessage(error)}\n`)
      process.exit(1)
    },
  )
}
