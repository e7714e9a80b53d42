/**
 * `sandbox run` as a user runs it: the installed entry point (bin/run.js over a fresh dist/),
 * a real daemon and gVisor. Every path out of a run ends the process by itself, with its exit
 * code, and leaves no container: a refusal by the policy, a missing file, a bad flag, Ctrl-C
 * and SIGTERM during a run. Errors have the documented shape; output streams while the code
 * runs; --save-artifacts never replaces a file.
 *
 * "Ends by itself" is a behaviour, not a timing: a process still alive after WATCHDOG_MS is
 * killed and fails its check, and the backstop in bin/ (which names open handles) must never
 * have fired. The durations are printed for the record (docs/troubleshooting.md quotes them).
 */
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {sandboxesOfPid} from '../helpers/containers.js'

const ROOT = process.cwd()
const BIN = join(ROOT, 'bin', 'run.js')
const WATCHDOG_MS = 60_000
const BACKSTOP = /still open \(a bug/

let dir: string
let env: NodeJS.ProcessEnv

interface Outcome {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
  pid: number
  /** killed by the watchdog: it did not exit by itself */
  hung: boolean
}

/** Run the CLI; `whenStdout` is called with the child as soon as its stdout contains the text. */
function cli(args: string[], options: {whenStdout?: [string, (child: ChildProcess) => void]} = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = performance.now()
    const child = spawn(process.execPath, [BIN, ...args], {cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    let hung = false
    let fired = false
    child.stdout!.on('data', (b: Buffer) => {
      stdout += b.toString()
      if (options.whenStdout && !fired && stdout.includes(options.whenStdout[0])) {
        fired = true
        options.whenStdout[1](child)
      }
    })
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()))
    const watchdog = setTimeout(() => {
      hung = true
      child.kill('SIGKILL')
    }, WATCHDOG_MS)
    child.on('close', (code, signal) => {
      clearTimeout(watchdog)
      resolve({code, signal, stdout, stderr, ms: performance.now() - started, pid: child.pid!, hung})
    })
  })
}

/** sandboxes of a CLI process, whichever backend made them (containers by our labels, runsc sandboxes by their owner's pid) */
const leftFor = (pid: number) => sandboxesOfPid(pid, env.SANDBOX_STATE_DIR)

async function expectClean(o: Outcome, exit: number): Promise<void> {
  const context = `exit ${o.code} signal ${o.signal} after ${Math.round(o.ms)} ms\n--- stdout\n${o.stdout.slice(-2000)}\n--- stderr\n${o.stderr.slice(-2000)}`
  expect(o.hung, `did not exit by itself\n${context}`).toBe(false)
  expect(o.code, context).toBe(exit)
  expect(o.stderr, context).not.toMatch(BACKSTOP)
  expect(await leftFor(o.pid), context).toEqual([])
}

/** n tries, `parallel` at a time (two at once also exercises the daemon being busy) */
async function tries(n: number, parallel: number, one: () => Promise<Outcome>): Promise<Outcome[]> {
  const out: Outcome[] = []
  let next = 0
  await Promise.all(
    Array.from({length: parallel}, async () => {
      while (next < n) {
        next++
        out.push(await one())
      }
    }),
  )
  return out
}

const record = (what: string, outcomes: Outcome[]) => {
  const ms = outcomes.map((o) => o.ms).sort((a, b) => a - b)
  process.stderr.write(`[cli.test] ${what}: ${outcomes.length} tries, median ${(ms[Math.floor(ms.length / 2)] / 1000).toFixed(2)} s, max ${(ms.at(-1)! / 1000).toFixed(2)} s\n`)
}

beforeAll(() => {
  // bin/run.js runs dist/: compile the current sources (type errors elsewhere do not stop the emit)
  try {
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], {cwd: ROOT, stdio: 'pipe'})
  } catch {
    // emitted anyway
  }
  dir = mkdtempSync(join(tmpdir(), 'sandbox-cli-'))
  env = {...process.env, SANDBOX_STATE_DIR: join(dir, 'state'), SANDBOX_DATA_DIR: join(dir, 'data'), NO_COLOR: '1', FORCE_COLOR: '0'}
  delete env.NODE_ENV
  writeFileSync(join(dir, 'refused.py'), 'import os\n\ndef main():\n    return os.listdir("/")\n')
  writeFileSync(join(dir, 'sleepy.py'), 'import time\n\ndef main():\n    print("started", flush=True)\n    time.sleep(60)\n')
  writeFileSync(
    join(dir, 'artifacts.py'),
    [
      'def main():',
      '    for name in ["package.json", "fresh.csv", "bad\\n\\x1b[31mname.csv"]:',
      '        with open("artifacts/" + name, "w") as f:',
      '            f.write("{\\"scripts\\": {\\"postinstall\\": \\"touch /tmp/pwned\\"}}")',
      '    return "written"',
      '',
    ].join('\n'),
  )
}, 300_000)

afterAll(() => {
  if (dir) rmSync(dir, {recursive: true, force: true})
})

describe('sandbox run always exits and leaves no container', () => {
  it('a file the policy refuses: exit 5, 20 of 20 tries (half of them with --json)', async () => {
    let n = 0
    const outcomes = await tries(20, 2, () => cli(['run', 'refused.py', ...(n++ % 2 ? ['--json'] : [])]))
    record('refused', outcomes)
    for (const o of outcomes) {
      await expectClean(o, 5)
      expect(o.stdout + o.stderr).toContain('Code is unsafe')
    }
  }, 600_000)

  it('the daemon cannot be reached (docker backend): exit 3 at once', async () => {
    const saved = env.DOCKER_HOST
    env.DOCKER_HOST = 'tcp://127.0.0.1:1'
    try {
      const o = await cli(['run', '--backend', 'docker', 'refused.py'])
      expect(o.hung).toBe(false)
      expect(o.code, o.stderr).toBe(3)
      expect(o.stderr).toContain('Code: DOCKER_UNREACHABLE')
      expect(o.stderr).not.toMatch(BACKSTOP)
    } finally {
      if (saved === undefined) delete env.DOCKER_HOST
      else env.DOCKER_HOST = saved
    }
  })

  it('a missing file: exit 2, 20 of 20 tries, with --json exactly the documented error', async () => {
    const outcomes = await tries(20, 2, () => cli(['run', 'missing.py', ...(Math.random() < 0.5 ? ['--json'] : [])]))
    record('missing file', outcomes)
    for (const o of outcomes) await expectClean(o, 2)
    const json = await cli(['run', 'missing.py', '--json'])
    expect(JSON.parse(json.stdout)).toEqual({error: {code: 'FILE_NOT_FOUND', message: 'File not found: missing.py', suggestions: [], exit: 2}})
    expect(json.stderr).toBe('')
  }, 300_000)

  it('a malformed value is a usage error (exit 2) whatever the flag', async () => {
    for (const bad of [
      ['--arg', 'a'],
      ['--timeout', 'abc'],
      ['--memory', '5x'],
      ['--policy', 'maybe'],
      ['--tiemout', '3'],
    ]) {
      const o = await cli(['run', 'refused.py', ...bad, '--json'])
      await expectClean(o, 2)
      const {error} = JSON.parse(o.stdout) as {error: Record<string, unknown>}
      expect(Object.keys(error), bad.join(' ')).toEqual(['code', 'message', 'suggestions', 'exit'])
      expect(error.exit).toBe(2)
    }
    const start = await cli(['start', '--memory', '5x'])
    await expectClean(start, 2)
    expect(start.stderr).toContain('Invalid --memory "5x"')
    const typo = await cli(['rnu', 'refused.py'])
    await expectClean(typo, 2)
    expect(typo.stderr).toContain('rnu is not a sandbox command: did you mean `sandbox run`?')
    // help of a command that does not exist is the same usage error; help of one that does stays help
    for (const argv of [
      ['rnu', '--help'],
      ['help', 'rnu'],
      ['configure', 'aws', '--help'],
    ]) {
      const o = await cli(argv)
      await expectClean(o, 2)
      expect(o.stderr, argv.join(' ')).toMatch(/is not a sandbox command[^]*Code: UNKNOWN_COMMAND/)
      expect(o.stderr).not.toContain('Command ')
    }
    for (const argv of [
      ['run', 'refused.py', '--help'],
      ['configure', 'docker', '--help'],
      ['swarm', '--help'],
    ]) {
      const o = await cli(argv)
      expect(o.code, argv.join(' ')).toBe(0)
      expect(o.stdout).toContain('USAGE')
    }
  }, 300_000)

  it('the code hits the time limit: exit 1 with its result, with and without --json', async () => {
    // the engine kills the container and waits for its exit; every timer it awaits must hold
    // the process (an unref'd one ended the CLI with Node's 13 and no output at all)
    for (const json of [true, false]) {
      const o = await cli(['run', 'sleepy.py', '--policy', 'off', '--timeout', '2', ...(json ? ['--json'] : [])])
      await expectClean(o, 1)
      if (json) expect(JSON.parse(o.stdout)).toMatchObject({status: 'resource_limit_exceeded', exit_code: -124, resource_limit_type: 'time', stdout: 'started\n'})
      else expect(o.stderr).toContain('✗ resource_limit_exceeded · exit -124')
    }
  }, 300_000)

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    '%s during a run (its output already streamed): exit %i, container removed',
    async (signal, exit) => {
      const outcomes = await tries(3, 1, async () => {
        let alive = 0
        const o = await cli(['run', 'sleepy.py', '--policy', 'off', '--timeout', '90'], {
          // "started" arrives while main() still sleeps: the output streams as it is printed
          whenStdout: [
            'started',
            (child) => {
              void leftFor(child.pid!).then((left) => {
                alive = left.length
                child.kill(signal)
              })
            },
          ],
        })
        expect(alive, 'its container ran while main() slept').toBe(1)
        return o
      })
      record(signal, outcomes)
      for (const o of outcomes) {
        await expectClean(o, exit)
        expect(o.stderr).toContain('Code: INTERRUPTED')
      }
    },
    300_000,
  )
})

describe('--json', () => {
  it("field names are snake_case in every command's output", async () => {
    const camel = (value: unknown, path = ''): string[] =>
      Array.isArray(value)
        ? value.flatMap((v, i) => camel(v, `${path}[${i}]`))
        : value && typeof value === 'object'
          ? Object.entries(value).flatMap(([k, v]) => [...(/^[a-z]+[A-Z]/.test(k) ? [`${path}.${k}`] : []), ...camel(v, `${path}.${k}`)])
          : []
    for (const argv of [['status'], ['stop'], ['configure', 'show'], ['test', '--list'], ['run', 'refused.py']]) {
      const o = await cli([...argv, '--json'])
      expect(camel(JSON.parse(o.stdout)), argv.join(' ')).toEqual([])
    }
  }, 300_000)
})

describe('--save-artifacts', () => {
  it('never replaces a file and never prints a raw control character', async () => {
    const out = join(dir, 'out')
    rmSync(out, {recursive: true, force: true})
    execFileSync('mkdir', ['-p', out])
    writeFileSync(join(out, 'package.json'), '{"name": "mine"}\n')
    const o = await cli(['run', 'artifacts.py', '--policy', 'off', '--save-artifacts', 'out'])
    await expectClean(o, 4)
    expect(o.stderr).toContain('Code: ARTIFACT_EXISTS')
    expect(readFileSync(join(out, 'package.json'), 'utf8')).toBe('{"name": "mine"}\n')
    expect(readdirSync(out)).toEqual(['package.json'])
    // the name with a newline and an escape sequence was refused on the host, and shown escaped
    expect(o.stdout + o.stderr).not.toMatch(/\u001b/)
    expect(o.stderr).toMatch(/bad\\n\\u001b\[31mname\.csv/)
    // into an empty directory the safe ones are saved
    const fresh = await cli(['run', 'artifacts.py', '--policy', 'off', '--save-artifacts', 'fresh'])
    await expectClean(fresh, 0)
    expect(readdirSync(join(dir, 'fresh')).sort()).toEqual(['fresh.csv', 'package.json'])
  }, 300_000)
})
