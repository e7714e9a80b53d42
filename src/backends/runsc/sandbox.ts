/**
 * One runsc sandbox: `runsc run` of a per-run OCI bundle, its stdio our pipes (the runner
 * protocol travels over them exactly as over Docker's attach stream). `runsc run` is the
 * sandbox's parent and takes it down with it (gVisor sets the parent-death signal), so a kill
 * is a SIGKILL to it; whatever runsc did not remove then (its state, its cgroups) is deleted
 * after the exit. The OOM verdict and the peak memory come from the sandbox's memory cgroup.
 */
import {type ChildProcessByStdio, spawn} from 'node:child_process'
import {existsSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import type {Readable, Writable} from 'node:stream'

import {orAfter, READY_MARKER} from '../../docker/containers.js'
import type {OutputSink, Runner, RunnerExit} from '../../engine/runner.js'
import {runProgram} from '../../exec.js'
import {oomKilled, peakMemoryKb, removeAllCgroups, removeMemoryCgroup} from './cgroup.js'

export interface SandboxPaths {
  /** the runsc binary */
  runsc: string
  /** runsc's --root (state directory of this sandbox's owner) */
  root: string
  /** the bundle directory (config.json) */
  bundle: string
}

/** runsc's global flags, before the subcommand (docs/security.md, "The runsc backend") */
export const runscFlags = (root: string): string[] => ['--root', root, '--network=none', '--platform=ptrace']

/** runsc's state file of a container that it has not deleted */
export const stateFileOf = (root: string, id: string): string => join(root, `${id}_sandbox:${id}.state`)

/** Delete what runsc leaves of a container that did not end through `runsc run` (state, cgroups). */
export async function deleteSandbox(runsc: string, root: string, id: string): Promise<void> {
  if (existsSync(stateFileOf(root, id))) await runProgram(runsc, [...runscFlags(root), 'delete', '--force', id], {timeoutMs: 30_000})
  removeAllCgroups(id)
  // the sandbox's processes may still be on their way out of the group: a bounded wait
  for (let i = 0; i < 40 && !removeMemoryCgroup(id); i++) await orAfter(new Promise(() => {}), 50, undefined)
}

export class RunscSandbox implements Runner {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>
  private sink: OutputSink | undefined
  private early: Array<[1 | 2, Buffer]> = []
  private preReady = Buffer.alloc(0)
  private isReady = false
  private exited = false
  private stdinGone = false
  private killedByUs = false
  private markReady!: () => void
  readonly ready: Promise<void> = new Promise((resolve) => (this.markReady = resolve))
  private readonly closed: Promise<{code: number | null; signal: NodeJS.Signals | null}>
  private exitPromise: Promise<RunnerExit> | undefined
  private cleaned: Promise<void> | undefined
  readonly detached: Promise<void>

  constructor(
    readonly id: string,
    private readonly paths: SandboxPaths,
    private readonly onGone: () => void,
  ) {
    this.child = spawn(paths.runsc, [...runscFlags(paths.root), 'run', '--bundle', paths.bundle, id], {stdio: ['pipe', 'pipe', 'pipe']})
    this.child.stdout.on('data', (c: Buffer) => this.deliver(1, c))
    this.child.stderr.on('data', (c: Buffer) => this.deliver(2, c))
    this.child.stdin.on('error', () => (this.stdinGone = true))
    this.closed = new Promise((resolve) => {
      this.child.once('error', () => resolve({code: 127, signal: null}))
      this.child.once('close', (code, signal) => resolve({code, signal}))
    })
    void this.closed.then(() => (this.exited = true))
    this.detached = this.closed.then(() => {})
  }

  private deliver(kind: 1 | 2, data: Buffer): void {
    if (!this.isReady && kind === 2) {
      // the runner announces on stderr that it waits for its job; that line is ours, not the user's
      this.preReady = Buffer.concat([this.preReady, data])
      const at = this.preReady.indexOf(READY_MARKER)
      if (at < 0) return
      const before = this.preReady.subarray(0, at)
      const after = this.preReady.subarray(at + READY_MARKER.length)
      this.preReady = Buffer.alloc(0)
      this.isReady = true
      this.markReady()
      if (before.length) this.deliver(2, before)
      if (after.length) this.deliver(2, after)
      return
    }
    if (!this.sink) {
      this.early.push([kind, Buffer.from(data)])
      return
    }
    if (kind === 2) this.sink.stderr(data)
    else this.sink.stdout(data)
  }

  /** what the runner (or runsc) wrote before it was ready */
  get bootOutput(): string {
    return this.preReady.toString('utf8').trim()
  }

  get isUnusable(): boolean {
    return this.exited || this.stdinGone
  }

  send(job: string, sink: OutputSink): void {
    this.sink = sink
    for (const [kind, data] of this.early.splice(0)) this.deliver(kind, data)
    this.child.stdin.end(job.endsWith('\n') ? job : job + '\n')
  }

  stopOutput(): void {
    this.sink = {stdout: () => {}, stderr: () => {}}
    this.early = []
    this.child.stdout.destroy()
    this.child.stderr.destroy()
  }

  async kill(): Promise<void> {
    this.killedByUs = true
    if (!this.exited) this.child.kill('SIGKILL')
  }

  waitExit(): Promise<RunnerExit> {
    this.exitPromise ??= this.closed.then(({code, signal}) => {
      // runsc run exits with the sandbox's status (137 when the OOM killer ended it); a signal: ours
      const exitCode = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)
      const oom = exitCode === 0 || (this.killedByUs && signal) ? false : oomKilled(this.id)
      return {exitCode, oomKilled: oom}
    })
    return this.exitPromise
  }

  peakMemoryKb(): number | null {
    return peakMemoryKb(this.id)
  }

  /** the runner lingers after its report (to be measured): end it */
  retire(): Promise<void> {
    return this.remove()
  }

  remove(): Promise<void> {
    this.cleaned ??= (async () => {
      await this.kill()
      await this.waitExit().catch(() => undefined)
      await orAfter(this.closed, 10_000, undefined)
      try {
        // a sandbox killed through its runsc run leaves its state and runsc's cgroups
        await deleteSandbox(this.paths.runsc, this.paths.root, this.id)
      } finally {
        rmSync(this.paths.bundle, {recursive: true, force: true})
        this.onGone()
      }
    })()
    return this.cleaned
  }
}
