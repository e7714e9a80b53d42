/**
 * The package as a user installs it: `npm pack` of this clone, `npm install -g` of the tarball
 * into a temporary prefix, then the installed `sandbox` from an empty directory outside the
 * clone: --version, `setup --yes` (on this ready host it checks and changes nothing but the
 * .env it writes from the package's template) and `run hello.py --arg name=World` (the runner
 * sources and the base-image inputs come from the installed package). Private settings and
 * state; the host's daemon, runsc registration and images are used as they are.
 * How the install fits CI (prebuilt better-sqlite3 from this clone, no prepack rebuild, npm's
 * cache first): test/helpers/package-install.ts.
 */
import {execFile} from 'node:child_process'
import {copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ENV_TEMPLATE, renderEnvTemplate} from '../../src/setup/env-file.js'
import {diskBytes, packAndInstall, ROOT, type PackedInstall} from '../helpers/package-install.js'

const run = promisify(execFile)
const pj = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string
  version: string
  devDependencies: Record<string, string>
  dependencies: Record<string, string>
}

const work = mkdtempSync(join(tmpdir(), 'sandbox-package-install-'))
const user = join(work, 'elsewhere')
// as a user's shell has it: no NODE_ENV=test from vitest, no npm_config_* from the npm that started the tests
const userEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_ENV' && !k.toLowerCase().startsWith('npm_')))
const env = {...userEnv, SANDBOX_DATA_DIR: join(work, 'data'), SANDBOX_STATE_DIR: join(work, 'state'), NO_COLOR: '1', FORCE_COLOR: '0'}
let installed: PackedInstall

/** the installed bin, started by its #! line as a shell would */
async function sandbox(args: string[]): Promise<{code: number; stdout: string; stderr: string}> {
  try {
    const {stdout, stderr} = await run(installed.bin, args, {cwd: user, env, maxBuffer: 16 * 1024 * 1024})
    return {code: 0, stdout, stderr}
  } catch (error) {
    const e = error as {code?: number; stdout?: string; stderr?: string}
    return {code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(error)}
  }
}

beforeAll(async () => {
  mkdirSync(user, {recursive: true})
  installed = await packAndInstall(work)
  process.stderr.write(
    `[package-install] pack ${(installed.packMs / 1000).toFixed(1)} s (${(installed.tarballBytes / 1024).toFixed(0)} KiB), install ${(installed.installMs / 1000).toFixed(1)} s, installed ${((await diskBytes(installed.packageDir)) / 1024 / 1024).toFixed(1)} MB; prebuilt from this clone: ${installed.prebuilt.join(', ') || 'none'}\n`,
  )
}, 600_000)
afterAll(() => rmSync(work, {recursive: true, force: true}))

describe('the packed tarball installed globally', () => {
  it('holds the package files and no sources, tests or development dependencies', () => {
    const top = readdirSync(installed.packageDir).sort()
    for (const f of ['bin', 'dist', 'templates', 'base-images', 'seccomp', 'examples', 'package.json', 'oclif.manifest.json']) expect(top).toContain(f)
    for (const f of ['src', 'test', 'bench', 'web', 'tsconfig.json', '.env']) expect(top).not.toContain(f)
    const modules = join(installed.packageDir, 'node_modules')
    // a development dependency may be there only as some runtime dependency's own dependency
    const wanted = new Set<string>()
    const packages = readdirSync(modules).flatMap((n) => (n.startsWith('@') ? readdirSync(join(modules, n)).map((m) => `${n}/${m}`) : [n]))
    for (const name of packages) {
      const file = join(modules, name, 'package.json')
      if (!existsSync(file)) continue
      const dep = JSON.parse(readFileSync(file, 'utf8')) as {
        dependencies?: Record<string, string>
        optionalDependencies?: Record<string, string>
        peerDependencies?: Record<string, string>
      }
      for (const d of Object.keys({...dep.dependencies, ...dep.optionalDependencies, ...dep.peerDependencies})) wanted.add(d)
    }
    for (const dev of Object.keys(pj.devDependencies)) {
      if (pj.dependencies[dev] || wanted.has(dev)) continue
      expect(packages, `${dev} (a devDependency) was installed`).not.toContain(dev)
    }
    // the oclif manifest lists every command: the installed CLI loads only the command it runs
    const manifest = JSON.parse(readFileSync(join(installed.packageDir, 'oclif.manifest.json'), 'utf8')) as {version: string; commands: Record<string, unknown>}
    expect(manifest.version).toBe(pj.version)
    expect(Object.keys(manifest.commands)).toContain('run')
  })

  it("sandbox --version prints oclif's line", async () => {
    const r = await sandbox(['--version'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe(`${pj.name}/${pj.version} ${process.platform}-${process.arch} node-${process.version}\n`)
  })

  it('sandbox setup --yes passes on this host from an empty directory and writes .env from the package template', async () => {
    const r = await sandbox(['setup', '--yes'])
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)
    expect(r.stdout).not.toMatch(/^✗ /m)
    expect(readFileSync(join(user, '.env'), 'utf8')).toBe(renderEnvTemplate(readFileSync(ENV_TEMPLATE, 'utf8')))
  })

  it('sandbox run hello.py --arg name=World runs in gVisor from a directory outside the clone', async () => {
    copyFileSync(join(ROOT, 'examples', 'hello.py'), join(user, 'hello.py'))
    const r = await sandbox(['run', 'hello.py', '--arg', 'name=World', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const result = JSON.parse(r.stdout) as {status: string; stdout: string; result: {value: unknown}}
    expect(result.status).toBe('success')
    expect(result.stdout).toBe('Hello from Python, World!\n')
    expect(result.result.value).toEqual({greeting: 'Hello, World!', length: 5})
  })
})
