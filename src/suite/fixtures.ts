/**
 * Host-side fixtures of the suite: loopback listeners (127.0.0.1 and ::1 only, never any
 * other address) that record whether sandboxed code reached them, facts about the host that
 * the sandbox must not see, and a file planted on the host.
 */
import {randomBytes} from 'node:crypto'
import {createSocket, type Socket as UdpSocket} from 'node:dgram'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server, type Socket} from 'node:net'
import {hostname, release, tmpdir} from 'node:os'
import {join} from 'node:path'

import type {HostFacts, HostListener, ListenerKind} from './types.js'

const MAX_RECEIVED = 64 * 1024

export const LOOPBACK: Record<ListenerKind, string> = {tcp4: '127.0.0.1', tcp6: '::1', udp4: '127.0.0.1', udp6: '::1'}

export interface RunningListener {
  state: HostListener
  close(): Promise<void>
}

/** Start one listener on the host's loopback (port chosen by the OS). Rejects when the address cannot be bound. */
export async function startListener(kind: ListenerKind): Promise<RunningListener> {
  const address = LOOPBACK[kind]
  const state: HostListener = {kind, address, port: 0, hits: 0, received: ''}
  const note = (data: Buffer) => {
    if (state.received.length < MAX_RECEIVED) state.received += data.toString('utf8').slice(0, MAX_RECEIVED - state.received.length)
  }
  if (kind === 'tcp4' || kind === 'tcp6') {
    const sockets = new Set<Socket>()
    const server: Server = createServer((socket) => {
      state.hits++
      sockets.add(socket)
      socket.on('data', (d) => {
        note(d)
        // answer like a tiny HTTP server so a client that got through has something to show
        socket.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 17\r\n\r\nREACHED-THE-HOST\n')
      })
      socket.on('error', () => {})
      socket.on('close', () => sockets.delete(socket))
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({host: address, port: 0, ipv6Only: kind === 'tcp6'}, () => resolve())
    })
    state.port = (server.address() as {port: number}).port
    return {
      state,
      close: () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy()
          server.close(() => resolve())
        }),
    }
  }
  const socket: UdpSocket = createSocket({type: kind === 'udp4' ? 'udp4' : 'udp6', ipv6Only: kind === 'udp6'})
  socket.on('message', (msg, rinfo) => {
    state.hits++
    note(msg)
    socket.send('REACHED-THE-HOST', rinfo.port, rinfo.address)
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(0, address, () => resolve())
  })
  socket.removeAllListeners('error')
  socket.on('error', () => {})
  state.port = socket.address().port
  return {state, close: () => new Promise<void>((resolve) => socket.close(() => resolve()))}
}

function readTrimmed(path: string): string | null {
  try {
    const text = readFileSync(path, 'utf8').trim()
    return text || null
  } catch {
    return null
  }
}

export interface HostFixture {
  facts: HostFacts
  /** remove the planted file */
  dispose(): void
}

/** Collect host facts and plant a file the sandbox must not see. */
export function prepareHost(token = randomBytes(8).toString('hex')): HostFixture {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-suite-'))
  const plantedPath = join(dir, `planted-${token}.txt`)
  const plantedContent = `sandbox-suite host secret ${token}`
  writeFileSync(plantedPath, plantedContent, {mode: 0o644})
  const facts: HostFacts = {
    hostname: hostname(),
    kernelRelease: release(),
    procVersion: readTrimmed('/proc/version'),
    machineId: readTrimmed('/etc/machine-id') ?? readTrimmed('/var/lib/dbus/machine-id'),
    bootId: readTrimmed('/proc/sys/kernel/random/boot_id'),
    plantedPath,
    plantedContent,
    cwd: process.cwd(),
  }
  return {
    facts,
    dispose: () => {
      if (existsSync(dir)) rmSync(dir, {recursive: true, force: true})
    },
  }
}
