/**
 * Splits a runner's stdout into the user's output and the runner's control frame,
 * and enforces the output cap while streaming.
 *
 * The runner ends with "\n" + prefix + base64(JSON) + "\n" on stdout. The prefix carries
 * a per-job nonce. Everything else is the user's output, capped at `maxOutputBytes`
 * (stdout and stderr together).
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

export class OutputCollector {
  private readonly prefix: Buffer
  private readonly stdoutChunks: Buffer[] = []
  private readonly stderrChunks: Buffer[] = []
  private userBytes = 0
  private readonly controlChunks: Buffer[] = []
  private controlBytes = 0
  private atLineStart = true
  private inControl = false
  private pending = Buffer.alloc(0)
  /** set when user output went over the cap */
  overflowed = false
  /** set when the control frame went over its cap */
  controlOverflowed = false

  constructor(
    nonce: string,
    private readonly maxOutputBytes: number,
    private readonly maxControlBytes: number,
    private readonly onOverflow: () => void = () => {},
  ) {
    this.prefix = Buffer.from(`__SANDBOX_CONTROL_${nonce}__:`, 'ascii')
  }

  private keepUser(target: Buffer[], data: Buffer): void {
    if (data.length === 0) return
    const room = this.maxOutputBytes - this.userBytes
    if (room <= 0) {
      this.flagOverflow()
      return
    }
    const part = data.length > room ? data.subarray(0, room) : data
    target.push(Buffer.from(part))
    this.userBytes += part.length
    if (data.length > room) this.flagOverflow()
  }

  private flagOverflow(): void {
    if (!this.overflowed) {
      this.overflowed = true
      this.onOverflow()
    }
  }

  private keepControl(data: Buffer): void {
    if (this.controlBytes + data.length > this.maxControlBytes) {
      if (!this.controlOverflowed) {
        this.controlOverflowed = true
        this.onOverflow()
      }
      return
    }
    this.controlChunks.push(Buffer.from(data))
    this.controlBytes += data.length
  }

  stderr(data: Buffer): void {
    this.keepUser(this.stderrChunks, data)
  }

  stdout(chunk: Buffer): void {
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk
    this.pending = Buffer.alloc(0)
    while (data.length) {
      if (this.inControl) {
        const nl = data.indexOf(10)
        if (nl < 0) {
          this.keepControl(data)
          return
        }
        this.keepControl(data.subarray(0, nl))
        this.inControl = false
        this.atLineStart = true
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
          this.inControl = true
          this.controlChunks.length = 0
          this.controlBytes = 0
          data = data.subarray(this.prefix.length)
          continue
        }
      }
      const nl = data.indexOf(10)
      if (nl < 0) {
        this.keepUser(this.stdoutChunks, data)
        this.atLineStart = false
        return
      }
      this.keepUser(this.stdoutChunks, data.subarray(0, nl + 1))
      this.atLineStart = true
      data = data.subarray(nl + 1)
    }
  }

  /** Call at end of stream. */
  finish(): {stdout: string; stderr: string; control: ControlFrame | undefined} {
    if (this.pending.length) this.keepUser(this.stdoutChunks, this.pending)
    let stdout = Buffer.concat(this.stdoutChunks).toString('utf8')
    let control: ControlFrame | undefined
    if (this.controlChunks.length && !this.controlOverflowed) {
      try {
        control = JSON.parse(Buffer.from(Buffer.concat(this.controlChunks).toString('ascii'), 'base64').toString('utf8')) as ControlFrame
        // the runner wrote "\n" before its frame: drop it
        if (stdout.endsWith('\n')) stdout = stdout.slice(0, -1)
      } catch {
        control = undefined
      }
    }
    return {stdout, stderr: Buffer.concat(this.stderrChunks).toString('utf8'), control}
  }
}
