/**
 * Registering runsc in /etc/docker/daemon.json without clobbering anything else.
 */
import {configError} from '../errors.js'

export const DAEMON_JSON = '/etc/docker/daemon.json'

/**
 * gVisor's runsc on these hosts refuses to start a container in the root network
 * namespace ("cannot run with network enabled in root network namespace") unless it
 * runs with its own `--network=none` (sandbox containers never have a network anyway).
 */
export const RUNSC_RUNTIME_ARGS = ['--network=none']

export interface RuntimeEntry {
  path: string
  runtimeArgs?: string[]
}

export interface MergeResult {
  /** the file text to write (2-space JSON + newline) */
  text: string
  changed: boolean
  /** the parsed, merged object */
  json: Record<string, unknown>
}

/**
 * Merge `runtimes[name] = {path, runtimeArgs}` into the daemon.json text (undefined or
 * blank when the file does not exist). Keeps every other key and runtime, keeps extra
 * runtime args already present on the entry, and replaces a conflicting `--network=...`.
 * Unchanged input gives `changed: false`. A file that is not a JSON object throws
 * DAEMON_JSON_INVALID: it is never overwritten.
 */
export function mergeRuntime(existing: string | undefined, name: string, entry: RuntimeEntry, file = DAEMON_JSON): MergeResult {
  let json: Record<string, unknown> = {}
  if (existing !== undefined && existing.trim() !== '') {
    let parsed: unknown
    try {
      parsed = JSON.parse(existing)
    } catch (error) {
      throw configError(
        `${file} is not valid JSON (${(error as Error).message}); setup does not overwrite it`,
        'DAEMON_JSON_INVALID',
        [`fix the file by hand, or move it away and run \`sandbox setup --yes\` again`],
        error,
      )
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw configError(`${file} must hold a JSON object; setup does not overwrite it`, 'DAEMON_JSON_INVALID', [
        'fix the file by hand, or move it away and run `sandbox setup --yes` again',
      ])
    }
    json = parsed as Record<string, unknown>
  }

  const runtimes = json.runtimes ?? {}
  if (runtimes === null || typeof runtimes !== 'object' || Array.isArray(runtimes)) {
    throw configError(`"runtimes" in ${file} must be a JSON object; setup does not overwrite it`, 'DAEMON_JSON_INVALID', ['fix the file by hand'])
  }
  const current = (runtimes as Record<string, unknown>)[name] as Partial<RuntimeEntry> | undefined
  const currentArgs = Array.isArray(current?.runtimeArgs) ? current.runtimeArgs.map(String) : []
  const wanted = entry.runtimeArgs ?? []
  const flag = (a: string) => a.split('=')[0]
  const args = [...currentArgs]
  for (const arg of wanted) {
    const at = args.findIndex((a) => flag(a) === flag(arg))
    if (at === -1) args.push(arg)
    else args[at] = arg
  }
  const next: Record<string, unknown> = {...(current as object), path: entry.path}
  if (args.length > 0) next.runtimeArgs = args

  const merged = {...json, runtimes: {...(runtimes as Record<string, unknown>), [name]: next}}
  const changed = current === undefined || current.path !== entry.path || JSON.stringify(currentArgs) !== JSON.stringify(args) || json.runtimes === undefined
  return {text: `${JSON.stringify(merged, null, 2)}\n`, changed, json: merged}
}
