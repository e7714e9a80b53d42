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

import {orAfter} from '../../docker/containers.js'
import type {OutputSink, Runner, RunnerExit} from '../../engine/runner.js'
import {RunnerStdio} from '../../engine/runner-stdio.js'
import {runProgram} from '../../exec.js'
import {oomKilled, peakMemoryKb, removeMemoryCgroup, removeRunscCgroups} from './cgroup.js'

/** how long a retired sandbox may take to end by itself before it is killed */
const RETIRE_WAIT_MS = 5000

/** the runner's environment entry that makes it end itself after its report (templates/runners/) */
export const RUNNER_EXITS_AFTER_REPORT = 'SANDBOX_RUNNER_LINGER_MS=0'

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

/**
 * Delete what runsc leaves of a container that did not end through `runsc run` (its state, its
 * cgroups). `exited`: its `runsc run` has ended and every process holding its stdio is gone (the
 * sandbox dies with it): then removing the files and the empty cgroups is the whole of it, without
 * another runsc process; a cgroup that still has processes means `runsc delete --force`.
 */
export async function deleteSandbox(runsc: string, root: string, id: string, options: {exited?: boolean} = {}): Promise<boolean> {
  const state = stateFileOf(root, id)
  if (existsSync(state)) {
    if (options.exited && removeRunscCgroups(id)) {
      rmSync(state, {force: true})
      rmSync(join(root, `${id}_sandbox:${id}.lock`), {force: true})
    } else await runProgram(runsc, [...runscFlags(root), 'delete', '--force', id], {timeoutMs: 30_000})
  }
  // the sandbox's processes may still be on their way out of its groups (seconds on a loaded host): a
  // bounded wait for runsc's own groups (cpu, pids, …) as well as ours, which nothing retries once the
  // bundle is gone
  for (let i = 0; i < 200; i++) {
    if (removeRunscCgroups(id) && removeMemoryCgroup(id)) return true
    await orAfter(new Promise(() => {}), 50, undefined)
  }
  return false
}

export class RunscSandbox implements Runner {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>
  /** the runner's output before it was ready, and the job's routing */
  readonly output = new RunnerStdio()
  readonly ready: Promise<void> = this.output.ready
  private exited = false
  private stdinGone = false
  private killedByUs = false
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
    this.child.stdout.on('data', (c: Buffer) => this.output.deliver(1, c))
    this.child.stderr.on('data', (c: Buffer) => this.output.deliver(2, c))
    this.child.stdin.on('error', () => (this.stdinGone = true))
    this.closed = new Promise((resolve) => {
      this.child.once('error', () => resolve({code: 127, signal: null}))
      this.child.once('close', (code, signal) => resolve({code, signal}))
    })
    void this.closed.then(() => (this.exited = true))
    this.detached = this.closed.then(() => {})
  }

  get isUnusable(): boolean {
    return this.exited || this.stdinGone
  }

  send(job: string, sink: OutputSink): void {
    this.output.attach(sink)
    this.child.stdin.end(job.endsWith('\n') ? job : job + '\n')
  }

  stopOutput(): void {
    this.output.drop()
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

  /**
   * The runner ends itself after its report (this backend starts it with SANDBOX_RUNNER_LINGER_MS=0:
   * the memory is read from our cgroup, which outlives it), and `runsc run` then takes the sandbox
   * down and deletes its state. That is much cheaper than a kill, after which runsc's cgroups are
   * often still busy and `runsc delete --force` costs a second or more; a kill only if it does not.
   */
  async retire(): Promise<void> {
    await orAfter(
      this.closed.then(() => true),
      RETIRE_WAIT_MS,
      false,
    )
    return this.remove()
  }

  remove(): Promise<void> {
    this.cleaned ??= (async () => {
      await this.kill()
      // the exit's facts (the OOM flag) are read when it closes, before its cgroup goes; the wait
      // for that close is bounded: a process that keeps its stdio open must not hold the removal
      void this.waitExit().catch(() => undefined)
      const closed = await orAfter(
        this.closed.then(() => true),
        10_000,
        false,
      )
      try {
        // a sandbox killed through its runsc run leaves its state and runsc's cgroups; its
        // bundle stays until they are gone, so that the owner's removal tries again
        if (await deleteSandbox(this.paths.runsc, this.paths.root, this.id, {exited: closed})) rmSync(this.paths.bundle, {recursive: true, force: true})
      } finally {
        this.onGone()
      }
    })()
    return this.cleaned
  }
}
