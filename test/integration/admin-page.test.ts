/**
 * The settings page end to end in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core): the page as Vite builds it, served by the admin plugin on a Fastify
 * instance with the real settings store (SQLite, rows read back with better-sqlite3) and real
 * gVisor runs through the docker provider. Only GET /status is a stub (the pools panel).
 * Screenshots of a failing test go to test-results/admin-page/ (SANDBOX_TEST_OUTPUT_DIR).
 */
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import Fastify, {type FastifyInstance} from 'fastify'
import {chromium, type Browser, type Page} from 'playwright-core'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {adminRoutes, providerRun} from '../../src/admin/index.js'
import {loadConfig} from '../../src/config.js'
import {checkBearer} from '../../src/server/auth.js'
import {aptInstall} from '../helpers/apt.js'
import {imageEnv, sqliteRows} from '../helpers/admin.js'

const CHROMIUM = '/usr/bin/chromium'
const TOKEN = 'page-token-0123456789abcdef'
const SECRET = 'e2b_sk_page_0123456789abcdefQRST'
const OUTPUT = resolve(process.env.SANDBOX_TEST_OUTPUT_DIR ?? 'test-results', 'admin-page')

/** GET /status as the manager answers it (src/server/status.ts), with figures the panel must show. */
const STATUS = {
  status: 'ok',
  phase: 'serving',
  reason: null,
  version: '0.1.0',
  node: process.versions.node,
  pid: 1,
  startedAt: '2026-12-01T10:00:00.000Z',
  uptimeSeconds: 60,
  runtime: 'runsc',
  settings: null,
  pools: [
    {language: 'python', size: 3, ready: 2, busy: 1, creating: 0, waiting: 0, created: 5, failures: 0, rejected: 0, lastError: null},
    {language: 'nodejs', size: 2, ready: 1, busy: 0, creating: 1, waiting: 0, created: 3, failures: 0, rejected: 0, lastError: null},
  ],
  admission: {limit: 8, live: 5, evictions: 0, executing: 1, queued: 4, rejected: 0},
  runs: {total: 12, byStatus: {success: 10, program_error: 2}, byLanguage: {python: 12}, busy: 1},
  rejected: 0,
  inFlight: 1,
  rssBytes: 1,
  heapUsedBytes: 1,
}

let dir: string
let file: string
let app: FastifyInstance
let base: string
let browser: Browser
let page: Page

/** checks the provider's radio and waits until the form shows that provider's fields */
async function choose(name: RegExp, id: string): Promise<void> {
  await page.getByRole('radio', {name}).check()
  await page.locator(`#config-form[data-provider="${id}"]`).waitFor()
}

/** whether Test connection and Save are disabled */
const actionsDisabled = async () => ({
  test: await page.getByRole('button', {name: 'Test connection'}).isDisabled(),
  save: await page.getByRole('button', {name: 'Save'}).isDisabled(),
})

/** the rows by name ({} before the settings file exists) */
const rows = () => Object.fromEntries((sqliteRows(file) ?? []).map(({name, ...rest}) => [name, rest]))

beforeAll(async () => {
  // CI starts on a fresh machine: Debian's chromium is installed when missing
  if (!existsSync(CHROMIUM)) await aptInstall(['chromium'])
  dir = mkdtempSync(join(tmpdir(), 'admin-page-'))
  file = join(dir, 'settings.db')
  // the page as `npm run build` makes it, from the current sources
  const {build} = await import('vite')
  const pageDir = join(dir, 'page')
  await build({configFile: resolve('web/admin/vite.config.ts'), logLevel: 'error', build: {outDir: pageDir, emptyOutDir: true}})
  app = Fastify()
  const sandboxConfig = loadConfig({env: imageEnv(), envFile: '/dev/null'})
  await app.register(adminRoutes, {token: TOKEN, db: `sqlite://${file}`, env: {}, run: providerRun(sandboxConfig), defaultTimeoutSeconds: 30, pageDir})
  app.get('/status', async (request, reply) => (checkBearer(request.headers.authorization, TOKEN) ? STATUS : reply.code(401).send({error: 'unauthorized'})))
  const address = await app.listen({host: '127.0.0.1', port: 0})
  base = address
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  page = await browser.newPage()
  page.setDefaultTimeout(30_000)
})

afterEach(async (context) => {
  if (context.task.result?.state === 'fail' && page) {
    mkdirSync(OUTPUT, {recursive: true})
    await page.screenshot({path: join(OUTPUT, `${context.task.name.replace(/[^a-z0-9]+/gi, '-')}.png`), fullPage: true}).catch(() => {})
  }
})

afterAll(async () => {
  await browser?.close()
  await app?.close()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

describe('the settings page in headless Chromium', () => {
  it('asks for the token and shows the providers, the active one and its read-only deployment fields', async () => {
    await page.goto(`${base}/admin/`)
    expect(await page.locator('main').isHidden()).toBe(true)
    await page.getByLabel('API token').fill('wrong-token')
    await page.getByRole('button', {name: 'Connect'}).click()
    await page.getByRole('alert').filter({hasText: 'Wrong API token'}).waitFor()
    await page.getByLabel('API token').fill(TOKEN)
    await page.getByRole('button', {name: 'Connect'}).click()
    await page.locator('main').waitFor()
    expect(await page.locator('#active-name').textContent()).toBe('Self-Managed')
    expect(await page.getByRole('radio', {name: /^Self-Managed/}).isChecked()).toBe(true)
    for (const name of [/^E2B/, /^Aliyun Code Interpreter/, /^Docker/]) expect(await page.getByRole('radio', {name}).count()).toBe(1)
    const endpoint = page.getByLabel('Executor Manager Endpoint')
    expect(await endpoint.inputValue()).toBe('http://sandbox-executor-manager:9385')
    const pool = page.getByLabel(/Container Pool Size/)
    expect(await pool.isDisabled()).toBe(true)
    expect(await page.getByLabel(/Request Timeout/).getAttribute('max')).toBe('300')
    // nothing read creates the settings file
    expect(existsSync(file)).toBe(false)
  })

  it("refuses a bad config with RAGFlow's message and writes nothing; saves a good one with the secret masked", async () => {
    await choose(/^E2B/, 'e2b')
    expect(await page.getByLabel(/API Key/).getAttribute('type')).toBe('password')
    await page.getByLabel(/API Key/).fill(SECRET)
    await page.getByLabel(/Execution Timeout/).fill('400')
    await page.getByRole('button', {name: 'Save'}).click()
    await page.locator('#config-result').getByText("Field 'timeout' must be <= 300").waitFor()
    expect(rows()).toEqual({})

    await page.getByLabel(/Execution Timeout/).fill('60')
    await page.getByRole('button', {name: 'Save'}).click()
    await page.locator('#config-result').getByText('Saved: e2b is the active provider').waitFor()
    const saved = rows()
    expect(saved['sandbox.provider_type']).toEqual({source: 'admin', data_type: 'string', value: 'e2b'})
    expect(saved['sandbox.e2b'].data_type).toBe('json')
    expect(JSON.parse(saved['sandbox.e2b'].value)).toMatchObject({api_key: SECRET, timeout: 60})
    // the secret never comes back to the page; an empty box keeps it
    expect(await page.getByLabel(/API Key/).inputValue()).toBe('')
    expect(await page.getByLabel(/API Key/).getAttribute('placeholder')).toMatch(/\*\*\*\*QRST.*leave blank/)
    expect(await page.content()).not.toContain(SECRET)
    await page.getByLabel(/Execution Timeout/).fill('90')
    await page.getByRole('button', {name: 'Save'}).click()
    await page.locator('#config-result').getByText('Saved: e2b').waitFor()
    expect(JSON.parse(rows()['sandbox.e2b'].value)).toMatchObject({api_key: SECRET, timeout: 90})
  })

  it("keeps Test and Save off until the chosen provider's form is shown (or for good when its schema fails), and drops the answer for a provider left meanwhile", async () => {
    // the schema answers are held, so the page is caught between two providers (E2B's form still shown)
    const held = new Map<string, () => void>()
    const arrived = new Map<string, Promise<void>>()
    for (const id of ['docker', 'self_managed']) {
      const gate = new Promise<void>((release) => held.set(id, release))
      let seen: () => void = () => {}
      arrived.set(id, new Promise<void>((resolve) => (seen = resolve)))
      await page.route(`**/providers/${id}/schema`, async (route) => {
        seen()
        await gate
        await route.continue()
      })
    }
    const form = page.locator('#config-form')
    const dropped = page.waitForEvent('console', (message) => message.text().startsWith('dropped the settings of docker'))
    await page.getByRole('radio', {name: /^Docker/}).check()
    await arrived.get('docker')
    expect(await form.getAttribute('aria-busy')).toBe('true')
    expect(await form.getAttribute('data-provider')).toBeNull()
    expect(await actionsDisabled()).toEqual({test: true, save: true})
    await page.getByRole('radio', {name: /^Self-Managed/}).check()
    await arrived.get('self_managed')
    held.get('self_managed')!()
    await page.locator('#config-form[data-provider="self_managed"]').waitFor()
    // the late answer for Docker changes nothing
    held.get('docker')!()
    await dropped
    expect(await form.getAttribute('data-provider')).toBe('self_managed')
    expect(await page.getByLabel('Executor Manager Endpoint').count()).toBe(1)
    expect(await page.getByLabel(/Memory Limit/).count()).toBe(0)
    expect(await form.getAttribute('aria-busy')).toBeNull()
    expect(await actionsDisabled()).toEqual({test: false, save: false})
    await page.unrouteAll()

    // a schema that cannot be loaded: the error, no fields of the previous provider, Test and Save off
    await page.route('**/providers/docker/schema', (route) =>
      route.fulfill({status: 500, contentType: 'application/json', body: JSON.stringify({code: 500, message: 'the schema broke'})}),
    )
    await page.getByRole('radio', {name: /^Docker/}).check()
    await page.locator('#config-result').getByText('Cannot load the settings of docker: the schema broke').waitFor()
    expect(await page.getByLabel('Executor Manager Endpoint').count()).toBe(0)
    expect(await form.getAttribute('aria-busy')).toBeNull()
    expect(await form.getAttribute('data-provider')).toBeNull()
    expect(await actionsDisabled()).toEqual({test: true, save: true})
    await page.unrouteAll()
    // the radio is still on Docker: its Try again loads the schema once more and draws the form
    await page.getByRole('button', {name: 'Try again'}).click()
    await page.locator('#config-form[data-provider="docker"]').waitFor()
    expect(await page.getByLabel('Allow runc').count()).toBe(1)
    expect(await page.getByRole('button', {name: 'Try again'}).count()).toBe(0)
    expect(await actionsDisabled()).toEqual({test: false, save: false})
    await choose(/^Self-Managed/, 'self_managed')
    expect(await actionsDisabled()).toEqual({test: false, save: false})
    expect(rows()['sandbox.provider_type'].value).toBe('e2b')
  })

  it('tests the docker provider with a real gVisor run, then saves it', async () => {
    await choose(/^Docker/, 'docker')
    await page.getByLabel(/Execution Timeout/).fill('20')
    await page.getByRole('button', {name: 'Test connection'}).click()
    await page
      .locator('#config-result .ok')
      .filter({hasText: /^Test PASSED \| Exit code: 0/})
      .waitFor()
    expect(await page.locator('#config-result pre').first().textContent()).toContain('TEST_PASSED')
    expect(rows()['sandbox.docker']).toBeUndefined()
    await page.getByRole('button', {name: 'Save'}).click()
    await page.locator('#config-result').getByText('Saved: docker is the active provider').waitFor()
    expect(rows()['sandbox.provider_type'].value).toBe('docker')
    expect(JSON.parse(rows()['sandbox.docker'].value)).toEqual({timeout: 20, allow_runc: false})
    expect(await page.locator('#active-name').textContent()).toMatch(/Docker/)
  })

  it('shows the pools from GET /status', async () => {
    const python = page.locator('#pools tr[data-language="python"] td')
    await python.first().waitFor()
    expect(await python.allTextContents()).toEqual(['2', '1', '0', '0', '3'])
    expect(await page.locator('#pools [data-fact="queue"]').textContent()).toMatch(/^4 waiting · 1 running · 5\/8 containers$/)
    expect(await page.locator('#pools [data-fact="runs"]').textContent()).toBe('12 (success 10, program_error 2)')
    expect(await page.locator('#pools [data-fact="started"]').textContent()).toBeTruthy()
  })

  it('runs the chart example through the active provider and shows its image', async () => {
    await page.getByLabel(/^Code/).fill(readFileSync('examples/chart.py', 'utf8'))
    await page.getByLabel(/^Arguments/).fill('{"title": "Admin page"}')
    await page.getByRole('button', {name: 'Run'}).click()
    const image = page.locator('#try-result img[alt="chart.png"]')
    await image.waitFor()
    expect(await image.evaluate((img) => (img as unknown as {complete: boolean; naturalWidth: number}).complete && (img as unknown as {naturalWidth: number}).naturalWidth)).toBe(
      320,
    )
    expect(await page.locator('#try-result .ok').textContent()).toMatch(/^success · exit code 0 · docker/)
    expect(JSON.parse((await page.getByLabel('result', {exact: true}).textContent()) ?? '')).toEqual({points: 10, file: 'chart.png'})
  })
})
