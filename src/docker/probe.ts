/**
 * One-shot container runs for checks (setup's isolation smoke test, image tests):
 * create, start, wait, collect output, remove. Not the execution path (see containers.ts).
 */
import {PassThrough} from 'node:stream'

import {docker, withDaemon} from './client.js'

export interface ProbeOptions {
  image: string
  cmd: string[]
  runtime?: string
  /** bytes */
  memory?: number
  network?: 'none' | 'bridge'
  user?: string
  env?: string[]
  readonlyRootfs?: boolean
  securityOpt?: string[]
  timeoutMs?: number
}

export interface ProbeResult {
  exitCode: number
  stdout: string
  stderr: string
  oomKilled: boolean
  timedOut: boolean
}

export const PROBE_LABEL = 'io.sandbox.probe'

export async function runProbe(options: ProbeOptions): Promise<ProbeResult> {
  return withDaemon(async (d) => {
    const container = await d.createContainer({
      Image: options.image,
      Cmd: options.cmd,
      User: options.user ?? '65534:65534',
      Env: options.env,
      Labels: {[PROBE_LABEL]: 'true', 'io.sandbox.managed': 'true'},
      HostConfig: {
        Runtime: options.runtime,
        NetworkMode: options.network ?? 'none',
        Memory: options.memory,
        MemorySwap: options.memory,
        ReadonlyRootfs: options.readonlyRootfs ?? true,
        Tmpfs: {'/tmp': 'rw,exec,size=64m'},
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges', ...(options.securityOpt ?? [])],
      },
    })
    try {
      const stream = await container.attach({stream: true, stdout: true, stderr: true})
      const out: Buffer[] = []
      const err: Buffer[] = []
      const so = new PassThrough()
      const se = new PassThrough()
      so.on('data', (b: Buffer) => out.push(b))
      se.on('data', (b: Buffer) => err.push(b))
      docker().modem.demuxStream(stream, so, se)
      const ended = new Promise<void>((resolve) => {
        stream.on('end', resolve)
        stream.on('close', resolve)
      })
      await container.start()
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        container.kill().catch(() => {})
      }, options.timeoutMs ?? 60_000)
      const waited = (await container.wait()) as {StatusCode: number}
      clearTimeout(timer)
      await Promise.race([ended, new Promise((r) => setTimeout(r, 2000))])
      const info = await container.inspect()
      return {
        exitCode: waited.StatusCode,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        oomKilled: Boolean(info.State?.OOMKilled),
        timedOut,
      }
    } finally {
      await container.remove({force: true}).catch(() => {})
    }
  })
}
