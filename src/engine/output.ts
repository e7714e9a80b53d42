/**
 * Splits a runner's output into the user's output and the runner's own frames, and enforces
 * every cap on what leaves the sandbox while streaming.
 *
 * At the end of a job the runner writes END prefix + "\n" to stderr, then CONTROL prefix +
 * base64(JSON) + "\n" to stdout. Both prefixes carry a per-job nonce and may start anywhere
 * in a line (the user's last line need not end with a newline). When both frames have
 * arrived, everything the program wrote has been received (each pipe is ordered), so the
 * result is final without waiting for the container to exit.
 *
 * Caps: the user's output (stdout and stderr together) at `maxOutputBytes`; the bytes inside
 * control frames at maxFrameBytes(limits) in total, decoded as they arrive; end frames at 1 KiB.
 * The first cap hit calls `onLimit` once; nothing past a cap is kept.
 */
import {FrameDecoder, type FrameCheck, type FrameLimits, maxFrameBytes, parseControlFrame} from './frame.js'

export type {ControlFrame} from './frame.js'

export type OutputStream = 'stdout' | 'stderr'

export interface OutputLimitHit {
  /** output: the user's stdout+stderr; frame: the runner's report */
  cap: 'output' | 'frame'
  detail: string
  /** the line appended to stderr */
  note: string
}

export interface OutputCollectorOptions {
  nonce: string
  maxOutputBytes: number
  limits: FrameLimits
  /** called once, when the first cap is hit: stop the producer */
  onLimit?: (hit: OutputLimitHit) => void
  /** the user's bytes as they arrive (never frame bytes, never past the output cap) */
  onOutput?: (stream: OutputStream, chunk: Buffer) => void
}

/** One stream: passes user bytes to `user`, feeds the bytes of frames after `prefix` to a decoder. */
class FrameSplitter {
  private pending = Buffer.alloc(0)
  private inFrame = false
  private decoder: FrameDecoder | undefined
  /**
   * the decoder of the first frame that ended with its newline: later ones never replace it, so
   * that what a run reports does not depend on how its output was chunked (program code that
   * learnt the nonce and wrote a frame before the runner's own gets its frame, every time)
   */
  completed: FrameDecoder | undefined
  private frameBytes = 0

  constructor(
    private readonly prefix: Buffer,
    private readonly user: (data: Buffer) => void,
    private readonly maxFrameBytes: number,
    private readonly onFrameOverflow: () => void,
    private readonly onComplete: () => void,
  ) {}

  get complete(): boolean {
    return this.completed !== undefined
  }

  push(chunk: Buffer): void {
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk
    this.pending = Buffer.alloc(0)
    while (data.length) {
      if (this.inFrame) {
        const nl = data.indexOf(10)
        const part = nl < 0 ? data : data.subarray(0, nl)
        this.frameBytes += part.length
        if (this.frameBytes > this.maxFrameBytes) {
          // nothing more of this stream is kept: the run is being stopped
          this.inFrame = false
          this.decoder = undefined
          this.onFrameOverflow()
          return
        }
        this.decoder!.push(part)
        if (nl < 0) return
        this.inFrame = false
        this.completed ??= this.decoder
        this.decoder = undefined
        this.onComplete()
        data = data.subarray(nl + 1)
        continue
      }
      const at = data.indexOf(this.prefix)
      if (at >= 0) {
        if (at > 0) this.user(data.subarray(0, at))
        this.inFrame = true
        this.decoder = new FrameDecoder()
        data = data.subarray(at + this.prefix.length)
        continue
      }
      // hold back a tail that may be the start of a prefix split across chunks
      const keep = partialPrefixAtEnd(data, this.prefix)
      if (data.length > keep) this.user(data.subarray(0, data.length - keep))
      if (keep) this.pending = Buffer.from(data.subarray(data.length - keep))
      return
    }
  }

  /** end of the stream: a held-back tail was the user's after all */
  flush(): void {
    if (this.pending.length) this.user(this.pending)
    this.pending = Buffer.alloc(0)
  }
}

/** length of the longest proper prefix of `prefix` that `data` ends with */
function partialPrefixAtEnd(data: Buffer, prefix: Buffer): number {
  for (let k = Math.min(data.length, prefix.length - 1); k > 0; k--) {
    if (data[data.length - k] === prefix[0] && data.subarray(data.length - k).equals(prefix.subarray(0, k))) return k
  }
  return 0
}

const END_FRAME_BYTES = 1024

export class OutputCollector {
  private readonly chunks: Record<OutputStream, Buffer[]> = {stdout: [], stderr: []}
  private userBytes = 0
  private readonly out: FrameSplitter
  private readonly err: FrameSplitter
  private closed = false
  private resolveComplete!: () => void
  /** resolves when both the stderr end frame and the stdout control frame have arrived */
  readonly complete: Promise<void> = new Promise((resolve) => (this.resolveComplete = resolve))
  /** the first cap that was hit */
  limit: OutputLimitHit | undefined
  readonly maxFrameBytes: number

  constructor(private readonly options: OutputCollectorOptions) {
    const {nonce, limits} = options
    this.maxFrameBytes = maxFrameBytes(limits)
    const check = () => {
      if (this.out.complete && this.err.complete) this.resolveComplete()
    }
    const frameOverflow = (max: number) => () =>
      this.hit({
        cap: 'frame',
        detail: `Output limit exceeded: the runner's report is over the ${max}-byte frame limit`,
        note: `[the runner's report is over the ${max}-byte frame limit; the run was stopped]`,
      })
    this.out = new FrameSplitter(Buffer.from(`__SANDBOX_CONTROL_${nonce}__:`), (b) => this.keep('stdout', b), this.maxFrameBytes, frameOverflow(this.maxFrameBytes), check)
    this.err = new FrameSplitter(Buffer.from(`__SANDBOX_END_${nonce}__`), (b) => this.keep('stderr', b), END_FRAME_BYTES, frameOverflow(END_FRAME_BYTES), check)
  }

  private hit(limit: OutputLimitHit): void {
    if (this.limit) return
    this.limit = limit
    this.options.onLimit?.(limit)
  }

  private keep(stream: OutputStream, data: Buffer): void {
    if (data.length === 0 || this.limit) return
    const room = this.options.maxOutputBytes - this.userBytes
    const part = data.length > room ? data.subarray(0, Math.max(0, room)) : data
    if (part.length) {
      const copy = Buffer.from(part)
      this.chunks[stream].push(copy)
      this.userBytes += copy.length
      this.options.onOutput?.(stream, copy)
    }
    if (data.length > room) {
      const max = this.options.maxOutputBytes
      this.hit({
        cap: 'output',
        detail: `Output limit exceeded: more than ${max} bytes of stdout and stderr`,
        note: `[output truncated: more than ${max} bytes; the run was stopped]`,
      })
    }
  }

  stdout(chunk: Buffer): void {
    if (!this.closed && !this.limit) this.out.push(chunk)
  }

  stderr(chunk: Buffer): void {
    if (!this.closed && !this.limit) this.err.push(chunk)
  }

  /**
   * Call when the frames are complete or the stream has ended; later bytes are ignored.
   * `frame` is undefined when no complete control frame arrived (or a cap was hit).
   */
  finish(): {stdout: string; stderr: string; frame: FrameCheck | undefined} {
    if (!this.closed && !this.limit) {
      this.out.flush()
      this.err.flush()
    }
    this.closed = true
    const stdout = Buffer.concat(this.chunks.stdout).toString('utf8')
    const stderr = Buffer.concat(this.chunks.stderr).toString('utf8')
    const decoder = this.limit ? undefined : this.out.completed
    const frame = decoder ? parseControlFrame(decoder.finish(), this.options.limits) : undefined
    return {stdout, stderr, frame}
  }
}
