import {describe, expect, it} from 'vitest'

import {exitCodeFor} from '../../src/commands/run.js'
import {emptyResult} from '../../src/engine/result.js'
import {PROVIDER_IDS, PROVIDERS} from '../../src/providers/registry.js'
import {maskConfig} from '../../src/providers/schema.js'
import {remoteResult} from '../../src/providers/result.js'

describe('exit codes of sandbox run', () => {
  const busy = emptyResult({status: 'program_runner_error', exit_code: -10})
  it('no container: a prerequisite here (3), a remote failure through a remote provider (6)', () => {
    expect(exitCodeFor(busy, PROVIDERS.docker.runsOnHost)).toBe(3)
    expect(exitCodeFor(busy, PROVIDERS.self_managed.runsOnHost)).toBe(6)
    expect(exitCodeFor(emptyResult({status: 'program_runner_error', exit_code: -999}), PROVIDERS.e2b.runsOnHost)).toBe(5)
    expect(exitCodeFor(emptyResult({status: 'program_error', exit_code: 1}), PROVIDERS.docker.runsOnHost)).toBe(1)
    expect(exitCodeFor(emptyResult({}), PROVIDERS.aliyun_codeinterpreter.runsOnHost)).toBe(0)
  })
  it('the providers that run on this host are the ones whose descriptor says so: docker and local', () => {
    expect(PROVIDER_IDS.filter((id) => PROVIDERS[id].runsOnHost)).toEqual(['docker', 'local'])
    expect(exitCodeFor(busy, PROVIDERS.local.runsOnHost)).toBe(3)
    expect(exitCodeFor(busy, PROVIDERS.ssh.runsOnHost)).toBe(6)
  })
  it('a malformed runner report (only the code can forge one) is the code failing (1), not a broken prerequisite (3)', () => {
    expect(exitCodeFor(emptyResult({status: 'program_runner_error', exit_code: -70}), PROVIDERS.docker.runsOnHost)).toBe(1)
  })
})

describe('remote results use the engine’s reading of stderr', () => {
  it('a failed name lookup is network_access, as under the engine', () => {
    const r = remoteResult({stdout: '', stderr: 'socket.gaierror: [Errno -3] Temporary failure in name resolution', exitCode: 1, timedOut: false, timeoutSeconds: 10, wallMs: 5})
    expect(r).toMatchObject({status: 'unauthorized_access', unauthorized_access_type: 'network_access', exit_code: 1})
  })
})

describe('configuration shown to people', () => {
  it('masks a password inside a URL field', () => {
    const shown = maskConfig({endpoint: {type: 'string', label: 'Endpoint'}}, {endpoint: 'http://admin:s3cret-pw@manager:9385'})
    expect(JSON.stringify(shown)).not.toContain('s3cret-pw')
    expect(shown.endpoint).toBe('http://admin:****@manager:9385')
  })
})
