/**
 * Executor managers for integration tests, real Docker and gVisor behind them: one started in
 * this process (runManager on a free 127.0.0.1 port, a silent logger, no state files, no signal
 * handlers), or one started by `sandbox start` in a private state directory; and the HTTP calls
 * the tests make to them (127.0.0.1 only).
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {type Agent, request} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Config} from '@oclif/core'
import {captureOutput} from '@oclif/test'

import Start, {type StartOutput} from '../../src/commands/start.js'
import Stop from '../../src/commands/stop.js'
import type {SandboxConfig} from '../../src/config.js'
import type {Language} from '../../src/engine/languages.js'
import {silentLogger} from '../../src/server/logger.js'
import {runManager, type RunningManager} from '../../src/server/manager.js'
import {freePort} from './ports.js'

export interface InProcessManagerOptions {
  /** the bearer token it requires (default none) */
  apiToken?: string
  /** warm containers a language (default 1) */
  poolSize?: number
  languages?: Language[]
  /** the settings database it reads (runManager's default when not given) */
  settingsDb?: string | false
}

/** A manager in this process on a free 127.0.0.1 port with `config` (as loadConfig read it); stop it with `stop('test done')`. */
export function startManager(config: SandboxConfig, options: InProcessManagerOptions = {}): Promise<RunningManager> {
  const poolSize = options.poolSize ?? 1
  return runManager({
    config: {...config, host: '127.0.0.1', port: 0, apiToken: options.apiToken, poolSize},
    logger: silentLogger(),
    stateFiles: false,
    handleSignals: false,
    ...(options.settingsDb === undefined ? {} : {settingsDb: options.settingsDb}),
    engine: {poolSize, ...(options.languages ? {languages: options.languages} : {})},
  })
}

/** A private SANDBOX_STATE_DIR and a free port for the `sandbox start` / `stop` commands. */
export interface PrivateState {
  config: Config
  stateDir: string
  port: number
  endpoint: string
  /** stop what runs in the state directory, restore SANDBOX_STATE_DIR, remove the directory */
  close(): Promise<void>
}

export async function privateState(prefix: string): Promise<PrivateState> {
  const previous = process.env.SANDBOX_STATE_DIR
  const config = await Config.load({root: process.cwd()})
  const stateDir = mkdtempSync(join(tmpdir(), prefix))
  process.env.SANDBOX_STATE_DIR = stateDir
  const port = await freePort()
  return {
    config,
    stateDir,
    port,
    endpoint: `http://127.0.0.1:${port}`,
    async close() {
      await captureOutput(() => Stop.run(['--json'], config)).catch(() => {})
      process.exitCode = undefined
      if (previous === undefined) delete process.env.SANDBOX_STATE_DIR
      else process.env.SANDBOX_STATE_DIR = previous
      rmSync(stateDir, {recursive: true, force: true})
    },
  }
}

/** `sandbox start --port P --env-file /dev/null ARGS --json` in a private state directory; `close()` stops it. */
export async function startCliManager(prefix: string, args: string[]): Promise<PrivateState & {pid: number}> {
  const state = await privateState(prefix)
  const out = await captureOutput(() => Start.run(['--port', String(state.port), '--env-file', '/dev/null', ...args, '--json'], state.config))
  process.exitCode = undefined
  if (out.error) {
    await state.close()
    throw out.error
  }
  return {...state, pid: (out.result as StartOutput).pid!}
}

export interface Answer {
  status: number
  text: string
  json: <T = Record<string, unknown>>() => T
}

export interface CallOptions {
  body?: string
  headers?: Record<string, string>
  agent?: Agent
}

/** An HTTP request to 127.0.0.1:port: the status and the whole body. */
export function call(port: number, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({host: '127.0.0.1', port, method, path, agent: options.agent, headers: options.headers ?? {}}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({status: res.statusCode ?? 0, text, json: <T>() => JSON.parse(text) as T})
      })
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/** The body of a POST /run as RAGFlow sends it: the code base64-encoded, language and arguments when given. */
export const runBody = (code: string, language?: string, args?: unknown): string =>
  JSON.stringify({code_b64: Buffer.from(code, 'utf8').toString('base64'), ...(language ? {language} : {}), ...(args === undefined ? {} : {arguments: args})})

/** POST /run with a JSON body (a string as is, anything else JSON-encoded). */
export const postRun = (port: number, body: unknown, options: Omit<CallOptions, 'body'> = {}): Promise<Answer> =>
  call(port, 'POST', '/run', {...options, body: typeof body === 'string' ? body : JSON.stringify(body), headers: {'content-type': 'application/json', ...options.headers}})
