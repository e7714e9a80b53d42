/**
 * oclif's command manifest (oclif.manifest.json at the package root). With it, oclif imports
 * only the command that runs; without it, every command module (and what each imports: Fastify,
 * the settings stores, the providers' SDKs…) is loaded to list the commands, which is most of a
 * command's start-up time.
 *
 * A stale manifest would hide a new command or show old flags in --help, so the bins use it only
 * when it is at least as new as every command module (`npm run build` writes it after tsc; an
 * installed package has one mtime for all its files). A stale or missing one is written again
 * here, from the command modules themselves, the way `oclif manifest` does; where the package
 * directory is not writable the manifest is left out and oclif lists the commands itself. It
 * always records the compiled commands (dist/). Under NODE_ENV=development or test see below.
 */
import {readdirSync, renameSync, statSync, unlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

const FILE = 'oclif.manifest.json'

/** the newest mtime of the files under dir (0 when it does not exist) */
function newestMtime(dir) {
  let newest = 0
  let entries
  try {
    entries = readdirSync(dir, {withFileTypes: true})
  } catch {
    return 0
  }
  for (const entry of entries) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs)
  }
  return newest
}

/** whether root's manifest exists and is no older than any file under the given command directories */
export function manifestFresh(root, commandDirs) {
  let written
  try {
    written = statSync(join(root, FILE)).mtimeMs
  } catch {
    return false
  }
  try {
    return commandDirs.every((dir) => newestMtime(join(root, dir)) <= written)
  } catch {
    return false
  }
}

/** writes root's manifest from its command modules (atomically: parallel writers are harmless) */
export async function writeManifest(root) {
  const {Plugin, settings} = await import('@oclif/core')
  const plugin = new Plugin({errorOnManifestCreate: true, ignoreManifest: true, respectNoCacheDefault: true, root, type: 'core', isRoot: true})
  // the compiled commands, as a package ships them: never src/ (which oclif would pick under NODE_ENV=test or development)
  const transpile = settings.enableAutoTranspile
  settings.enableAutoTranspile = false
  try {
    await plugin.load()
  } finally {
    settings.enableAutoTranspile = transpile
  }
  const tmp = join(root, `.${FILE}.${process.pid}`)
  writeFileSync(tmp, JSON.stringify(plugin.manifest))
  renameSync(tmp, join(root, FILE))
}

function removeManifest(root) {
  try {
    unlinkSync(join(root, FILE))
  } catch {}
}

/**
 * NODE_ENV=development or test (the tests, bin/dev.js): oclif reads the commands from src/ through
 * tsx when there is no manifest, but from the manifest's dist/ paths when there is one; so a
 * manifest stays only while dist/ is as new as every source and the manifest as new as dist/.
 */
const development = () => ['development', 'test'].includes(process.env.NODE_ENV ?? '')

/** bin/dev.js, and bin/run.js in development: a manifest that would run older code than src/ is removed */
export function dropStaleManifest(root) {
  if (!(manifestFresh(root, ['dist/commands']) && newestMtime(join(root, 'dist')) >= newestMtime(join(root, 'src')))) removeManifest(root)
}

/** bin/run.js: make the manifest fresh, or remove a stale one when it cannot be written */
export async function ensureManifest(root) {
  if (development()) return dropStaleManifest(root)
  if (manifestFresh(root, ['dist/commands'])) return
  await writeManifest(root).catch(() => removeManifest(root))
}
