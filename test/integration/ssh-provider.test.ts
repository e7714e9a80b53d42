/**
 * The ssh provider against a REAL OpenSSH server on 127.0.0.1 (Debian's openssh-server, started
 * by the test as root with its own config, host key and port): Python and Node runs with results
 * and artifacts, the host key checked against known_hosts and failing closed (a changed key, an
 * unknown host, an unreadable known_hosts file — nothing is sent, no workspace is made), a wrong
 * password refused, password and key authentication, the timeout killing the remote process
 * group, the workspace removed; and the CLI: `sandbox configure ssh …` then
 * `sandbox run --provider ssh` with the stored settings.
 */
import {execFile} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import type {SandboxError} from '../../src/errors.js'
import type {Language} from '../../src/engine/languages.js'
import {runWithProvider, sshDefinition, type ProviderConfig, type ProviderEvent} from '../../src/providers/index.js'
import {gone} from '../helpers/processes.js'
import {expectNodeResultAndProgramError} from '../helpers/provider-cases.js'
import {startSshd, type SshServer} from '../helpers/sshd.js'

const dir = mkdtempSync(join(tmpdir(), 'ssh-int-'))
const sandboxConfig = loadConfig({env: {}, envFile: undefined})
let server: SshServer

beforeAll(async () => {
  server = await startSshd()
}, 60_000)

afterAll(async () => {
  await server?.stop()
  rmSync(dir, {recursive: true, force: true})
})

function baseConfig(extra: ProviderConfig = {}): ProviderConfig {
  return {
    host: server.host,
    port: server.port,
    username: server.user,
    password: server.password,
    known_hosts: server.knownHostsFile,
    work_dir: server.workDir,
    ...extra,
  }
}

async function runSsh(language: Language, code: string, options: {config?: ProviderConfig; timeoutSeconds?: number; arguments?: Record<string, unknown>} = {}) {
  const events: ProviderEvent[] = []
  const provider = sshDefinition.create(baseConfig(options.config), {sandboxConfig, onEvent: (e) => events.push(e)})
  const run = await runWithProvider(provider, {code, language, arguments: options.arguments, timeoutSeconds: options.timeoutSeconds ?? 20, policy: 'off'})
  await run.dispose()
  return {result: run.result, events}
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (e: SandboxError) => e,
  )

describe('ssh provider: a real sshd on 127.0.0.1', () => {
  it('Python: stdout, result, artifacts over SFTP, the code ran as the SSH user in a workspace that is removed after', async () => {
    const code = `import os, pwd\n\ndef main(name, flag):\n    print("hello", name)\n    with open("artifacts/out.csv", "w") as f:\n        f.write("a,b\\n1,2\\n")\n    return {"greeting": "hi " + name, "flag": flag, "user": pwd.getpwuid(os.getuid()).pw_name, "cwd": os.getcwd()}\n`
    const {result} = await runSsh('python', code, {arguments: {name: 'World', flag: true}})
    expect(result.status).toBe('success')
    expect(result.stdout).toBe('hello World\n')
    const value = result.result?.value as {greeting: string; flag: boolean; user: string; cwd: string}
    expect(value).toMatchObject({greeting: 'hi World', flag: true, user: server.user})
    expect(value.cwd.startsWith(join(server.workDir, 'ragflow-codeexec.'))).toBe(true)
    expect(result.artifacts.map((a) => [a.name, a.mime_type, Buffer.from(a.content_b64, 'base64').toString()])).toEqual([['out.csv', 'text/csv', 'a,b\n1,2\n']])
    expect(readdirSync(server.workDir)).toEqual([])
  })

  it('Node: result, and a thrown error is a program error', async () => {
    await expectNodeResultAndProgramError(runSsh)
  })

  it('private key authentication (no password) works', async () => {
    const {result} = await runSsh('python', 'def main():\n    return 7\n', {config: {password: '', private_key: server.privateKeyPath}})
    expect(result.status).toBe('success')
    expect(result.result?.value).toBe(7)
    // the key as text (what the settings page stores) works the same
    const text = await runSsh('python', 'def main():\n    return 8\n', {config: {password: '', private_key: readFileSync(server.privateKeyPath, 'utf8')}})
    expect(text.result.result?.value).toBe(8)
  })

  it('the timeout (min(requested, configured)) kills the remote process group: no child survives, the workspace is removed', async () => {
    const code = `import subprocess, time\n\ndef main():\n    child = subprocess.Popen(["sleep", "300"])\n    print("child", child.pid, flush=True)\n    time.sleep(300)\n`
    const {result} = await runSsh('python', code, {config: {timeout: 2}, timeoutSeconds: 30})
    expect(result.status).toBe('resource_limit_exceeded')
    expect(result.resource_limit_type).toBe('time')
    expect(result.exit_code).toBe(-124)
    expect(result.detail).toBe('Execution timeout after 2s')
    const pid = Number(/child (\d+)/.exec(result.stdout)?.[1])
    expect(pid).toBeGreaterThan(0)
    expect(gone(pid)).toBe(true)
    expect(readdirSync(server.workDir)).toEqual([])
  })

  it('a background child left running when main returns is killed with its group', async () => {
    const {result} = await runSsh('python', 'import subprocess\n\ndef main():\n    child = subprocess.Popen(["sleep", "300"])\n    return child.pid\n')
    expect(result.status).toBe('success')
    expect(gone(Number(result.result?.value))).toBe(true)
  })

  it('a CHANGED host key is refused before authentication: nothing is sent, no workspace is made', async () => {
    const before = server.log()
    const provider = sshDefinition.create(baseConfig({known_hosts: server.wrongKnownHostsFile}), {sandboxConfig})
    const error = await failure(provider.createInstance('python'))
    expect(error?.code).toBe('SSH_HOST_KEY_MISMATCH')
    expect(error?.exit).toBe(4)
    expect(error?.message).toMatch(/has CHANGED.*refusing to connect, nothing was sent/)
    expect(error?.message).not.toContain(server.password)
    // sshd saw no authentication attempt: the password never left this process
    const during = server.log().slice(before.length)
    expect(during).not.toMatch(/Accepted|Failed password|Failed publickey/)
    expect(readdirSync(server.workDir)).toEqual([])
    expect((await provider.healthCheck()).healthy).toBe(false)
  })

  it('an unknown host is refused (fail closed), and an unreadable known_hosts file is an error, not a fallback', async () => {
    const other = join(dir, 'other_known_hosts')
    writeFileSync(other, `[127.0.0.1]:1 ${server.knownHostsLine.split(' ').slice(1).join(' ')}\n`)
    const unknown = await failure(sshDefinition.create(baseConfig({known_hosts: other}), {sandboxConfig}).createInstance('python'))
    expect(unknown?.code).toBe('SSH_HOST_KEY_UNKNOWN')
    expect(unknown?.exit).toBe(4)
    const missing = await failure(sshDefinition.create(baseConfig({known_hosts: join(dir, 'nope')}), {sandboxConfig}).createInstance('python'))
    expect(missing?.code).toBe('SSH_KNOWN_HOSTS_UNREADABLE')
    expect(missing?.message).toBe('Failed to load configured SSH known_hosts file.')
    // the known_hosts lines themselves (instead of a path) are accepted
    const inline = await runSsh('python', 'def main():\n    return "inline"\n', {config: {known_hosts: `${server.knownHostsLine}\n`}})
    expect(inline.result.result?.value).toBe('inline')
    expect(readdirSync(server.workDir)).toEqual([])
  })

  it('a wrong password is refused (exit 4) and the message does not contain it', async () => {
    const error = await failure(sshDefinition.create(baseConfig({password: 'not-the-password'}), {sandboxConfig}).createInstance('python'))
    expect(error?.code).toBe('SSH_AUTH_FAILED')
    expect(error?.exit).toBe(4)
    expect(error?.message).toContain(`Failed to connect to SSH host ${server.user}@127.0.0.1:${server.port}`)
    expect(error?.message).not.toContain('not-the-password')
  })

  it('output over max_output_bytes stops the run: an output limit', async () => {
    const {result} = await runSsh('python', 'def main():\n    while True:\n        print("x" * 1000)\n', {config: {max_output_bytes: 4096}})
    expect(result.status).toBe('resource_limit_exceeded')
    expect(result.resource_limit_type).toBe('output')
    expect(readdirSync(server.workDir)).toEqual([])
  })
})

function cli(args: string[], env: Record<string, string> = {}): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/dev.js', ...args],
      {env: {...process.env, SANDBOX_STATE_DIR: mkdtempSync(join(dir, 'state-')), SANDBOX_DATA_DIR: mkdtempSync(join(dir, 'data-')), ...env}},
      (error, stdout, stderr) => resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, stdout, stderr}),
    )
  })
}

describe('sandbox configure ssh + sandbox run --provider ssh (the real CLI)', () => {
  it('runs Python and Node on the loopback sshd with the stored settings, and refuses a changed host key', async () => {
    const db = `sqlite://${join(dir, 'ragflow.db')}`
    const configure = await cli(
      [
        'configure',
        'ssh',
        '--db',
        db,
        '--host',
        '127.0.0.1',
        '--port',
        String(server.port),
        '--username',
        server.user,
        '--known-hosts',
        server.knownHostsFile,
        '--work-dir',
        server.workDir,
        '--test',
        '--json',
      ],
      {SSH_PASSWORD: server.password},
    )
    expect(configure.code, configure.stdout + configure.stderr).toBe(0)
    const saved = JSON.parse(configure.stdout) as {provider: string; saved: boolean; activated: boolean; config: Record<string, unknown>; test: {success: boolean}}
    expect(saved).toMatchObject({provider: 'ssh', saved: true, activated: true, test: {success: true}})
    expect(saved.config.password).toMatch(/^\*\*\*\*/)
    expect(configure.stdout + configure.stderr).not.toContain(server.password)

    const py = join(dir, 'hello.py')
    writeFileSync(py, 'def main(name):\n    print("from python")\n    return {"hello": name}\n')
    const ranPy = await cli(['run', py, '--provider', 'ssh', '--db', db, '--arg', 'name=ssh', '--json'])
    expect(ranPy.code, ranPy.stdout + ranPy.stderr).toBe(0)
    expect(JSON.parse(ranPy.stdout)).toMatchObject({status: 'success', stdout: 'from python\n', result: {present: true, value: {hello: 'ssh'}}})

    const js = join(dir, 'hello.js')
    writeFileSync(js, 'function main(args) { console.log("from node"); return {hello: args.name} }\n')
    const ranJs = await cli(['run', js, '--provider', 'ssh', '--db', db, '--arg', 'name=node', '--json'])
    expect(ranJs.code, ranJs.stdout + ranJs.stderr).toBe(0)
    expect(JSON.parse(ranJs.stdout)).toMatchObject({status: 'success', stdout: 'from node\n', result: {value: {hello: 'node'}}})

    // the same stored settings with a known_hosts that lists another key for this host: refused
    const wrong = await cli(['configure', 'ssh', '--db', db, '--known-hosts', server.wrongKnownHostsFile, '--json'])
    expect(wrong.code, wrong.stdout + wrong.stderr).toBe(0)
    const refused = await cli(['run', py, '--provider', 'ssh', '--db', db, '--arg', 'name=x', '--json'])
    expect(refused.code).toBe(4)
    expect(JSON.parse(refused.stdout)).toMatchObject({error: {code: 'SSH_HOST_KEY_MISMATCH', exit: 4}})
    expect(refused.stdout + refused.stderr).not.toContain(server.password)
    expect(readdirSync(server.workDir)).toEqual([])
  })
})
