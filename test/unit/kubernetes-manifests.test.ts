/**
 * deploy/kubernetes (issue 16 item 2): every manifest validates offline against the Kubernetes
 * OpenAPI (schema and strict fields, test/helpers/kubernetes.ts), and the manager's pod asks for
 * what the docker backend needs and nothing more. The validator itself is shown to reject
 * broken documents, so a green run means the manifests were checked.
 */
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {ENV_VARS, loadConfig} from '../../src/config.js'
import {MANAGER_CONTAINER_HOSTNAME, MANAGER_CONTAINER_PORT} from '../../src/docker/manager-container.js'
import {MANIFEST_DIR, parseManifests, validateManifests, type K8sObject, type ManifestDocument} from '../helpers/kubernetes.js'

const files = readdirSync(MANIFEST_DIR)
  .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
  .sort()
const docs: ManifestDocument[] = files.flatMap((f) => parseManifests(f, readFileSync(join(MANIFEST_DIR, f), 'utf8')))
const objects = docs.map((d) => d.object as any)
const one = (kind: string): any => {
  const found = objects.filter((o) => o.kind === kind)
  expect(found, `exactly one ${kind}`).toHaveLength(1)
  return found[0]
}
const deployment = one('Deployment')
const pod = deployment.spec.template.spec
const manager = pod.containers.find((c: any) => c.name === 'manager')
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v)
const portOf = (port: number | string) => (typeof port === 'number' ? port : manager.ports.find((p: any) => p.name === port)?.containerPort)

describe('Kubernetes manifests validate offline', () => {
  it('every document validates against the Kubernetes OpenAPI schema with strict fields', () => {
    expect(files.length).toBeGreaterThanOrEqual(8)
    expect(validateManifests(docs)).toEqual([])
  }, 60_000)

  it('the validator rejects what the API server would: unknown field, missing required field, bad quantity, unknown kind', () => {
    const broken = (mutate: (o: any) => void, kind = 'Deployment'): ManifestDocument => {
      const d = structuredClone(docs.find((x) => x.object.kind === kind)!)
      mutate(d.object)
      return d
    }
    // one document per defect, validated together (one TypeScript program); each has its errors
    const cases: Array<[ManifestDocument, string]> = [
      [
        broken((o) => (o.spec.template.spec.containers[0].readinessProb = o.spec.template.spec.containers[0].readinessProbe)),
        "'\"readinessProb\"' does not exist in type 'Container'",
      ],
      [broken((o) => (o.spec.template.spec.securityContext.runAsNonroot = true)), 'runAsNonroot'],
      [broken((o) => delete o.spec.selector), 'selector'],
      [broken((o) => (o.spec.template.spec.containers[0].resources.limits.memory = '512Mb')), 'quantity'],
      [broken((o) => (o.spec.maxUnavailable = [1]), 'PodDisruptionBudget'), 'maxUnavailable'],
      [broken((o) => (o.kind = 'Deploymint')), 'Deploymint'],
    ]
    cases.forEach(([d], i) => (d.index = i))
    const errors = validateManifests(cases.map(([d]) => ({...d, file: `case${d.index}`})))
    cases.forEach(([d, expected]) => {
      const mine = errors.filter((e) => e.startsWith(`case${d.index}#`)).join('\n')
      expect(mine, `case ${d.index}`).toContain(expected)
    })
  }, 60_000)

  it('kustomization.yaml lists every manifest, each once', () => {
    const k = parse(readFileSync(join(MANIFEST_DIR, 'kustomization.yaml'), 'utf8'))
    expect([...k.resources].sort()).toEqual(files)
  })

  it('every namespaced object is in the namespace the manifests create', () => {
    const ns = one('Namespace').metadata.name
    for (const o of objects.filter((x) => !['Namespace', 'RuntimeClass'].includes(x.kind))) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(ns)
  })
})

describe('the manager pod: the docker backend, least privilege', () => {
  it('runs on gVisor-capable nodes only, one manager per node', () => {
    const rc = one('RuntimeClass')
    expect(rc.metadata.name).toBe('gvisor')
    expect(rc.handler).toBe('runsc')
    // the pods land where the RuntimeClass's nodes are, and tolerate the same taint
    expect(matches(rc.scheduling.nodeSelector, pod.nodeSelector)).toBe(true)
    for (const t of rc.scheduling.tolerations) expect(pod.tolerations).toContainEqual(t)
    const anti = pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution
    expect(anti).toContainEqual(expect.objectContaining({topologyKey: 'kubernetes.io/hostname'}))
    expect(matches(anti[0].labelSelector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true)
    // replacing in place, never two managers on one node's engine
    expect(deployment.spec.strategy.rollingUpdate.maxSurge).toBe(0)
  })

  it('is not itself under gVisor: it needs the node Docker socket, and nothing else from the host', () => {
    expect(pod.runtimeClassName).toBeUndefined()
    const hostPaths = pod.volumes.filter((v: any) => v.hostPath)
    expect(hostPaths).toEqual([{name: 'docker-socket', hostPath: {path: '/var/run/docker.sock', type: 'Socket'}}])
    const mount = manager.volumeMounts.find((m: any) => m.name === 'docker-socket')
    const dockerHost = manager.env.find((e: any) => e.name === 'DOCKER_HOST').value
    expect(dockerHost).toBe(`unix://${mount.mountPath}`)
    for (const flag of ['hostNetwork', 'hostPID', 'hostIPC', 'shareProcessNamespace']) expect(pod[flag] ?? false, flag).toBe(false)
    // the owner-host label of the sandboxes it starts, as `start --docker` sets it
    expect(pod.hostname).toBe(MANAGER_CONTAINER_HOSTNAME)
  })

  it('has no privileges: non-root, no capabilities, no escalation, read-only root, RuntimeDefault seccomp, no API token', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true)
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0)
    expect(pod.securityContext.runAsGroup).toBeGreaterThan(0)
    expect(pod.securityContext.seccompProfile).toEqual({type: 'RuntimeDefault'})
    expect(pod.automountServiceAccountToken).toBe(false)
    expect(one('ServiceAccount').automountServiceAccountToken).toBe(false)
    expect(objects.filter((o) => /Role/.test(o.kind))).toEqual([])
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
      const sc = c.securityContext
      expect(sc.privileged ?? false, c.name).toBe(false)
      expect(sc.allowPrivilegeEscalation, c.name).toBe(false)
      expect(sc.readOnlyRootFilesystem, c.name).toBe(true)
      expect(sc.capabilities.drop, c.name).toEqual(['ALL'])
      expect(sc.capabilities.add ?? [], c.name).toEqual([])
    }
    // writable only: an in-memory /tmp of bounded size
    expect(pod.volumes.filter((v: any) => !v.hostPath)).toEqual([{name: 'tmp', emptyDir: {medium: 'Memory', sizeLimit: '64Mi'}}])
  })

  it('sets resources and probes /healthz for startup, readiness and liveness', () => {
    for (const c of pod.containers) {
      expect(c.resources.requests.cpu, c.name).toBeDefined()
      expect(c.resources.requests.memory, c.name).toBeDefined()
      expect(c.resources.limits.memory, c.name).toBeDefined()
      // an image built locally: set explicitly, so a :latest tag never means "always pull"
      expect(['IfNotPresent', 'Never'], c.name).toContain(c.imagePullPolicy)
    }
    expect(portOf('http')).toBe(MANAGER_CONTAINER_PORT)
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      expect(manager[probe].httpGet.path, probe).toBe('/healthz')
      expect(portOf(manager[probe].httpGet.port), probe).toBe(MANAGER_CONTAINER_PORT)
    }
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30)
  })

  it('takes its settings from the ConfigMap and its token from a Secret, required', () => {
    const cm = one('ConfigMap')
    const known = new Set([...Object.keys(ENV_VARS), 'SANDBOX_LOG_LEVEL', 'SANDBOX_MANAGER_MODE', 'DOCKER_HOST'])
    for (const key of Object.keys(cm.data)) expect(known, `ConfigMap key ${key}`).toContain(key)
    expect(manager.envFrom).toContainEqual({configMapRef: {name: cm.metadata.name}})
    for (const e of manager.env) expect(known, `env ${e.name}`).toContain(e.name)
    // no secret in git: neither a Secret object nor a token in the ConfigMap or a literal env
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([])
    expect(Object.keys(cm.data)).not.toContain('SANDBOX_API_TOKEN')
    const token = manager.env.find((e: any) => e.name === 'SANDBOX_API_TOKEN')
    expect(token.value).toBeUndefined()
    expect(token.valueFrom.secretKeyRef).toEqual(expect.objectContaining({optional: false}))
  })

  it("gets no service-link variables: the Service's name would collide with a setting the manager refuses in that form", () => {
    // Kubernetes sets <NAME>_SERVICE_HOST, <NAME>_SERVICE_PORT, <NAME>_PORT=tcp://ip:port and
    // <NAME>_PORT_<port>_TCP… for every Service of the namespace, in every pod that allows it
    const injected = objects
      .filter((o) => o.kind === 'Service')
      .flatMap((svc) => {
        const name = svc.metadata.name.toUpperCase().replace(/-/g, '_')
        return [`${name}_SERVICE_HOST`, `${name}_SERVICE_PORT`, `${name}_PORT`, ...svc.spec.ports.map((p: any) => `${name}_PORT_${p.port}_TCP`)]
      })
    const collisions = injected.filter((v) => v in ENV_VARS)
    expect(collisions).toEqual(['SANDBOX_EXECUTOR_MANAGER_PORT'])
    expect(() => loadConfig({env: {SANDBOX_EXECUTOR_MANAGER_PORT: `tcp://10.96.0.12:${MANAGER_CONTAINER_PORT}`}})).toThrow(/SANDBOX_EXECUTOR_MANAGER_PORT/)
    expect(pod.enableServiceLinks).toBe(false)
  })

  it('is reached through one Service and kept available by a PodDisruptionBudget', () => {
    const labels = deployment.spec.template.metadata.labels
    expect(matches(deployment.spec.selector.matchLabels, labels)).toBe(true)
    const svc = one('Service')
    expect(matches(svc.spec.selector, labels)).toBe(true)
    expect(svc.spec.ports.map((p: any) => portOf(p.targetPort))).toEqual([MANAGER_CONTAINER_PORT])
    const pdb = one('PodDisruptionBudget')
    expect(matches(pdb.spec.selector.matchLabels, labels)).toBe(true)
    // at least one manager stays up during a voluntary disruption
    if (pdb.spec.maxUnavailable !== undefined) expect(pdb.spec.maxUnavailable).toBeLessThan(deployment.spec.replicas)
    else expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(1)
  })
})

describe('the manager pod on the network', () => {
  it('takes connections on its port only and opens none', () => {
    const np = one('NetworkPolicy')
    expect(matches(np.spec.podSelector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true)
    expect([...np.spec.policyTypes].sort()).toEqual(['Egress', 'Ingress'])
    expect(np.spec.egress ?? []).toEqual([])
    const ports = np.spec.ingress.flatMap((rule: any) => rule.ports ?? [{port: 'every port'}])
    expect(ports.map((p: any) => portOf(p.port))).toEqual([MANAGER_CONTAINER_PORT])
  })
})

describe('validator internals', () => {
  it('reports a YAML syntax error and a duplicate key', () => {
    expect(() => parseManifests('x.yaml', 'a: [1\n')).toThrow(/x\.yaml document 1/)
    expect(() => parseManifests('x.yaml', 'a: 1\na: 2\n')).toThrow(/x\.yaml/)
  })

  it('reads several documents of one file and drops empty ones', () => {
    const ns = (n: string): K8sObject => ({apiVersion: 'v1', kind: 'Namespace', metadata: {name: n}})
    const text = `---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n# only a comment\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n`
    expect(parseManifests('x.yaml', text).map((d) => d.object)).toEqual([ns('a'), ns('b')])
  })
})
