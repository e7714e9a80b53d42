/**
 * The admin API and the settings page mounted in a real manager (SANDBOX_ADMIN_API=on): RAGFlow's
 * envelope behind the manager's token, the page open without it, RAGFlow's POST /run unchanged,
 * and nothing of it without the setting.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import type {RunningManager} from '../../src/server/manager.js'
import {startManager} from '../helpers/manager.js'

const TOKEN = 'admin-test-token-0123456789'
const dir = mkdtempSync(join(tmpdir(), 'manager-admin-'))
let manager: RunningManager
let plain: RunningManager

beforeAll(async () => {
  const env = {...process.env, SANDBOX_ADMIN_API: 'on', SANDBOX_API_TOKEN: TOKEN, SANDBOX_DB_URL: `sqlite:///${join(dir, 'settings.db')}`}
  const config = loadConfig({env, envFile: '/dev/null'})
  expect(config.adminApi).toBe(true)
  // a private settings file: the admin API reads and writes there, never the user's settings
  manager = await startManager(config, {apiToken: TOKEN, poolSize: 1, languages: ['python'], settingsDb: env.SANDBOX_DB_URL})
  plain = await startManager({...config, adminApi: false}, {apiToken: TOKEN, poolSize: 0, languages: ['python'], settingsDb: false})
}, 300_000)

afterAll(async () => {
  await manager?.stop('test done')
  await plain?.stop('test done')
  rmSync(dir, {recursive: true, force: true})
})

const get = (m: RunningManager, path: string, token?: string) => fetch(`http://127.0.0.1:${m.port}${path}`, {headers: token ? {authorization: `Bearer ${token}`} : {}})

describe('the admin API in the manager', () => {
  it("answers RAGFlow's provider list in RAGFlow's envelope with the token", async () => {
    const res = await get(manager, '/api/v1/admin/sandbox/providers', TOKEN)
    expect(res.status).toBe(200)
    const body = (await res.json()) as {code: number; message: string; data: Array<{id: string}>}
    expect(body).toMatchObject({code: 0, message: 'Success'})
    expect(body.data.map((p) => p.id)).toEqual(expect.arrayContaining(['self_managed', 'aliyun_codeinterpreter', 'e2b', 'local', 'ssh']))
  })

  it("refuses a missing token in RAGFlow's envelope, not the manager's own 401 body", async () => {
    const res = await get(manager, '/api/v1/admin/sandbox/config')
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({code: 401, data: null})
  })

  it('serves the settings page without the token, and /run still needs it', async () => {
    const page = await get(manager, '/admin/')
    // built by `npm run build` (npm ci runs it)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('<html')
    const run = await fetch(`http://127.0.0.1:${manager.port}/run`, {
      method: 'POST',
      body: JSON.stringify({code_b64: Buffer.from('def main():\n    return 1\n').toString('base64')}),
    })
    expect(run.status).toBe(401)
  })

  it('is absent without SANDBOX_ADMIN_API', async () => {
    expect((await get(plain, '/api/v1/admin/sandbox/providers', TOKEN)).status).toBe(404)
    expect((await get(plain, '/admin/', TOKEN)).status).toBe(404)
  })
})
