/**
 * The manager image's build context (src/docker/manager-image.ts): the package files and the
 * production dependencies, without what only a build needs (sources, object files, other
 * platforms' prebuilt binaries). A small package in a temporary directory stands for this one.
 */
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import {extract} from 'tar-stream'
import {afterAll, describe, expect, it} from 'vitest'

import {managerBuildContext, packedNode} from '../../src/docker/manager-image.js'

const root = mkdtempSync(join(tmpdir(), 'sandbox-manager-context-'))
afterAll(() => rmSync(root, {recursive: true, force: true}))

function file(path: string, content = 'x') {
  mkdirSync(dirname(join(root, path)), {recursive: true})
  writeFileSync(join(root, path), content)
}

async function names(): Promise<string[]> {
  const {stream} = managerBuildContext(root)
  const out: string[] = []
  const ex = extract()
  ex.on('entry', (header, body, next) => {
    out.push(header.name)
    body.on('end', next)
    body.resume()
  })
  await new Promise<void>((resolve, reject) => {
    ex.on('finish', resolve)
    ex.on('error', reject)
    stream.pipe(ex)
  })
  return out.sort()
}

describe('the manager image build context', () => {
  it('keeps a native module binary and its JavaScript, and drops its build leftovers and other platforms', async () => {
    file('package.json', JSON.stringify({name: 'p', version: '1.0.0', dependencies: {native: '1.0.0'}}))
    file('dist/server/main.js')
    file('node_modules/native/package.json', JSON.stringify({name: 'native', version: '1.0.0'}))
    for (const f of ['lib/index.js', 'build/Release/native.node', `prebuilds/${process.platform}-${process.arch}/native.node`, 'grammar.wasm']) file(`node_modules/native/${f}`)
    for (const f of [
      'src/parser.c',
      'src/tree.h',
      'src/binding.cc',
      'binding.gyp',
      'build/config.gypi',
      'build/Makefile',
      'build/Release/obj.target/native/binding.o',
      'build/Release/.deps/x.d',
      'build/Release/lib.a',
      'prebuilds/darwin-arm64/native.node',
      'prebuilds/win32-x64/native.node',
      'README.md',
      'index.d.ts',
    ])
      file(`node_modules/native/${f}`)
    file('node_modules/dev-only/package.json', JSON.stringify({name: 'dev-only', version: '1.0.0'}))
    const got = await names()
    expect(got).toEqual(
      [
        'Dockerfile',
        'app/dist/server/main.js',
        'app/package.json',
        'app/node_modules/native/package.json',
        'app/node_modules/native/lib/index.js',
        'app/node_modules/native/build/Release/native.node',
        `app/node_modules/native/prebuilds/${process.platform}-${process.arch}/native.node`,
        'app/node_modules/native/grammar.wasm',
        // this installation's Node.js, when it is a self-contained binary (its native modules' ABI)
        ...(packedNode() ? ['app/node/bin/node'] : []),
      ].sort(),
    )
  })

  it("packs the Node.js that runs the toolkit unless it is a Debian-style shared build (the base image's own)", () => {
    expect(packedNode(process.execPath, false)).toMatchObject({path: join('node', 'bin', 'node'), abs: process.execPath, mode: 0o755})
    expect(packedNode(process.execPath, false)?.size).toBeGreaterThan(1_000_000)
    expect(packedNode(process.execPath, true)).toBeUndefined()
  })
})
