/**
 * Network: no name resolution, no route to the host's loopback (listeners the suite starts
 * on 127.0.0.1 and ::1 record every connection and datagram), no raw sockets, no interface
 * but lo. The probes only ever address 127.0.0.1 and ::1 — never any other address, even
 * in a case expected to fail. (Name resolution sends a query to the configured resolver and
 * nothing else; the answer is never connected to.)
 */
import {code, expectValue} from '../expect.js'
import type {CaseContext, ListenerKind, SuiteCase} from '../types.js'

/** host-side evidence (the listener saw nothing) plus the probe's own account */
function unreachable(kind: ListenerKind) {
  return (v: Record<string, unknown>, ctx: CaseContext): true | string => {
    const listener = ctx.listeners[kind]
    if (!listener) return `no ${kind} listener`
    if (listener.hits > 0) return `the host's ${listener.address} ${kind.slice(0, 3).toUpperCase()} listener on port ${listener.port} was reached ${listener.hits} time(s)`
    if (listener.received.includes(ctx.token)) return 'the host listener received the probe token'
    if (v.reached) return `the probe reached the host: ${String(v.reached)}`
    return true
  }
}

const TCP_PY = (host: string, kind: ListenerKind) => code`
  import socket

  def main(port, token):
      s = socket.socket(socket.${kind === 'tcp6' ? 'AF_INET6' : 'AF_INET'}, socket.SOCK_STREAM)
      s.settimeout(3)
      try:
          s.connect(("${host}", port))
          s.sendall(("GET /" + token + " HTTP/1.0\r\n\r\n").encode())
          return {"reached": s.recv(100).decode(errors="replace") or "connected"}
      except OSError as exc:
          return {"error": "%s: %s" % (type(exc).__name__, exc)}
      finally:
          s.close()
`

const TCP_NODE = (host: string) => code`
  const net = require('net')
  async function main({port, token}) {
    return await new Promise((resolve) => {
      const s = net.connect({host: '${host}', port, timeout: 3000})
      s.on('connect', () => s.write('GET /' + token + ' HTTP/1.0\r\n\r\n'))
      s.on('data', (d) => { s.destroy(); resolve({reached: String(d)}) })
      s.on('timeout', () => { s.destroy(); resolve({error: 'ETIMEDOUT'}) })
      s.on('error', (e) => resolve({error: e.code + ': ' + e.message}))
    })
  }
`

const UDP_PY = (host: string, kind: ListenerKind) => code`
  import socket

  def main(port, token):
      s = socket.socket(socket.${kind === 'udp6' ? 'AF_INET6' : 'AF_INET'}, socket.SOCK_DGRAM)
      s.settimeout(1.5)
      out = {}
      try:
          for _ in range(3):
              s.sendto(token.encode(), ("${host}", port))
          out["sent"] = True
          out["reached"] = s.recvfrom(100)[0].decode(errors="replace")
      except OSError as exc:
          out["error"] = "%s: %s" % (type(exc).__name__, exc)
      finally:
          s.close()
      return out
`

const UDP_NODE = (host: string, kind: ListenerKind) => code`
  const dgram = require('dgram')
  async function main({port, token}) {
    return await new Promise((resolve) => {
      const s = dgram.createSocket('${kind}')
      const done = (v) => { try { s.close() } catch {} ; resolve(v) }
      s.on('message', (m) => done({reached: String(m)}))
      s.on('error', (e) => done({error: e.code + ': ' + e.message}))
      for (let i = 0; i < 3; i++) s.send(token, port, '${host}', (e) => { if (e) done({error: e.code}) })
      setTimeout(() => done({error: 'no reply'}), 1500)
    })
  }
`

function listenerCase(id: string, title: string, kind: ListenerKind, language: 'python' | 'nodejs', source: string): SuiteCase {
  return {
    id,
    title,
    tags: ['network', 'loopback'],
    language,
    listeners: [kind],
    arguments: (ctx) => ({port: ctx.listeners[kind]!.port, token: ctx.token}),
    code: source,
    expect: (r, ctx) => expectValue(r, (v) => unreachable(kind)(v, ctx), 'refused inside the sandbox; the host listener saw nothing'),
  }
}

export const networkCases: SuiteCase[] = [
  {
    id: 'net-dns-py',
    title: 'Name resolution fails (Python getaddrinfo)',
    tags: ['network', 'dns'],
    language: 'python',
    code: code`
      import socket

      def main():
          try:
              return {"resolved": [a[4][0] for a in socket.getaddrinfo("example.com", 443)]}
          except OSError as exc:
              return {"error": "%s: %s" % (type(exc).__name__, exc)}
    `,
    expect: (r) => expectValue(r, (v) => (v.resolved ? `example.com resolved to ${JSON.stringify(v.resolved)}` : true), 'no resolution'),
  },
  {
    id: 'net-dns-node',
    title: 'Name resolution fails (Node.js dns.lookup)',
    tags: ['network', 'dns'],
    language: 'nodejs',
    policy: 'any',
    code: code`
      const dns = require('dns')
      async function main() {
        return await new Promise((resolve) => {
          dns.lookup('example.com', {all: true}, (err, addresses) => resolve(err ? {error: err.code} : {resolved: addresses}))
        })
      }
    `,
    expect: (r) => expectValue(r, (v) => (v.resolved ? `example.com resolved to ${JSON.stringify(v.resolved)}` : true), 'no resolution'),
  },
  listenerCase('net-tcp4-py', "TCP to a listener on the host's 127.0.0.1 is unreachable (Python)", 'tcp4', 'python', TCP_PY('127.0.0.1', 'tcp4')),
  listenerCase('net-tcp4-node', "TCP to a listener on the host's 127.0.0.1 is unreachable (Node.js)", 'tcp4', 'nodejs', TCP_NODE('127.0.0.1')),
  listenerCase('net-tcp6-py', "TCP to a listener on the host's ::1 is unreachable (Python)", 'tcp6', 'python', TCP_PY('::1', 'tcp6')),
  listenerCase('net-tcp6-node', "TCP to a listener on the host's ::1 is unreachable (Node.js)", 'tcp6', 'nodejs', TCP_NODE('::1')),
  listenerCase('net-udp4-py', "UDP to a listener on the host's 127.0.0.1 never arrives (Python)", 'udp4', 'python', UDP_PY('127.0.0.1', 'udp4')),
  listenerCase('net-udp4-node', "UDP to a listener on the host's 127.0.0.1 never arrives (Node.js)", 'udp4', 'nodejs', UDP_NODE('127.0.0.1', 'udp4')),
  listenerCase('net-udp6-py', "UDP to a listener on the host's ::1 never arrives (Python)", 'udp6', 'python', UDP_PY('::1', 'udp6')),
  {
    id: 'net-http-node',
    title: "HTTP (Node.js http module) to the host's 127.0.0.1 is unreachable",
    tags: ['network', 'loopback'],
    language: 'nodejs',
    policy: 'any',
    listeners: ['tcp4'],
    arguments: (ctx) => ({port: ctx.listeners.tcp4!.port, token: ctx.token}),
    code: code`
      const http = require('http')
      async function main({port, token}) {
        return await new Promise((resolve) => {
          const req = http.get({host: '127.0.0.1', port, path: '/' + token, timeout: 3000}, (res) => {
            let body = ''
            res.on('data', (c) => (body += c))
            res.on('end', () => resolve({reached: body}))
          })
          req.on('timeout', () => req.destroy(new Error('timeout')))
          req.on('error', (e) => resolve({error: e.code || e.message}))
        })
      }
    `,
    expect: (r, ctx) => expectValue(r, (v) => unreachable('tcp4')(v, ctx), 'unreachable'),
  },
  {
    id: 'net-raw-socket-py',
    title: 'Raw and packet sockets are refused',
    tags: ['network', 'privileges'],
    language: 'python',
    code: code`
      import socket

      def main():
          out = {}
          for name, args in [("raw_icmp", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)), ("raw_tcp", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)), ("packet", (socket.AF_PACKET, socket.SOCK_RAW, 0x0300))]:
              try:
                  s = socket.socket(*args)
                  s.close()
                  out[name] = "opened"
              except OSError as exc:
                  out[name] = "%s: %s" % (type(exc).__name__, exc)
          return out
    `,
    expect: (r) =>
      expectValue(
        r,
        (v) => {
          const opened = Object.entries(v).filter(([, x]) => x === 'opened')
          return opened.length ? `opened: ${opened.map(([k]) => k).join(', ')}` : true
        },
        'EPERM / unsupported',
      ),
  },
  {
    id: 'net-interfaces-py',
    title: 'No network interface but lo (Python)',
    tags: ['network', 'interfaces'],
    language: 'python',
    code: code`
      import socket

      def main():
          names = [name for _, name in socket.if_nameindex()]
          dev = []
          try:
              with open("/proc/net/dev") as f:
                  dev = [line.split(":")[0].strip() for line in f.readlines()[2:]]
          except OSError:
              pass
          return {"if_nameindex": names, "proc_net_dev": dev}
    `,
    expect: (r) =>
      expectValue(
        r,
        (v) => {
          const all = [...new Set([...(v.if_nameindex as string[]), ...(v.proc_net_dev as string[])])]
          const other = all.filter((n) => n !== 'lo')
          return other.length ? `interfaces besides lo: ${other.join(', ')}` : true
        },
        'only lo',
      ),
  },
  {
    id: 'net-interfaces-node',
    title: 'No network interface but lo (Node.js)',
    tags: ['network', 'interfaces'],
    language: 'nodejs',
    policy: 'any',
    code: code`
      const os = require('os')
      function main() {
        const ifs = os.networkInterfaces()
        return {names: Object.keys(ifs), addresses: Object.values(ifs).flat().map((a) => a.address)}
      }
    `,
    expect: (r) =>
      expectValue(
        r,
        (v) => {
          const other = (v.names as string[]).filter((n) => n !== 'lo')
          return other.length ? `interfaces besides lo: ${other.join(', ')} (${(v.addresses as string[]).join(', ')})` : true
        },
        'only lo',
      ),
  },
]
