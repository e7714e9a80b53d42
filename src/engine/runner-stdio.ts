/**
 * The runner protocol's output side, the same for every backend: until the runner announces
 * on stderr that it waits for its job (READY_MARKER, which is ours, not the user's), what it
 * writes is boot output; after that, output is kept until a job's sink is attached, then
 * routed to it; once dropped (a cap was hit), nothing more is kept.
 */
import type {OutputSink} from './runner.js'

/** What a runner writes to stderr once it has booted and blocks reading its job. */
export const READY_MARKER = Buffer.from('__SANDBOX_READY__\n')

export class RunnerStdio {
  private sink: OutputSink | undefined
  private early: Array<[1 | 2, Buffer]> = []
  private preReady = Buffer.alloc(0)
  private isReady = false
  private markReady!: () => void
  /** resolves when the runner has booted and waits for its job */
  readonly ready: Promise<void> = new Promise((resolve) => (this.markReady = resolve))

  /** bytes of stream 1 (stdout) or 2 (stderr), in order */
  deliver(kind: 1 | 2, data: Buffer): void {
    if (!this.isReady && kind === 2) {
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

  /** what the runner wrote before it was ready (to explain a runner that never got ready) */
  get bootOutput(): string {
    return this.preReady.toString('utf8').trim()
  }

  /** route output to the job's sink, what came before it first */
  attach(sink: OutputSink): void {
    this.sink = sink
    for (const [kind, data] of this.early.splice(0)) this.deliver(kind, data)
  }

  /** drop whatever the runner still writes */
  drop(): void {
    this.sink = {stdout: () => {}, stderr: () => {}}
    this.early = []
  }
}

/**
 * Resolves once the runner is ready; throws why not: it exited first (with its boot output; killed
 * for memory: the limit is too small to start it), or it took longer than `timeoutMs`.
 */
export async function untilReady(stdio: RunnerStdio, exit: Promise<{exitCode: number; oomKilled?: boolean}>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const outcome = await Promise.race([
    stdio.ready.then(() => 'ready' as const),
    exit.then(
      (e) => e,
      () => ({exitCode: -1, oomKilled: false}),
    ),
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
  ]).finally(() => clearTimeout(timer))
  if (outcome === 'ready') return
  const why = stdio.bootOutput ? `: ${stdio.bootOutput.slice(0, 500)}` : ''
  if (outcome === 'timeout') throw new Error(`the runner did not get ready within ${timeoutMs / 1000} s${why}`)
  if (outcome.oomKilled)
    throw new Error(
      `the runner was killed for memory before it was ready (exit code ${outcome.exitCode}): the memory limit is too small to start it; raise SANDBOX_MAX_MEMORY or --memory`,
    )
  throw new Error(`the runner exited before it was ready (exit code ${outcome.exitCode})${why}`)
}
