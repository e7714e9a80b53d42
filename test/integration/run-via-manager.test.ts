/**
 * `sandbox run --via-manager` / SANDBOX_RUN_VIA=manager: a docker-provider run handed to the
 * manager running on this host (recorded in the state directory by `sandbox start`), whose
 * warm pool answers. The real CLI (bin/run.js) and a real manager in a private state directory.
 */
import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startCliManager, type PrivateState} from '../helpers/manager.js'

const data = mkdtempSync(join(tmpdir(), 'sandbox-via-manager-data-'))
let manager: PrivateState

function cli(args: string[], env: Record<string, string>): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/run.js', ...args], {env: {...process.env, SANDBOX_DATA_DIR: data, NO_COLOR: '1', ...env}}, (error, stdout, stderr) =>
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stdout, stderr}),
    )
  })
}

beforeAll(async () => {
  manager = await startCliManager('sandbox-via-manager-', ['--pool-size', '1'])
}, 120_000)
afterAll(async () => {
  await manager?.close()
  rmSync(data, {recursive: true, force: true})
})

describe('sandbox run through the manager of this host', () => {
  it('--via-manager runs the code in the manager and says so', async () => {
    const r = await cli(['run', 'examples/hello.py', '--arg', 'name=World', '--via-manager'], {SANDBOX_STATE_DIR: manager.stateDir})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('Hello from Python, World!')
    expect(r.stdout).toContain('"greeting": "Hello, World!"')
    expect(r.stderr).toContain(`manager ${manager.endpoint}`)
    expect(r.stderr).not.toContain('warning')
  })

  it("--timeout and --memory, which RAGFlow's POST /run cannot carry, are said not to reach the manager", async () => {
    const r = await cli(['run', 'examples/hello.py', '--via-manager', '--timeout', '2', '--memory', '128m'], {SANDBOX_STATE_DIR: manager.stateDir})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain('warning: --timeout and --memory do not reach the manager (--via-manager)')
  })

  it('SANDBOX_RUN_VIA=manager does the same; --json gives the result', async () => {
    const r = await cli(['run', 'examples/hello.py', '--arg', 'name=World', '--json'], {SANDBOX_STATE_DIR: manager.stateDir, SANDBOX_RUN_VIA: 'manager'})
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({status: 'success', stdout: 'Hello from Python, World!\n', result: {value: {greeting: 'Hello, World!', length: 5}}})
  })

  it('with no manager recorded it fails with exit 3 and how to start one; nothing runs', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'sandbox-via-manager-none-'))
    try {
      const r = await cli(['run', 'examples/hello.py', '--via-manager', '--json'], {SANDBOX_STATE_DIR: empty})
      expect(r.code).toBe(3)
      const error = (JSON.parse(r.stdout) as {error: {code: string; suggestions: string[]}}).error
      expect(error.code).toBe('MANAGER_NOT_RUNNING')
      expect(error.suggestions.join('\n')).toContain('sandbox start')
    } finally {
      rmSync(empty, {recursive: true, force: true})
    }
  })

  it('a SANDBOX_RUN_VIA that is neither engine nor manager is a configuration error (exit 4)', async () => {
    const r = await cli(['run', 'examples/hello.py', '--json'], {SANDBOX_STATE_DIR: manager.stateDir, SANDBOX_RUN_VIA: 'warp'})
    expect(r.code).toBe(4)
    expect((JSON.parse(r.stdout) as {error: {code: string}}).error.code).toBe('INVALID_RUN_VIA')
  })

  it('--via-manager with another provider is refused (exit 4)', async () => {
    const r = await cli(['run', 'examples/hello.py', '--via-manager', '--provider', 'e2b', '--json'], {SANDBOX_STATE_DIR: manager.stateDir})
    expect(r.code).toBe(4)
    expect((JSON.parse(r.stdout) as {error: {code: string}}).error.code).toBe('VIA_MANAGER_PROVIDER')
  })
})
