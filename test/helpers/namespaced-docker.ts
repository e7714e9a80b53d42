/**
 * Docker engines in network namespaces on this machine: each "host" of a test swarm is a
 * network namespace with its own dockerd (own data root, exec root, pid file, socket and the
 * containerd it starts), in its own mount and UTS namespace so that on that node
 * /var/run/docker.sock IS its engine (a service that mounts the socket gets its own node's
 * engine, as on real hosts) and its hostname is the node's name.
 *
 * Wiring: the nodes' veths hang on a bridge inside a "switch" namespace (whose netfilter is
 * empty, so the host dockerd's FORWARD policy never sees node-to-node traffic); one more veth
 * joins the host to that bridge at <subnet>.1, so the host reaches the nodes at <subnet>.1x.
 * The host's own dockerd, its socket, its images and containers are never touched.
 *
 * The namespace sees sysfs of its own network (dockerd writes bridge settings there) with the
 * host's cgroup mounts moved under it; /etc/resolv.conf names 127.0.0.1 so that a swarm task's
 * pull of a tag (which Swarm always tries) fails at once instead of after a DNS timeout.
 */
import {execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {request} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {which} from './apt.js'

/** every namespace, interface and folder of one cluster carries this prefix and the test's pid */
const PREFIX = 'sbxsw'

export interface NamespacedNode {
  name: string
  /** address of the node on the cluster's bridge */
  ip: string
  /** the node engine's socket as seen from the host */
  socket: string
  /** DOCKER_HOST value for the node's engine */
  dockerHost: string
  netns: string
  dir: string
}

export interface NamespacedCluster {
  id: string
  subnet: string
  /** host side of the bridge */
  hostIp: string
  nodes: NamespacedNode[]
  dir: string
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
}

function inNs(ns: string, ...args: string[]): string {
  return ip('netns', 'exec', ns, ...args)
}

/** What this machine lacks for namespaced engines, or undefined when it has it all. */
export function namespacedDockerMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'namespaced Docker engines need root (ip netns, dockerd)'
  const missing = ['ip', 'dockerd', 'nsenter', 'unshare', 'docker'].find((program) => !which(program))
  return missing && `${missing} is not installed`
}

function freeSubnet(): string {
  const routes = ip('-4', 'route', 'show', 'table', 'all')
  for (let i = 0; i < 200; i++) {
    const third = 20 + ((process.pid + i) % 200)
    const subnet = `10.231.${third}`
    if (!routes.includes(`${subnet}.`)) return subnet
  }
  throw new Error('no free 10.231.x.0/24 subnet for the namespaced cluster')
}

/** Remove clusters left by test processes that died (their pid is in the names). */
export function removeStaleClusters(): string[] {
  const removed: string[] = []
  // folders of clusters whose test process died after its namespaces went
  for (const entry of readdirSync(tmpdir())) {
    const pid = Number(/^sbxsw-(\d+)-/.exec(entry)?.[1])
    if (pid && pid !== process.pid && !existsSync(`/proc/${pid}`) && !existsSync(`/run/netns/${PREFIX}-${pid}-sw`)) rmSync(join(tmpdir(), entry), {recursive: true, force: true})
  }
  let list: string[] = []
  try {
    list = ip('netns', 'list')
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter((n) => n.startsWith(`${PREFIX}-`))
  } catch {
    return removed
  }
  const ids = new Set(list.map((n) => n.split('-').slice(0, 2).join('-')))
  for (const id of ids) {
    const pid = Number(id.split('-')[1])
    if (Number.isInteger(pid) && pid !== process.pid && existsSync(`/proc/${pid}`)) continue
    destroyById(
      id,
      list.filter((n) => n.startsWith(`${id}-`)),
    )
    removed.push(id)
  }
  return removed
}

function nsPids(ns: string): number[] {
  try {
    return ip('netns', 'pids', ns)
      .split('\n')
      .map(Number)
      .filter((n) => n > 0)
  } catch {
    return []
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, stepMs))
  }
}

function pingSocket(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({socketPath: socket, path: '/_ping', timeout: 2000}, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => req.destroy())
    req.end()
  })
}

function dockerdPid(node: NamespacedNode): number | undefined {
  try {
    const pid = Number(readFileSync(join(node.dir, 'run', 'docker.pid'), 'utf8').trim())
    return pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/** Start (or restart) the node's dockerd; resolves when its API answers. */
export async function startEngine(node: NamespacedNode): Promise<void> {
  const run = join(node.dir, 'run')
  rmSync(run, {recursive: true, force: true})
  mkdirSync(run, {recursive: true})
  const script = [
    'set -e',
    'mount --make-rprivate /',
    `mkdir -p ${node.dir}/cgroup`,
    `mount --rbind /sys/fs/cgroup ${node.dir}/cgroup`,
    'mount -t sysfs sysfs /sys',
    `mount --move ${node.dir}/cgroup /sys/fs/cgroup`,
    `mount --bind ${run} /run`,
    `mount --bind ${node.dir}/resolv.conf /etc/resolv.conf`,
    `hostname ${node.name}`,
    `exec dockerd --data-root ${node.dir}/data --host unix:///run/docker.sock --log-level warn`,
  ].join('\n')
  writeFileSync(join(node.dir, 'start.sh'), script, {mode: 0o700})
  const log = openSync(join(node.dir, 'dockerd.log'), 'a')
  const child = spawn('nsenter', [`--net=/run/netns/${node.netns}`, 'unshare', '--mount', '--uts', 'sh', join(node.dir, 'start.sh')], {
    detached: true,
    stdio: ['ignore', log, log],
  })
  child.unref()
  let exited: number | null = null
  child.once('exit', (code) => (exited = code ?? -1))
  await until(
    `dockerd of ${node.name}`,
    async () => {
      if (exited !== null) throw new Error(`dockerd of ${node.name} exited (${exited}): ${logTail(node)}`)
      return existsSync(node.socket) && (await pingSocket(node.socket))
    },
    30_000,
  )
}

function logTail(node: NamespacedNode): string {
  try {
    return readFileSync(join(node.dir, 'dockerd.log'), 'utf8').trim().split('\n').slice(-5).join(' | ')
  } catch {
    return '(no log)'
  }
}

/**
 * Stop the node's engine: SIGTERM to its dockerd (it stops its containers, as a host going
 * down does) and wait until every process of the node is gone (SIGKILL after `graceMs`).
 */
export async function stopEngine(node: NamespacedNode, graceMs = 20_000): Promise<void> {
  const pid = dockerdPid(node)
  if (pid && alive(pid)) {
    process.kill(pid, 'SIGTERM')
    await until(`dockerd of ${node.name} to exit`, () => !alive(pid), graceMs).catch(() => process.kill(pid, 'SIGKILL'))
  }
  for (const p of nsPids(node.netns)) {
    try {
      process.kill(p, 'SIGKILL')
    } catch {
      /* gone */
    }
  }
  await until(`the processes of ${node.name} to end`, () => nsPids(node.netns).length === 0, 10_000)
}

/** Build `count` namespaced nodes on one bridge and start their engines. */
export async function createCluster(count: number): Promise<NamespacedCluster> {
  const missing = namespacedDockerMissing()
  if (missing) throw new Error(`namespaced Docker engines cannot run here: ${missing}`)
  removeStaleClusters()
  const id = `${PREFIX}-${process.pid}`
  const subnet = freeSubnet()
  const dir = mkdtempSync(join(tmpdir(), `${id}-`))
  const cluster: NamespacedCluster = {id, subnet, hostIp: `${subnet}.1`, nodes: [], dir}
  const sw = `${id}-sw`
  const short = `s${process.pid}`
  try {
    ip('netns', 'add', sw)
    inNs(sw, 'ip', 'link', 'set', 'lo', 'up')
    inNs(sw, 'ip', 'link', 'add', 'br0', 'type', 'bridge')
    inNs(sw, 'ip', 'link', 'set', 'br0', 'up')
    ip('link', 'add', `${short}h`, 'type', 'veth', 'peer', 'name', 'host', 'netns', sw)
    ip('addr', 'add', `${cluster.hostIp}/24`, 'dev', `${short}h`)
    ip('link', 'set', `${short}h`, 'up')
    inNs(sw, 'ip', 'link', 'set', 'host', 'master', 'br0', 'up')
    for (let i = 1; i <= count; i++) {
      const name = `${id}-n${i}`
      const nodeDir = join(dir, `n${i}`)
      mkdirSync(join(nodeDir, 'data'), {recursive: true})
      writeFileSync(join(nodeDir, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n')
      const node: NamespacedNode = {
        name: `node${i}`,
        ip: `${subnet}.${10 + i}`,
        socket: join(nodeDir, 'run', 'docker.sock'),
        dockerHost: `unix://${join(nodeDir, 'run', 'docker.sock')}`,
        netns: name,
        dir: nodeDir,
      }
      ip('netns', 'add', name)
      ip('link', 'add', `${short}n${i}`, 'netns', name, 'type', 'veth', 'peer', 'name', `n${i}`, 'netns', sw)
      inNs(sw, 'ip', 'link', 'set', `n${i}`, 'master', 'br0', 'up')
      inNs(name, 'ip', 'link', 'set', 'lo', 'up')
      inNs(name, 'ip', 'link', 'set', `${short}n${i}`, 'name', 'eth0')
      inNs(name, 'ip', 'addr', 'add', `${node.ip}/24`, 'dev', 'eth0')
      inNs(name, 'ip', 'link', 'set', 'eth0', 'up')
      inNs(name, 'ip', 'route', 'add', 'default', 'via', cluster.hostIp)
      cluster.nodes.push(node)
    }
    await Promise.all(cluster.nodes.map((n) => startEngine(n)))
    return cluster
  } catch (error) {
    await destroyCluster(cluster)
    throw error
  }
}

function destroyById(id: string, namespaces: string[]): void {
  for (const ns of namespaces) {
    for (const p of nsPids(ns)) {
      try {
        process.kill(p, 'SIGKILL')
      } catch {
        /* gone */
      }
    }
  }
  for (const ns of namespaces) {
    try {
      ip('netns', 'del', ns)
    } catch {
      /* gone */
    }
  }
  const short = `s${id.split('-')[1]}h`
  try {
    ip('link', 'del', short)
  } catch {
    /* went with its peer */
  }
  for (const entry of readdirSync(tmpdir())) if (entry.startsWith(`${id}-`)) rmSync(join(tmpdir(), entry), {recursive: true, force: true})
}

/** Stop every engine of the cluster and remove its namespaces, links and folders. */
export async function destroyCluster(cluster: NamespacedCluster): Promise<void> {
  await Promise.all(cluster.nodes.map((n) => stopEngine(n, 15_000).catch(() => {})))
  destroyById(cluster.id, [...cluster.nodes.map((n) => n.netns), `${cluster.id}-sw`])
}

/** Run the docker CLI against one node's engine. */
export function nodeDocker(node: NamespacedNode, args: string[], input?: string): string {
  return execFileSync('docker', args, {encoding: 'utf8', env: {...process.env, DOCKER_HOST: node.dockerHost}, input, stdio: ['pipe', 'pipe', 'pipe']})
}

/** Form a swarm: the first node initialises it, the others join as workers. */
export function formSwarm(cluster: NamespacedCluster): void {
  const [first, ...rest] = cluster.nodes
  nodeDocker(first, ['swarm', 'init', '--advertise-addr', first.ip, '--listen-addr', `${first.ip}:2377`])
  const token = nodeDocker(first, ['swarm', 'join-token', '-q', 'worker']).trim()
  for (const n of rest) nodeDocker(n, ['swarm', 'join', '--token', token, '--advertise-addr', n.ip, `${first.ip}:2377`])
}
