/**
 * The manager image and `sandbox start --docker`: the packed toolkit on the Node.js base image
 * (Debian's Node 18) serves RAGFlow's API from the container sandbox-executor-manager, with the
 * Docker socket mounted and nothing privileged; `sandbox stop` removes it and its containers.
 */
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Config} from '@oclif/core'
import {captureOutput} from '@oclif/test'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import Start, {type StartOutput} from '../../src/commands/start.js'
import Stop from '../../src/commands/stop.js'
import {docker} from '../../src/docker/client.js'
import {SandboxError} from '../../src/errors.js'
import {LABELS, listManagedContainers} from '../../src/docker/containers.js'
import {MANAGER_CONTAINER_HOSTNAME, MANAGER_CONTAINER_NAME, managerContainerInfo} from '../../src/docker/manager-container.js'
import {buildManagerImage, type ManagerImageResult} from '../../src/docker/manager-image.js'
import type {StopResult} from '../../src/supervisor/host.js'
import {managerFiles, readState} from '../../src/server/state.js'
import {freePort} from '../helpers/ports.js'

let config: Config
let dir: string
let port: number
let image: ManagerImageResult
const previousState = process.env.SANDBOX_STATE_DIR

async function cli<T>(cmd: {run: (argv: string[], config: Config) => Promise<unknown>}, argv: string[]): Promise<T> {
  const out = await captureOutput(() => cmd.run([...argv, '--json'], config))
  process.exitCode = undefined
  if (out.error) throw out.error
  return out.result as T
}

const post = async (code: string, language: string, args: unknown) => {
  const res = await fetch(`http://127.0.0.1:${port}/run`, {method: 'POST', body: JSON.stringify({code_b64: Buffer.from(code).toString('base64'), language, arguments: args})})
  return {status: res.status, body: (await res.json()) as Record<string, unknown>}
}

beforeAll(async () => {
  // the image packs dist/: compile the current sources first (type errors elsewhere do not stop the emit)
  try {
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], {stdio: 'pipe'})
  } catch {
    // emitted anyway; a missing dist/server/main.js fails buildManagerImage with BUILD_REQUIRED
  }
  image = await buildManagerImage({tag: 'sandbox-executor-manager:test'})
  config = await Config.load({root: process.cwd()})
  dir = mkdtempSync(join(tmpdir(), 'sandbox-docker-'))
  process.env.SANDBOX_STATE_DIR = dir
  port = await freePort()
})

afterAll(async () => {
  await captureOutput(() => Stop.run(['--json'], config)).catch(() => {})
  process.exitCode = undefined
  await docker()
    .getImage('sandbox-executor-manager:test')
    .remove()
    .catch(() => {})
  if (previousState === undefined) delete process.env.SANDBOX_STATE_DIR
  else process.env.SANDBOX_STATE_DIR = previousState
  rmSync(dir, {recursive: true, force: true})
})

describe('manager in Docker', () => {
  it('builds offline on the Node.js base image', () => {
    expect(image).toMatchObject({image: 'sandbox-executor-manager:test', baseImage: 'sandbox-base-nodejs:latest'})
    expect(image.files).toBeGreaterThan(100)
  })

  it("runs this installation's Node.js, which loads the native modules (the settings database's better-sqlite3)", async () => {
    // the base image's Debian Node.js has another ABI: better-sqlite3 built here failed to load in the container
    const probe =
      "const D = require('better-sqlite3'); const db = new D(':memory:'); console.log(JSON.stringify({node: process.version, row: db.prepare('select 41 + 1 as x').get()}))"
    const out = execFileSync('docker', ['run', '--rm', '--network', 'none', '--workdir', '/opt/sandbox', '--entrypoint', 'node', 'sandbox-executor-manager:test', '-e', probe], {
      encoding: 'utf8',
    })
    expect(JSON.parse(out)).toEqual({node: process.version, row: {x: 42}})
  })

  it('fails the build itself, naming the cause, when the packed Node.js cannot load the native module in the image', async () => {
    // a package whose better-sqlite3 cannot load (as a binary built for another Node.js or glibc would not)
    const root = mkdtempSync(join(tmpdir(), 'sandbox-bad-manager-'))
    try {
      mkdirSync(join(root, 'dist', 'server'), {recursive: true})
      writeFileSync(join(root, 'dist', 'server', 'main.js'), '')
      writeFileSync(join(root, 'package.json'), JSON.stringify({name: 'bad', version: '0.0.0', dependencies: {'better-sqlite3': '*'}}))
      mkdirSync(join(root, 'node_modules', 'better-sqlite3'), {recursive: true})
      writeFileSync(join(root, 'node_modules', 'better-sqlite3', 'package.json'), JSON.stringify({name: 'better-sqlite3', version: '0.0.0', main: 'index.js'}))
      writeFileSync(join(root, 'node_modules', 'better-sqlite3', 'index.js'), "throw new Error('invalid ELF header')\n")
      const failed = await buildManagerImage({tag: 'sandbox-executor-manager:bad-test', root}).catch((error: unknown) => error)
      expect(failed).toBeInstanceOf(SandboxError)
      expect((failed as SandboxError).code).toBe('IMAGE_BUILD_FAILED')
      expect((failed as SandboxError).message).toContain(`manager image check: Node.js ${process.version} cannot load better-sqlite3 in this image: invalid ELF header`)
      expect(
        await docker()
          .getImage('sandbox-executor-manager:bad-test')
          .inspect()
          .catch(() => undefined),
      ).toBeUndefined()
    } finally {
      rmSync(root, {recursive: true, force: true})
    }
  })

  it('start --docker serves RAGFlow requests from the container, unprivileged', async () => {
    const started = await cli<StartOutput>(Start, ['--docker', '--image', 'sandbox-executor-manager:test', '--port', String(port), '--env-file', '/dev/null', '--pool-size', '1'])
    expect(started).toMatchObject({already: false, mode: 'docker', endpoint: `http://127.0.0.1:${port}`, runtime: 'runsc'})

    const info = await managerContainerInfo()
    expect(info).toMatchObject({name: MANAGER_CONTAINER_NAME, running: true})
    const inspect = await docker().getContainer(MANAGER_CONTAINER_NAME).inspect()
    expect(inspect.HostConfig.Privileged).toBe(false)
    expect(inspect.HostConfig.CapDrop).toEqual(['ALL'])
    expect(inspect.HostConfig.ReadonlyRootfs).toBe(true)
    expect(inspect.Config.User).toBe('65534:65534')

    const py = await post('def main(flag, nothing):\n    return {"flag": flag, "nothing": nothing}\n', 'python', {flag: true, nothing: null})
    expect(py).toMatchObject({status: 200, body: {status: 'success', result: {present: true, value: {flag: true, nothing: null}, type: 'json'}}})
    const js = await post('module.exports.main = (a) => ({node: process.version, a})\n', 'javascript', {q: 'ü'})
    expect(js).toMatchObject({status: 200, body: {status: 'success', result: {value: {a: {q: 'ü'}}}}})
    const bad = await fetch(`http://127.0.0.1:${port}/run`, {method: 'POST', body: '{"code_b64": "%%%"}'})
    expect(bad.status).toBe(422)
    // sandbox containers are siblings on the host daemon, labelled with the manager's hostname
    expect((await listManagedContainers({[LABELS.ownerHost]: MANAGER_CONTAINER_HOSTNAME})).length).toBeGreaterThan(0)
  })

  it('start --docker again: the same port is "already running", another port MANAGER_RUNNING_ELSEWHERE (exit 4); settings recorded', async () => {
    const again = await cli<StartOutput>(Start, ['--docker', '--image', 'sandbox-executor-manager:test', '--port', String(port), '--env-file', '/dev/null'])
    expect(again).toMatchObject({already: true, mode: 'docker'})
    const otherPort = await freePort()
    const other = await captureOutput(() =>
      Start.run(['--docker', '--image', 'sandbox-executor-manager:test', '--port', String(otherPort), '--env-file', '/dev/null', '--json'], config),
    )
    expect(process.exitCode).toBe(4)
    process.exitCode = undefined
    expect(JSON.parse(other.stdout).error.code).toBe('MANAGER_RUNNING_ELSEWHERE')
    const state = readState(managerFiles(dir))!
    expect(state).toMatchObject({mode: 'docker', image: 'sandbox-executor-manager:test', settings: {port, poolSize: 1}})
  })

  it('stop removes the manager container and every container it started', async () => {
    const stopped = await cli<StopResult>(Stop, [])
    expect(stopped).toMatchObject({wasRunning: true, mode: 'docker', containersRemaining: 0})
    expect(await managerContainerInfo()).toBeUndefined()
    expect(await listManagedContainers({[LABELS.ownerHost]: MANAGER_CONTAINER_HOSTNAME})).toEqual([])
  })
})
