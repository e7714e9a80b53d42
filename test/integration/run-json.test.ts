/**
 * `sandbox run --json` with large results, through the real CLI (bin/dev.js) and real gVisor.
 */
import {execFile} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

const dir = mkdtempSync(join(tmpdir(), 'run-json-'))

function runCli(file: string, env: Record<string, string> = {}): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/dev.js', 'run', file, '--json', '--policy', 'off'],
      {
        env: {...process.env, SANDBOX_STATE_DIR: mkdtempSync(join(dir, 'state-')), SANDBOX_DATA_DIR: mkdtempSync(join(dir, 'data-')), ...env},
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stdout, stderr}),
    )
  })
}

describe('sandbox run --json with large results', () => {
  it('a 10 MB result serialises (oclif’s colouring overflowed the stack) when the result cap allows it', async () => {
    const file = join(dir, 'ten.py')
    writeFileSync(file, 'def main():\n    return "x" * (10 * 1024 * 1024)\n')
    const r = await runCli(file, {SANDBOX_MAX_RESULT_BYTES: '12m', SANDBOX_MAX_MEMORY: '512m'})
    expect(r.stderr).not.toMatch(/Maximum call stack/)
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as {status: string; result: {value: string}}
    expect(out.status).toBe('success')
    expect(out.result.value).toHaveLength(10 * 1024 * 1024)
  })

  it('a result just under the default cap comes back whole; one over it is an output limit (exit 1) with valid JSON', async () => {
    const under = join(dir, 'under.py')
    writeFileSync(under, 'def main():\n    return "x" * (4 * 1024 * 1024 - 2)\n')
    const ok = await runCli(under)
    expect(ok.code).toBe(0)
    expect((JSON.parse(ok.stdout) as {result: {value: string}}).result.value).toHaveLength(4 * 1024 * 1024 - 2)
    const over = join(dir, 'over.py')
    writeFileSync(over, 'def main():\n    return "x" * (4 * 1024 * 1024)\n')
    const refused = await runCli(over)
    expect(refused.code).toBe(1)
    expect(JSON.parse(refused.stdout)).toMatchObject({status: 'resource_limit_exceeded', resource_limit_type: 'output', exit_code: -25, result: null})
  })
})
