/**
 * A test-only RunnerBackend: each runner is the real runner source run as a plain child
 * process of this one (NO isolation: for tests of the seam only). It shows that a backend
 * needs nothing outside its own code: the engine, its pool and every language run on it.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {BackendFacts, OutputSink, Runner, RunnerBackend, RunnerExit, RunnerRequest} from '../../src/engine/runner.js'

const READY = '__SANDBOX_READY__\n'

class ProcessRunner implements Runner {
  readonly ready: Promise<void>
  readonly detached: Promise<void>
  private readonly exit: Promise<RunnerExit>
  private sink: OutputSink | undefined
  private early: Array<['stdout' | 'stderr', Buffer]> = []
  private exited = false
  private booted = false
  private boot = ''

  constructor(
    readonly id: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {
    let markReady!: () => void
    this.ready = new Promise((resolve) => (markReady = resolve))
    this.exit = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exited = true
        rmSync(dir, {recursive: true, force: true})
        resolve({exitCode: code ?? (signal === 'SIGKILL' ? 137 : 128), oomKilled: false})
      }),
    )
    this.detached = this.exit.then(() => {})
    child.stdout!.on('data', (b: Buffer) => this.deliver('stdout', b))
    child.stderr!.on('data', (b: Buffer) => {
      if (this.booted) return this.deliver('stderr', b)
      this.boot += b.toString('latin1')
      const at = this.boot.indexOf(READY)
      if (at < 0) return
      this.booted = true
      const rest = Buffer.from(this.boot.slice(at + READY.length), 'latin1')
      if (rest.length) this.deliver('stderr', rest)
      markReady()
    })
  }

  private deliver(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    if (this.sink) this.sink[stream](chunk)
    else this.early.push([stream, chunk])
  }

  get isUnusable(): boolean {
    return this.exited
  }

  send(job: string, sink: OutputSink): void {
    this.sink = sink
    for (const [stream, chunk] of this.early.splice(0)) sink[stream](chunk)
    this.child.stdin!.end(job + '\n')
  }

  stopOutput(): void {
    this.sink = {stdout: () => {}, stderr: () => {}}
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL')
  }

  waitExit(): Promise<RunnerExit> {
    return this.exit
  }

  peakMemoryKb(): number | null {
    return null
  }

  async retire(): Promise<void> {
    await this.remove()
  }

  async remove(): Promise<void> {
    if (!this.exited) this.child.kill('SIGKILL')
    await this.exit
  }
}

export class ProcessBackend implements RunnerBackend {
  readonly id = 'process (test only)'
  readonly made: ProcessRunner[] = []
  private readonly owners = new Map<string, ProcessRunner[]>()

  async preflight(): Promise<BackendFacts> {
    return {isolation: 'runc', warnings: ['test backend: runners are plain processes']}
  }

  async createRunner(request: RunnerRequest): Promise<Runner> {
    const dir = mkdtempSync(join(tmpdir(), 'process-runner-'))
    const [bin, ...args] = request.command
    const child = spawn(bin === 'node' ? process.execPath : bin, args, {
      cwd: dir,
      env: Object.fromEntries(request.env.map((e) => e.split(/=(.*)/s, 2))),
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const runner = new ProcessRunner(`p${child.pid}`, child, dir)
    this.made.push(runner)
    this.owners.set(request.owner, [...(this.owners.get(request.owner) ?? []), runner])
    await Promise.race([runner.ready, runner.waitExit().then((e) => Promise.reject(new Error(`runner exited before it was ready (${e.exitCode})`)))])
    return runner
  }

  async removeLeftovers(): Promise<number> {
    return 0
  }

  async removeOwned(owner: string): Promise<void> {
    await Promise.all((this.owners.get(owner) ?? []).map((r) => r.remove()))
  }
}
