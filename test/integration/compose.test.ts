/**
 * deploy/compose.yaml, run with Debian's docker-compose: up beside a stand-in for RAGFlow's
 * network, a run through it (RAGFlow's POST /run) from the host and from a container on that
 * network by the service name, then down with nothing of ours left behind.
 */
import {statSync} from 'node:fs'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {docker} from '../../src/docker/client.js'
import {LABELS, listManagedContainers} from '../../src/docker/containers.js'
import {buildManagerImage} from '../../src/docker/manager-image.js'
import {runProgram} from '../../src/exec.js'
import {requireProgram} from '../helpers/apt.js'
import {freePort} from '../helpers/ports.js'

const PROJECT = 'sandbox-compose-test'
const NETWORK = 'sandbox-compose-test-net'
const IMAGE = 'sandbox-executor-manager:compose-test'
let compose: string
let port: number
let env: Record<string, string>

const up = () => runProgram(compose, ['-p', PROJECT, '-f', 'deploy/compose.yaml', 'up', '-d'], {env, timeoutMs: 180_000})
const down = () => runProgram(compose, ['-p', PROJECT, '-f', 'deploy/compose.yaml', 'down', '--timeout', '30'], {env, timeoutMs: 120_000})

async function healthy(deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs
  let last = ''
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, {signal: AbortSignal.timeout(2000)})
      last = `${res.status} ${await res.text()}`
      if (res.status === 200) return
    } catch (error) {
      last = String(error)
    }
    if (Date.now() > until) {
      const logs = await runProgram(compose, ['-p', PROJECT, '-f', 'deploy/compose.yaml', 'logs', '--tail', '30'], {env})
      throw new Error(`the composed manager is not healthy (${last}):\n${logs.stdout}`)
    }
    // poll interval while the manager starts its first containers
    await new Promise((r) => setTimeout(r, 200))
  }
}

beforeAll(async () => {
  compose = await requireProgram('docker-compose', 'docker-compose')
  // dist/ is compiled from the current sources by test/global-setup.ts
  await buildManagerImage({tag: IMAGE})
  port = await freePort()
  env = {
    DOCKER_GID: String(statSync('/var/run/docker.sock').gid),
    RAGFLOW_NETWORK: NETWORK,
    SANDBOX_EXECUTOR_MANAGER_IMAGE: IMAGE,
    SANDBOX_EXECUTOR_MANAGER_PORT: String(port),
    SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: '1',
  }
  await docker()
    .createNetwork({Name: NETWORK, Labels: {[LABELS.managed]: 'true'}})
    .catch(() => {})
})

afterAll(async () => {
  if (compose) await down()
  await docker()
    .getNetwork(NETWORK)
    .remove()
    .catch(() => {})
  await docker()
    .getImage(IMAGE)
    .remove()
    .catch(() => {})
})

describe('deploy/compose.yaml', () => {
  it('refuses to start without the Docker socket group', async () => {
    const r = await runProgram(compose, ['-p', PROJECT, '-f', 'deploy/compose.yaml', 'config'], {env: {...env, DOCKER_GID: ''}})
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('DOCKER_GID')
  })

  it("comes up, answers RAGFlow's POST /run, and goes down clean", async () => {
    const started = await up()
    expect(started.code, started.stderr).toBe(0)
    await healthy(120_000)

    const code = 'def main(name):\n    print("hi", name)\n    return {"n": len(name)}\n'
    const res = await fetch(`http://127.0.0.1:${port}/run`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({code_b64: Buffer.from(code).toString('base64'), language: 'python', arguments: {name: 'compose'}}),
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({status: 'success', stdout: 'hi compose\n', result: {present: true, type: 'json', value: {n: 7}}})

    // the container runs as configured: unprivileged, read-only, on the RAGFlow network
    const [manager] = await docker().listContainers({filters: {label: [`com.docker.compose.project=${PROJECT}`]}})
    const inspect = await docker().getContainer(manager.Id).inspect()
    expect(inspect.Config.User).toBe('65534:65534')
    expect(inspect.HostConfig.ReadonlyRootfs).toBe(true)
    expect(inspect.HostConfig.CapDrop).toEqual(['ALL'])
    expect(Object.keys(inspect.NetworkSettings.Networks)).toEqual([NETWORK])
    // RAGFlow's containers reach it by the service name on that network
    expect(inspect.NetworkSettings.Networks[NETWORK].Aliases).toContain('sandbox-executor-manager')
    // its sandboxes are siblings on the host's daemon, owned by the service's hostname
    expect((await listManagedContainers({[LABELS.ownerHost]: 'sandbox-executor-manager'})).length).toBeGreaterThan(0)

    const stopped = await down()
    expect(stopped.code, stopped.stderr).toBe(0)
    expect(await docker().listContainers({all: true, filters: {label: [`com.docker.compose.project=${PROJECT}`]}})).toEqual([])
    expect(await listManagedContainers({[LABELS.ownerHost]: 'sandbox-executor-manager'})).toEqual([])
  })
})
