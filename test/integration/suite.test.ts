/**
 * The security suite against the real thing, and a test of the test:
 * - the normal engine (gVisor, no network): every case passes;
 * - a deliberately weakened engine (runc, host network): the gVisor, loopback-listener,
 *   interface and hostname cases FAIL, while privilege cases that runc also enforces pass;
 * - a started manager, started as docs/security.md says (default policy, a token,
 *   --allow-policy-override, a canary in its environment), tested end to end with
 *   `sandbox test --endpoint --token --json`: every case runs, 0 skipped.
 * The weakened run leaves out name resolution: with host networking it would query the
 * host's resolver, and network tests here only ever address 127.0.0.1 and ::1.
 */
import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

import {afterAll, describe, expect, it} from 'vitest'

import {BACKEND_IDS, type BackendId} from '../../src/backends/index.js'
import {loadConfig} from '../../src/config.js'
import {allCases, ensureCanary, runSuite, selectCases, startEngineTarget, type SuiteReport} from '../../src/suite/index.js'
import {freePort} from '../helpers/ports.js'

const exec = promisify(execFile)
const config = (backend: BackendId = 'docker') => loadConfig({env: {...process.env, SANDBOX_CODE_POLICY: 'on', SANDBOX_BACKEND: backend}, envFile: '/dev/null'})
const failures = (report: SuiteReport) => report.results.filter((r) => r.outcome !== 'pass').map((r) => `${r.id} (${r.outcome}): ${r.why}`)

// on each backend (SANDBOX_BACKEND): every case must pass on both
describe.each(BACKEND_IDS)('the suite against the normal engine (%s backend)', (backend) => {
  it("every case passes (RAGFlow's 17 and 40+ more)", async () => {
    const canary = ensureCanary(process.env)
    const target = await startEngineTarget({config: config(backend)})
    let report: SuiteReport
    try {
      expect(target.info()).toMatchObject({kind: 'engine', runtime: 'runsc', policy: 'per-request'})
      report = await runSuite({target, canary})
    } finally {
      await target.close()
    }
    process.stderr.write(`[suite] ${report.passed}/${report.total} passed in ${(report.durationMs / 1000).toFixed(1)} s\n`)
    expect(failures(report)).toEqual([])
    expect(report.passed).toBeGreaterThanOrEqual(57)
    expect(report.total).toBe(allCases().length)
  }, 400_000)
})

/** must fail against runc + host network */
const MUST_FAIL = [
  'gvisor-kernel-py',
  'gvisor-kernel-node',
  'net-tcp4-py',
  'net-tcp4-node',
  'net-tcp6-py',
  'net-tcp6-node',
  'net-udp4-py',
  'net-udp4-node',
  'net-udp6-py',
  'net-http-node',
  'net-interfaces-py',
  'net-interfaces-node',
  'host-hostname-py',
  'host-hostname-node',
]
/** runc enforces these too: they must still pass, so the failures above are specific */
const STILL_PASS = ['host-uid-py', 'host-capabilities-py', 'host-no-new-privs-py', 'host-readonly-root-py', 'host-docker-socket-py', 'ragflow-07']

describe('the suite catches a weakened engine', () => {
  it('runc + host network: gVisor, loopback, interface and hostname cases fail; privilege cases pass', async () => {
    const {cases} = selectCases(allCases(), [...MUST_FAIL, ...STILL_PASS])
    expect(cases).toHaveLength(MUST_FAIL.length + STILL_PASS.length)
    const events: string[] = []
    const target = await startEngineTarget({config: config(), runtime: 'runc', network: 'host', poolSize: 1, onEvent: (e) => events.push(e.message)})
    let report: SuiteReport
    try {
      expect(target.info().label).toMatch(/WEAKENED: NO gVisor, network host/)
      report = await runSuite({target, cases, canary: ensureCanary(process.env)})
    } finally {
      await target.close()
    }
    expect(events.join('\n')).toMatch(/WITHOUT gVisor/)
    const outcome = Object.fromEntries(report.results.map((r) => [r.id, r]))
    for (const id of MUST_FAIL) expect(outcome[id].outcome, `${id} should fail on a weakened engine: ${outcome[id].why}`).toBe('fail')
    for (const id of STILL_PASS) expect(outcome[id].outcome, `${id}: ${outcome[id].why}`).toBe('pass')
    // the failures are for the right reason: host evidence, not a broken probe
    expect(outcome['net-tcp4-py'].why).toMatch(/127\.0\.0\.1 TCP listener .* was reached|reached the host/)
    expect(outcome['net-udp4-py'].why).toMatch(/reached|REACHED-THE-HOST/)
    expect(outcome['gvisor-kernel-py'].why).toMatch(/kernel release|gVisor/)
    expect(outcome['net-interfaces-py'].why).toMatch(/interfaces besides lo/)
  }, 300_000)
})

describe('sandbox test --endpoint against a started manager', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'suite-manager-'))
  const token = `tok-${process.pid}-suite`
  const canary = `canary-in-manager-env-${process.pid}`
  const env = {...process.env, SANDBOX_STATE_DIR: stateDir, SANDBOX_API_TOKEN: token, SANDBOX_SUITE_CANARY: canary}

  afterAll(async () => {
    await exec('node', ['bin/dev.js', 'stop', '--json'], {env}).catch(() => {})
    rmSync(stateDir, {recursive: true, force: true})
  })

  it("every case runs and passes over HTTP, 0 skipped; the canary in the manager's environment stays invisible", async () => {
    const port = await freePort()
    // as documented: the default policy, a token, and the per-request override for token holders
    await exec('node', ['bin/dev.js', 'start', '--port', String(port), '--env-file', '/dev/null', '--allow-policy-override', '--timeout', '5', '--json'], {env})
    let stdout = ''
    let exitCode = 0
    try {
      ;({stdout} = await exec('node', ['bin/dev.js', 'test', '--endpoint', `http://127.0.0.1:${port}`, '--token', token, '--json'], {env, maxBuffer: 256 * 1024 * 1024}))
    } catch (error) {
      const e = error as {code?: number; stdout?: string}
      exitCode = e.code ?? 1
      stdout = e.stdout ?? ''
    }
    const report = JSON.parse(stdout) as SuiteReport
    expect(report.target).toMatchObject({kind: 'endpoint', policy: 'per-request'})
    expect(failures(report)).toEqual([])
    expect(exitCode).toBe(0)
    expect(report.skipped).toBe(0)
    expect(report.total).toBe(allCases().length)
    expect(report.passed).toBe(report.total)
    // RAGFlow's requests (no policy field) still get the manager's policy
    const status = await fetch(`http://127.0.0.1:${port}/status`, {headers: {authorization: `Bearer ${token}`}}).then(
      (r) => r.json() as Promise<{settings: {codePolicy: string; allowPolicyOverride: boolean}}>,
    )
    expect(status.settings).toMatchObject({codePolicy: 'ragflow', allowPolicyOverride: true})
    const envCase = report.results.find((r) => r.id === 'host-env-py')!
    expect(envCase).toMatchObject({outcome: 'pass'})
    expect(envCase.why).toMatch(/value checked/)
  }, 400_000)
})
