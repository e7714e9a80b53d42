/**
 * tenki through Tenki's official SDK (@tenkicloud/sandbox 0.5.4, a devDependency) against the
 * loopback Tenki stand-in (gRPC over HTTP/2, control and data planes), whose "microVM" runs the
 * written script for real in our gVisor engine: RAGFlow's create parameters (outbound off, max
 * duration = max_lifetime, metadata, optional image and resources), the workspace made with
 * `mkdir -p` and used as cwd, Python and Node results, artifacts, a program error, the time limit
 * min(requested, configured) kept by killing the process over the Run stream, RAGFlow's messages
 * for a refused key, quota, rate limit and a sandbox that is gone, and the session terminated
 * after every run; `configure tenki --test` probes through the SDK and saves.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Code} from '@connectrpc/connect'
import {Config} from '@oclif/core'
import {captureOutput} from '@oclif/test'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import ConfigureTenki from '../../src/commands/configure/tenki.js'
import {loadConfig} from '../../src/config.js'
import type {SandboxError} from '../../src/errors.js'
import {runWithProvider, tenkiDefinition, type ProviderConfig} from '../../src/providers/index.js'
import {imageEnv} from '../helpers/admin.js'
import {runBin} from '../helpers/bin.js'
import {startTenkiStandIn, type TenkiStandIn} from '../helpers/standins/tenki.js'

const sandboxConfig = loadConfig({env: imageEnv(), envFile: undefined})
let standin: TenkiStandIn
let dir: string

beforeAll(async () => {
  standin = await startTenkiStandIn()
  dir = mkdtempSync(join(tmpdir(), 'tenki-int-'))
})
afterAll(async () => {
  await standin?.close()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

const standinConfig = (extra: ProviderConfig = {}): ProviderConfig => ({api_key: standin.apiKey, base_url: standin.baseUrl, ...extra})
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: SandboxError) => e,
  )

async function run(
  language: 'python' | 'nodejs',
  code: string,
  extra: ProviderConfig = {},
  args: Record<string, unknown> = {},
  timeoutSeconds = 20,
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void,
) {
  const provider = tenkiDefinition.create(standinConfig(extra), {sandboxConfig})
  try {
    const r = await runWithProvider(provider, {code, language, arguments: args, timeoutSeconds, policy: 'off', onOutput})
    await r.dispose()
    return r.result
  } finally {
    await provider.close()
  }
}

describe('tenki through the Tenki SDK, against the Tenki-protocol stand-in', () => {
  it("Python: RAGFlow's create parameters, the workspace as cwd, the script written and run; result and artifacts; the session terminated", async () => {
    const before = {creates: standin.creates.length, commands: standin.commands.length, terminated: standin.terminated.length}
    const code = `def main(name):\n    print("working")\n    with open("artifacts/t.csv", "w") as f:\n        f.write("x\\n1\\n")\n    return {"hi": name}\n`
    const streamed: string[] = []
    const result = await run('python', code, {timeout: 15, cpu_cores: 2, memory_mb: 2048}, {name: 'tenki'}, 20, (stream, chunk) => streamed.push(`${stream}:${chunk.toString()}`))
    expect(result.status).toBe('success')
    // the Run stream's stdout frames reach onOutput as they arrive (here: the whole output, markers included)
    expect(streamed.join('')).toMatch(/^stdout:working\n/)
    expect(result.stdout).toBe('working\n')
    expect(result.result?.value).toEqual({hi: 'tenki'})
    expect(result.artifacts.map((a) => [a.name, Buffer.from(a.content_b64, 'base64').toString()])).toEqual([['t.csv', 'x\n1\n']])
    const created = standin.creates.slice(before.creates)
    expect(created).toEqual([
      {allowOutbound: false, allowInbound: true, maxDurationMs: 3_600_000, cpuCores: 2, memoryMb: 2048, diskSizeGb: 5, image: '', metadata: {source: 'sandbox-cli'}},
    ])
    const [mkdir, exec] = standin.commands.slice(before.commands)
    const workspace = /^mkdir -p (\/home\/tenki\/ragflow-codeexec-[0-9a-f]{32})\/artifacts$/.exec(mkdir.argv)?.[1]
    expect(workspace).toBeDefined()
    expect(exec).toEqual({argv: `python3 ${workspace}/main.py`, cwd: workspace})
    expect(standin.files.get(`${workspace}/main.py`)).toContain('def main(name):')
    expect(standin.live()).toEqual([])
    expect(standin.terminated.length).toBe(before.terminated + 1)
  }, 120_000)

  it('Node: result; a thrown error is a program error; max_artifacts caps what comes back; an image is passed as a registry ref', async () => {
    const before = standin.creates.length
    const ok = await run('nodejs', 'function main(args) { return {n: args.n + 1} }\n', {image: 'ws/node:20'}, {n: 41})
    expect(ok.status).toBe('success')
    expect(ok.result?.value).toEqual({n: 42})
    // with an image, the SDK leaves the resources to it
    expect(standin.creates[before]).toMatchObject({image: 'ws/node:20', cpuCores: 0, memoryMb: 0})
    expect(standin.commands.at(-1)?.argv).toMatch(/^node \/home\/tenki\/ragflow-codeexec-[0-9a-f]{32}\/main\.js$/)
    const bad = await run('nodejs', 'function main() { throw new RangeError("bad range") }\n')
    expect(bad.status).toBe('program_error')
    expect(bad.detail).toContain('bad range')
    const capped = await run('python', 'def main():\n    for i in range(3):\n        open("artifacts/%d.csv" % i, "w").write("a")\n    return 1\n', {max_artifacts: 2})
    expect(capped.artifacts.map((a) => a.name)).toEqual(['0.csv', '1.csv'])
    expect(standin.live()).toEqual([])
  }, 180_000)

  it('the time limit is min(requested, configured): the process is killed over the Run stream and the run is a timeout', async () => {
    const signals = standin.signals.length
    // configured 2 s, requested 30 s
    const slow = await run('python', 'import time\n\ndef main():\n    time.sleep(600)\n', {timeout: 2}, {}, 30)
    expect(slow.status).toBe('resource_limit_exceeded')
    expect(slow.detail).toBe('Execution timeout after 2s')
    // configured 30 s, requested 1 s
    const short = await run('nodejs', 'async function main() { await new Promise(() => setInterval(() => {}, 1000)) }\n', {timeout: 30}, {}, 1)
    expect(short.detail).toBe('Execution timeout after 1s')
    expect(standin.signals.slice(signals)).toEqual(['KILL', 'KILL'])
    expect(standin.live()).toEqual([])
  }, 180_000)

  it("a refused key is RAGFlow's configuration error (exit 4) and the health check says so; nothing is created", async () => {
    const before = standin.creates.length
    const provider = tenkiDefinition.create(standinConfig({api_key: 'tk_wrong'}), {sandboxConfig})
    const error = await failure(provider.createInstance('python'))
    expect([error?.message, error?.exit]).toEqual(['Tenki authentication failed: check the API key.', 4])
    expect(await provider.healthCheck()).toEqual({healthy: false, detail: 'Tenki authentication failed: check the API key.'})
    expect((await tenkiDefinition.create(standinConfig(), {sandboxConfig}).healthCheck()).healthy).toBe(true)
    await provider.close()
    expect(standin.creates.length).toBe(before)
  })

  it("RAGFlow's messages for quota, rate limit and a failed create; a sandbox ended on the server is 'no longer available' and destroy still succeeds", async () => {
    // the SDK's messages carry the gRPC code, as ConnectError words them
    const cases: Array<[Code, string, string, number]> = [
      [Code.ResourceExhausted, 'active session quota exceeded (5)', 'Tenki quota exceeded: [resource_exhausted] active session quota exceeded (5)', 6],
      [Code.ResourceExhausted, 'rate limit exceeded', 'Tenki rate limited, please retry: [resource_exhausted] rate limit exceeded', 6],
      [Code.Internal, 'scheduler down', 'Failed to create Tenki sandbox: [internal] scheduler down', 6],
    ]
    const provider = tenkiDefinition.create(standinConfig(), {sandboxConfig})
    for (const [code, message, expected, exit] of cases) {
      standin.failNextCreate(code, message)
      const e = await failure(provider.createInstance('python'))
      expect([e?.message, e?.exit]).toEqual([expected, exit])
    }
    const instance = await provider.createInstance('python')
    standin.expire(instance.instanceId)
    const gone = await failure(provider.executeCode(instance, {code: 'def main():\n    return 1\n', language: 'python', timeoutSeconds: 5}))
    expect(gone?.message).toMatch(/^Tenki sandbox is no longer available: .*terminated/)
    expect(await provider.destroyInstance(instance)).toBe(true)
    await provider.close()
    expect(standin.live()).toEqual([])
  })

  it('a failure after the sandbox exists (a write refused) is "Tenki execution failed", and the sandbox is still terminated', async () => {
    standin.failNextWrite(Code.ResourceExhausted, 'no space left on device')
    const provider = tenkiDefinition.create(standinConfig(), {sandboxConfig})
    const e = await failure(runWithProvider(provider, {code: 'def main():\n    return 1\n', language: 'python', timeoutSeconds: 5, policy: 'off'}))
    expect(e?.message).toBe('Tenki execution failed: [resource_exhausted] no space left on device')
    await provider.close()
    expect(standin.live()).toEqual([])
  })

  it('sandbox run --provider tenki (the real CLI, key and endpoint from the environment): the result, exit 0, and the process ends', async () => {
    const file = join(dir, 'hello.py')
    writeFileSync(file, 'def main(name):\n    return {"hello": name}\n')
    const env = {TENKI_API_KEY: standin.apiKey, TENKI_API_URL: standin.baseUrl, SANDBOX_DATA_DIR: join(dir, 'data'), SANDBOX_STATE_DIR: join(dir, 'state')}
    const r = await runBin(['run', file, '--provider', 'tenki', '--arg', 'name=cli', '--json'], dir, env)
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({status: 'success', result: {value: {hello: 'cli'}}})
    expect(r.stdout).not.toContain(standin.apiKey)
    expect(standin.live()).toEqual([])
  }, 120_000)

  it('configure tenki --test runs the probe through the SDK and saves (key masked)', async () => {
    const config = await Config.load({root: process.cwd()})
    process.exitCode = undefined
    const db = `sqlite://${join(dir, 'settings.db')}`
    const out = await captureOutput(() => ConfigureTenki.run(['--db', db, '--api-key', standin.apiKey, '--base-url', standin.baseUrl, '--test', '--json'], config))
    process.exitCode = undefined
    expect(out.error).toBeUndefined()
    const json = JSON.parse(out.stdout) as {provider: string; saved: boolean; test: {success: boolean}; config: Record<string, unknown>}
    expect(json).toMatchObject({provider: 'tenki', saved: true, test: {success: true}})
    expect(json.config).toMatchObject({allow_outbound: false, max_lifetime: 3600})
    expect(out.stdout).not.toContain(standin.apiKey)
    expect(standin.live()).toEqual([])
  }, 120_000)
})
