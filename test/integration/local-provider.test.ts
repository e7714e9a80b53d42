/**
 * RAGFlow's local provider for real: Python and Node children on this host under rlimits, the
 * process group killed at the timeout (a background child does not survive), the address-space /
 * data rlimit, results and artifacts, and the CLI: a settings database with
 * sandbox.provider_type=local is refused without the opt-in and runs local (with a warning on
 * stderr) with it — never another provider's settings.
 */
import {execFile} from 'node:child_process'
import {chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import type {SandboxError} from '../../src/errors.js'
import type {Language} from '../../src/engine/languages.js'
import {localDefinition, runWithProvider, type ProviderConfig, type ProviderEvent} from '../../src/providers/index.js'
import {openSettingsStore, writeProviderSettings} from '../../src/settings/index.js'
import {gone} from '../helpers/processes.js'
import {expectNodeResultAndProgramError} from '../helpers/provider-cases.js'

const dir = mkdtempSync(join(tmpdir(), 'local-int-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const sandboxConfig = loadConfig({env: {}, envFile: undefined})

async function runLocal(language: Language, code: string, options: {config?: ProviderConfig; timeoutSeconds?: number; arguments?: Record<string, unknown>} = {}) {
  const events: ProviderEvent[] = []
  const workDir = mkdtempSync(join(dir, 'work-'))
  const provider = localDefinition.create({work_dir: workDir, ...options.config}, {sandboxConfig, allowUnsandboxed: true, onEvent: (e) => events.push(e)})
  const run = await runWithProvider(provider, {code, language, arguments: options.arguments, timeoutSeconds: options.timeoutSeconds ?? 20, policy: 'off'})
  await run.dispose()
  return {result: run.result, events, workDir}
}

describe('local provider: real child processes', () => {
  it('Python: result, stdout, artifacts, a warning every run, and the instance directory removed', async () => {
    const code = `import os\n\ndef main(name, flag):\n    print("hello", name)\n    with open("artifacts/out.csv", "w") as f:\n        f.write("a,b\\n1,2\\n")\n    return {"greeting": "hi " + name, "flag": flag, "home": os.environ["HOME"] == os.getcwd()}\n`
    const {result, events, workDir} = await runLocal('python', code, {arguments: {name: 'World', flag: true}})
    expect(result.status).toBe('success')
    expect(result.stdout).toBe('hello World\n')
    expect(result.result).toEqual({present: true, value: {greeting: 'hi World', flag: true, home: true}, type: 'json'})
    expect(result.artifacts.map((a) => [a.name, a.mime_type, Buffer.from(a.content_b64, 'base64').toString()])).toEqual([['out.csv', 'text/csv', 'a,b\n1,2\n']])
    expect(
      events
        .filter((e) => e.level === 'warn')
        .map((e) => e.message)
        .join('\n'),
    ).toMatch(/NO sandbox/)
    expect(readdirSync(workDir)).toEqual([])
  })

  it('Node: result and a program error classified by the one classifier', async () => {
    await expectNodeResultAndProgramError(runLocal)
  })

  for (const language of ['python', 'nodejs'] as const) {
    it(`${language}: the timeout kills the whole process group (min(requested, configured)); no child survives`, async () => {
      const code =
        language === 'python'
          ? `import subprocess, sys, time\n\ndef main():\n    child = subprocess.Popen(["sleep", "300"])\n    print("child", child.pid, flush=True)\n    time.sleep(300)\n`
          : `const {spawn} = require('child_process')\nfunction main() { const c = spawn('sleep', ['300'], {stdio: 'ignore'}); console.log('child', c.pid); return new Promise(() => { setInterval(() => {}, 1000) }) }\n`
      // requested 30 s, configured 1 s: the configured one applies
      const {result} = await runLocal(language, code, {config: {timeout: 1}, timeoutSeconds: 30})
      expect(result.status).toBe('resource_limit_exceeded')
      expect(result.resource_limit_type).toBe('time')
      expect(result.exit_code).toBe(-124)
      expect(result.detail).toBe('Execution timeout after 1s')
      const pid = Number(/child (\d+)/.exec(result.stdout)?.[1])
      expect(pid).toBeGreaterThan(0)
      expect(gone(pid)).toBe(true)
    })
  }

  it('a background child left running when main returns is killed with its group', async () => {
    const code = `import subprocess\n\ndef main():\n    child = subprocess.Popen(["sleep", "300"], start_new_session=False)\n    return child.pid\n`
    const {result} = await runLocal('python', code)
    expect(result.status).toBe('success')
    expect(gone(Number(result.result?.value))).toBe(true)
  })

  it('Python: the address-space rlimit (max_memory_mb) stops a big allocation: a memory limit', async () => {
    const {result} = await runLocal('python', 'def main():\n    block = bytearray(1024 * 1024 * 1024)\n    return len(block)\n', {config: {max_memory_mb: 256}})
    expect(result.status).toBe('resource_limit_exceeded')
    expect(result.resource_limit_type).toBe('memory')
    // the same allocation fits a larger limit
    const fits = await runLocal('python', 'def main():\n    block = bytearray(64 * 1024 * 1024)\n    return len(block)\n', {config: {max_memory_mb: 512}})
    expect(fits.result.result?.value).toBe(64 * 1024 * 1024)
  })

  it('Node: max_memory_mb caps its data (RLIMIT_DATA): filling memory is a memory limit', async () => {
    const {result} = await runLocal('nodejs', 'function main() { const a = []; for (;;) a.push(Buffer.alloc(1 << 20).fill(1)) }\n', {config: {max_memory_mb: 256}})
    expect(result.status).toBe('resource_limit_exceeded')
    expect(result.resource_limit_type).toBe('memory')
  })

  it('a work_dir other users may write to is refused (exit 4) before any code is written', async () => {
    const shared = mkdtempSync(join(dir, 'shared-'))
    chmodSync(shared, 0o777)
    const provider = localDefinition.create({work_dir: shared}, {sandboxConfig, allowUnsandboxed: true})
    const error = await provider.createInstance('python').catch((e: SandboxError) => e)
    expect((error as SandboxError).code).toBe('LOCAL_WORK_DIR_UNSAFE')
    expect((error as SandboxError).exit).toBe(4)
    expect(readdirSync(shared)).toEqual([])
    expect((await provider.healthCheck()).healthy).toBe(false)
  })

  it('output over max_output_bytes stops the run: an output limit', async () => {
    const {result} = await runLocal('python', 'def main():\n    while True:\n        print("x" * 1000)\n', {config: {max_output_bytes: 4096}})
    expect(result.status).toBe('resource_limit_exceeded')
    expect(result.resource_limit_type).toBe('output')
    expect(result.stdout.length).toBeLessThanOrEqual(4096)
  })
})

function cli(args: string[], env: Record<string, string>): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    const clean = {...process.env}
    delete clean.SANDBOX_ALLOW_LOCAL_PROVIDER
    execFile(
      process.execPath,
      ['bin/dev.js', ...args],
      {env: {...clean, SANDBOX_STATE_DIR: mkdtempSync(join(dir, 'state-')), SANDBOX_DATA_DIR: mkdtempSync(join(dir, 'data-')), ...env}},
      (error, stdout, stderr) => resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stdout, stderr}),
    )
  })
}

describe('sandbox run with sandbox.provider_type=local in the database', () => {
  it('is refused without the opt-in (exit 4); runs local with its own row and a stderr warning with it', async () => {
    const db = `sqlite://${join(dir, 'ragflow.db')}`
    const workDir = mkdtempSync(join(dir, 'cli-work-'))
    const store = await openSettingsStore(db)
    try {
      await writeProviderSettings(store, 'docker', {timeout: 5}, {activate: false})
      await writeProviderSettings(store, 'local', {work_dir: workDir, timeout: 7}, {activate: true})
    } finally {
      await store.close()
    }
    const file = join(dir, 'who.py')
    writeFileSync(file, 'import os\n\ndef main():\n    return {"pid": os.getpid(), "cwd": os.getcwd()}\n')
    const refused = await cli(['run', file, '--db', db, '--json', '--policy', 'off'], {})
    expect(refused.code).toBe(4)
    expect(JSON.parse(refused.stdout)).toMatchObject({error: {code: 'LOCAL_PROVIDER_NOT_ALLOWED', exit: 4}})

    const optIns: Array<{args: string[]; env: Record<string, string>}> = [
      {args: ['--allow-unsandboxed'], env: {}},
      {args: [], env: {SANDBOX_ALLOW_LOCAL_PROVIDER: 'on'}},
    ]
    for (const optIn of optIns) {
      const ran = await cli(['run', file, '--db', db, '--json', '--policy', 'off', ...optIn.args], optIn.env)
      expect(ran.code).toBe(0)
      expect(ran.stderr).toMatch(/WARNING: the local provider .* NO sandbox/)
      const out = JSON.parse(ran.stdout) as {status: string; result: {value: {cwd: string}}}
      expect(out.status).toBe('success')
      // it ran on this host in local's own work_dir, not in a docker container
      expect(out.result.value.cwd.startsWith(workDir)).toBe(true)
    }
    expect(existsSync(workDir) && readdirSync(workDir)).toEqual([])
  })
})
