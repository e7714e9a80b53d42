// `npx sandbox` inside this repository: npm links the bins of dependencies, not the package's
// own, so after `npm ci` (prepare) link node_modules/.bin/sandbox to bin/run.js.
import {existsSync, lstatSync, mkdirSync, symlinkSync, unlinkSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const binDir = join(root, 'node_modules', '.bin')
if (existsSync(join(root, 'node_modules'))) {
  mkdirSync(binDir, {recursive: true})
  const link = join(binDir, 'sandbox')
  try {
    if (lstatSync(link)) unlinkSync(link)
  } catch {}
  symlinkSync('../../bin/run.js', link)
}
