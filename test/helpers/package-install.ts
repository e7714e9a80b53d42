/**
 * The package as users get it: `npm pack` of this clone, then `npm install -g` of the tarball
 * into a temporary prefix. Used by test/integration/package-install.test.ts and the bench's
 * size figures.
 *
 * What made this slow (4.5 min to pack, 13 min to install under load) and what is done instead:
 * - `npm pack` ran `prepack`, which built everything again (tsc, vite, oclif manifest): dist/ is
 *   already built here (the tests' global setup compiles it; `npm run build` made the settings
 *   page), so the pack runs with --ignore-scripts after checking that dist/ is complete and the
 *   oclif manifest is fresh (bin/manifest.js).
 * - better-sqlite3's install script downloads a prebuilt binary from GitHub, which is not
 *   reachable here, and then compiles SQLite from source (minutes on two loaded cores). Its
 *   prebuild-install honours npm_config_<package>_binary_host: a loopback server hands it a
 *   prebuilt tarball made from the binary this clone already built for the same Node.js ABI,
 *   platform and version (any other request is a 404, and the compile runs as before).
 * - npm resolves and fetches from its cache first (--prefer-offline); no audit, no funding call.
 * - --engine-strict: a dependency that needs a newer Node.js than this one fails the install (a
 *   published package gets no `overrides`: cookie 2, which needs Node 22, came in that way).
 */
import {execFile} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {createGzip} from 'node:zlib'

import {pack} from 'tar-stream'

const run = promisify(execFile)

export const ROOT = join(import.meta.dirname, '..', '..')

interface Prebuilt {
  name: string
  file: string
  /** gzipped tar holding build/Release/<binary>, what prebuild-install unpacks */
  tarball: Buffer
}

function gzipTar(entries: Array<{name: string; data: Buffer}>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tar = pack()
    const gzip = createGzip()
    const chunks: Buffer[] = []
    gzip.on('data', (c: Buffer) => chunks.push(c))
    gzip.on('end', () => resolve(Buffer.concat(chunks)))
    gzip.on('error', reject)
    tar.pipe(gzip)
    for (const e of entries) tar.entry({name: e.name, mode: 0o755}, e.data)
    tar.finalize()
  })
}

/** the dependencies of this clone installed by prebuild-install whose binary was built here */
async function prebuiltDependencies(root: string): Promise<Prebuilt[]> {
  const found: Prebuilt[] = []
  const modules = join(root, 'node_modules')
  for (const name of readdirSync(modules)) {
    const dir = join(modules, name)
    const pjPath = join(dir, 'package.json')
    if (!existsSync(pjPath)) continue
    const pj = JSON.parse(readFileSync(pjPath, 'utf8')) as {name: string; version: string; scripts?: Record<string, string>}
    if (!pj.scripts?.install?.includes('prebuild-install')) continue
    const release = join(dir, 'build', 'Release')
    const binaries = existsSync(release) ? readdirSync(release).filter((f) => f.endsWith('.node') && !f.startsWith('test_')) : []
    if (binaries.length === 0) continue
    const entries = binaries.map((b) => ({name: `build/Release/${b}`, data: readFileSync(join(release, b))}))
    const file = `${pj.name}-v${pj.version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`
    found.push({name: pj.name, file, tarball: await gzipTar(entries)})
  }
  return found
}

/** A loopback prebuilt-binary host for prebuild-install; `env` points each package at it. */
export async function prebuiltBinaryHost(root: string = ROOT): Promise<{env: Record<string, string>; served: string[]; close(): Promise<void>}> {
  const prebuilt = await prebuiltDependencies(root)
  const server: Server = createServer((req, res) => {
    const file = (req.url ?? '').split('?')[0].split('/').pop()
    const hit = prebuilt.find((p) => p.file === file)
    if (!hit) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, {'content-type': 'application/gzip', 'content-length': hit.tarball.length}).end(hit.tarball)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  const env = Object.fromEntries(prebuilt.map((p) => [`npm_config_${p.name.replace(/[^a-zA-Z0-9]/g, '_').replace(/^_/, '')}_binary_host`, `http://127.0.0.1:${port}`]))
  return {env, served: prebuilt.map((p) => p.file), close: () => new Promise((resolve) => server.close(() => resolve()))}
}

/** what `npm pack` needs from a build; a missing piece fails with what to run */
export async function checkBuilt(root: string = ROOT): Promise<void> {
  const missing = ['dist/index.js', 'dist/commands/run.js', 'dist/server/main.js', 'dist/admin/page/index.html'].filter((f) => !existsSync(join(root, f)))
  if (missing.length > 0) throw new Error(`The package is not built (${missing.join(', ')} missing): run \`npm run build\` first`)
  const {writeManifest, manifestFresh} = (await import(join(root, 'bin', 'manifest.js'))) as {
    writeManifest(root: string): Promise<void>
    manifestFresh(root: string, dirs: string[]): boolean
  }
  if (!manifestFresh(root, ['dist/commands'])) await writeManifest(root)
}

export interface PackedInstall {
  tarball: string
  tarballBytes: number
  prefix: string
  /** <prefix>/bin/sandbox */
  bin: string
  /** <prefix>/lib/node_modules/<name> */
  packageDir: string
  packMs: number
  installMs: number
  /** prebuilt binaries handed to the install from this clone */
  prebuilt: string[]
}

/** `npm pack` this clone into `dir`, then `npm install -g` the tarball into `<dir>/prefix` */
export async function packAndInstall(dir: string, root: string = ROOT): Promise<PackedInstall> {
  await checkBuilt(root)
  const pj = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {name: string; version: string}
  let t0 = performance.now()
  const {stdout} = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {cwd: root, maxBuffer: 64 * 1024 * 1024})
  const tarball = join(dir, (JSON.parse(stdout) as Array<{filename: string}>)[0].filename)
  const packMs = performance.now() - t0
  const prefix = join(dir, 'prefix')
  mkdirSync(prefix, {recursive: true})
  const host = await prebuiltBinaryHost(root)
  t0 = performance.now()
  try {
    await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--engine-strict', '--no-audit', '--no-fund', '--loglevel=error', tarball], {
      cwd: dir,
      env: {...process.env, ...host.env},
      maxBuffer: 64 * 1024 * 1024,
    })
  } catch (error) {
    const e = error as {stderr?: string; stdout?: string; message: string}
    throw new Error(`npm install -g ${tarball} failed: ${e.message}\n${(e.stderr ?? '').slice(-4000)}`)
  } finally {
    await host.close()
  }
  return {
    tarball,
    tarballBytes: statSync(tarball).size,
    prefix,
    bin: join(prefix, 'bin', 'sandbox'),
    packageDir: join(prefix, 'lib', 'node_modules', pj.name),
    packMs,
    installMs: performance.now() - t0,
    prebuilt: host.served,
  }
}

/** bytes under dir (files as stored: du's apparent size is not what the disk holds, blocks are) */
export async function diskBytes(dir: string): Promise<number> {
  const {stdout} = await run('du', ['-sk', dir])
  return Number(stdout.split('\t')[0]) * 1024
}
