/**
 * Splits a runner's output into the user's output and the runner's own frames, and
 * enforces the output cap while streaming.
 *
 * At the end of a job the runner writes "\n" + END prefix + "\n" to stderr, then
 * "\n" + CONTROL prefix + base64(JSON) + "\n" to stdout. Both prefixes carry a per-job
 * nonce. When both frames have arrived, everything the program wrote has been received
 * (each pipe is ordered), so the result is final without waiting for the container to exit.
 * Everything else is the user's output, capped at `maxOutputBytes` (stdout and stderr together).
 */
export interface ControlFrame {
  ok: boolean
  result: {present: boolean; value: unknown; type: 'json'} | null
  error: string | null
  exit_code?: number
  artifacts: Array<{name: string; size: number; content_b64: string}>
  notes: string[]
  time_used_ms?: number
  memory_used_kb?: number
}

type Sink = (data: Buffer) => void

const NEWLINE = Buffer.from('\n')

/**
 * Passes the user's bytes on as they arrive, except a trailing newline, which is held until
 * more output follows: the runner writes one newline of its own before each frame, and that
 * one is not the user's.
 */
class OutputTap {
  private held = false

  constructor(private readonly emit: Sink) {}

  push(data: Buffer): void {
    if (data.length === 0) return
    if (this.held) {
      this.held = false
      this.emit(NEWLINE)
    }
    if (data[data.length - 1] === 10) {
      this.held = true
      data = data.subarray(0, -1)
    }
    if (data.length) this.emit(data)
  }

  /** the stream is over: a held newline was the user's unless the runner's frame followed it */
  end(frameFollowed: boolean): void {
    if (this.held && !frameFollowed) this.emit(NEWLINE)
    this.held = false
  }
}

/** One stream: passes user bytes to `user`, collects the frame line after `prefix`. */
class FrameSplitter {
  private atLineStart = true
  private inFrame = false
  private pending = Buffer.alloc(0)
  readonly frame: Buffer[] = []
  frameBytes = 0
  complete = false
  /** the user's output ended with the "\n" the runner wrote before its frame */
  constructor(
    private readonly prefix: Buffer,
    private readonly user: Sink,
    private readonly maxFrameBytes: number,
    private readonly onFrameOverflow: () => void,
    private readonly onComplete: () => void,
  ) {}

  push(chunk: Buffer): void {
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk
    this.pending = Buffer.alloc(0)
    while (data.length) {
      if (this.inFrame) {
        const nl = data.indexOf(10)
        const part = nl < 0 ? data : data.subarray(0, nl)
        if (this.frameBytes + part.length > this.maxFrameBytes) this.onFrameOverflow()
        else {
          this.frame.push(Buffer.from(part))
          this.frameBytes += part.length
        }
        if (nl < 0) return
        this.inFrame = false
        this.atLineStart = true
        this.complete = true
        this.onComplete()
        data = data.subarray(nl + 1)
        continue
      }
      if (this.atLineStart) {
        const n = Math.min(data.length, this.prefix.length)
        if (data.subarray(0, n).equals(this.prefix.subarray(0, n))) {
          if (n < this.prefix.length) {
            this.pending = Buffer.from(data)
            return
          }
          this.inFrame = true
          this.complete = false
          this.frame.length = 0
          this.frameBytes = 0
          data = data.subarray(this.prefix.length)
          continue
        }
      }
      const nl = data.indexOf(10)
      if (nl < 0) {
        this.user(data)
        this.atLineStart = false
        return
      }
      this.user(data.subarray(0, nl + 1))
      this.atLineStart = true
      data = data.subarray(nl + 1)
    }
  }

  flush(): void {
    if (this.pending.length) this.user(this.pending)
    this.pending = Buffer.alloc(0)
  }
}

export class OutputCollector {
  private readonly stdoutChunks: Buffer[] = []
  private readonly stderrChunks: Buffer[] = []
  private userBytes = 0
  private readonly out: FrameSplitter
  private readonly err: FrameSplitter
  private resolveComplete!: () => void
  /** resolves when both the stderr end frame and the stdout control frame have arrived */
  readonly complete: Promise<void> = new Promise((resolve) => (this.resolveComplete = resolve))
  /** set when user output went over the cap */
  overflowed = false
  /** set when the control frame went over its cap */
  controlOverflowed = false

  private readonly taps: {stdout?: OutputTap; stderr?: OutputTap} = {}

  constructor(
    nonce: string,
    private readonly maxOutputBytes: number,
    maxControlBytes: number,
    private readonly onOverflow: () => void = () => {},
    /** the user's bytes as they arrive (within the cap, without the runner's frames) */
    onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void,
  ) {
    if (onOutput) {
      this.taps.stdout = new OutputTap((b) => onOutput('stdout', b))
      this.taps.stderr = new OutputTap((b) => onOutput('stderr', b))
    }
    const frameOverflow = () => {
      if (!this.controlOverflowed) {
        this.controlOverflowed = true
        this.onOverflow()
      }
    }
    const check = () => {
      if (this.out.complete && this.err.complete) this.resolveComplete()
    }
    this.out = new FrameSplitter(Buffer.from(`__SANDBOX_CONTROL_${nonce}__:`), (b) => this.keep(this.stdoutChunks, b, this.taps.stdout), maxControlBytes, frameOverflow, check)
    this.err = new FrameSplitter(Buffer.from(`__SANDBOX_END_${nonce}__`), (b) => this.keep(this.stderrChunks, b, this.taps.stderr), 1024, frameOverflow, check)
  }

  private keep(target: Buffer[], data: Buffer, tap?: OutputTap): void {
    if (data.length === 0) return
    const room = this.maxOutputBytes - this.userBytes
    if (room > 0) {
      const part = data.length > room ? data.subarray(0, room) : data
      target.push(Buffer.from(part))
      this.userBytes += part.length
      tap?.push(part)
    }
    if (data.length > room && !this.overflowed) {
      this.overflowed = true
      this.onOverflow()
    }
  }

  stdout(chunk: Buffer): void {
    this.out.push(chunk)
  }

  stderr(chunk: Buffer): void {
    this.err.push(chunk)
  }

  /** Call when the result is complete or the stream has ended. */
  finish(): {stdout: string; stderr: string; control: ControlFrame | undefined} {
    this.out.flush()
    this.err.flush()
    this.taps.stdout?.end(this.out.complete)
    this.taps.stderr?.end(this.err.complete)
    let stdout = Buffer.concat(this.stdoutChunks).toString('utf8')
    let stderr = Buffer.concat(this.stderrChunks).toString('utf8')
    let control: ControlFrame | undefined
    if (this.out.complete && !this.controlOverflowed) {
      try {
        control = JSON.parse(Buffer.from(Buffer.concat(this.out.frame).toString('ascii'), 'base64').toString('utf8')) as ControlFrame
        // the runner wrote "\n" before each frame: drop it
        if (stdout.endsWith('\n')) stdout = stdout.slice(0, -1)
      } catch {
        control = undefined
      }
    }
    if (this.err.complete && stderr.endsWith('\n')) stderr = stderr.slice(0, -1)
    return {stdout, stderr, control}
  }
}
