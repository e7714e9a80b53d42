/**
 * `sandbox run --provider …` end to end on this host: the docker provider (engine), a real
 * executor manager (src/server, started here with a bearer token), and the loopback stand-ins
 * of E2B and Aliyun AgentRun (which execute for real in our gVisor engine). Every provider
 * must give the same result as docker for the examples. Providers are configured with the
 * `sandbox configure …` commands into a SQLite settings file, so `run` reads them from there.
 *
 * Live tests against the real SaaS run only when credentials are in the environment and say
 * loudly when they are skipped.
 */
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Config} from '@oclif/core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import ConfigureAliyun from '../../src/commands/configure/aliyun.js'
import ConfigureE2B from '../../src/commands/configure/e2b.js'
import ConfigureSelfManaged from '../../src/commands/configure/self-managed.js'
import ConfigureUse from '../../src/commands/configure/use.js'
import Run from '../../src/commands/run.js'
import {loadConfig} from '../../src/config.js'
import type {RunResult} from '../../src/engine/result.js'
import {PROVIDERS, runWithProvider} from '../../src/providers/index.js'
import type {RunningManager} from '../../src/server/manager.js'
import {imageEnv} from '../helpers/admin.js'
import {runCommand, type CliResult, type Runnable} from '../helpers/cli.js'
import {startManager} from '../helpers/manager.js'
import {startAliyunStandIn, type AliyunStandIn} from '../helpers/standins/aliyun.js'
import {startE2BStandIn, type E2BStandIn} from '../helpers/standins/e2b.js'

let config: Config
let dir: string
let db: string
let manager: RunningManager
let e2b: E2BStandIn
let aliyun: AliyunStandIn
const TOKEN = 'manager-token-0123456789'
const previous: Record<string, string | undefined> = {}
const ENV = [
  'SANDBOX_DATA_DIR',
  'SANDBOX_DB_URL',
  'SANDBOX_API_TOKEN',
  'E2B_API_KEY',
  'AGENTRUN_ACCESS_KEY_ID',
  'AGENTRUN_ACCESS_KEY_SECRET',
  'AGENTRUN_ACCOUNT_ID',
  'AGENTRUN_REGION',
]
const live = {
  e2b: process.env.E2B_API_KEY,
  aliyun: {id: process.env.AGENTRUN_ACCESS_KEY_ID, secret: process.env.AGENTRUN_ACCESS_KEY_SECRET, account: process.env.AGENTRUN_ACCOUNT_ID, region: process.env.AGENTRUN_REGION},
}

const cli = (cmd: Runnable, argv: string[]): Promise<CliResult> => runCommand(cmd, [...argv, '--json'], config)

const run = (file: string, ...argv: string[]) => cli(Run, [file, '--env-file', '/dev/null', '--db', db, ...argv])

/** What must be equal across providers (timings and memory are not). */
function comparable(r: RunResult) {
  return {
    status: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    exit_code: r.exit_code,
    result: r.result,
    artifacts: r.artifacts.map((a) => ({name: a.name, mime_type: a.mime_type})),
  }
}

beforeAll(async () => {
  config = await Config.load({root: process.cwd()})
  for (const k of ENV) {
    previous[k] = process.env[k]
    delete process.env[k]
  }
  dir = mkdtempSync(join(tmpdir(), 'providers-'))
  process.env.SANDBOX_DATA_DIR = join(dir, 'data')
  db = `sqlite://${join(dir, 'settings.db')}`
  manager = await startManager(loadConfig({env: imageEnv(), envFile: undefined}), {apiToken: TOKEN})
  e2b = await startE2BStandIn()
  aliyun = await startAliyunStandIn()
  // every provider stored in the settings file (not active); tests below may re-save them with --test
  for (const [cmd, argv] of [
    [ConfigureSelfManaged, ['--endpoint', manager.endpoint, '--api-token', TOKEN]],
    [ConfigureE2B, ['--api-key', e2b.apiKey, '--api-url', e2b.apiUrl, '--sandbox-url', e2b.sandboxUrl]],
    [ConfigureAliyun, aliyunFlags()],
  ] as const) {
    const r = await cli(cmd, ['--db', db, '--no-activate', ...argv])
    if (r.exit !== 0) throw new Error(`configure failed: ${r.stdout}`)
  }
}, 300_000)

function aliyunFlags(secret = aliyun.accessKeySecret): string[] {
  return [
    '--access-key-id',
    aliyun.accessKeyId,
    '--access-key-secret',
    secret,
    '--account-id',
    aliyun.accountId,
    '--control-endpoint',
    aliyun.controlEndpoint,
    '--data-endpoint',
    aliyun.dataEndpoint,
  ]
}

afterAll(async () => {
  await Promise.allSettled([manager?.stop('test done'), e2b?.close(), aliyun?.close()])
  for (const k of ENV) {
    if (previous[k] === undefined) delete process.env[k]
    else process.env[k] = previous[k]
  }
  rmSync(dir, {recursive: true, force: true})
})

describe('configure --test against the real manager and the stand-ins', () => {
  it('self-managed: the probe passes through the manager (bearer token sent); saved', async () => {
    const r = await cli(ConfigureSelfManaged, ['--db', db, '--endpoint', manager.endpoint, '--api-token', TOKEN, '--test', '--no-activate'])
    expect(r.exit, r.stdout).toBe(0)
    expect(r.json.test.success).toBe(true)
    expect(r.json.test.message).toMatch(/^Test PASSED \| Exit code: 0 \| Execution time: \d+\.\d\ds \| Output: 2 \+ 2 = 4/)
    expect(r.json.config.api_token).toBe('****6789')
    expect(r.stdout).not.toContain(TOKEN)
  })

  it('e2b: through the SDK to the stand-in; saved', async () => {
    const r = await cli(ConfigureE2B, ['--db', db, '--api-key', e2b.apiKey, '--api-url', e2b.apiUrl, '--sandbox-url', e2b.sandboxUrl, '--test', '--no-activate'])
    expect(r.exit, r.stdout).toBe(0)
    expect(r.json.test.success).toBe(true)
    expect(e2b.live()).toEqual([])
  })

  it('aliyun: signed control calls, template created, sandbox deleted; saved', async () => {
    const r = await cli(ConfigureAliyun, ['--db', db, ...aliyunFlags(), '--test', '--no-activate'])
    expect(r.exit, r.stdout).toBe(0)
    expect(r.json.test.success).toBe(true)
    expect(aliyun.rejected).toEqual([])
    expect([...aliyun.templates.keys()]).toContain('ragflow-python-default')
    expect(aliyun.sandboxes.size).toBe(0)
    expect(r.stdout).not.toContain(aliyun.accessKeySecret)
  })

  it('a wrong secret fails the test (exit 6) and nothing is written', async () => {
    const dbFile = join(dir, 'wrong.db')
    const r = await cli(ConfigureAliyun, ['--db', `sqlite://${dbFile}`, ...aliyunFlags('not-the-secret'), '--test'])
    expect(r.exit).toBe(6)
    expect(r.json.error.code).toBe('PROVIDER_TEST_FAILED')
    expect(r.json.error.message).toContain('SignatureDoesNotMatch')
    expect(aliyun.rejected.at(-1)).toBe('GetTemplate: SignatureDoesNotMatch')
    expect(() => readFileSync(dbFile)).toThrow()
  })

  it('a wrong E2B key fails the test (exit 6)', async () => {
    const r = await cli(ConfigureE2B, [
      '--db',
      `sqlite://${join(dir, 'wrong-e2b.db')}`,
      '--api-key',
      'e2b_wrong',
      '--api-url',
      e2b.apiUrl,
      '--sandbox-url',
      e2b.sandboxUrl,
      '--test',
    ])
    expect(r.exit).toBe(6)
    expect(r.json.error.message).toMatch(/API key was refused/)
  })
})

describe('run --provider: the same result as docker', () => {
  const providers = ['self_managed', 'e2b', 'aliyun_codeinterpreter'] as const
  for (const example of ['examples/hello.py', 'examples/hello.js']) {
    it(`${example} with an argument`, async () => {
      const reference = await run(example, '--provider', 'docker', '--arg', 'name=Provider')
      expect(reference.exit, reference.stdout).toBe(0)
      expect(reference.json.result.value).toEqual({greeting: 'Hello, Provider!', length: 8})
      for (const provider of providers) {
        const r = await run(example, '--provider', provider, '--arg', 'name=Provider')
        expect(r.exit, `${provider}: ${r.stdout}`).toBe(0)
        expect(comparable(r.json), provider).toEqual(comparable(reference.json))
      }
      expect(e2b.live()).toEqual([])
      expect(aliyun.sandboxes.size).toBe(0)
    })
  }

  it('arguments are data: true/false/null and quotes survive every provider', async () => {
    const file = join(dir, 'args.py')
    writeFileSync(file, 'def main(flag, nothing, text):\n    return {"flag": flag, "nothing": nothing, "text": text}\n')
    const args = JSON.stringify({flag: true, nothing: null, text: 'it\'s "quoted" \\ ü'})
    for (const provider of ['docker', ...providers]) {
      const r = await run(file, '--provider', provider, '--args-json', args)
      expect(r.exit, `${provider}: ${r.stdout}`).toBe(0)
      expect(r.json.result.value, provider).toEqual(JSON.parse(args))
    }
  })

  it('a program error is status program_error, exit 1, everywhere', async () => {
    const file = join(dir, 'boom.py')
    writeFileSync(file, 'def main():\n    raise ValueError("boom")\n')
    for (const provider of ['docker', ...providers]) {
      const r = await run(file, '--provider', provider)
      expect(r.exit, provider).toBe(1)
      expect(r.json, provider).toMatchObject({status: 'program_error', exit_code: 1})
      expect(r.json.stderr, provider).toContain('ValueError: boom')
    }
  })

  it('unsafe code is refused before it is sent (exit 5, -999)', async () => {
    const file = join(dir, 'unsafe.py')
    writeFileSync(file, 'import subprocess\n\ndef main():\n    return subprocess.run(["id"]).returncode\n')
    const commands = e2b.commands.length
    const calls = aliyun.calls.length
    for (const provider of ['docker', ...providers]) {
      const r = await run(file, '--provider', provider)
      expect(r.exit, provider).toBe(5)
      expect(r.json, provider).toMatchObject({status: 'program_runner_error', exit_code: -999, detail: 'Code is unsafe'})
    }
    expect(e2b.commands.length).toBe(commands)
    expect(aliyun.calls.length).toBe(calls)
  })

  it('artifacts come back from every provider', async () => {
    const reference = await run('examples/chart.py', '--provider', 'docker')
    expect(reference.exit, reference.stdout).toBe(0)
    expect(reference.json.artifacts.length).toBeGreaterThan(0)
    for (const provider of providers) {
      const r = await run('examples/chart.py', '--provider', provider)
      expect(r.exit, `${provider}: ${r.stdout}`).toBe(0)
      expect(comparable(r.json).artifacts, provider).toEqual(comparable(reference.json).artifacts)
    }
  })

  it('a time limit is resource_limit_exceeded -124 through E2B and Aliyun', async () => {
    const file = join(dir, 'spin.py')
    writeFileSync(file, 'def main():\n    while True:\n        pass\n')
    for (const provider of ['e2b', 'aliyun_codeinterpreter']) {
      const r = await run(file, '--provider', provider, '--timeout', '2')
      expect(r.exit, provider).toBe(1)
      expect(r.json, provider).toMatchObject({status: 'resource_limit_exceeded', exit_code: -124, resource_limit_type: 'time'})
    }
    expect(e2b.live()).toEqual([])
    expect(aliyun.sandboxes.size).toBe(0)
  })
})

describe('health checks', () => {
  it('manager /healthz, E2B list, AgentRun ListTemplates answer healthy; bad credentials do not', async () => {
    const sandboxConfig = loadConfig({env: imageEnv(), envFile: undefined})
    const healthy = async (id: keyof typeof PROVIDERS, cfg: Record<string, unknown>) => (await PROVIDERS[id].create(cfg, {sandboxConfig}).healthCheck()).healthy
    expect(await healthy('self_managed', {endpoint: manager.endpoint})).toBe(true)
    expect(await healthy('e2b', {api_key: e2b.apiKey, api_url: e2b.apiUrl, sandbox_url: e2b.sandboxUrl})).toBe(true)
    expect(await healthy('e2b', {api_key: 'e2b_nope', api_url: e2b.apiUrl})).toBe(false)
    const al = {
      access_key_id: aliyun.accessKeyId,
      access_key_secret: aliyun.accessKeySecret,
      account_id: aliyun.accountId,
      control_endpoint: aliyun.controlEndpoint,
      data_endpoint: aliyun.dataEndpoint,
    }
    expect(await healthy('aliyun_codeinterpreter', al)).toBe(true)
    expect(await healthy('aliyun_codeinterpreter', {...al, access_key_secret: 'wrong'})).toBe(false)
  })
})

describe('provider selection', () => {
  it('without --provider the active provider from the settings runs the code', async () => {
    const use = await cli(ConfigureUse, ['--db', db, '--provider', 'e2b'])
    expect(use.exit).toBe(0)
    const before = e2b.commands.length
    const r = await run('examples/hello.py')
    expect(r.exit, r.stdout).toBe(0)
    expect(e2b.commands.length).toBe(before + 1)
  })

  it('with no settings at all, docker', async () => {
    const before = e2b.commands.length
    const r = await cli(Run, ['examples/hello.py', '--env-file', '/dev/null'])
    expect(r.exit, r.stdout).toBe(0)
    expect(r.json.result.value).toEqual({greeting: 'Hello, World!', length: 5})
    expect(e2b.commands.length).toBe(before)
  })

  it('an unreachable manager → exit 6 MANAGER_UNREACHABLE', async () => {
    const bad = `sqlite://${join(dir, 'bad-endpoint.db')}`
    expect((await cli(ConfigureSelfManaged, ['--db', bad, '--endpoint', 'http://127.0.0.1:9', '--max-retries', '1'])).exit).toBe(0)
    const r = await cli(Run, ['examples/hello.py', '--env-file', '/dev/null', '--db', bad])
    expect(r.exit).toBe(6)
    expect(r.json.error.code).toBe('MANAGER_UNREACHABLE')
    expect(r.json.error.message).toContain('after 2 attempts')
  })

  it('a manager token mismatch → exit 6 MANAGER_UNAUTHORIZED', async () => {
    const other = `sqlite://${join(dir, 'bad-token.db')}`
    expect((await cli(ConfigureSelfManaged, ['--db', other, '--endpoint', manager.endpoint, '--api-token', 'wrong-token'])).exit).toBe(0)
    const r = await cli(Run, ['examples/hello.py', '--env-file', '/dev/null', '--db', other])
    expect(r.exit).toBe(6)
    expect(r.json.error.code).toBe('MANAGER_UNAUTHORIZED')
    expect(r.stdout).not.toContain('wrong-token')
  })
})

describe('live SaaS (only with real credentials)', () => {
  const sandboxConfig = loadConfig({env: imageEnv(), envFile: undefined})

  // skipped visibly (vitest lists them as skipped, with the variables to set in the name)
  it.skipIf(!live.e2b)('E2B: hello.py through the real service (needs E2B_API_KEY)', async () => {
    const provider = PROVIDERS.e2b.create({api_key: live.e2b!, timeout: 30, template: process.env.E2B_TEMPLATE || 'base', domain: process.env.E2B_DOMAIN}, {sandboxConfig})
    const r = await runWithProvider(provider, {code: readFileSync('examples/hello.py', 'utf8'), language: 'python', arguments: {name: 'E2B'}, timeoutSeconds: 30, policy: 'on'})
    await r.dispose()
    expect(r.result.status).toBe('success')
    expect(r.result.result?.value).toEqual({greeting: 'Hello, E2B!', length: 3})
  })

  const aliyunLive = Boolean(live.aliyun.id && live.aliyun.secret && live.aliyun.account)
  it.skipIf(!aliyunLive)('Aliyun AgentRun: hello.py through the real service (needs AGENTRUN_ACCESS_KEY_ID, AGENTRUN_ACCESS_KEY_SECRET, AGENTRUN_ACCOUNT_ID)', async () => {
    const {id, secret, account, region} = live.aliyun as {id: string; secret: string; account: string; region?: string}
    const provider = PROVIDERS.aliyun_codeinterpreter.create(
      {access_key_id: id, access_key_secret: secret, account_id: account, region: region || 'cn-hangzhou', timeout: 30},
      {sandboxConfig},
    )
    const r = await runWithProvider(provider, {code: readFileSync('examples/hello.py', 'utf8'), language: 'python', arguments: {name: 'Aliyun'}, timeoutSeconds: 30, policy: 'on'})
    await r.dispose()
    expect(r.result.status).toBe('success')
    expect(r.result.result?.value).toEqual({greeting: 'Hello, Aliyun!', length: 6})
  })
})
