/**
 * Resource exhaustion: every attack must end in a bounded, clean outcome (a limit status or
 * an error the program sees) and leave the service able to run the next program.
 */
import type {RunResult} from '../../engine/result.js'
import {brief, code, expectMemoryLimit, expectTimeout, expectValue, fail, isMemoryLimit, isTimeout, pass, valueOf} from '../expect.js'
import type {CaseContext, CaseRun, SuiteCase, Verdict} from '../types.js'

const MB = 1024 * 1024
/** user output a run may return (the engine's cap is 1 MiB; leave room for a manager's own) */
const OUTPUT_BOUND = 2 * MB
/** generous ceiling for "at most the nproc limit" */
const PROCESS_BOUND = 128

const nextRunPython: CaseRun = {
  language: 'python',
  policy: 'any',
  code: code`
  def main():
      return "alive"
`,
}
const nextRunNode: CaseRun = {
  language: 'nodejs',
  policy: 'any',
  code: code`
  function main() {
    return "alive"
  }
`,
}

/** the follow-up run (a trivial main) must work after the attack */
function nextRunWorks(ctx: CaseContext): string | null {
  const f = ctx.followUp
  if (!f) return 'the follow-up run did not happen'
  return f.status === 'success' && valueOf(f) === 'alive' ? null : `the next run failed after the attack: ${brief(f)}`
}

/** outcome of an attack that may be stopped by a limit or may report its own bounded failure */
function contained(r: RunResult, ctx: CaseContext, bounded: (v: Record<string, unknown>) => true | string): Verdict {
  const after = nextRunWorks(ctx)
  if (after) return fail(after)
  if (isTimeout(r)) return pass('stopped at the time limit; the next run works')
  if (isMemoryLimit(r)) return pass('stopped at the memory limit; the next run works')
  if (r.status === 'success') {
    const v = valueOf(r) as Record<string, unknown>
    const outcome = v && typeof v === 'object' ? bounded(v) : 'no result object'
    return outcome === true ? pass(`refused by a limit inside the sandbox (${JSON.stringify(v)}); the next run works`) : fail(outcome)
  }
  return fail(`the sandbox did not end the attack cleanly: ${brief(r)}`)
}

function outputCapped(r: RunResult): Verdict {
  const size = Buffer.byteLength(r.stdout) + Buffer.byteLength(r.stderr)
  if (size > OUTPUT_BOUND) return fail(`${size} bytes of output came back (bound ${OUTPUT_BOUND})`)
  if (r.status === 'success') return fail('an endless writer ended with success')
  if (r.resource_limit_type === 'output') return pass(`output capped: ${size} bytes returned, run stopped (${r.exit_code})`)
  if (isTimeout(r)) return pass(`ran into the time limit with ${size} bytes of output returned`)
  return fail(`the run was not stopped by a limit: ${brief(r)}`)
}

function diskBounded(limitMb: number) {
  return (r: RunResult): Verdict => {
    const verdict = expectValue(r, (v) => {
      const written = Number(v.written_mb)
      if (!v.error) return `wrote ${written} MB without any error`
      if (!(written <= limitMb)) return `wrote ${written} MB, more than the ${limitMb} MB bound`
      return /No space left|File too large|ENOSPC|EFBIG|Errno 28|Errno 27|Disk quota/.test(String(v.error)) ? true : `unexpected error ${String(v.error)}`
    })
    const v = valueOf(r) as Record<string, unknown> | undefined
    return verdict.ok && v ? pass(`stopped after ${String(v.written_mb)} MB: ${String(v.error)}`) : verdict
  }
}

const FILL_PY = (dir: string, maxMb: number) => code`
  import os

  def main():
      chunk = b"x" * 1048576
      written = 0
      error = None
      try:
          os.makedirs("${dir}", exist_ok=True)
          for i in range(${maxMb}):
              with open("${dir}/fill-%d.bin" % (i // 8), "ab") as f:
                  f.write(chunk)
                  f.flush()
              written += 1
      except OSError as exc:
          error = "%s: %s" % (type(exc).__name__, exc)
      return {"written_mb": written, "error": error}
`

export const resourceCases: SuiteCase[] = [
  {
    id: 'res-fork-bomb-py',
    title: 'Python fork bomb is contained and the next run works',
    tags: ['resources', 'processes'],
    language: 'python',
    timeoutSeconds: 8,
    followUp: nextRunPython,
    code: code`
      import os, time

      def main():
          root = os.getpid()
          forked = 0
          error = None
          for _ in range(100000):
              try:
                  pid = os.fork()
              except OSError as exc:
                  error = "%s: %s" % (type(exc).__name__, exc)
                  break
              if pid == 0:
                  continue  # every child keeps forking: a real bomb
              forked += 1
          if os.getpid() != root:
              time.sleep(60)
              os._exit(0)
          return {"forked": forked, "error": error}
    `,
    expect: (r, ctx) =>
      contained(r, ctx, (v) => (/Resource temporarily unavailable|Errno 11|EAGAIN/.test(String(v.error)) ? true : `fork failed with ${String(v.error)}, expected EAGAIN`)),
  },
  {
    id: 'res-fork-bomb-node',
    title: 'Node.js process bomb (child_process.spawn) is contained and the next run works',
    tags: ['resources', 'processes'],
    language: 'nodejs',
    timeoutSeconds: 10,
    followUp: nextRunNode,
    code: code`
      const {spawn} = require('child_process')

      async function main() {
        let started = 0
        const errors = {}
        for (let i = 0; i < 400; i++) {
          const child = spawn('sleep', ['60'], {stdio: 'ignore'})
          const ok = await new Promise((resolve) => {
            child.once('spawn', () => resolve(true))
            child.once('error', (e) => { errors[e.code] = (errors[e.code] || 0) + 1; resolve(false) })
          })
          if (ok) started++
          if (Object.values(errors).reduce((a, b) => a + b, 0) >= 20) break
        }
        return {started, errors}
      }
    `,
    expect: (r, ctx) =>
      contained(r, ctx, (v) => {
        const errors = (v.errors ?? {}) as Record<string, number>
        if (Number(v.started) > PROCESS_BOUND) return `${String(v.started)} processes started (bound ${PROCESS_BOUND})`
        return errors.EAGAIN ? true : `no EAGAIN after ${String(v.started)} processes: ${JSON.stringify(errors)}`
      }),
  },
  {
    id: 'res-thread-bomb-py',
    title: 'Python thread bomb is capped by the process limit',
    tags: ['resources', 'processes'],
    language: 'python',
    timeoutSeconds: 8,
    followUp: nextRunPython,
    code: code`
      import threading

      def main():
          stop = threading.Event()
          threads = []
          error = None
          for _ in range(5000):
              try:
                  t = threading.Thread(target=stop.wait, daemon=True)
                  t.start()
                  threads.append(t)
              except Exception as exc:
                  error = "%s: %s" % (type(exc).__name__, exc)
                  break
          stop.set()
          return {"threads": len(threads), "error": error}
    `,
    expect: (r, ctx) => contained(r, ctx, (v) => (v.error && Number(v.threads) <= PROCESS_BOUND ? true : `${String(v.threads)} threads started, error ${String(v.error)}`)),
  },
  {
    id: 'res-memory-bomb-node',
    title: 'Node.js memory bomb (Buffer chunks) is stopped at the memory limit',
    tags: ['resources', 'memory'],
    language: 'nodejs',
    policy: 'any',
    timeoutSeconds: 20,
    code: code`
      function main() {
        const chunks = []
        for (;;) chunks.push(Buffer.alloc(16 * 1024 * 1024, 1))
      }
    `,
    expect: (r) => (r.status === 'success' ? fail('allocated without limit') : expectMemoryLimit(r)),
  },
  {
    id: 'res-memory-doubling-py',
    title: 'Python string doubling is stopped by the memory limit',
    tags: ['resources', 'memory'],
    language: 'python',
    policy: 'any',
    timeoutSeconds: 20,
    code: code`
      def main():
          s = "x"
          while True:
              s = s + s
    `,
    expect: (r) => (r.status === 'success' ? fail('allocated without limit') : expectMemoryLimit(r)),
  },
  {
    id: 'res-cpu-spin-node',
    title: 'Node.js CPU spin hits the time limit',
    tags: ['resources', 'timeout'],
    language: 'nodejs',
    policy: 'any',
    timeoutSeconds: 2,
    code: code`
      function main() {
        for (;;) {}
      }
    `,
    expect: (r) => expectTimeout(r),
  },
  {
    id: 'res-sleep-py',
    title: 'Python sleeping (no CPU) is stopped by the wall-clock limit',
    tags: ['resources', 'timeout'],
    language: 'python',
    policy: 'any',
    timeoutSeconds: 2,
    code: code`
      import time

      def main():
          time.sleep(3600)
          return "woke up"
    `,
    expect: (r) => expectTimeout(r),
  },
  {
    id: 'res-sleep-node',
    title: 'Node.js awaiting a one-hour timer is stopped by the wall-clock limit',
    tags: ['resources', 'timeout'],
    language: 'nodejs',
    policy: 'any',
    timeoutSeconds: 2,
    code: code`
      async function main() {
        await new Promise((resolve) => setTimeout(resolve, 3600 * 1000))
        return 'woke up'
      }
    `,
    expect: (r) => expectTimeout(r),
  },
  {
    id: 'res-cpu-threads-py',
    title: 'Python CPU spin in 4 threads hits the time limit',
    tags: ['resources', 'timeout'],
    language: 'python',
    timeoutSeconds: 2,
    code: code`
      import threading

      def spin():
          while True:
              pass

      def main():
          for _ in range(4):
              threading.Thread(target=spin, daemon=True).start()
          spin()
    `,
    expect: (r) => expectTimeout(r),
  },
  {
    id: 'res-output-flood-py',
    title: 'Python stdout flood is capped',
    tags: ['resources', 'output'],
    language: 'python',
    policy: 'any',
    timeoutSeconds: 5,
    code: code`
      def main():
          line = "x" * 1000
          while True:
              print(line)
    `,
    expect: outputCapped,
  },
  {
    id: 'res-output-line-py',
    title: 'Python single 64 MB line without a newline is capped',
    tags: ['resources', 'output'],
    language: 'python',
    policy: 'any',
    timeoutSeconds: 5,
    code: code`
      def main():
          print("y" * 67108864, end="")
          while True:
              pass
    `,
    expect: outputCapped,
  },
  {
    id: 'res-stderr-flood-py',
    title: 'Python stderr flood is capped',
    tags: ['resources', 'output'],
    language: 'python',
    timeoutSeconds: 5,
    code: code`
      import sys

      def main():
          line = "e" * 1000 + "\n"
          while True:
              sys.stderr.write(line)
    `,
    expect: outputCapped,
  },
  {
    id: 'res-output-flood-node',
    title: 'Node.js stdout flood (respecting back-pressure) is capped',
    tags: ['resources', 'output'],
    language: 'nodejs',
    policy: 'any',
    timeoutSeconds: 5,
    code: code`
      async function main() {
        const line = 'x'.repeat(1000) + '\n'
        for (;;) {
          if (!process.stdout.write(line)) await new Promise((resolve) => process.stdout.once('drain', resolve))
        }
      }
    `,
    expect: outputCapped,
  },
  {
    id: 'res-disk-workspace-py',
    title: 'Filling /workspace stops at its size limit',
    tags: ['resources', 'disk'],
    language: 'python',
    timeoutSeconds: 15,
    code: FILL_PY('/workspace/fill', 2048),
    expect: diskBounded(256),
  },
  {
    id: 'res-disk-tmp-py',
    title: 'Filling /tmp stops at its size limit',
    tags: ['resources', 'disk'],
    language: 'python',
    timeoutSeconds: 15,
    code: FILL_PY('/tmp/fill', 2048),
    expect: diskBounded(256),
  },
  {
    id: 'res-disk-shm-py',
    title: 'Filling /dev/shm stops at its size limit',
    tags: ['resources', 'disk'],
    language: 'python',
    timeoutSeconds: 15,
    code: FILL_PY('/dev/shm/fill', 2048),
    expect: (r) => (isMemoryLimit(r) ? pass('stopped at the memory limit') : diskBounded(256)(r)),
  },
  {
    id: 'res-file-size-py',
    title: 'One growing file stops at the file-size limit',
    tags: ['resources', 'disk'],
    language: 'python',
    timeoutSeconds: 15,
    code: code`
      def main():
          chunk = b"z" * 1048576
          written = 0
          error = None
          try:
              with open("/workspace/huge.bin", "wb") as f:
                  for _ in range(2048):
                      f.write(chunk)
                      f.flush()
                      written += 1
          except OSError as exc:
              error = "%s: %s" % (type(exc).__name__, exc)
          return {"written_mb": written, "error": error}
    `,
    expect: diskBounded(128),
  },
  {
    id: 'res-disk-node',
    title: 'Node.js filling /workspace stops at its size limit',
    tags: ['resources', 'disk'],
    language: 'nodejs',
    timeoutSeconds: 15,
    code: code`
      const fs = require('fs')

      function main() {
        const chunk = Buffer.alloc(1024 * 1024, 120)
        let written = 0
        let error = null
        try {
          for (let i = 0; i < 2048; i++) {
            fs.appendFileSync('/workspace/fill-' + Math.floor(i / 8) + '.bin', chunk)
            written++
          }
        } catch (e) {
          error = e.code + ': ' + e.message
        }
        return {written_mb: written, error}
      }
    `,
    expect: diskBounded(256),
  },
  {
    id: 'res-many-files-py',
    title: 'Creating a million files is stopped by a limit and the next run works',
    tags: ['resources', 'disk'],
    language: 'python',
    timeoutSeconds: 10,
    followUp: nextRunPython,
    code: code`
      import os

      def main():
          os.makedirs("/workspace/many", exist_ok=True)
          created = 0
          error = None
          try:
              for i in range(1000000):
                  fd = os.open("/workspace/many/%d" % i, os.O_CREAT | os.O_WRONLY, 0o644)
                  os.close(fd)
                  created += 1
          except OSError as exc:
              error = "%s: %s" % (type(exc).__name__, exc)
          return {"created": created, "error": error}
    `,
    expect: (r, ctx) => contained(r, ctx, (v) => (v.error ? true : `created ${String(v.created)} files without hitting any limit`)),
  },
  {
    id: 'res-open-files-py',
    title: 'Opening files without closing stops at the descriptor limit',
    tags: ['resources', 'disk'],
    language: 'python',
    timeoutSeconds: 10,
    code: code`
      import os

      def main():
          fds = []
          error = None
          try:
              for _ in range(100000):
                  fds.append(os.open("/dev/null", os.O_RDONLY))
          except OSError as exc:
              error = "%s: %s" % (type(exc).__name__, exc)
          return {"opened": len(fds), "error": error}
    `,
    expect: (r) =>
      expectValue(
        r,
        (v) => (Number(v.opened) <= 65536 && /Too many open files|Errno 24/.test(String(v.error)) ? true : `opened ${String(v.opened)}, error ${String(v.error)}`),
        'EMFILE at the descriptor limit',
      ),
  },
]
