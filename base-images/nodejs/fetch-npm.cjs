// Installs npm into a directory inside an offline-built image (Debian's own npm package
// pulls in ~370 packages and takes minutes). Used only in the build stage that installs
// extra npm packages; never part of the final image.
// Usage: node fetch-npm.cjs <version> <dir>. Honours NPM_CONFIG_REGISTRY.
'use strict'
const {createHash} = require('node:crypto')
const {mkdirSync} = require('node:fs')
const {spawnSync} = require('node:child_process')

async function main() {
  const [version, dir] = process.argv.slice(2)
  if (!version || !dir) throw new Error('usage: node fetch-npm.cjs <version> <dir>')
  const registry = (process.env.NPM_CONFIG_REGISTRY || 'https://registry.npmjs.org/').replace(/\/?$/, '/')
  const metaRes = await fetch(`${registry}npm/${version}`)
  if (!metaRes.ok) throw new Error(`npm ${version}: registry answered ${metaRes.status} for ${registry}npm/${version}`)
  const meta = await metaRes.json()
  const res = await fetch(meta.dist.tarball)
  if (!res.ok) throw new Error(`downloading ${meta.dist.tarball}: ${res.status}`)
  const tgz = Buffer.from(await res.arrayBuffer())
  const [algo, expected] = String(meta.dist.integrity).split('-')
  const actual = createHash(algo).update(tgz).digest('base64')
  if (actual !== expected) throw new Error(`npm ${version}: integrity mismatch`)
  mkdirSync(dir, {recursive: true})
  const tar = spawnSync('tar', ['-xzf', '-', '-C', dir, '--strip-components=1', '--no-same-owner'], {input: tgz, stdio: ['pipe', 'inherit', 'inherit']})
  if (tar.status !== 0) throw new Error(`tar exited with ${tar.status}`)
  console.log(`npm ${version} installed in ${dir}`)
}

main().catch((error) => {
  console.error(`fetch-npm: ${error.message}`)
  process.exit(1)
})
