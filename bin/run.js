#!/usr/bin/env -S node --
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'
const argv = process.argv.slice(2)
if (argv.length === 1 && argv[0] === '--version') {
  // answered without loading oclif (most of the CLI's start-up time); the same line oclif prints
  const {readFileSync} = await import('node:fs')
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  const version = pkg.version
  process.stdout.write(`${pkg.name}/${version} ${process.platform}-${process.arch} node-${process.version}\n`)
} else {
  const {fileURLToPath} = await import('node:url')
  const {ensureManifest} = await import('./manifest.js')
  // with a fresh manifest oclif loads only the command that runs (bin/manifest.js)
  await ensureManifest(fileURLToPath(new URL('..', import.meta.url)))
  const {execute} = await import('@oclif/core')
  const {exitBackstop} = await import('./backstop.js')
  await execute({dir: import.meta.url})
  exitBackstop()
}
