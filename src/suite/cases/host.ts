/**
 * Host and secrets: nothing of the host (files, names, processes, environment, Docker
 * socket, devices) is visible, and the process inside has no privileges to get at it.
 * Boundary probes: they use os/open/ctypes, so they run with the code policy off.
 */
import {code, expectValue} from '../expect.js'
import type {CaseContext, SuiteCase} from '../types.js'

/** names an environment must not contain (besides the canary itself) */
const SECRET_NAME = /SANDBOX_|TOKEN|SECRET|PASSWORD|PASSWD|ACCESS_KEY|API_KEY|PRIVATE_KEY|AGENTRUN|E2B_|AWS_|DOCKER_|CREDENTIAL|DATABASE_URL|_DB_URL/i

function envClean(env: Record<string, unknown>, ctx: CaseContext, where: string): true | string {
  for (const [name, value] of Object.entries(env)) {
    if (name === ctx.canaryName) return `${where} has ${name}`
    if (ctx.canary && String(value).includes(ctx.canary)) return `${where} contains the canary value (in ${name})`
    if (SECRET_NAME.test(name)) return `${where} has a secret-looking variable ${name}`
  }
  return true
}

function environText(text: unknown, ctx: CaseContext, where: string): true | string {
  const s = String(text ?? '')
  if (ctx.canary && s.includes(ctx.canary)) return `${where} contains the canary value`
  if (s.includes(ctx.canaryName + '=')) return `${where} has ${ctx.canaryName}`
  return true
}

const both = (...outcomes: Array<true | string>): true | string => outcomes.find((o) => o !== true) ?? true

export const hostCases: SuiteCase[] = [
  {
    id: 'host-shadow-py',
    title: '/etc/shadow cannot be read (Python)',
    tags: ['host', 'files'],
    language: 'python',
    code: code`
      def main():
          try:
              with open("/etc/shadow") as f:
                  return {"read": f.read(200)}
          except OSError as exc:
              return {"error": "%s: %s" % (type(exc).__name__, exc)}
    `,
    expect: (r) => expectValue(r, (v) => (v.error ? true : `read /etc/shadow: ${String(v.read).slice(0, 40)}…`), 'permission denied'),
  },
  {
    id: 'host-shadow-node',
    title: '/etc/shadow cannot be read (Node.js)',
    tags: ['host', 'files'],
    language: 'nodejs',
    code: code`
      const fs = require('fs')
      function main() {
        try {
          return {read: fs.readFileSync('/etc/shadow', 'utf8').slice(0, 200)}
        } catch (e) {
          return {error: e.code + ': ' + e.message}
        }
      }
    `,
    expect: (r) => expectValue(r, (v) => (v.error ? true : `read /etc/shadow`), 'permission denied'),
  },
  {
    id: 'host-planted-file-py',
    title: 'A file planted on the host (and the host work tree) is not visible (Python)',
    tags: ['host', 'files'],
    language: 'python',
    arguments: (ctx) => ({planted: ctx.host.plantedPath, cwd: ctx.host.cwd}),
    code: code`
      import os

      def main(planted, cwd):
          seen = {}
          for path in [planted, os.path.dirname(planted), os.path.join(cwd, "package.json")]:
              seen[path] = os.path.exists(path)
          try:
              leaked = [n for n in os.listdir("/tmp") if n.startswith("sandbox-suite-")]
          except OSError:
              leaked = []
          return {"seen": seen, "tmp_entries": leaked}
    `,
    expect: (r, ctx) =>
      expectValue(
        r,
        (v) => {
          const seen = Object.entries((v.seen ?? {}) as Record<string, boolean>).filter(([path, exists]) => exists && !['/', '/tmp', '/workspace'].includes(path))
          if (seen.length) return `host paths visible: ${seen.map(([p]) => p).join(', ')}`
          if ((v.tmp_entries as string[]).length) return `host /tmp entries visible: ${String(v.tmp_entries)}`
          return ctx.host.plantedPath ? true : 'no planted file'
        },
        'host files are not there',
      ),
  },
  {
    id: 'host-planted-file-node',
    title: 'A file planted on the host is not visible (Node.js)',
    tags: ['host', 'files'],
    language: 'nodejs',
    arguments: (ctx) => ({planted: ctx.host.plantedPath}),
    code: code`
      const fs = require('fs')
      function main({planted}) {
        let content = null
        try { content = fs.readFileSync(planted, 'utf8') } catch (e) { content = null }
        return {exists: fs.existsSync(planted), content}
      }
    `,
    expect: (r, ctx) =>
      expectValue(r, (v) => (v.exists || (v.content && String(v.content).includes(ctx.host.plantedContent)) ? 'the planted host file is readable' : true), 'not visible'),
  },
  {
    id: 'host-hostname-py',
    title: "The host's hostname is not visible (Python)",
    tags: ['host', 'identity'],
    language: 'python',
    code: code`
      import os, socket

      def main():
          names = {"uname": os.uname().nodename, "gethostname": socket.gethostname()}
          for path in ["/etc/hostname", "/proc/sys/kernel/hostname"]:
              try:
                  with open(path) as f:
                      names[path] = f.read().strip()
              except OSError as exc:
                  names[path] = None
          return names
    `,
    expect: (r, ctx) =>
      expectValue(
        r,
        (v) => {
          const same = Object.entries(v).filter(([, name]) => name === ctx.host.hostname)
          return same.length ? `the host's hostname "${ctx.host.hostname}" is visible via ${same.map(([k]) => k).join(', ')}` : true
        },
        'a different hostname',
      ),
  },
  {
    id: 'host-hostname-node',
    title: "The host's hostname is not visible (Node.js)",
    tags: ['host', 'identity'],
    language: 'nodejs',
    policy: 'any',
    code: code`
      const os = require('os')
      function main() {
        return {hostname: os.hostname()}
      }
    `,
    expect: (r, ctx) => expectValue(r, (v) => (v.hostname === ctx.host.hostname ? `hostname is the host's (${ctx.host.hostname})` : true), 'a different hostname'),
  },
  {
    id: 'host-machine-id-py',
    title: "The host's machine-id and boot id are not visible",
    tags: ['host', 'identity'],
    language: 'python',
    code: code`
      def main():
          out = {}
          for path in ["/etc/machine-id", "/var/lib/dbus/machine-id", "/proc/sys/kernel/random/boot_id", "/sys/class/dmi/id/product_uuid"]:
              try:
                  with open(path) as f:
                      out[path] = f.read().strip()
              except OSError:
                  out[path] = None
          return out
    `,
    expect: (r, ctx) =>
      expectValue(
        r,
        (v) => {
          const secrets = [ctx.host.machineId, ctx.host.bootId].filter((x): x is string => Boolean(x))
          const leaked = Object.entries(v).filter(([, value]) => typeof value === 'string' && secrets.includes(value))
          return leaked.length ? `host identifiers visible: ${leaked.map(([k]) => k).join(', ')}` : true
        },
        'host identifiers absent or different',
      ),
  },
  {
    id: 'host-proc1-py',
    title: "PID 1 is the sandbox's runner, not the host's init (Python)",
    tags: ['host', 'processes'],
    language: 'python',
    code: code`
      def main():
          with open("/proc/1/cmdline", "rb") as f:
              cmd = f.read().split(b"\0")
          return {"argv0": cmd[0].decode(errors="replace"), "args": len(cmd)}
    `,
    expect: (r) => expectValue(r, (v) => (/(^|\/)python3?(\.\d+)?$/.test(String(v.argv0)) ? true : `PID 1 is ${String(v.argv0)}`), 'PID 1 is python3 (the runner)'),
  },
  {
    id: 'host-proc1-node',
    title: "PID 1 is the sandbox's runner, not the host's init (Node.js)",
    tags: ['host', 'processes'],
    language: 'nodejs',
    code: code`
      const fs = require('fs')
      function main() {
        const argv = fs.readFileSync('/proc/1/cmdline', 'utf8').split('\0')
        return {argv0: argv[0]}
      }
    `,
    expect: (r) => expectValue(r, (v) => (/(^|\/)(node|nodejs)$/.test(String(v.argv0)) ? true : `PID 1 is ${String(v.argv0)}`), 'PID 1 is node (the runner)'),
  },
  {
    id: 'host-process-list-py',
    title: "Only the sandbox's own processes are visible in /proc",
    tags: ['host', 'processes'],
    language: 'python',
    code: code`
      import os

      def main():
          procs = {}
          for pid in os.listdir("/proc"):
              if not pid.isdigit():
                  continue
              try:
                  with open("/proc/%s/cmdline" % pid, "rb") as f:
                      procs[pid] = f.read().split(b"\0")[0].decode(errors="replace")
              except OSError:
                  procs[pid] = "?"
          return {"procs": procs}
    `,
    expect: (r) =>
      expectValue(
        r,
        (v) => {
          const procs = (v.procs ?? {}) as Record<string, string>
          const foreign = Object.entries(procs).filter(([, cmd]) => /dockerd|containerd|systemd|sshd|runsc|vitest|bin\/(dev|run)\.js|\binit\b/.test(cmd))
          if (foreign.length) return `host processes visible: ${foreign.map(([p, c]) => `${p}:${c}`).join(', ')}`
          return Object.keys(procs).length <= 8 ? true : `${Object.keys(procs).length} processes visible`
        },
        'only the runner',
      ),
  },
  {
    id: 'host-env-py',
    title: "The manager's environment (canary, secrets) is not visible (Python)",
    tags: ['host', 'secrets'],
    language: 'python',
    code: code`
      import os

      def main():
          def environ(path):
              try:
                  with open(path, "rb") as f:
                      return f.read().decode(errors="replace")
              except OSError as exc:
                  return ""
          return {"env": dict(os.environ), "self": environ("/proc/self/environ"), "pid1": environ("/proc/1/environ")}
    `,
    expect: (r, ctx) =>
      expectValue(
        r,
        (v) =>
          both(envClean((v.env ?? {}) as Record<string, unknown>, ctx, 'os.environ'), environText(v.self, ctx, '/proc/self/environ'), environText(v.pid1, ctx, '/proc/1/environ')),
        `no ${ctx.canaryName}${ctx.canary ? ' (value checked)' : ''}, no secret-looking variables`,
      ),
  },
  {
    id: 'host-env-node',
    title: "The manager's environment (canary, secrets) is not visible (Node.js)",
    tags: ['host', 'secrets'],
    language: 'nodejs',
    policy: 'any',
    code: code`
      function main() {
        return {env: {...process.env}}
      }
    `,
    expect: (r, ctx) => expectValue(r, (v) => envClean((v.env ?? {}) as Record<string, unknown>, ctx, 'process.env'), `no ${ctx.canaryName}, no secrets`),
  },
  {
    id: 'host-docker-socket-py',
    title: 'No Docker or containerd socket is reachable (Python)',
    tags: ['host', 'docker'],
    language: 'python',
    code: code`
      import os, socket

      def main():
          paths = ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock", "/var/run/containerd/containerd.sock", "/run/docker/plugins", "/var/lib/docker"]
          found = [p for p in paths if os.path.exists(p)]
          connected = []
          for p in paths[:4]:
              s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
              try:
                  s.settimeout(1)
                  s.connect(p)
                  connected.append(p)
              except OSError:
                  pass
              finally:
                  s.close()
          return {"found": found, "connected": connected}
    `,
    expect: (r) =>
      expectValue(
        r,
        (v) => {
          const found = (v.found as string[]) ?? []
          const connected = (v.connected as string[]) ?? []
          return connected.length ? `connected to ${connected.join(', ')}` : found.length ? `present: ${found.join(', ')}` : true
        },
        'absent',
      ),
  },
  {
    id: 'host-docker-socket-node',
    title: 'No Docker socket is reachable (Node.js)',
    tags: ['host', 'docker'],
    language: 'nodejs',
    code: code`
      const net = require('net')
      const fs = require('fs')
      async function main() {
        const exists = fs.existsSync('/var/run/docker.sock') || fs.existsSync('/run/docker.sock')
        const connected = await new Promise((resolve) => {
          const s = net.connect('/var/run/docker.sock')
          s.on('connect', () => { s.destroy(); resolve(true) })
          s.on('error', () => resolve(false))
        })
        return {exists, connected}
      }
    `,
    expect: (r) => expectValue(r, (v) => (v.exists || v.connected ? 'the Docker socket is there' : true), 'absent'),
  },
  {
    id: 'host-capabilities-py',
    title: 'All capabilities are dropped (CapEff/CapPrm/CapBnd/CapAmb are zero)',
    tags: ['host', 'privileges'],
    language: 'python',
    code: code`
      def main():
          caps = {}
          for pid in ["self", "1"]:
              with open("/proc/%s/status" % pid) as f:
                  for line in f:
                      if line.startswith("Cap"):
                          key, value = line.split(":", 1)
                          caps["%s.%s" % (pid, key)] = value.strip()
          return caps
    `,
    expect: (r) =>
      expectValue(
        r,
        (v) => {
          const wanted = ['self.CapEff', 'self.CapPrm', 'self.CapBnd', '1.CapEff', '1.CapPrm']
          const missing = wanted.filter((k) => !(k in v))
          if (missing.length) return `missing ${missing.join(', ')}`
          const nonzero = Object.entries(v).filter(([k, x]) => k !== 'self.CapInh' && k !== '1.CapInh' && !/^0+$/.test(String(x)))
          return nonzero.length ? `capabilities present: ${nonzero.map(([k, x]) => `${k}=${String(x)}`).join(', ')}` : true
        },
        'no capabilities',
      ),
  },
  {
    id: 'host-no-new-privs-py',
    title: 'no_new_privs is set (setuid binaries cannot raise privileges)',
    tags: ['host', 'privileges'],
    language: 'python',
    code: code`
      import ctypes

      def main():
          libc = ctypes.CDLL(None, use_errno=True)
          PR_GET_NO_NEW_PRIVS = 39
          prctl = libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
          status = None
          with open("/proc/self/status") as f:
              for line in f:
                  if line.startswith("NoNewPrivs:"):
                      status = int(line.split(":")[1])
          return {"prctl": prctl, "status": status}
    `,
    expect: (r) =>
      expectValue(
        r,
        (v) => (v.prctl === 1 && (v.status === null || v.status === 1) ? true : `no_new_privs prctl=${String(v.prctl)} status=${String(v.status)}`),
        'no_new_privs = 1',
      ),
  },
  {
    id: 'host-uid-py',
    title: 'Code runs as nobody (uid/gid 65534), no supplementary groups (Python)',
    tags: ['host', 'privileges'],
    language: 'python',
    code: code`
      import os

      def main():
          return {"res_uid": list(os.getresuid()), "res_gid": list(os.getresgid()), "groups": os.getgroups()}
    `,
    expect: (r) =>
      expectValue(
        r,
        (v) => {
          const ids = [...(v.res_uid as number[]), ...(v.res_gid as number[])]
          if (!ids.every((id) => id === 65534)) return `ids ${JSON.stringify(v)}`
          return (v.groups as number[]).every((g) => g === 65534) ? true : `supplementary groups ${JSON.stringify(v.groups)}`
        },
        'uid=gid=65534',
      ),
  },
  {
    id: 'host-uid-node',
    title: 'Code runs as nobody (uid/gid 65534) (Node.js)',
    tags: ['host', 'privileges'],
    language: 'nodejs',
    policy: 'any',
    code: code`
      function main() {
        return {uid: process.getuid(), euid: process.geteuid(), gid: process.getgid(), egid: process.getegid()}
      }
    `,
    expect: (r) => expectValue(r, (v) => (Object.values(v).every((id) => id === 65534) ? true : `ids ${JSON.stringify(v)}`), 'uid=gid=65534'),
  },
  {
    id: 'host-setuid-py',
    title: 'Becoming root is refused (setuid/setgid/setgroups)',
    tags: ['host', 'privileges'],
    language: 'python',
    code: code`
      import os

      def main():
          out = {}
          for name, call in [("setuid", lambda: os.setuid(0)), ("setgid", lambda: os.setgid(0)), ("setgroups", lambda: os.setgroups([0])), ("seteuid", lambda: os.seteuid(0))]:
              try:
                  call()
                  out[name] = "succeeded"
              except OSError as exc:
                  out[name] = "%s: %s" % (type(exc).__name__, exc)
          out["uid"] = os.getuid()
          return out
    `,
    expect: (r) =>
      expectValue(
        r,
        (v) => {
          const ok = Object.entries(v).filter(([, x]) => x === 'succeeded')
          return ok.length || v.uid !== 65534 ? `privilege change succeeded: ${ok.map(([k]) => k).join(', ')}` : true
        },
        'EPERM everywhere',
      ),
  },
  {
    id: 'host-readonly-root-py',
    title: 'The root file system is read-only, even where nobody may write (/var/tmp) (Python)',
    tags: ['host', 'files'],
    language: 'python',
    code: code`
      import os, sysconfig

      def main():
          root_options = None
          with open("/proc/mounts") as f:
              for line in f:
                  parts = line.split()
                  if parts[1] == "/":
                      root_options = parts[3].split(",")
          writes = {}
          for path in ["/var/tmp/probe", "/run/lock/probe", "/etc/probe", "/usr/lib/probe", sysconfig.get_paths()["purelib"] + "/probe.py", "/probe"]:
              try:
                  with open(path, "w") as f:
                      f.write("x")
                  writes[path] = "written"
              except OSError as exc:
                  writes[path] = "%s: %s" % (type(exc).__name__, exc)
          return {"root_options": root_options, "writes": writes}
    `,
    expect: (r) =>
      expectValue(
        r,
        (v) => {
          const opts = (v.root_options as string[] | null) ?? []
          if (!opts.includes('ro')) return `/ is mounted ${opts.join(',') || '(not found)'}`
          const written = Object.entries((v.writes ?? {}) as Record<string, string>).filter(([, x]) => x === 'written')
          if (written.length) return `wrote ${written.map(([p]) => p).join(', ')}`
          const varTmp = String((v.writes as Record<string, string>)['/var/tmp/probe'])
          return /Read-only|Errno 30|Permission denied|Errno 13|No such file/.test(varTmp) ? true : `/var/tmp: ${varTmp}`
        },
        '/ is ro; every write refused',
      ),
  },
  {
    id: 'host-readonly-root-node',
    title: 'The root file system is read-only (Node.js)',
    tags: ['host', 'files'],
    language: 'nodejs',
    code: code`
      const fs = require('fs')
      function main() {
        const writes = {}
        for (const p of ['/var/tmp/probe', '/etc/probe', '/usr/lib/node_modules/probe.js', '/usr/local/lib/probe.js']) {
          try { fs.writeFileSync(p, 'x'); writes[p] = 'written' } catch (e) { writes[p] = e.code }
        }
        return writes
      }
    `,
    expect: (r) =>
      expectValue(
        r,
        (v) => {
          const written = Object.entries(v).filter(([, x]) => x === 'written')
          if (written.length) return `wrote ${written.map(([p]) => p).join(', ')}`
          return v['/var/tmp/probe'] === 'EROFS' || v['/var/tmp/probe'] === 'ENOENT' ? true : `/var/tmp: ${String(v['/var/tmp/probe'])} (expected EROFS)`
        },
        'EROFS',
      ),
  },
  {
    id: 'host-mounts-py',
    title: 'Only the expected mounts exist; /workspace and /tmp are size-limited tmpfs',
    tags: ['host', 'files'],
    language: 'python',
    code: code`
      def main():
          mounts = []
          with open("/proc/mounts") as f:
              for line in f:
                  dev, point, fstype, options = line.split()[:4]
                  mounts.append({"point": point, "type": fstype, "options": options})
          return {"mounts": mounts}
    `,
    expect: (r, ctx) =>
      expectValue(
        r,
        (v) => {
          const mounts = (v.mounts ?? []) as Array<{point: string; type: string; options: string}>
          const allowed = (p: string) => ['/', '/tmp', '/workspace', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf'].includes(p) || /^\/(proc|sys|dev)(\/|$)/.test(p)
          const extra = mounts.filter((m) => !allowed(m.point))
          if (extra.length) return `unexpected mounts: ${extra.map((m) => `${m.point} (${m.type})`).join(', ')}`
          if (mounts.some((m) => m.point.includes('docker.sock') || m.point.startsWith(ctx.host.cwd))) return 'a host path is mounted'
          for (const point of ['/workspace', '/tmp']) {
            const m = mounts.find((x) => x.point === point)
            if (!m || m.type !== 'tmpfs') return `${point} is not a tmpfs (${m ? m.type : 'missing'})`
            if (!/(^|,)size=/.test(m.options)) return `${point} has no size limit (${m.options})`
          }
          return true
        },
        'tmpfs /workspace and /tmp with size limits; no host mounts',
      ),
  },
  {
    id: 'host-devices-py',
    title: 'No block devices, /dev/mem, /dev/kvm or GPU devices',
    tags: ['host', 'devices'],
    language: 'python',
    code: code`
      import os, stat

      def main():
          found = []
          for root, dirs, files in os.walk("/dev"):
              for name in dirs + files:
                  path = os.path.join(root, name)
                  try:
                      st = os.lstat(path)
                  except OSError:
                      continue
                  if stat.S_ISBLK(st.st_mode):
                      found.append("block:" + path)
                  elif name in ("mem", "kmem", "port", "kvm", "dri", "nvidia0", "nvidiactl", "sda", "vda", "nvme0", "xvda", "loop0", "fuse-host"):
                      found.append(path)
          return {"found": found}
    `,
    expect: (r) => expectValue(r, (v) => ((v.found as string[]).length ? `devices present: ${(v.found as string[]).join(', ')}` : true), 'none present'),
  },
  {
    id: 'host-kernel-calls-py',
    title: 'mount, sethostname, kernel tunables and sysrq are refused',
    tags: ['host', 'privileges'],
    language: 'python',
    code: code`
      import ctypes, os

      def main():
          libc = ctypes.CDLL(None, use_errno=True)
          out = {}
          os.makedirs("/workspace/mnt", exist_ok=True)
          rc = libc.mount(b"none", b"/workspace/mnt", b"tmpfs", 0, None)
          out["mount"] = "succeeded" if rc == 0 else os.strerror(ctypes.get_errno())
          name = b"pwned"
          rc = libc.sethostname(name, len(name))
          out["sethostname"] = "succeeded" if rc == 0 else os.strerror(ctypes.get_errno())
          for path in ["/proc/sys/kernel/hostname", "/proc/sysrq-trigger", "/proc/sys/vm/drop_caches", "/sys/kernel/mm/transparent_hugepage/enabled"]:
              try:
                  with open(path, "w") as f:
                      f.write("1")
                  out[path] = "succeeded"
              except OSError as exc:
                  out[path] = "%s: %s" % (type(exc).__name__, exc)
          return out
    `,
    expect: (r) =>
      expectValue(
        r,
        (v) => {
          const ok = Object.entries(v).filter(([, x]) => x === 'succeeded')
          return ok.length ? `allowed: ${ok.map(([k]) => k).join(', ')}` : true
        },
        'all refused',
      ),
  },
]
