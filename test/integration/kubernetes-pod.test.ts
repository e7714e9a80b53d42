/**
 * The manager pod of deploy/kubernetes/deployment.yaml, run for real without Kubernetes: the
 * manager image started by the Docker engine with exactly what the pod spec grants (its user and
 * group, no capabilities, no privilege escalation, read-only root, the in-memory /tmp of its
 * emptyDir, its memory limit, its environment from the ConfigMap and the Secret, the Docker
 * socket as its only host path). The pod's readiness path answers 200, RAGFlow's Python and
 * Node.js runs succeed through the token, and a graceful stop removes every sandbox it started.
 * What only a cluster checks (scheduling, probes by the kubelet) is validated offline in
 * test/unit/kubernetes-manifests.test.ts.
 */
import {randomBytes} from 'node:crypto'
import {readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {parseByteSize} from '../../src/config.js'
import {docker} from '../../src/docker/client.js'
import {LABELS, listManagedContainers} from '../../src/docker/containers.js'
import {buildManagerImage} from '../../src/docker/manager-image.js'
import {MANIFEST_DIR, parseManifests} from '../helpers/kubernetes.js'
import {freePort} from '../helpers/ports.js'

/* the YAML is plain data */
type Any = any

const IMAGE = 'sandbox-executor-manager:k8s-pod-test'
const read = (f: string) => parseManifests(f, readFileSync(join(MANIFEST_DIR, f), 'utf8')).map((d) => d.object as Any)
const [deployment] = read('deployment.yaml')
const [configMap] = read('configmap.yaml')
const pod = deployment.spec.template.spec
const container = pod.containers.find((c: Any) => c.name === 'manager')
const containerPort: number = container.ports.find((p: Any) => p.name === 'http').containerPort
// The pod's hostname is the owner label of its sandboxes, and a starting manager removes
// what a dead one of the same hostname left. The Docker daemon here is shared (a manager
// container of `start --docker` may use the pod's hostname), so this one gets its own.
const HOSTNAME = `k8s-pod-test-${randomBytes(4).toString('hex')}`
const TOKEN = randomBytes(16).toString('hex')
let port: number
let id: string | undefined

/** Kubernetes quantities (512Mi, 64Mi) as bytes, through the manager's own size parser */
const bytes = (quantity: string) => parseByteSize(quantity.replace(/i$/, '').toLowerCase(), 'quantity', 1, 2 ** 40)

const url = (path: string) => `http://127.0.0.1:${port}${path}`
const run = async (code: string, language: string, token?: string) => {
  const res = await fetch(url('/run'), {
    method: 'POST',
    headers: {'content-type': 'application/json', ...(token ? {authorization: `Bearer ${token}`} : {})},
    body: JSON.stringify({code_b64: Buffer.from(code).toString('base64'), language, arguments: {name: 'pod'}}),
  })
  return {status: res.status, body: (await res.json()) as Record<string, unknown>}
}

beforeAll(async () => {
  // dist/ is compiled from the current sources by test/global-setup.ts
  await buildManagerImage({tag: IMAGE})
  port = await freePort()
}, 600_000)

afterAll(async () => {
  if (id)
    await docker()
      .getContainer(id)
      .remove({force: true})
      .catch(() => {})
  await docker()
    .getImage(IMAGE)
    .remove()
    .catch(() => {})
})

describe('the manager pod spec, run by Docker', () => {
  it('serves RAGFlow runs with only what the pod spec grants', async () => {
    const socketMount = container.volumeMounts.find((m: Any) => m.name === 'docker-socket')
    const socketVolume = pod.volumes.find((v: Any) => v.name === 'docker-socket')
    const tmp = pod.volumes.find((v: Any) => v.name === 'tmp')
    const tmpMount = container.volumeMounts.find((m: Any) => m.name === 'tmp')
    const secretEnv = container.env.find((e: Any) => e.valueFrom?.secretKeyRef)
    const env: Record<string, string> = {
      ...configMap.data,
      ...Object.fromEntries(container.env.filter((e: Any) => e.value !== undefined).map((e: Any) => [e.name, e.value])),
      [secretEnv.name]: TOKEN,
    }
    // supplementalGroups names the socket's group on the nodes; here it is this host's
    const socketGid = statSync(socketVolume.hostPath.path).gid
    const sc = {...pod.securityContext, ...container.securityContext}
    expect(sc.allowPrivilegeEscalation).toBe(false)
    const created = await docker().createContainer({
      Image: IMAGE,
      Hostname: HOSTNAME,
      User: `${sc.runAsUser}:${sc.runAsGroup}`,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      ExposedPorts: {[`${containerPort}/tcp`]: {}},
      Labels: {[LABELS.managed]: 'true', [LABELS.role]: 'manager'},
      HostConfig: {
        Binds: [`${socketVolume.hostPath.path}:${socketMount.mountPath}`],
        GroupAdd: [String(socketGid)],
        PortBindings: {[`${containerPort}/tcp`]: [{HostIp: '127.0.0.1', HostPort: String(port)}]},
        ReadonlyRootfs: sc.readOnlyRootFilesystem,
        Tmpfs: {[tmpMount.mountPath]: `rw,nosuid,nodev,size=${bytes(tmp.emptyDir.sizeLimit)},mode=1777`},
        CapDrop: sc.capabilities.drop,
        SecurityOpt: ['no-new-privileges'],
        Privileged: Boolean(sc.privileged),
        Memory: bytes(container.resources.limits.memory),
      },
    })
    id = created.id
    await created.start()

    // the startup probe's budget: periodSeconds × failureThreshold
    const probe = container.startupProbe
    const deadline = Date.now() + probe.periodSeconds * probe.failureThreshold * 1000
    let ready = 0
    while (Date.now() < deadline) {
      // as the kubelet does: each probe with its timeoutSeconds (a connection that Docker's port
      // proxy accepted before the manager listened would otherwise wait minutes)
      ready = await fetch(url(container.readinessProbe.httpGet.path), {signal: AbortSignal.timeout(container.readinessProbe.timeoutSeconds * 1000)}).then(
        (r) => r.status,
        () => 0,
      )
      if (ready === 200) break
      const state = await created.inspect()
      if (!state.State.Running) throw new Error(`the manager exited (${state.State.ExitCode}): ${(await created.logs({stdout: true, stderr: true})).toString()}`)
      await new Promise((r) => setTimeout(r, 500))
    }
    expect(ready, 'readiness probe').toBe(200)
    expect((await fetch(url(container.livenessProbe.httpGet.path), {signal: AbortSignal.timeout(container.livenessProbe.timeoutSeconds * 1000)})).status).toBe(200)

    expect(await run('def main(name):\n    return {"hello": name}\n', 'python', TOKEN)).toMatchObject({status: 200, body: {status: 'success', result: {value: {hello: 'pod'}}}})
    expect(await run('module.exports.main = ({name}) => ({hello: name})\n', 'javascript', TOKEN)).toMatchObject({
      status: 200,
      body: {status: 'success', result: {value: {hello: 'pod'}}},
    })
    // the token from the Secret is required
    expect((await run('def main(name):\n    return 1\n', 'python')).status).toBe(401)
    expect((await listManagedContainers({[LABELS.ownerHost]: HOSTNAME})).length).toBeGreaterThan(0)
  }, 300_000)

  it('a graceful stop within the pod grace period removes every sandbox it started', async () => {
    await docker().getContainer(id!).stop({t: pod.terminationGracePeriodSeconds})
    const state = await docker().getContainer(id!).inspect()
    expect(state.State.ExitCode).toBe(0)
    expect(await listManagedContainers({[LABELS.ownerHost]: HOSTNAME})).toEqual([])
  }, 120_000)
})
