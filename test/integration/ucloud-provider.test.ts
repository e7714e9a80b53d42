/**
 * ucloud_agent_sandbox through the official E2B SDK (UCloud's sandbox follows E2B's API) against
 * the loopback E2B stand-in, whose "sandbox" runs the uploaded script for real in our gVisor
 * engine: RAGFlow's create parameters (template base, internet off, lifetime sandbox_timeout),
 * the lifetime extended to max(sandbox_timeout, timeout+30) before the run, the script in
 * /home/user/ragflow-codeexec-<hex> run with that cwd, result and artifacts, a program error,
 * the sandbox killed after; a refused key is RAGFlow's config error; `configure
 * ucloud-agent-sandbox --test` saves. A live run against UCloud skips visibly without
 * UCLOUD_SANDBOX_API_KEY.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Config} from '@oclif/core'
import {captureOutput} from '@oclif/test'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import ConfigureUCloud from '../../src/commands/configure/ucloud-agent-sandbox.js'
import {loadConfig} from '../../src/config.js'
import type {SandboxError} from '../../src/errors.js'
import {runWithProvider, ucloudDefinition, type ProviderConfig} from '../../src/providers/index.js'
import {startE2BStandIn, type E2BStandIn} from '../helpers/standins/e2b.js'

const imageEnv = (): Record<string, string> =>
  Object.fromEntries(['SANDBOX_BASE_PYTHON_IMAGE', 'SANDBOX_BASE_NODEJS_IMAGE'].flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])))
const sandboxConfig = loadConfig({env: imageEnv(), envFile: undefined})
let standin: E2BStandIn
let dir: string

beforeAll(async () => {
  standin = await startE2BStandIn()
  dir = mkdtempSync(join(tmpdir(), 'ucloud-int-'))
})
afterAll(async () => {
  await standin?.close()
  rmSync(dir, {recursive: true, force: true})
})

const standinConfig = (extra: ProviderConfig = {}): ProviderConfig => ({api_key: standin.apiKey, api_url: standin.apiUrl, sandbox_url: standin.sandboxUrl, ...extra})

async function run(language: 'python' | 'nodejs', code: string, extra: ProviderConfig = {}, args: Record<string, unknown> = {}, timeoutSeconds = 20) {
  const provider = ucloudDefinition.create(standinConfig(extra), {sandboxConfig})
  const r = await runWithProvider(provider, {code, language, arguments: args, timeoutSeconds, policy: 'off'})
  await r.dispose()
  return r.result
}

describe('ucloud_agent_sandbox through the E2B SDK, against the E2B-protocol stand-in', () => {
  it("Python: RAGFlow's create parameters, the lifetime extension, the workspace as cwd; result and artifacts; the sandbox killed", async () => {
    const creates = standin.creates.length
    const code = `import os\n\ndef main(name):\n    print("cwd", os.path.basename(os.getcwd()) != "")\n    with open("artifacts/t.csv", "w") as f:\n        f.write("x\\n1\\n")\n    return {"hi": name}\n`
    const result = await run('python', code, {timeout: 15}, {name: 'ucloud'})
    expect(result.status).toBe('success')
    expect(result.result?.value).toEqual({hi: 'ucloud'})
    expect(result.artifacts.map((a) => a.name)).toEqual(['t.csv'])
    const created = standin.creates.slice(creates)
    expect(created).toHaveLength(1)
    expect(created[0]).toMatchObject({templateID: 'base', timeout: 300, allow_internet_access: false})
    // max(sandbox_timeout 300, timeout 15 + 30)
    expect(standin.timeouts.at(-1)).toBe(300)
    expect(standin.commands.at(-1)).toMatch(/^python3 \/home\/user\/ragflow-codeexec-[0-9a-f]{32}\/main\.py$/)
    expect(standin.live()).toEqual([])
  }, 120_000)

  it('Node: result; a thrown error is a program error; max_artifacts caps what comes back', async () => {
    // requested 50 s, configured 40 s: 40 applies, and the lifetime becomes max(60, 40 + 30)
    const ok = await run('nodejs', 'function main(args) { return {n: args.n + 1} }\n', {sandbox_timeout: 60, timeout: 40}, {n: 41}, 50)
    expect(ok.status).toBe('success')
    expect(ok.result?.value).toEqual({n: 42})
    expect(standin.timeouts.at(-1)).toBe(70)
    const bad = await run('nodejs', 'function main() { throw new RangeError("bad range") }\n')
    expect(bad.status).toBe('program_error')
    expect(bad.detail).toContain('bad range')
    const capped = await run('python', 'def main():\n    for i in range(3):\n        open("artifacts/%d.csv" % i, "w").write("a")\n    return 1\n', {max_artifacts: 2})
    expect(capped.artifacts.map((a) => a.name)).toEqual(['0.csv', '1.csv'])
    expect(standin.live()).toEqual([])
  }, 120_000)

  it("a refused key is RAGFlow's configuration error (exit 4); nothing is left running", async () => {
    const provider = ucloudDefinition.create(standinConfig({api_key: 'wrong-key'}), {sandboxConfig})
    const error = await provider.createInstance('python').then(
      () => undefined,
      (e: SandboxError) => e,
    )
    expect(error?.message).toBe('UCloud Agent Sandbox authentication failed: check the API key.')
    expect(error?.exit).toBe(4)
    expect((await provider.healthCheck()).healthy).toBe(false)
    expect(standin.live()).toEqual([])
  })

  it('configure ucloud-agent-sandbox --test runs the probe through the SDK and saves (key masked)', async () => {
    const config = await Config.load({root: process.cwd()})
    process.exitCode = undefined
    const db = `sqlite://${join(dir, 'settings.db')}`
    const out = await captureOutput(() =>
      ConfigureUCloud.run(['--db', db, '--api-key', standin.apiKey, '--api-url', standin.apiUrl, '--sandbox-url', standin.sandboxUrl, '--test', '--json'], config),
    )
    process.exitCode = undefined
    expect(out.error).toBeUndefined()
    const json = JSON.parse(out.stdout) as {provider: string; saved: boolean; test: {success: boolean}; config: Record<string, unknown>}
    expect(json).toMatchObject({provider: 'ucloud_agent_sandbox', saved: true, test: {success: true}})
    expect(json.config).toMatchObject({region: 'cn-wlcb', template: 'base', allow_internet_access: false})
    expect(out.stdout).not.toContain(standin.apiKey)
  }, 120_000)
})

describe.skipIf(!process.env.UCLOUD_SANDBOX_API_KEY)('ucloud_agent_sandbox live (needs UCLOUD_SANDBOX_API_KEY; optional UCLOUD_SANDBOX_REGION)', () => {
  it('runs Python at UCloud', async () => {
    const provider = ucloudDefinition.create({api_key: process.env.UCLOUD_SANDBOX_API_KEY, region: process.env.UCLOUD_SANDBOX_REGION}, {sandboxConfig})
    const r = await runWithProvider(provider, {code: 'def main():\n    return 2 + 2\n', language: 'python', timeoutSeconds: 30, policy: 'off'})
    await r.dispose()
    expect(r.result.result?.value).toBe(4)
  }, 180_000)
})
