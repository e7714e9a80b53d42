/**
 * The admin service (RAGFlow's SandboxMgr) on a real SQLite settings file in a temp dir, with a
 * fake run (no daemon): masking, secrets kept when sent back masked, RAGFlow's validation
 * messages with nothing written, the probe's report, "try it" through the active provider.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import Database from 'better-sqlite3'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {AdminError, AdminService, assertAdminConfig, type AdminRunRequest} from '../../src/admin/index.js'
import {configFromFlags, settingsFromFlags} from '../../src/commands/start.js'
import {loadConfig} from '../../src/config.js'
import {isSandboxError} from '../../src/errors.js'
import {emptyResult, type RunResult} from '../../src/engine/result.js'
import {PROBE_CODE} from '../../src/providers/index.js'

const SECRET = 'e2b_sk_0123456789abcdef0123'

let dir: string
let db: string
let file: string
let runs: AdminRunRequest[]
let answer: (request: AdminRunRequest) => RunResult

function result(fields: Partial<RunResult>): RunResult {
  return emptyResult(fields)
}

function service(env: NodeJS.ProcessEnv = {}) {
  return new AdminService({
    db,
    env,
    defaultTimeoutSeconds: 7,
    run: async (request) => {
      runs.push(request)
      return answer(request)
    },
  })
}

const rows = () => new Database(file, {readonly: true}).prepare('SELECT name, source, data_type, value FROM system_settings ORDER BY name').all() as Array<Record<string, string>>

async function rejects(promise: Promise<unknown>, message: string) {
  await expect(promise).rejects.toBeInstanceOf(AdminError)
  await expect(promise).rejects.toThrow(message)
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'admin-service-'))
  file = join(dir, 'settings.db')
  db = `sqlite://${file}`
  runs = []
  answer = () => result({status: 'success', exit_code: 0, stdout: '2 + 2 = 4\nTEST_PASSED\n', time_used_ms: 1234})
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

describe('AdminService', () => {
  it('lists providers with id, name, description and tags only', () => {
    const list = service().listProviders()
    expect(list.map((p) => p.id)).toEqual(expect.arrayContaining(['self_managed', 'aliyun_codeinterpreter', 'e2b', 'local', 'docker']))
    for (const p of list) expect(Object.keys(p).sort()).toEqual(['description', 'id', 'name', 'tags'])
  })

  it('gives RAGFlow schemas; unknown ids (also our aliases) are "Unknown provider"', () => {
    const schema = service().providerSchema('e2b')
    expect(schema.api_key).toMatchObject({type: 'string', required: true, secret: true})
    expect(schema.api_key).not.toHaveProperty('env')
    expect(() => service().providerSchema('nope')).toThrow('Unknown provider: nope')
    expect(() => service().providerSchema('self-managed')).toThrow('Unknown provider: self-managed')
  })

  it("read-only deployment fields carry this deployment's value from the environment", () => {
    const schema = service({SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: '7'}).providerSchema('self_managed')
    expect(schema.executor_manager_pool_size).toMatchObject({readonly: true, default: 7})
  })

  it('without settings: self_managed with its editable defaults, and no file is created', async () => {
    const config = await service().getConfig()
    expect(config.provider_type).toBe('self_managed')
    expect(config.config).toMatchObject({endpoint: 'http://sandbox-executor-manager:9385', timeout: 30})
    expect(config.config).not.toHaveProperty('executor_manager_pool_size')
    expect(() => rows()).toThrow()
  })

  it('saves like configure, masks the secret in every answer, keeps it when sent back masked or left out', async () => {
    const saved = await service().setConfig({provider_type: 'e2b', config: {api_key: SECRET, region: 'eu', timeout: 60}})
    expect(saved).toEqual({provider_type: 'e2b', config: expect.objectContaining({api_key: '****0123', region: 'eu', timeout: 60, template: 'base'})})
    const stored = rows()
    expect(stored.find((r) => r.name === 'sandbox.provider_type')).toMatchObject({value: 'e2b', data_type: 'string', source: 'admin'})
    expect(JSON.parse(stored.find((r) => r.name === 'sandbox.e2b')!.value)).toMatchObject({api_key: SECRET, region: 'eu', timeout: 60})

    const shown = await service().getConfig()
    expect(JSON.stringify(shown)).not.toContain(SECRET)
    expect(shown.config.api_key).toBe('****0123')

    await service().setConfig({provider_type: 'e2b', config: {...shown.config, timeout: 90}})
    await service().setConfig({provider_type: 'e2b', config: {region: 'us'}})
    const again = JSON.parse(rows().find((r) => r.name === 'sandbox.e2b')!.value)
    expect(again).toMatchObject({api_key: SECRET, timeout: 90, region: 'us'})
  })

  it('reports fields the environment overrides', async () => {
    await service().setConfig({provider_type: 'e2b', config: {api_key: SECRET}})
    const shown = await service({E2B_API_KEY: 'e2b_from_env_0000000000'}).getConfig()
    expect(shown.environment).toEqual({api_key: 'E2B_API_KEY'})
    expect(shown.config.api_key).toBe('****0123')
  })

  it.each([
    [{provider_type: 'nope', config: {}}, 'Unknown provider type: nope'],
    [{provider_type: 'e2b', config: {}}, "Required field 'api_key' is missing"],
    [{provider_type: 'self_managed', config: {endpoint: 'http://m:9385', timeout: '30'}}, "Field 'timeout' must be an integer"],
    [{provider_type: 'self_managed', config: {endpoint: 'http://m:9385', timeout: 4}}, "Field 'timeout' must be >= 5"],
    [{provider_type: 'self_managed', config: {endpoint: 'http://m:9385', timeout: 301}}, "Field 'timeout' must be <= 300"],
    [{provider_type: 'self_managed', config: {endpoint: 9385}}, "Field 'endpoint' must be a string"],
    [{provider_type: 'docker', config: {allow_runc: 'yes'}}, "Field 'allow_runc' must be a boolean"],
    [{provider_type: 'self_managed', config: {endpoint: 'ftp://m:9385'}}, 'Provider validation failed: Invalid endpoint format: ftp://m:9385. Must start with http:// or https://'],
    [{provider_type: 'local', config: {}}, 'The local provider (making it the active provider) runs code on this host without any sandbox'],
  ])("refuses %j with RAGFlow's message and writes nothing", async (body, message) => {
    await service().setConfig({provider_type: 'docker', config: {timeout: 20}})
    const before = rows()
    await rejects(service().setConfig(body as never), message)
    expect(rows()).toEqual(before)
  })

  it("tests with RAGFlow's probe and reports in its format; nothing is written", async () => {
    const report = await service().testConnection({provider_type: 'docker', config: {}})
    expect(runs[0]).toMatchObject({code: PROBE_CODE, language: 'python', timeoutSeconds: 10})
    expect(runs[0].provider.id).toBe('docker')
    expect(report).toEqual({
      success: true,
      message: 'Test PASSED | Exit code: 0 | Execution time: 1.23s | Output: 2 + 2 = 4\nTEST_PASSED...',
      details: {exit_code: 0, execution_time: 1.234, stdout: '2 + 2 = 4\nTEST_PASSED\n', stderr: ''},
    })
    answer = () => result({status: 'program_error', exit_code: 1, stdout: '', stderr: 'Traceback: boom', time_used_ms: 50})
    const failed = await service().testConnection({provider_type: 'docker', config: {}})
    expect(failed.success).toBe(false)
    expect(failed.message).toBe('Test FAILED | Exit code: 1 | Execution time: 0.05s | Errors: Traceback: boom...')
    expect(() => rows()).toThrow()
  })

  it('a test that cannot run is "Connection test failed: …"; a bad config never reaches the run', async () => {
    answer = () => {
      throw new Error('manager unreachable')
    }
    await rejects(service().testConnection({provider_type: 'docker', config: {}}), 'Connection test failed: manager unreachable')
    runs = []
    await rejects(service().testConnection({provider_type: 'e2b', config: {}}), "Required field 'api_key' is missing")
    expect(runs).toEqual([])
  })

  it('the test uses the stored secret when the page sends it back masked', async () => {
    await service().setConfig({provider_type: 'e2b', config: {api_key: SECRET}, set_active: false})
    expect(rows().map((r) => r.name)).toEqual(['sandbox.e2b'])
    await service().testConnection({provider_type: 'e2b', config: {api_key: '****0123'}})
    expect(runs[0].config.api_key).toBe(SECRET)
  })

  it('try it runs through the active provider with its stored config', async () => {
    await service().setConfig({provider_type: 'docker', config: {timeout: 20}})
    answer = () => result({status: 'success', exit_code: 0, stdout: 'hi\n'})
    const out = await service().tryRun({code: 'def main():\n    return 1\n', language: 'python'})
    expect(out.provider).toBe('docker')
    expect(out.result.stdout).toBe('hi\n')
    expect(runs[0]).toMatchObject({language: 'python', timeoutSeconds: 7, config: {timeout: 20}})
  })

  it('try it with provider_type=local in the database and no opt-in refuses, never another provider', async () => {
    new Database(file).exec(
      "CREATE TABLE IF NOT EXISTS system_settings (name VARCHAR(128) PRIMARY KEY, source VARCHAR(32) NOT NULL, data_type VARCHAR(32) NOT NULL, value TEXT NOT NULL, create_time INTEGER, create_date DATETIME, update_time INTEGER, update_date DATETIME); INSERT INTO system_settings (name, source, data_type, value) VALUES ('sandbox.provider_type', 'admin', 'string', 'local')",
    )
    await rejects(service().tryRun({code: 'def main():\n    return 1\n', language: 'python'}), 'local provider')
    expect(runs).toEqual([])
  })
})

describe('turning the admin API on', () => {
  const envNone = {SANDBOX_ADMIN_API: undefined, SANDBOX_API_TOKEN: undefined}
  it('SANDBOX_ADMIN_API: off by default, a boolean, and start --admin hands it to the background manager', () => {
    expect(loadConfig({env: envNone, envFile: '/dev/null'}).adminApi).toBe(false)
    expect(loadConfig({env: {...envNone, SANDBOX_ADMIN_API: 'on'}, envFile: '/dev/null'}).adminApi).toBe(true)
    expect(() => loadConfig({env: {...envNone, SANDBOX_ADMIN_API: 'sometimes'}, envFile: '/dev/null'})).toThrow(/SANDBOX_ADMIN_API/)
    expect(loadConfig({env: envNone, envFile: '/dev/null', overrides: {adminApi: true}}).adminApi).toBe(true)
    expect(settingsFromFlags({admin: true, wait: 1, docker: false, verbose: false}).SANDBOX_ADMIN_API).toBe('true')
    expect(settingsFromFlags({wait: 1, docker: false, verbose: false})).not.toHaveProperty('SANDBOX_ADMIN_API')
  })

  it('is refused without an API token (exit 4), allowed with one', () => {
    let error: unknown
    try {
      assertAdminConfig({adminApi: true, apiToken: undefined})
    } catch (e) {
      error = e
    }
    expect(isSandboxError(error) && [error.code, error.exit]).toEqual(['ADMIN_API_NEEDS_TOKEN', 4])
    expect(() => assertAdminConfig({adminApi: true, apiToken: 't0ken'})).not.toThrow()
    expect(() => assertAdminConfig({adminApi: false, apiToken: undefined})).not.toThrow()
  })

  it('sandbox start --admin without a token stops before anything starts', () => {
    vi.stubEnv('SANDBOX_API_TOKEN', '')
    vi.stubEnv('SANDBOX_ADMIN_API', '')
    try {
      const flags = {admin: true, wait: 1, docker: false, verbose: false, 'env-file': '/dev/null'}
      expect(() => configFromFlags(flags)).toThrow(/Refusing --admin \(SANDBOX_ADMIN_API=on\) without an API token/)
      vi.stubEnv('SANDBOX_API_TOKEN', 'a-token')
      expect(configFromFlags(flags).adminApi).toBe(true)
    } finally {
      vi.unstubAllEnvs()
    }
  })
})
