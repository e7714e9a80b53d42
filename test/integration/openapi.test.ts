/**
 * The OpenAPI document against a real manager (issue 14 item 3, "every documented endpoint's live
 * answer matches it"): runManager on a free 127.0.0.1 port with a warm pool of 1, real Docker and
 * gVisor behind it, the admin API on (SANDBOX_ADMIN_API, a SQLite settings file). Each answer is
 * checked with Ajv against the response the served /openapi.json gives for its path and status;
 * the document itself with a real OpenAPI validator.
 */
import {execFile} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import {runManager, type RunningManager} from '../../src/server/manager.js'
import {silentLogger} from '../../src/server/logger.js'
import {AnswerChecker, answerOf, openApiErrors, type OpenApiDocument} from '../helpers/openapi.js'
import {freePort} from '../helpers/ports.js'

const TOKEN = 'openapi-integration-token-0123456789'
const auth = {authorization: `Bearer ${TOKEN}`}
const b64 = (s: string) => Buffer.from(s).toString('base64')
const dir = mkdtempSync(join(tmpdir(), 'openapi-int-'))
let manager: RunningManager
let doc: OpenApiDocument
let checker: AnswerChecker

beforeAll(async () => {
  const env = {
    ...process.env,
    SANDBOX_STATE_DIR: join(dir, 'state'),
    SANDBOX_DATA_DIR: join(dir, 'data'),
    SANDBOX_ADMIN_API: 'on',
    SANDBOX_API_TOKEN: TOKEN,
    SANDBOX_DB_URL: `sqlite:///${join(dir, 'settings.db')}`,
  }
  const config = loadConfig({env, envFile: '/dev/null'})
  manager = await runManager({
    config: {...config, host: '127.0.0.1', port: await freePort(), poolSize: 1},
    logger: silentLogger(),
    stateFiles: false,
    handleSignals: false,
    engine: {poolSize: 1, languages: ['python', 'nodejs']},
    // a private settings file: the admin API writes here, never into the user's settings
    settingsDb: env.SANDBOX_DB_URL,
  })
  doc = (await (await fetch(`${manager.endpoint}/openapi.json`)).json()) as OpenApiDocument
  checker = new AnswerChecker(doc)
}, 300_000)

afterAll(async () => {
  await manager?.stop('test done')
  rmSync(dir, {recursive: true, force: true})
})

async function answer(method: string, path: string, body?: unknown, headers: Record<string, string> = auth) {
  const res = await fetch(`${manager.endpoint}${path}`, {
    method,
    headers: {...headers, ...(body === undefined ? {} : {'content-type': 'application/json'})},
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    redirect: 'manual',
  })
  const a = await answerOf(res)
  expect(checker.check(method, path, a), `${method} ${path}: ${JSON.stringify(a.body).slice(0, 300)}`).toBe('')
  return a
}

const run = (code: string, language = 'python', extra: Record<string, unknown> = {}) => answer('POST', '/run', {code_b64: b64(code), language, arguments: {}, ...extra})

describe("the real manager's answers match /openapi.json", () => {
  it('the served document passes the OpenAPI validator', async () => {
    expect(doc.openapi).toBe('3.1.0')
    expect(await openApiErrors(doc)).toBe('')
  })

  it('POST /run: every kind of result and refusal', async () => {
    const ok = await run('def main(name):\n    print("hi", name)\n    return {"greeting": "Hello " + name}\n', 'python', {arguments: {name: 'World'}})
    expect(ok.body).toMatchObject({status: 'success', result: {present: true, value: {greeting: 'Hello World'}}})
    expect((await run('def main():\n    raise ValueError("boom")\n')).body).toMatchObject({status: 'program_error'})
    expect((await run('function main() { return [1, "two", null] }\nmodule.exports = {main}\n', 'nodejs')).body).toMatchObject({status: 'success'})
    expect((await run('import os\ndef main():\n    os.system("id")\n')).body).toMatchObject({exit_code: -999})
    expect((await run('def main():\n    return 1\n', 'python', {policy: 'off'})).status).toBe(403)
    expect((await answer('POST', '/run', {code_b64: b64('x')}, {})).status).toBe(401)
    expect((await answer('POST', '/run', 'not json')).status).toBe(422)
    expect((await answer('POST', '/run', {code_b64: b64('x'.repeat(2 * 1024 * 1024 + 1))})).status).toBe(413)
  })

  it('health, status, metrics and the document itself', async () => {
    expect((await answer('GET', '/healthz', undefined, {})).body).toEqual({status: 'ok'})
    expect((await answer('GET', '/', undefined, {})).status).toBe(200)
    expect((await answer('HEAD', '/', undefined, {})).status).toBe(200)
    expect((await answer('GET', '/status')).body).toMatchObject({status: 'ok', settings: {adminApi: true, tokenRequired: true}})
    expect((await answer('GET', '/status', undefined, {})).status).toBe(401)
    expect((await answer('GET', '/metrics')).body).toContain('sandbox_runs_total')
    expect((await answer('GET', '/metrics', undefined, {})).status).toBe(401)
    expect((await answer('GET', '/openapi.json', undefined, {})).status).toBe(200)
  })

  it('the admin API and its page', async () => {
    const admin = '/api/v1/admin/sandbox'
    expect((await answer('GET', `${admin}/providers`)).status).toBe(200)
    expect((await answer('GET', `${admin}/providers`, undefined, {})).status).toBe(401)
    expect((await answer('GET', `${admin}/providers/self_managed/schema`)).status).toBe(200)
    expect((await answer('GET', `${admin}/providers/nope/schema`)).status).toBe(400)
    expect((await answer('GET', `${admin}/config`)).status).toBe(200)
    expect((await answer('POST', `${admin}/config`, {provider_type: 'self_managed', config: {endpoint: manager.endpoint, api_token: TOKEN}, set_active: true})).status).toBe(200)
    expect((await answer('POST', `${admin}/config`, {})).status).toBe(400)
    const probe = await answer('POST', `${admin}/test`, {provider_type: 'self_managed', config: {endpoint: manager.endpoint, api_token: TOKEN}})
    expect(probe.status, JSON.stringify(probe.body)).toBe(200)
    expect(probe.body).toMatchObject({data: {success: true}})
    const tried = await answer('POST', `${admin}/run`, {code: 'def main():\n    return 42\n', language: 'python'})
    expect(tried.status, JSON.stringify(tried.body)).toBe(200)
    expect(tried.body).toMatchObject({data: {provider: 'self_managed', result: {status: 'success'}}})
    expect((await answer('POST', `${admin}/run`, {code: ''})).status).toBe(400)
    expect((await answer('GET', '/admin', undefined, {})).status).toBe(301)
    // 200 when `npm run build` made the page, 503 saying how to build it otherwise: both documented
    const page = await answer('GET', '/admin/', undefined, {})
    expect([200, 503]).toContain(page.status)
    // the page's own files (script, style)
    const assets = page.status === 200 ? [...String(page.body).matchAll(/(?:src|href)="\.\/([^"]+)"/g)].map((m) => `/admin/${m[1]}`) : []
    if (page.status === 200) expect(assets.length).toBeGreaterThanOrEqual(2)
    for (const asset of assets) expect((await answer('GET', asset, undefined, {})).status, asset).toBe(200)
  })

  it("docs/api.md's curl and Python examples work against it as written", async () => {
    const markdown = readFileSync('docs/api.md', 'utf8')
    const local = (text: string) => text.replaceAll('http://127.0.0.1:9385', manager.endpoint).replaceAll('s3cret', TOKEN)
    const exec = (file: string, args: string[], env: Record<string, string> = {}) =>
      new Promise<string>((resolve, reject) =>
        execFile(file, args, {cwd: dir, env: {...process.env, ...env}, timeout: 60_000}, (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
        ),
      )
    // one command a line (docs.test.ts lists them as not run there: they need a manager)
    const commands = [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1].split('\n').filter((line) => line.trim()))
    expect(commands.length).toBeGreaterThanOrEqual(4)
    for (const command of commands) {
      const stdout = await exec('bash', ['-c', local(command)])
      const path = new URL(/http:\/\/\S+/.exec(local(command))![0]).pathname
      const body = command.includes('-o openapi.json') ? JSON.parse(readFileSync(join(dir, 'openapi.json'), 'utf8')) : JSON.parse(stdout)
      expect(checker.check(command.includes(' -d ') ? 'POST' : 'GET', path, {status: 200, contentType: 'application/json', body}), command).toBe('')
      if (path === '/run') expect(body).toMatchObject({status: 'success', result: {value: 'Hello, World!'}})
    }
    const python = [...markdown.matchAll(/```python\n([\s\S]*?)```/g)].map((m) => m[1]).filter((code) => code.includes('import requests'))
    expect(python).toHaveLength(1)
    expect(await exec('python3', ['-c', python[0]], {SANDBOX_URL: manager.endpoint, SANDBOX_API_TOKEN: TOKEN})).toBe('Hello, World!\n')
  })

  it('no documented operation went unchecked', () => {
    expect(checker.unchecked()).toEqual([])
  })
})
