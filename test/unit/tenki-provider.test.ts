/**
 * tenki: RAGFlow's schema, messages and lifecycle logic, driven through a fake of the part of
 * Tenki's SDK (@tenkicloud/sandbox) the provider uses. The real SDK against a loopback stand-in of
 * Tenki's protocol is test/integration/tenki-provider.test.ts. Without the SDK the provider
 * refuses with TENKI_SDK_MISSING (exit 3). A live run skips visibly without TENKI_API_KEY.
 */
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import type {SandboxError} from '../../src/errors.js'
import {runWithProvider, setTenkiSdkLoader, TENKI_SDK, TENKI_SDK_VERSION, tenkiDefinition, validationErrors, type TenkiSdk} from '../../src/providers/index.js'

const sandboxConfig = loadConfig({env: {}, envFile: undefined})
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: SandboxError) => e,
  )

class NamedError extends Error {
  constructor(name: string, message: string) {
    super(message)
    this.name = name
  }
}

interface FakeCall {
  clientOptions?: Record<string, unknown>
  createOptions?: Record<string, unknown>
  runs: Array<{argv: string[]; cwd?: string}>
  files: Map<string, string>
  kills: number
  closed: string[]
}

type Answer = {stdout?: string; stderr?: string; exitCode?: number; hang?: boolean}

/** A fake SDK: run of python3/node "runs" by answering with what `answer` returns; `hang` runs until killed. */
function fakeSdk(options: {createError?: Error; answer?: (script: string) => Answer; runError?: Error; closeError?: Error} = {}) {
  const calls: FakeCall = {runs: [], files: new Map(), kills: 0, closed: []}
  let n = 0
  const empty = () => new ReadableStream<Uint8Array>({start: (c) => c.close()})
  const process = (a: Answer | Error) => {
    let onKill = () => {}
    const exit =
      a instanceof Error
        ? Promise.reject(a)
        : new Promise<{exitCode: number; stdout: Uint8Array; stderr: Uint8Array; signal?: string}>((resolve) => {
            const bytes = (s?: string) => new Uint8Array(Buffer.from(s ?? ''))
            if (a.hang) onKill = () => resolve({exitCode: -1, signal: 'SIGKILL', stdout: bytes(), stderr: bytes()})
            else resolve({exitCode: a.exitCode ?? 0, stdout: bytes(a.stdout), stderr: bytes(a.stderr)})
          })
    exit.catch(() => undefined)
    return {
      stdout: empty(),
      stderr: empty(),
      stdin: new WritableStream<Uint8Array>(),
      async kill() {
        calls.kills++
        onKill()
      },
      then: exit.then.bind(exit),
    }
  }
  const sdk: TenkiSdk = {
    TenkiSandbox: class {
      constructor(o: Record<string, unknown>) {
        calls.clientOptions = o
      }
      async whoAmI() {
        if (calls.clientOptions?.authToken === 'tk_bad') throw new NamedError('UnauthorizedError', 'unauthenticated')
        return {id: 'me'}
      }
      close() {}
      async create(o: Record<string, unknown>) {
        calls.createOptions = o
        if (options.createError) throw options.createError
        const id = `sess_${++n}`
        return {
          id,
          async writeFile(path: string, data: string | Uint8Array) {
            calls.files.set(path, String(data))
          },
          run(argv: string[], o: {cwd?: string} = {}) {
            calls.runs.push({argv, ...o})
            if (argv[0] === 'mkdir') return process({})
            return process(options.runError ?? options.answer?.(calls.files.get(argv[1]) ?? '') ?? {})
          },
          async close() {
            calls.closed.push(id)
            if (options.closeError) throw options.closeError
          },
        }
      }
    } as unknown as TenkiSdk['TenkiSandbox'],
  }
  setTenkiSdkLoader(async () => sdk)
  return calls
}

/** The stdout the remote wrapper prints for a main returning `value`. */
const marker = (value: unknown) => `__RAGFLOW_RESULT__:${Buffer.from(JSON.stringify({present: true, value, type: 'json'})).toString('base64')}\n`

afterEach(() => setTenkiSdkLoader())

describe('tenki definition', () => {
  it("RAGFlow's schema, defaults and messages", () => {
    expect(tenkiDefinition.schema.api_key).toMatchObject({required: true, secret: true, placeholder: 'tk_...'})
    expect(tenkiDefinition.schema.allow_outbound.default).toBe(false)
    expect(tenkiDefinition.schema.max_lifetime).toMatchObject({default: 3600, min: 60, max: 86400})
    expect(tenkiDefinition.schema).not.toHaveProperty('project_id')
    expect(tenkiDefinition.validate({})).toBe('Tenki API key is required')
    expect(tenkiDefinition.validate({api_key: 'tk_x', max_artifacts: -1})).toBe('max_artifacts must be greater than or equal to 0')
    expect(validationErrors(tenkiDefinition, {api_key: 'tk_x', cpu_cores: 17})).toEqual(["Field 'cpu_cores' must be <= 16"])
    expect(tenkiDefinition.create({api_key: 'tk_x'}, {sandboxConfig}).supportedLanguages()).toEqual(['python', 'javascript'])
  })
})

describe('tenki provider logic (fake SDK)', () => {
  it('create options as RAGFlow (outbound off, max duration, optional resources), workspace, min(requested, configured) timeout, terminate after', async () => {
    const calls = fakeSdk({answer: () => ({stdout: `hello\n${marker({ok: true})}`})})
    const provider = tenkiDefinition.create({api_key: 'tk_x', timeout: 5, cpu_cores: 2, image: 'ws/img:1'}, {sandboxConfig})
    const run = await runWithProvider(provider, {code: 'def main():\n    return {"ok": True}\n', language: 'python', timeoutSeconds: 30, policy: 'off'})
    await run.dispose()
    expect(run.result.status).toBe('success')
    expect(run.result.stdout).toBe('hello\n')
    expect(run.result.result?.value).toEqual({ok: true})
    expect(calls.clientOptions).toMatchObject({authToken: 'tk_x', timeoutMs: 5000})
    expect(calls.createOptions).toEqual({allowOutbound: false, maxDurationMs: 3_600_000, metadata: {source: 'sandbox-cli'}, image: 'ws/img:1', cpuCores: 2})
    expect(calls.runs[0].argv.slice(0, 2)).toEqual(['mkdir', '-p'])
    expect(calls.runs[0].argv[2]).toMatch(/^\/home\/tenki\/ragflow-codeexec-[0-9a-f]{32}\/artifacts$/)
    const [interpreter, script] = calls.runs[1].argv
    expect(interpreter).toBe('python3')
    expect(script).toMatch(/\/main\.py$/)
    expect(calls.runs[1].cwd).toBe(script.replace(/\/main\.py$/, ''))
    expect(calls.kills).toBe(0)
    expect(calls.closed).toEqual(['sess_1'])
  })

  it('a non-zero exit is a program error; a process still running at min(requested, configured) is killed and the run is the time limit', async () => {
    const calls = fakeSdk({answer: (script) => (script.includes('boom') ? {exitCode: 7, stderr: 'Traceback: boom\n'} : {hang: true})})
    const provider = tenkiDefinition.create({api_key: 'tk_x', timeout: 1}, {sandboxConfig})
    const bad = await runWithProvider(provider, {code: 'def main():\n    raise SystemExit(7)  # boom\n', language: 'python', timeoutSeconds: 10, policy: 'off'})
    expect(bad.result.status).toBe('program_error')
    expect(bad.result.exit_code).toBe(7)
    const slow = await runWithProvider(provider, {code: 'async function main() { await new Promise(() => {}) }\n', language: 'nodejs', timeoutSeconds: 10, policy: 'off'})
    expect(slow.result.status).toBe('resource_limit_exceeded')
    expect(slow.result.detail).toBe('Execution timeout after 1s')
    expect(calls.kills).toBe(1)
    expect(calls.runs.at(-1)?.argv[0]).toBe('node')
  })

  it('a cancelled run kills the process at once, even when cancelled before it started; a signal death is 128 + its number', async () => {
    const calls = fakeSdk({answer: () => ({hang: true})})
    const provider = tenkiDefinition.create({api_key: 'tk_x', timeout: 600}, {sandboxConfig})
    const instance = await provider.createInstance('python')
    const abort = new AbortController()
    const running = provider.executeCode(instance, {code: 'def main():\n    while True: pass\n', language: 'python', timeoutSeconds: 600, signal: abort.signal})
    abort.abort()
    const result = await running
    expect(calls.kills).toBe(1)
    // a SIGKILL death is exit 137, which a remote run reads as RAGFlow does (the caller reports the cancel itself)
    expect(result.exit_code).toBe(-137)
    await provider.close()
    expect(calls.closed).toEqual(['sess_1'])
  })

  it("RAGFlow's error messages: quota, rate limit, authentication (exit 4), anything else; a lost sandbox", async () => {
    const cases: Array<[Error, string, number]> = [
      [new NamedError('QuotaExceededError', 'max 5'), 'Tenki quota exceeded: max 5', 6],
      [new NamedError('RateLimitedError', 'slow down'), 'Tenki rate limited, please retry: slow down', 6],
      [new NamedError('UnauthorizedError', 'bad token'), 'Tenki authentication failed: check the API key.', 4],
      [new Error('kaput'), 'Failed to create Tenki sandbox: kaput', 6],
    ]
    for (const [error, message, exit] of cases) {
      fakeSdk({createError: error})
      const e = await failure(tenkiDefinition.create({api_key: 'tk_x'}, {sandboxConfig}).createInstance('python'))
      expect([e?.message, e?.exit]).toEqual([message, exit])
    }
    fakeSdk({runError: new NamedError('SessionTerminatedError', 'max_lifetime reached')})
    const provider = tenkiDefinition.create({api_key: 'tk_x'}, {sandboxConfig})
    const instance = await provider.createInstance('python')
    const gone = await failure(provider.executeCode(instance, {code: 'def main():\n    return 1\n', language: 'python', timeoutSeconds: 5}))
    expect(gone?.message).toBe('Tenki sandbox is no longer available: max_lifetime reached')
    // destroy is idempotent, and an already-terminated session counts as destroyed
    expect(await provider.destroyInstance(instance)).toBe(true)
    expect(await provider.destroyInstance(instance)).toBe(true)
  })

  it("health: the who-am-I call; a refused key is reported with RAGFlow's message", async () => {
    fakeSdk()
    expect((await tenkiDefinition.create({api_key: 'tk_x'}, {sandboxConfig}).healthCheck()).healthy).toBe(true)
    expect(await tenkiDefinition.create({api_key: 'tk_bad'}, {sandboxConfig}).healthCheck()).toEqual({healthy: false, detail: 'Tenki authentication failed: check the API key.'})
  })
})

describe('tenki without its SDK', () => {
  it('refuses clearly (TENKI_SDK_MISSING, exit 3) and says how to install it', async () => {
    // the loader's real failure when the package is not installed
    setTenkiSdkLoader(() => import('@tenkicloud/' + 'not-installed') as Promise<TenkiSdk>)
    const e = await failure(tenkiDefinition.create({api_key: 'tk_x'}, {sandboxConfig}).createInstance('python'))
    expect(e?.code).toBe('TENKI_SDK_MISSING')
    expect(e?.exit).toBe(3)
    expect(e?.suggestions.join(' ')).toContain('npm install @tenkicloud/sandbox@0.5.4')
  })

  it('the SDK the tests run is the version the provider names, pinned exactly in devDependencies', async () => {
    const entry = createRequire(import.meta.url).resolve('@tenkicloud/sandbox')
    const installed = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as {name: string; version: string}
    const ours = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {devDependencies: Record<string, string>}
    expect([installed.name, installed.version]).toEqual([TENKI_SDK, TENKI_SDK_VERSION])
    expect(ours.devDependencies[TENKI_SDK]).toBe(TENKI_SDK_VERSION)
    const {TenkiSandbox} = (await import('@tenkicloud/sandbox')) as unknown as TenkiSdk
    expect(typeof TenkiSandbox).toBe('function')
  })
})

describe.skipIf(!process.env.TENKI_API_KEY)('tenki live (needs TENKI_API_KEY and @tenkicloud/sandbox installed)', () => {
  it('runs Python at Tenki', async () => {
    const provider = tenkiDefinition.create({api_key: process.env.TENKI_API_KEY, base_url: process.env.TENKI_API_URL}, {sandboxConfig})
    const run = await runWithProvider(provider, {code: 'def main():\n    return 2 + 2\n', language: 'python', timeoutSeconds: 30, policy: 'off'})
    await run.dispose()
    expect(run.result.result?.value).toBe(4)
  }, 180_000)
})
