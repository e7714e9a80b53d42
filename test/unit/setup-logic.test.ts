import {chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {DEFAULTS, ENV_VARS, loadConfig, parseEnvFile} from '../../src/config.js'
import {isSandboxError} from '../../src/errors.js'
import {compareVersions} from '../../src/setup/checks.js'
import {mergeRuntime} from '../../src/setup/daemon-json.js'
import {ENV_TEMPLATE, envFileExposure, renderEnvTemplate} from '../../src/setup/env-file.js'
import {checkLine, setupIncomplete} from '../../src/setup/service.js'
import {cliFilters} from '../global-setup.js'

const entry = {path: '/usr/bin/runsc', runtimeArgs: ['--network=none']}

describe('mergeRuntime (daemon.json)', () => {
  it('creates the file content when there is none', () => {
    for (const existing of [undefined, '', '  \n']) {
      const r = mergeRuntime(existing, 'runsc', entry)
      expect(r.changed).toBe(true)
      expect(JSON.parse(r.text)).toEqual({runtimes: {runsc: {path: '/usr/bin/runsc', runtimeArgs: ['--network=none']}}})
      expect(r.text.endsWith('\n')).toBe(true)
    }
  })

  it('keeps every other key and runtime', () => {
    const existing = JSON.stringify({
      'log-driver': 'json-file',
      'insecure-registries': ['10.0.0.1:5000'],
      runtimes: {kata: {path: '/opt/kata/bin/kata-runtime'}},
    })
    const r = mergeRuntime(existing, 'runsc', entry)
    expect(r.changed).toBe(true)
    expect(JSON.parse(r.text)).toEqual({
      'log-driver': 'json-file',
      'insecure-registries': ['10.0.0.1:5000'],
      runtimes: {kata: {path: '/opt/kata/bin/kata-runtime'}, runsc: {path: '/usr/bin/runsc', runtimeArgs: ['--network=none']}},
    })
  })

  it('changes nothing when runsc is already registered the same way (idempotent)', () => {
    const first = mergeRuntime('{"debug": true}', 'runsc', entry)
    const second = mergeRuntime(first.text, 'runsc', entry)
    expect(second.changed).toBe(false)
    expect(second.text).toBe(first.text)
    // the layout of a hand-written file does not count as a change either
    const handWritten = '{\n  "runtimes": {\n    "runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}\n  }\n}\n'
    expect(mergeRuntime(handWritten, 'runsc', entry).changed).toBe(false)
  })

  it('adds --network=none to an existing entry, replacing another --network and keeping other args in place', () => {
    const existing = JSON.stringify({runtimes: {runsc: {path: '/usr/local/bin/runsc', runtimeArgs: ['--platform=ptrace', '--network=host', '--debug']}}})
    const r = mergeRuntime(existing, 'runsc', entry)
    expect(r.changed).toBe(true)
    expect(JSON.parse(r.text).runtimes.runsc).toEqual({path: '/usr/bin/runsc', runtimeArgs: ['--platform=ptrace', '--network=none', '--debug']})
    const noArgs = mergeRuntime(JSON.stringify({runtimes: {runsc: {path: '/usr/bin/runsc'}}}), 'runsc', entry)
    expect(noArgs.changed).toBe(true)
    expect(JSON.parse(noArgs.text).runtimes.runsc.runtimeArgs).toEqual(['--network=none'])
  })

  it('refuses a broken or non-object daemon.json with DAEMON_JSON_INVALID (never overwrites it)', () => {
    for (const bad of ['{"runtimes": {', '[1, 2]', '"text"', 'null', '{"runtimes": []}', '{"runtimes": "runsc"}']) {
      let caught: unknown
      try {
        mergeRuntime(bad, 'runsc', entry, '/etc/docker/daemon.json')
      } catch (error) {
        caught = error
      }
      expect(isSandboxError(caught), bad).toBe(true)
      expect((caught as {code: string}).code).toBe('DAEMON_JSON_INVALID')
      expect((caught as Error).message).toContain('/etc/docker/daemon.json')
    }
  })
})

describe('env template', () => {
  const template = readFileSync(ENV_TEMPLATE, 'utf8')

  const writeTemp = (text: string) => {
    const file = join(mkdtempSync(join(tmpdir(), 'env-template-')), '.env')
    writeFileSync(file, text)
    return file
  }
  /** the lines as they would read with every setting uncommented */
  const uncommented = (text: string) => parseEnvFile(text.replace(/^# ([A-Z][A-Z0-9_]*=)/gm, '$1'))

  it('names every variable the toolkit reads', () => {
    const vars = uncommented(renderEnvTemplate(template))
    for (const name of Object.keys(ENV_VARS)) expect(Object.keys(vars), name).toContain(name)
  })

  it('sets nothing: every setting stays a default, so a stored provider setting still applies', () => {
    const text = renderEnvTemplate(template)
    expect(parseEnvFile(text)).toEqual({})
    const config = loadConfig({env: {}, envFile: writeTemp(text)})
    expect(Object.values(config.sources ?? {}).every((source) => source === 'default')).toBe(true)
  })

  it('shows the defaults of src/config.ts: uncommented, they load back to the default config', () => {
    const text = renderEnvTemplate(template)
    expect(text).not.toMatch(/\{\{/)
    const vars = uncommented(text)
    expect(vars.SANDBOX_EXECUTOR_MANAGER_POOL_SIZE).toBe(String(DEFAULTS.poolSize))
    expect(vars.SANDBOX_BASE_PYTHON_IMAGE).toBe(DEFAULTS.pythonImage)
    expect(vars.SANDBOX_MAX_MEMORY).toBe(DEFAULTS.memory)
    expect(vars.SANDBOX_TIMEOUT).toBe(DEFAULTS.timeout)
    const fromFile = loadConfig({env: vars})
    const defaults = loadConfig({env: {}, envFile: '/dev/null'})
    // provenance (the .env file, where each run setting came from) differs by construction; the values must not
    expect({...fromFile, envFile: undefined, sources: undefined}).toEqual({...defaults, envFile: undefined, sources: undefined})
  })

  it('rejects an unknown placeholder', () => {
    expect(() => renderEnvTemplate('A={{nope}}')).toThrow(/unknown placeholder/)
  })

  it('keeps Aliyun credentials commented out (no secret defaults)', () => {
    expect(template).toMatch(/^# AGENTRUN_ACCESS_KEY_SECRET=$/m)
  })
})

describe('.env holding secrets', () => {
  it('is reported when others may read it and it sets a token or key; private or secret-free files are fine', () => {
    const dir = mkdtempSync(join(tmpdir(), 'env-exposure-'))
    try {
      const file = join(dir, '.env')
      writeFileSync(file, 'SANDBOX_TIMEOUT=10s\nSANDBOX_API_TOKEN=\n# AGENTRUN_ACCESS_KEY_SECRET=old\n')
      chmodSync(file, 0o644)
      expect(envFileExposure(file)).toBeUndefined() // no secret set
      writeFileSync(file, 'SANDBOX_API_TOKEN="s3cr3t" # token\nE2B_API_KEY=e2b_x\n')
      chmodSync(file, 0o644)
      expect(envFileExposure(file)).toBe(`${file} sets SANDBOX_API_TOKEN, E2B_API_KEY but other users may read it (mode 0644)`)
      chmodSync(file, 0o600)
      expect(envFileExposure(file)).toBeUndefined()
      expect(envFileExposure(join(dir, 'missing.env'))).toBeUndefined()
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe('report formatting', () => {
  it('prints one line per check with the fix on failures', () => {
    expect(checkLine({id: 'os', title: 'Linux kernel', ok: true, detail: 'Linux 6.1'})).toBe('✓ Linux kernel      Linux 6.1')
    expect(checkLine({id: 'docker-daemon', title: 'Docker daemon', ok: false, detail: 'no answer', fix: 'start it'})).toBe('✗ Docker daemon     no answer — fix: start it')
    expect(checkLine({id: 'disk', title: 'Free disk', ok: true, warning: true, detail: '3.0 GB free', fix: 'prune'})).toBe('! Free disk         3.0 GB free — fix: prune')
    expect(checkLine({id: 'docker-daemon', title: 'Docker daemon', ok: true, detail: 'Docker 20.10', fixed: true})).toContain('(fixed)')
  })

  it('SETUP_INCOMPLETE exits 3 and names the failed checks and their fixes', () => {
    const error = setupIncomplete({
      checks: [
        {id: 'os', title: 'Linux kernel', ok: true, detail: 'Linux 6.1'},
        {id: 'docker-daemon', title: 'Docker daemon', ok: false, detail: 'no answer', fix: 'start it'},
      ],
      changed: [],
      notes: [],
      ok: false,
      durationMs: 1,
    })
    expect(error.code).toBe('SETUP_INCOMPLETE')
    expect(error.exit).toBe(3)
    expect(error.message).toContain('Docker daemon')
    expect(error.message).toContain('fix: start it')
    expect(error.message).not.toContain('Linux kernel')
    expect(error.suggestions).toEqual(['Docker daemon: start it'])
  })

  it('compares API versions numerically', () => {
    expect(compareVersions('1.41', '1.40')).toBeGreaterThan(0)
    expect(compareVersions('1.9', '1.40')).toBeLessThan(0)
    expect(compareVersions('1.40', '1.40')).toBe(0)
  })
})

describe('global setup: which files did vitest select', () => {
  it('reads the positional filters of the vitest command line', () => {
    expect(cliFilters(['/usr/bin/node', '/w/node_modules/.bin/vitest', 'run'])).toEqual([])
    expect(cliFilters(['/usr/bin/node', '/w/node_modules/vitest/vitest.mjs', 'run', 'test/unit'])).toEqual(['test/unit'])
    expect(cliFilters(['node', '/w/node_modules/.bin/vitest', 'run', 'test/unit/a.test.ts', '--reporter=dot', 'test/unit/b.test.ts'])).toEqual([
      'test/unit/a.test.ts',
      'test/unit/b.test.ts',
    ])
    // not started by the vitest CLI: no filters, so every file counts (setup runs)
    expect(cliFilters(['node', 'script.js', 'test/unit'])).toEqual([])
  })
})
