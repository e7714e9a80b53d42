/**
 * The SDK as a user gets it: docs/sdk.md's program, in a fresh project that depends on the
 * package (linked as npm links a local package), type-checked against the package's own types
 * and run with tsx: Sandbox.local() and Sandbox.connect() to a started manager give the same result.
 * Plus what the program does not show: streaming, cancellation, typed errors, close().
 */
import {execFile, execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import {Sandbox, SandboxError} from '../../src/index.js'
import type {RunningManager} from '../../src/server/manager.js'
import {startManager} from '../helpers/manager.js'

const TOKEN = 'sdk-test-token-0123456789'
const project = mkdtempSync(join(tmpdir(), 'sdk-project-'))
let manager: RunningManager

/** the first ```ts block of docs/sdk.md */
function documentedProgram(): string {
  const doc = readFileSync('docs/sdk.md', 'utf8')
  const match = /```ts\n([\s\S]*?)```/.exec(doc)
  if (!match) throw new Error('docs/sdk.md has no ```ts block')
  return match[1]
}

beforeAll(async () => {
  // dist/ is compiled from the current sources by test/global-setup.ts
  const config = loadConfig({env: {...process.env, SANDBOX_API_TOKEN: TOKEN}, envFile: '/dev/null'})
  manager = await startManager(config, {apiToken: TOKEN, poolSize: 1, languages: ['python'], settingsDb: false})

  writeFileSync(join(project, 'package.json'), JSON.stringify({name: 'sdk-user', private: true, type: 'module', dependencies: {'gvisor-sandbox': '*'}}))
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({compilerOptions: {module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node']}}),
  )
  mkdirSync(join(project, 'node_modules', '@types'), {recursive: true})
  symlinkSync(resolve('.'), join(project, 'node_modules', 'gvisor-sandbox'))
  symlinkSync(resolve('node_modules/@types/node'), join(project, 'node_modules', '@types', 'node'))
  writeFileSync(join(project, 'main.ts'), documentedProgram())
}, 300_000)

afterAll(async () => {
  await manager?.stop('test done')
  rmSync(project, {recursive: true, force: true})
})

describe('the SDK in a fresh project', () => {
  it("type-checks docs/sdk.md's program against the package's types", () => {
    execFileSync(process.execPath, [resolve('node_modules/typescript/bin/tsc'), '-p', project], {stdio: 'pipe'})
  })

  it('runs it: Sandbox.local() and Sandbox.connect() give the same result', async () => {
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href
    // asynchronously: the manager it connects to answers from this process
    const {stdout: out} = await promisify(execFile)(process.execPath, ['--import', tsx, 'main.ts'], {
      cwd: project,
      encoding: 'utf8',
      env: {...process.env, SANDBOX_URL: `http://127.0.0.1:${manager.port}`, SANDBOX_API_TOKEN: TOKEN},
    })
    const {local, remote} = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>
    expect(local).toEqual({status: 'success', stdout: 'hi SDK\n', result: {greeting: 'Hello, SDK!'}})
    expect(remote).toEqual(local)
  })
})

describe("the SDK's contract", () => {
  it('streams output as it comes, stops a run on abort, and refuses after close()', async () => {
    const sandbox = await Sandbox.local({poolSize: 1, languages: ['nodejs']})
    try {
      const chunks: string[] = []
      const r = await sandbox.run({
        language: 'javascript',
        code: 'function main() { console.log("one"); console.error("two"); return 3 }',
        onOutput: (stream, chunk) => chunks.push(`${stream}:${chunk}`),
      })
      expect(r).toMatchObject({status: 'success', result: {value: 3}})
      expect(chunks.join('')).toContain('stdout:one')
      expect(chunks.join('')).toContain('stderr:two')

      const controller = new AbortController()
      const stopped = sandbox.run({
        language: 'javascript',
        code: 'async function main() { console.log("started"); await new Promise(() => setInterval(() => {}, 1000)) }',
        timeoutSeconds: 60,
        signal: controller.signal,
        // abort once the program is really running
        onOutput: () => controller.abort(new Error('stopped by the caller')),
      })
      await expect(stopped).rejects.toThrow('stopped by the caller')
    } finally {
      await sandbox.close()
    }
    await expect(sandbox.run({language: 'python', code: 'def main():\n    return 1\n'})).rejects.toMatchObject({code: 'SANDBOX_CLOSED'})
  })

  it('throws typed errors: an unknown language, an unreachable manager, a wrong token', async () => {
    const remote = Sandbox.connect(`http://127.0.0.1:${manager.port}`, {token: 'wrong-token'})
    await expect(remote.run({language: 'cobol', code: 'x'})).rejects.toMatchObject({code: 'UNKNOWN_LANGUAGE'})
    const refused = await remote.run({language: 'python', code: 'def main():\n    return 1\n'}).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(SandboxError)
    expect(refused).toMatchObject({code: 'MANAGER_UNAUTHORIZED'})
  })
})
