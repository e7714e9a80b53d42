/**
 * The interactive `sandbox configure` in a real terminal: tmux runs `node bin/dev.js configure`,
 * the test types into it with send-keys and reads the screen with capture-pane. Checks the
 * prompts generated from the schema (defaults, a select for the region, secrets without echo),
 * the validation loop, the optional live test against a real executor manager, and the rows
 * saved in SQLite.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import Database from 'better-sqlite3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import type {RunningManager} from '../../src/server/manager.js'
import {startManager} from '../helpers/manager.js'

const SOCKET = `sandbox-configure-test-${process.pid}`
let dir: string
let manager: RunningManager
const TOKEN = 'interactive-token-5678'

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], {encoding: 'utf8'})
}

const screen = (session: string) => tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', session)

/** Poll the screen until `text` shows up (the program's state, not a fixed delay). */
async function waitFor(session: string, text: string | RegExp, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const now = screen(session)
    if (typeof text === 'string' ? now.includes(text) : text.test(now)) return now
    if (Date.now() > deadline) throw new Error(`"${text}" did not appear on the screen:\n${now}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const keys = (session: string, ...k: string[]) => tmux('send-keys', '-t', session, ...k)
const type = (session: string, text: string) => tmux('send-keys', '-t', session, '-l', text)

/** Wait for the prompt, type `text` (if any) and press Enter. */
async function answer(session: string, prompt: string | RegExp, text?: string): Promise<void> {
  await waitFor(session, prompt)
  if (text !== undefined) type(session, text)
  keys(session, 'Enter')
}

function startSession(name: string, db: string): void {
  const env = `SANDBOX_DATA_DIR=${join(dir, 'data')} FORCE_COLOR=0 NO_COLOR=1`
  const unset =
    'unset SANDBOX_DB_URL AGENTRUN_ACCESS_KEY_ID AGENTRUN_ACCESS_KEY_SECRET AGENTRUN_ACCOUNT_ID AGENTRUN_REGION AGENTRUN_SECURITY_TOKEN ALIBABA_CLOUD_SECURITY_TOKEN SANDBOX_API_TOKEN E2B_API_KEY'
  const command = `cd ${process.cwd()} && ${unset}; env ${env} node bin/dev.js configure --db ${db}; echo "EXIT=$?"; exec sleep 3600`
  tmux('new-session', '-d', '-s', name, '-x', '200', '-y', '60', 'sh', '-c', command)
}

function rows(file: string): Record<string, {value: string; data_type: string; source: string}> {
  const db = new Database(file, {readonly: true})
  try {
    const list = db.prepare('SELECT name, value, data_type, source FROM system_settings').all() as Array<{name: string; value: string; data_type: string; source: string}>
    return Object.fromEntries(list.map((r) => [r.name, r]))
  } finally {
    db.close()
  }
}

beforeAll(async () => {
  if (spawnSync('tmux', ['-V']).status !== 0) {
    const r = spawnSync('apt-get', ['install', '-y', '-q', 'tmux'], {encoding: 'utf8', env: {...process.env, DEBIAN_FRONTEND: 'noninteractive'}})
    if (r.status !== 0) throw new Error(`tmux is needed for this test and could not be installed: ${r.stderr}`)
  }
  dir = mkdtempSync(join(tmpdir(), 'configure-tty-'))
  manager = await startManager(loadConfig({env: {}, envFile: undefined}), {apiToken: TOKEN})
}, 300_000)

afterAll(async () => {
  spawnSync('tmux', ['-L', SOCKET, 'kill-server'])
  await manager?.stop('test done')
  rmSync(dir, {recursive: true, force: true})
})

describe('sandbox configure in a terminal (tmux)', () => {
  it('Aliyun: schema prompts, a region list, the secret never echoed; saved and active', async () => {
    const file = join(dir, 'aliyun.db')
    const secret = 'tty-Secret-Value-0987654321'
    const s = 'aliyun'
    startSession(s, `sqlite://${file}`)
    await waitFor(s, 'Which provider runs the code?')
    // docker, self_managed, aliyun_codeinterpreter, e2b — the cursor starts on docker
    keys(s, 'Down', 'Down')
    await answer(s, /❯ Aliyun Code Interpreter/)
    await answer(s, 'Access Key ID', 'LTAI5tTerminalKey42')
    await waitFor(s, 'Access Key Secret')
    type(s, secret)
    const typing = await waitFor(s, '*'.repeat(secret.length))
    expect(typing).not.toContain(secret)
    keys(s, 'Enter')
    await answer(s, 'Account ID', '246813579')
    await waitFor(s, /Region \(optional\)[\s\S]*cn-hangzhou/)
    keys(s, 'Down') // cn-beijing
    keys(s, 'Enter')
    await answer(s, 'Template Name')
    const timeout = await waitFor(s, 'Execution Timeout (seconds)')
    expect(timeout).toContain('30') // the schema default is offered
    keys(s, 'Enter')
    await answer(s, 'Run a connection test now', 'n')
    await answer(s, 'Save and make Aliyun Code Interpreter the active provider?')
    const done = await waitFor(s, /EXIT=\d+/)
    expect(done).toContain('EXIT=0')
    expect(done).toContain('Saved sandbox.aliyun_codeinterpreter and sandbox.provider_type')
    expect(done).not.toContain(secret)
    const saved = rows(file)
    expect(saved['sandbox.provider_type'].value).toBe('aliyun_codeinterpreter')
    expect(saved['sandbox.aliyun_codeinterpreter'].value).toBe(
      `{"access_key_id": "LTAI5tTerminalKey42", "access_key_secret": "${secret}", "account_id": "246813579", "region": "cn-beijing", "timeout": 30}`,
    )
  })

  it('Aliyun STS: a temporary key without its token is caught, and the next round asks for the security token', async () => {
    const file = join(dir, 'aliyun-sts.db')
    const token = 'CAIS-tty-sts-token-0123456789'
    const s = 'aliyun-sts'
    startSession(s, `sqlite://${file}`)
    await waitFor(s, 'Which provider runs the code?')
    keys(s, 'Down', 'Down')
    await answer(s, /❯ Aliyun Code Interpreter/)
    await answer(s, 'Access Key ID', 'STS.NTterminalKey42')
    await answer(s, 'Access Key Secret', 'tty-sts-secret-value')
    await answer(s, 'Account ID', '246813579')
    await answer(s, /Region \(optional\)[\s\S]*cn-hangzhou/)
    await answer(s, 'Template Name')
    await answer(s, 'Execution Timeout (seconds)')
    const refused = await waitFor(s, 'Edit the settings again?')
    expect(refused).toContain("A temporary AccessKey ID (starting with 'STS.') needs its security token")
    keys(s, 'Enter')
    // second round: the answers so far are the defaults (Enter keeps them), then the token
    for (const prompt of ['Access Key ID', 'Access Key Secret', 'Account ID', 'Template Name', 'Execution Timeout (seconds)']) {
      await answer(s, new RegExp(`Edit the settings again\\?[\\s\\S]*${prompt.replace(/[()]/g, '\\$&')}`))
      if (prompt === 'Account ID') {
        await answer(s, /Edit the settings again\?[\s\S]*Region \(optional\)/)
      }
    }
    await answer(s, /Edit the settings again\?[\s\S]*STS Security Token/, token)
    await answer(s, 'Run a connection test now', 'n')
    await answer(s, 'Save and make Aliyun Code Interpreter the active provider?')
    const done = await waitFor(s, /EXIT=\d+/)
    expect(done).toContain('EXIT=0')
    expect(done).not.toContain(token)
    expect(JSON.parse(rows(file)['sandbox.aliyun_codeinterpreter'].value)).toMatchObject({access_key_id: 'STS.NTterminalKey42', security_token: token})
  })

  it('Self-managed: a bad endpoint is caught and re-asked, the live test runs against a real manager', async () => {
    const file = join(dir, 'manager.db')
    const s = 'manager'
    startSession(s, `sqlite://${file}`)
    await waitFor(s, 'Which provider runs the code?')
    keys(s, 'Down')
    await answer(s, /❯ Self-Managed/)
    await answer(s, 'Executor Manager Endpoint', 'localhost:9385')
    // HEAD's deployment fields (Container Pool Size, images, …) are read-only: not asked
    for (const label of ['Request Timeout (seconds)', 'Max Retries']) {
      await answer(s, label)
    }
    await answer(s, 'API Token', TOKEN)
    await waitFor(s, 'Invalid endpoint format: localhost:9385. Must start with http:// or https://')
    await answer(s, 'Edit the settings again?')
    // second round: the previous answers are the defaults; the token is kept with Enter
    await answer(s, /Executor Manager Endpoint.*\(localhost:9385\)/, manager.endpoint)
    for (const label of ['Request Timeout (seconds) (optional) (30)', 'Max Retries (optional) (3)']) {
      await answer(s, label)
    }
    await answer(s, 'API Token (optional) [set; Enter keeps it]')
    await waitFor(s, 'Run a connection test now')
    keys(s, 'Enter') // default yes
    await waitFor(s, /Test PASSED \| Exit code: 0/)
    await answer(s, 'Save and make Self-Managed the active provider?')
    const done = await waitFor(s, /EXIT=\d+/)
    expect(done).toContain('EXIT=0')
    expect(done).not.toContain(TOKEN)
    const saved = rows(file)
    expect(saved['sandbox.provider_type'].value).toBe('self_managed')
    expect(JSON.parse(saved['sandbox.self_managed'].value)).toEqual({endpoint: manager.endpoint, timeout: 30, max_retries: 3, api_token: TOKEN})
  })
})
