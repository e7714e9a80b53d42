/**
 * TypeScript end to end, with no TypeScript in the engine or the backends: `sandbox run
 * main.ts --arg x=1` through the real CLI, and POST /run with "language": "typescript" (and
 * its alias ts) on a started manager — real gVisor, the Node.js image.
 */
import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {postRun, startCliManager, type PrivateState} from '../helpers/manager.js'

const dir = mkdtempSync(join(tmpdir(), 'typescript-'))
const MAIN_TS = `interface Args {
  x: string
}

export function main({x}: Args): {x: number; doubled: number} {
  const n: number = Number(x)
  console.log(\`got \${n}\`)
  return {x: n, doubled: n * 2}
}
`

function runCli(args: string[]): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/dev.js', 'run', ...args, '--json'],
      {env: {...process.env, SANDBOX_STATE_DIR: mkdtempSync(join(dir, 'state-')), SANDBOX_DATA_DIR: mkdtempSync(join(dir, 'data-'))}, maxBuffer: 16 * 1024 * 1024},
      (error, stdout, stderr) => resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stdout, stderr}),
    )
  })
}

describe('sandbox run main.ts', () => {
  it('runs main(args) with --arg, as JavaScript would', async () => {
    const file = join(dir, 'main.ts')
    writeFileSync(file, MAIN_TS)
    const r = await runCli([file, '--arg', 'x=1'])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({status: 'success', stdout: 'got 1\n', result: {present: true, value: {x: 1, doubled: 2}, type: 'json'}})
  })

  it('a syntax error is a program_error naming the line; the policy refuses what the JavaScript would run, on the TypeScript line (exit 5)', async () => {
    const bad = join(dir, 'bad.ts')
    writeFileSync(bad, 'export function main(): number {\n  return (1 +\n}\n')
    const syntax = await runCli([bad])
    expect(syntax.code).toBe(1)
    const out = JSON.parse(syntax.stdout) as {status: string; stderr: string}
    expect(out.status).toBe('program_error')
    expect(out.stderr).toContain('TypeScript syntax error: main.ts:3:1')
    const unsafe = join(dir, 'unsafe.ts')
    writeFileSync(unsafe, "// spawns\ntype T = string\nimport {execSync} from 'child_process'\nexport const main = (): T => String(execSync('id'))\n")
    const refused = await runCli([unsafe])
    expect(refused.code).toBe(5)
    expect(JSON.parse(refused.stdout)).toMatchObject({status: 'program_runner_error', exit_code: -999, detail: 'Code is unsafe'})
    expect((JSON.parse(refused.stdout) as {stderr: string}).stderr).toMatch(/^Line 3: Require: child_process/)
  })
})

describe('POST /run with "language": "typescript"', () => {
  let manager: PrivateState

  const post = async (body: unknown): Promise<{status: number; body: Record<string, unknown>}> => {
    const answer = await postRun(manager.port, body)
    return {status: answer.status, body: answer.json()}
  }

  beforeAll(async () => {
    manager = await startCliManager('sandbox-typescript-', ['--pool-size', '1'])
  })

  afterAll(async () => {
    await manager?.close()
    rmSync(dir, {recursive: true, force: true})
  })

  it('runs it in the Node.js pool; ts is an alias; the policy applies', async () => {
    const code_b64 = Buffer.from(MAIN_TS).toString('base64')
    for (const language of ['typescript', 'ts']) {
      const r = await post({code_b64, language, arguments: {x: '21'}})
      expect(r.status).toBe(200)
      expect(r.body).toMatchObject({status: 'success', exit_code: 0, stdout: 'got 21\n', result: {present: true, value: {x: 21, doubled: 42}, type: 'json'}})
    }
    const unsafe = await post({
      code_b64: Buffer.from("import * as fs from 'fs'\nexport const main = (): string[] => fs.readdirSync('/')\n").toString('base64'),
      language: 'typescript',
    })
    expect(unsafe.body).toMatchObject({status: 'program_runner_error', exit_code: -999, detail: 'Code is unsafe'})
  })
})
