/**
 * One run pipeline (issue 12, "must show"): the same code and limits give the same result on
 * each of the three paths — `sandbox run --json` (the real bin in a child process), POST /run on
 * a real manager, and the suite's target — with real Docker and gVisor behind all three. And the
 * one settings resolver: a stored docker timeout applies to `sandbox run` and to the manager, an
 * environment value beats it on both.
 */
import {execFile} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import type {Language} from '../../src/engine/languages.js'
import {saveProviderConfig} from '../../src/providers/settings.js'
import {PROVIDERS} from '../../src/providers/registry.js'
import {RUN_LIMITS} from '../../src/run/request.js'
import type {RunningManager} from '../../src/server/manager.js'
import {startEngineTarget} from '../../src/suite/targets.js'
import type {SuiteTarget} from '../../src/suite/types.js'
import {postRun, runBody, startManager} from '../helpers/manager.js'

const dir = mkdtempSync(join(tmpdir(), 'paths-'))
/** the limits every path runs with: the environment as each one reads it */
const LIMIT_ENV = {SANDBOX_TIMEOUT: '3s', SANDBOX_MAX_MEMORY: '256m', SANDBOX_CODE_POLICY: 'ragflow'}

/** What one path answered: the RunResult's fields that must agree, or the refusal before anything ran. */
interface Answer {
  status?: string
  exit_code?: number
  stdout?: string
  result?: unknown
  resource_limit_type?: string | null
  /** refused before running: the message says why */
  refused?: string
}

interface Case {
  name: string
  language: Language
  code: string
  args?: Record<string, unknown>
  expect: Answer
}

const TOO_LARGE = `Code is too large: at most ${RUN_LIMITS.maxCodeBytes} bytes`

const CASES: Case[] = [
  {
    name: 'success with a result',
    language: 'python',
    code: 'def main(name):\n    print("hi " + name)\n    return {"greeting": "Hello, " + name}\n',
    args: {name: 'World'},
    expect: {status: 'success', exit_code: 0, stdout: 'hi World\n', result: {present: true, value: {greeting: 'Hello, World'}, type: 'json'}, resource_limit_type: null},
  },
  {
    name: 'success in Node.js',
    language: 'nodejs',
    code: 'async function main(args) { console.log("n=" + args.n); return args.n * 2 }\nmodule.exports = {main}\n',
    args: {n: 21},
    expect: {status: 'success', exit_code: 0, stdout: 'n=21\n', result: {present: true, value: 42, type: 'json'}},
  },
  {
    name: 'program error',
    language: 'python',
    code: 'def main():\n    print("before")\n    raise ValueError("nope")\n',
    expect: {status: 'program_error', exit_code: 1, stdout: 'before\n', result: null},
  },
  {
    name: 'timeout (SANDBOX_TIMEOUT=3s)',
    language: 'python',
    code: 'def main():\n    while True:\n        pass\n',
    expect: {status: 'resource_limit_exceeded', exit_code: -124, resource_limit_type: 'time', result: null},
  },
  {
    name: 'memory limit (256m)',
    language: 'python',
    code: 'def main():\n    x = []\n    while True:\n        x.append(bytearray(16 * 1024 * 1024))\n',
    expect: {status: 'resource_limit_exceeded', exit_code: -137, resource_limit_type: 'memory', result: null},
  },
  {
    name: 'policy refusal',
    language: 'python',
    code: 'import os\n\ndef main():\n    return os.getcwd()\n',
    expect: {status: 'program_runner_error', exit_code: -999, stdout: '', result: null},
  },
  {
    name: 'stdout flood (output limit)',
    language: 'python',
    code: 'def main():\n    while True:\n        print("x" * 1000)\n',
    expect: {status: 'resource_limit_exceeded', exit_code: -25, resource_limit_type: 'output', result: null},
  },
  {
    name: 'oversized code (the same limit everywhere)',
    language: 'python',
    code: `# ${'x'.repeat(RUN_LIMITS.maxCodeBytes)}\ndef main():\n    return 1\n`,
    expect: {refused: TOO_LARGE},
  },
]

/** the fields of a RunResult the table compares */
function fields(r: Record<string, unknown>, expected: Answer): Answer {
  return Object.fromEntries(Object.keys(expected).map((k) => [k, r[k]])) as Answer
}

function cli(args: string[], env: Record<string, string>): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/dev.js', 'run', ...args, '--json'],
      {env: {...process.env, SANDBOX_STATE_DIR: mkdtempSync(join(dir, 'state-')), SANDBOX_DATA_DIR: mkdtempSync(join(dir, 'data-')), ...env}, maxBuffer: 64 * 1024 * 1024},
      (error, stdout, stderr) => resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stdout, stderr}),
    )
  })
}

/** `sandbox run FILE --json`: the result, or the error's message when it refused */
async function viaCli(c: Pick<Case, 'language' | 'code' | 'args'>, env: Record<string, string> = LIMIT_ENV): Promise<Record<string, unknown>> {
  const file = join(mkdtempSync(join(dir, 'code-')), c.language === 'python' ? 'main.py' : 'main.js')
  writeFileSync(file, c.code)
  const r = await cli([file, '--args-json', JSON.stringify(c.args ?? {})], env)
  const out = JSON.parse(r.stdout) as Record<string, unknown> & {error?: {code: string; message: string; exit: number}}
  if (out.error) {
    expect(out.error, r.stderr).toMatchObject({code: 'CODE_TOO_LARGE', exit: 4})
    return {refused: out.error.message}
  }
  return out
}

/** POST /run: the result (200), or the 413's message */
async function viaManager(manager: RunningManager, c: Pick<Case, 'language' | 'code' | 'args'>): Promise<Record<string, unknown>> {
  const answer = await postRun(manager.port, runBody(c.code, c.language, c.args ?? {}))
  if (answer.status === 413) return {refused: answer.json().message}
  expect(answer.status).toBe(200)
  return answer.json()
}

/** the suite's target: the result, or the refusal it throws */
async function viaSuite(target: SuiteTarget, c: Case): Promise<Record<string, unknown>> {
  try {
    return (await target.run(c.language, c.code, c.args ?? {})) as unknown as Record<string, unknown>
  } catch (error) {
    expect(error).toMatchObject({code: 'CODE_TOO_LARGE', exit: 4})
    return {refused: (error as Error).message}
  }
}

const managerConfig = (env: Record<string, string>) => loadConfig({env: {...process.env, ...env}, envFile: undefined})

describe('the same request gives the same result on every path', () => {
  let manager: RunningManager
  let target: SuiteTarget

  beforeAll(async () => {
    const config = managerConfig(LIMIT_ENV)
    ;[manager, target] = await Promise.all([startManager(config, {settingsDb: false}), startEngineTarget({config, poolSize: 1})])
  }, 300_000)

  afterAll(async () => {
    await Promise.all([manager?.stop('test done'), target?.close()])
  })

  for (const c of CASES) {
    it(
      c.name,
      async () => {
        const [run, managed, suite] = await Promise.all([viaCli(c), viaManager(manager, c), viaSuite(target, c)])
        const seen = {'sandbox run': fields(run, c.expect), 'POST /run': fields(managed, c.expect), 'sandbox test': fields(suite, c.expect)}
        for (const [path, answer] of Object.entries(seen)) {
          if (c.expect.refused) expect(answer.refused, path).toContain(c.expect.refused)
          else expect(answer, path).toEqual(c.expect)
        }
      },
      120_000,
    )
  }
})

describe('one settings resolver: stored docker row < environment, on sandbox run and the manager', () => {
  const SLEEPER: Pick<Case, 'language' | 'code'> = {language: 'python', code: 'import time\n\ndef main():\n    time.sleep(3)\n    return "woke"\n'}
  let db: string

  beforeAll(async () => {
    db = `sqlite://${join(mkdtempSync(join(dir, 'db-')), 'settings.db')}`
    await saveProviderConfig({db, definition: PROVIDERS.docker, config: {timeout: 1}, activate: true})
  })

  const managed = async (env: Record<string, string>) => {
    const manager = await startManager(managerConfig(env), {settingsDb: db, languages: ['python']})
    try {
      return await viaManager(manager, SLEEPER)
    } finally {
      await manager.stop('test done')
    }
  }
  it('a stored docker timeout applies on both paths', async () => {
    // no SANDBOX_TIMEOUT (empty is unset): the stored row's 1 s is the limit
    const [run, manager] = await Promise.all([viaCli(SLEEPER, {SANDBOX_DB_URL: db, SANDBOX_TIMEOUT: ''}), managed({SANDBOX_TIMEOUT: ''})])
    for (const r of [run, manager]) expect(r).toMatchObject({status: 'resource_limit_exceeded', exit_code: -124, resource_limit_type: 'time'})
  }, 180_000)

  it('an environment value beats it on both paths', async () => {
    const [run, manager] = await Promise.all([viaCli(SLEEPER, {SANDBOX_DB_URL: db, SANDBOX_TIMEOUT: '20s'}), managed({SANDBOX_TIMEOUT: '20s'})])
    for (const r of [run, manager]) expect(r).toMatchObject({status: 'success', result: {value: 'woke'}})
  }, 180_000)
})
