/**
 * bin/manifest.js: the bins use oclif's manifest only when it is as new as every command module,
 * and write it again (or remove it) when it is not. A small oclif package in a temporary
 * directory stands for this one.
 */
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

// @ts-expect-error plain JavaScript next to the bins, no declarations
import {dropStaleManifest, manifestFresh} from '../../bin/manifest.js'

let root: string

const command = (flags: string[]) => `import {Command, Flags} from '@oclif/core'
export default class Hello extends Command {
  static description = 'say hello'
  static flags = {${flags.map((f) => `${f}: Flags.boolean()`).join(', ')}}
  async run() {}
}
`
function writeCommand(name: string, source: string, mtime?: Date) {
  const path = join(root, 'dist', 'commands', `${name}.js`)
  writeFileSync(path, source)
  if (mtime) utimesSync(path, mtime, mtime)
}
const manifest = () => JSON.parse(readFileSync(join(root, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {flags: Record<string, unknown>}>}
/** as a bin does it: in a new process (a process imports a command module once) */
const inChild = (fn: string, dir: string, nodeEnv = 'production') =>
  execFileSync(process.execPath, ['--input-type=module', '-e', `(await import(${JSON.stringify(pathToFileURL(resolve('bin/manifest.js')).href)})).${fn}(${JSON.stringify(dir)})`], {
    env: {...process.env, NODE_ENV: nodeEnv},
  })
/** bin/run.js as installed (no development NODE_ENV) */
const ensureManifest = (dir: string) => inChild('ensureManifest', dir)
const later = (seconds: number) => new Date(Date.now() + seconds * 1000)

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sandbox-manifest-'))
  mkdirSync(join(root, 'dist', 'commands'), {recursive: true})
  mkdirSync(join(root, 'src', 'commands'), {recursive: true})
  symlinkSync(resolve('node_modules'), join(root, 'node_modules'))
  writeFileSync(
    join(root, 'package.json'),
    JSON.stringify({name: 'fixture', version: '1.0.0', type: 'module', files: ['/dist'], oclif: {bin: 'fixture', commands: './dist/commands'}}),
  )
  writeCommand('hello', command(['loud']))
})
afterEach(() => rmSync(root, {recursive: true, force: true}))

describe('the oclif manifest of the bins (bin/manifest.js)', () => {
  it('writes a missing manifest from the command modules', () => {
    expect(manifestFresh(root, ['dist/commands'])).toBe(false)
    ensureManifest(root)
    expect(Object.keys(manifest().commands)).toEqual(['hello'])
    expect(Object.keys(manifest().commands.hello.flags)).toContain('loud')
    expect(manifestFresh(root, ['dist/commands'])).toBe(true)
  })

  it('keeps a fresh manifest as it is', () => {
    ensureManifest(root)
    const written = statSync(join(root, 'oclif.manifest.json')).mtimeMs
    ensureManifest(root)
    expect(statSync(join(root, 'oclif.manifest.json')).mtimeMs).toBe(written)
  })

  it('writes it again when a command module is newer: new flags and new commands show', () => {
    ensureManifest(root)
    writeCommand('hello', command(['loud', 'quiet']), later(5))
    writeCommand('bye', command([]), later(5))
    expect(manifestFresh(root, ['dist/commands'])).toBe(false)
    ensureManifest(root)
    expect(Object.keys(manifest().commands).sort()).toEqual(['bye', 'hello'])
    expect(Object.keys(manifest().commands.hello.flags)).toContain('quiet')
  })

  it('removes a stale manifest it cannot write again (a command module that fails to load)', () => {
    ensureManifest(root)
    writeCommand('broken', 'throw new Error("broken on import")\n', later(5))
    ensureManifest(root)
    expect(existsSync(join(root, 'oclif.manifest.json'))).toBe(false)
  })

  it('records the compiled commands even where oclif would read src/ (NODE_ENV=test, a tsconfig)', () => {
    writeFileSync(join(root, 'tsconfig.json'), JSON.stringify({compilerOptions: {rootDir: 'src', outDir: 'dist'}}))
    writeFileSync(join(root, 'src', 'commands', 'hello.ts'), command(['loud']))
    inChild('writeManifest', root, 'test')
    expect((manifest().commands.hello as {relativePath?: string[]}).relativePath).toEqual(['dist', 'commands', 'hello.js'])
  })

  it('under NODE_ENV=test it keeps a manifest only while dist/ is as new as src/, and writes none', () => {
    inChild('ensureManifest', root, 'test')
    expect(existsSync(join(root, 'oclif.manifest.json'))).toBe(false)
    ensureManifest(root)
    writeFileSync(join(root, 'src', 'engine.ts'), '')
    utimesSync(join(root, 'src', 'engine.ts'), later(5), later(5))
    inChild('ensureManifest', root, 'test')
    expect(existsSync(join(root, 'oclif.manifest.json'))).toBe(false)
  })

  it('bin/dev.js drops a manifest older than a source command', () => {
    ensureManifest(root)
    writeFileSync(join(root, 'src', 'commands', 'hello.ts'), '')
    utimesSync(join(root, 'src', 'commands', 'hello.ts'), later(5), later(5))
    dropStaleManifest(root)
    expect(existsSync(join(root, 'oclif.manifest.json'))).toBe(false)
  })
})
