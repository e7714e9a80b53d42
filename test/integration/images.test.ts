/**
 * Base images against the real daemon and gVisor: build (or find current) the images named
 * by the configuration, check what they contain under runsc, and check that extras and
 * failures behave. Extra-package tests build small images FROM the same Dockerfiles into
 * throw-away names; the base layers come from the layer cache, so they take seconds.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {release, tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadConfig, type SandboxConfig} from '../../src/config.js'
import {docker} from '../../src/docker/client.js'
import {type BuildEvent, type BuildResult, buildImages, imageStatus, IMAGE_LABELS} from '../../src/docker/images.js'
import {runProbe} from '../../src/docker/probe.js'
import {SandboxError} from '../../src/errors.js'
import {TOOLKIT_VERSION} from '../../src/paths.js'
import {runBin, type BinResult} from '../helpers/bin.js'

const work = mkdtempSync(join(tmpdir(), 'sandbox-images-it-'))
const envFile = join(work, '.env')
writeFileSync(envFile, '')
const config: SandboxConfig = loadConfig({envFile, env: {}})

const scratchImages: string[] = []
const scratch = (name: string) => {
  const image = `sandbox-test-${name}-${process.pid}:latest`
  scratchImages.push(image)
  return image
}

afterAll(async () => {
  for (const image of scratchImages)
    await docker()
      .getImage(image)
      .remove({force: true})
      .catch(() => {})
  rmSync(work, {recursive: true, force: true})
})

const cli = (args: string[]): Promise<BinResult> => runBin(args, work)

const probe = (image: string, cmd: string[]) => runProbe({image, cmd, runtime: 'runsc', network: 'none', memory: 512 * 1024 ** 2, timeoutMs: 120_000})

describe('base images', () => {
  let first: BuildResult[]

  beforeAll(async () => {
    first = await buildImages({config})
  })

  it('builds both images (or finds them current) with toolkit and hash labels', async () => {
    expect(first.map((r) => r.language)).toEqual(['python', 'nodejs'])
    const status = await imageStatus(config)
    for (const s of status) {
      expect(s, s.reason).toMatchObject({present: true, current: true, toolkitVersion: TOOLKIT_VERSION})
      expect(s.labelHash).toBe(s.expectedHash)
      expect(first.find((r) => r.language === s.language)?.hash).toBe(s.expectedHash)
    }
  })

  it('Python: numpy, pandas, matplotlib and requests import under runsc with no network', async () => {
    const r = await probe(config.pythonImage, ['python3', '-c', 'import numpy, pandas, matplotlib, requests; print("imported", numpy.__version__)'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^imported \d+\./)
  })

  it('Python: matplotlib draws a chart with a CJK title (Agg, CJK font, read-only root)', async () => {
    const code = [
      'import os, matplotlib',
      'import matplotlib.pyplot as plt',
      'plt.plot([1, 2, 3], [-1, 4, 9]); plt.title("销售额 −1")',
      'plt.savefig("/tmp/chart.png")',
      'print(matplotlib.get_backend(), os.path.getsize("/tmp/chart.png"))',
    ].join('\n')
    const r = await probe(config.pythonImage, ['python3', '-c', code])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^agg \d{4,}/)
    expect(r.stderr).not.toMatch(/missing from current font/)
  })

  it('Node.js: axios resolves from the working directory, with require and import', async () => {
    const r = await probe(config.nodejsImage, [
      'node',
      '-e',
      'const a = require("axios"); import("axios").then((m) => console.log(process.cwd(), typeof a.get, typeof m.default.get))',
    ])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe('/workspace function function')
  })

  it('runs as uid 65534 and under gVisor the kernel is not the host kernel', async () => {
    const r = await probe(config.pythonImage, ['python3', '-c', 'import os; print(os.getuid(), os.getgid(), os.uname().release)'])
    expect(r.exitCode, r.stderr).toBe(0)
    const [uid, gid, kernel] = r.stdout.trim().split(' ')
    expect([uid, gid]).toEqual(['65534', '65534'])
    expect(kernel).not.toBe(release())
    const u = await probe(config.nodejsImage, ['uname', '-r'])
    expect(u.exitCode, u.stderr).toBe(0)
    expect(u.stdout.trim()).not.toBe(release())
  })

  it('an unchanged rebuild is a no-op', async () => {
    const events: BuildEvent[] = []
    const again = await buildImages({config, onProgress: (e) => events.push(e)})
    expect(again.map((r) => [r.language, r.skipped])).toEqual([
      ['python', true],
      ['nodejs', true],
    ])
    expect(again.map((r) => r.hash)).toEqual(first.map((r) => r.hash))
    expect(events.filter((e) => e.kind === 'done').map((e) => e.message)).toEqual([expect.stringMatching(/up to date/), expect.stringMatching(/up to date/)])
    expect(events.filter((e) => e.kind === 'step')).toEqual([])
  })

  it('`sandbox build --json` reports the images as up to date, exit 0', async () => {
    const r = await cli(['build', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as {images: BuildResult[]}
    expect(out.images.map((i) => [i.image, i.skipped])).toEqual([
      [config.pythonImage, true],
      [config.nodejsImage, true],
    ])
  })

  it('configured extra packages make the image stale', async () => {
    const [status] = await imageStatus({...config, extraDebianPackages: ['python3-tabulate']}, ['python'])
    expect(status).toMatchObject({present: true, current: false})
    expect(status.reason).toMatch(/configured/)
  })
})

describe('extra packages', () => {
  it('a Debian Python module is installed and imports under gVisor', async () => {
    const image = scratch('deb-extra')
    const [r] = await buildImages({config: {...config, pythonImage: image, extraDebianPackages: ['python3-tabulate']}, languages: ['python'], source: 'offline'})
    expect(r).toMatchObject({skipped: false, source: 'offline'})
    const labels = (await docker().getImage(image).inspect()).Config.Labels
    expect(labels[IMAGE_LABELS.extras]).toBe('deb:python3-tabulate')
    const p = await probe(image, ['python3', '-c', 'import tabulate, pandas; print(tabulate.tabulate([[1, 2]]).splitlines()[1])'])
    expect(p.exitCode, p.stderr).toBe(0)
    expect(p.stdout).toContain('1  2')
  })

  it('an npm package is installed and resolves under gVisor next to axios', async () => {
    const image = scratch('npm-extra')
    const [r] = await buildImages({config: {...config, nodejsImage: image, extraNpmPackages: ['is-number@7.0.0']}, languages: ['nodejs'], source: 'offline'})
    expect(r.skipped).toBe(false)
    const p = await probe(image, ['node', '-e', 'console.log(require("is-number")(5), typeof require("axios").get)'])
    expect(p.exitCode, p.stderr).toBe(0)
    expect(p.stdout.trim()).toBe('true function')
  })

  it('a Debian package that does not exist fails the build naming it', async () => {
    const image = scratch('missing-deb')
    const error = await buildImages({config: {...config, nodejsImage: image, extraDebianPackages: ['sandbox-no-such-package']}, languages: ['nodejs'], source: 'offline'}).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(SandboxError)
    expect((error as SandboxError).code).toBe('IMAGE_BUILD_FAILED')
    expect((error as SandboxError).exit).toBe(3)
    expect((error as SandboxError).message).toMatch(/Debian package "sandbox-no-such-package" does not exist/)
  })

  it('an npm package that does not exist fails the build naming it', async () => {
    const image = scratch('missing-npm')
    const error = await buildImages({config: {...config, nodejsImage: image, extraNpmPackages: ['sandbox-no-such-package-4242']}, languages: ['nodejs'], source: 'offline'}).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(SandboxError)
    expect((error as SandboxError).message).toMatch(/npm package "sandbox-no-such-package-4242" does not exist/)
  })

  it('pip packages with --offline are a configuration error (exit 4)', async () => {
    const error = await buildImages({config: {...config, pythonImage: scratch('pip-offline'), extraPythonPackages: ['scipy']}, languages: ['python'], source: 'offline'}).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(SandboxError)
    expect((error as SandboxError).code).toBe('PYTHON_PACKAGES_NEED_ONLINE')
    expect((error as SandboxError).exit).toBe(4)
  })
})
