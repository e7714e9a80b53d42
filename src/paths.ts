import {mkdirSync, readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

/** Root of the installed package (where templates/, base-images/, seccomp/ live). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

export const packagePath = (...parts: string[]) => join(PACKAGE_ROOT, ...parts)

/** Runtime state (pid file, logs): $SANDBOX_STATE_DIR or $XDG_STATE_HOME/sandbox or ~/.local/state/sandbox */
export function stateDir(): string {
  const dir = process.env.SANDBOX_STATE_DIR ?? join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'sandbox')
  mkdirSync(dir, {recursive: true})
  return dir
}

/** Persistent data (default SQLite settings db): $SANDBOX_DATA_DIR or $XDG_DATA_HOME/sandbox */
export function dataDir(): string {
  const dir = process.env.SANDBOX_DATA_DIR ?? join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'sandbox')
  mkdirSync(dir, {recursive: true})
  return dir
}

/** Cache (debootstrap root filesystems): $XDG_CACHE_HOME/sandbox */
export function cacheDir(): string {
  const dir = process.env.SANDBOX_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sandbox')
  mkdirSync(dir, {recursive: true})
  return dir
}

export const TOOLKIT_VERSION: string = (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as {version: string}).version
