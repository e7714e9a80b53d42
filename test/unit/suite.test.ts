/**
 * The suite's logic without a Docker daemon: the case catalogue (RAGFlow's 17 present, ids
 * unique, probes that compile, policy needs that match the real policy), the expectations
 * against hand-made results, selection, policy mapping, the runner (skips, follow-ups,
 * listeners, concurrency) over a scripted target, the loopback listeners, and the endpoint
 * adapter against a stand-in manager on 127.0.0.1.
 */
import {execFileSync} from 'node:child_process'
import {createSocket} from 'node:dgram'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {connect} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import vm from 'node:vm'

import {parse} from 'acorn'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {emptyResult, encodeResultMarker, EXIT, type RunResult} from '../../src/engine/result.js'
import {inspectCode} from '../../src/policy/index.js'
import {
  allCases,
  CANARY_NAME,
  code,
  connectEndpoint,
  dedent,
  detectPolicySupport,
  endpointUrls,
  ensureCanary,
  parseRunResponse,
  policyFor,
  runSuite,
  selectCases,
  startListener,
  unsafeArtifact,
  type CaseContext,
  type HostFacts,
  type SuiteCase,
  type SuiteTarget,
  type TargetInfo,
} from '../../src/suite/index.js'
import {expectMemoryLimit, expectTimeout, expectUnsafe} from '../../src/suite/expect.js'

const cases = allCases()
const byId = (id: string) => {
  const c = cases.find((x) => x.id === id)
  if (!c) throw new Error(`no case ${id}`)
  return c
}

const HOST: HostFacts = {
  hostname: 'host-under-test',
  kernelRelease: '6.1.0-test',
  procVersion: 'Linux version 6.1.0-test',
  machineId: 'a'.repeat(32),
  bootId: null,
  plantedPath: '/tmp/sandbox-suite-x/planted.txt',
  plantedContent: 'secret',
  cwd: '/work/main',
}

function ctx(overrides: Partial<CaseContext> = {}): CaseContext {
  return {token: 'tok123', canary: 'canary-value', canaryName: CANARY_NAME, host: HOST, listeners: {}, ...overrides}
}

const ok = (value: unknown, extra: Partial<RunResult> = {}) => emptyResult({status: 'success', result: {present: true, value, type: 'json'}, ...extra})

describe('case catalogue', () => {
  it("has RAGFlow's 17 cases and at least 40 more, with unique ids", () => {
    const ids = cases.map((c) => c.id)
    expect(new Set(ids).size).toBe(ids.length)
    const ragflow = ids.filter((id) => /^ragflow-\d\d$/.test(id))
    expect(ragflow).toEqual(Array.from({length: 17}, (_, i) => `ragflow-${String(i + 1).padStart(2, '0')}`))
    expect(cases.length - ragflow.length).toBeGreaterThanOrEqual(40)
    expect(cases.length).toBeGreaterThanOrEqual(57)
  })

  it('covers every required area in both languages where it applies', () => {
    const tags = new Set(cases.flatMap((c) => c.tags))
    for (const t of ['resources', 'host', 'network', 'isolation', 'gvisor', 'artifacts', 'protocol', 'policy', 'positive']) expect(tags).toContain(t)
    for (const t of ['network', 'isolation', 'host', 'protocol', 'positive']) {
      const langs = new Set(cases.filter((c) => c.tags.includes(t)).map((c) => c.language))
      expect([...langs].sort(), t).toEqual(expect.arrayContaining(['nodejs', 'python']))
    }
    // TypeScript runs on Node.js's runner: its cases show it runs, what the policy reads, and its errors
    for (const t of ['positive', 'policy'])
      expect(
        cases.some((c) => c.language === 'typescript' && c.tags.includes(t)),
        t,
      ).toBe(true)
  })

  it('every case has a title, tags and a known policy need', () => {
    for (const c of cases) {
      expect(c.title.length, c.id).toBeGreaterThan(10)
      expect(c.tags.length, c.id).toBeGreaterThan(0)
      expect(['on', 'off', 'any', undefined], c.id).toContain(c.policy)
    }
  })

  it('network probes only address 127.0.0.1 and ::1', () => {
    const sources = cases.flatMap((c) => [c.code, c.followUp?.code ?? ''])
    for (const s of sources) {
      const ips = s.match(/\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b/g) ?? []
      expect(ips.filter((ip) => ip !== '127.0.0.1')).toEqual([])
      expect(s).not.toMatch(/https?:\/\/(?!127\.0\.0\.1|\[::1\]|www\.w3\.org\/2000\/svg)/)
    }
  })

  it('Python probes compile', () => {
    const dir = mkdtempSync(join(tmpdir(), 'suite-py-'))
    try {
      const files: string[] = []
      for (const c of cases) {
        for (const [i, run] of [c, c.followUp].entries()) {
          if (!run || run.language !== 'python') continue
          const file = join(dir, `${c.id.replace(/\W/g, '_')}_${i}.py`)
          writeFileSync(file, run.code)
          files.push(file)
        }
      }
      const script = 'import sys\nfor f in sys.argv[1:]:\n    compile(open(f, encoding="utf-8").read(), f, "exec")\n'
      execFileSync('python3', ['-c', script, ...files], {stdio: 'pipe'})
      expect(files.length).toBeGreaterThan(60)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('Node.js probes parse (CommonJS as scripts, ES modules as modules)', () => {
    for (const c of cases) {
      for (const run of [c, c.followUp]) {
        if (!run || run.language !== 'nodejs') continue
        if (/^\s*(import|export)\s/m.test(run.code)) expect(() => parse(run.code, {ecmaVersion: 'latest', sourceType: 'module'}), c.id).not.toThrow()
        else expect(() => new vm.Script(`(async () => {\n${run.code}\n})`, {filename: c.id}), c.id).not.toThrow()
      }
    }
  })

  it("policy 'any' cases pass the real policy, policy 'on' cases are refused or allowed as they expect", async () => {
    for (const c of cases) {
      const runs = [c, ...(c.followUp ? [{...c.followUp, policy: c.followUp.policy ?? c.policy}] : [])]
      for (const run of runs) {
        const verdict = await inspectCode(run.code, run.language, 'on')
        if (run.policy === 'any') expect(verdict.issues, `${c.id} is 'any' but the policy refuses it`).toEqual([])
      }
      if (c.policy === 'on') {
        const verdict = await inspectCode(c.code, c.language, 'on')
        const wantsRefusal = !c.tags.includes('false-positive') && c.tags.includes('policy')
        expect(verdict.safe, c.id).toBe(!wantsRefusal)
      }
    }
  })

  it("RAGFlow's unsafe cases get RAGFlow's stderr lines from the real policy", async () => {
    const {formatPolicyIssues} = await import('../../src/policy/index.js')
    for (const id of ['ragflow-11', 'ragflow-12', 'ragflow-13', 'ragflow-14', 'ragflow-15', 'ragflow-16']) {
      const c = byId(id)
      const verdict = await inspectCode(c.code, 'python', 'on')
      const result = emptyResult({status: 'program_runner_error', exit_code: EXIT.UNSAFE_CODE, detail: 'Code is unsafe', stderr: formatPolicyIssues(verdict.issues)})
      expect(c.expect(result, ctx()), id).toMatchObject({ok: true})
    }
  })
})

describe('expectations', () => {
  const timeout = emptyResult({status: 'resource_limit_exceeded', exit_code: EXIT.TIMEOUT, resource_limit_type: 'time', stderr: 'Execution timeout'})
  const oom = emptyResult({status: 'resource_limit_exceeded', exit_code: EXIT.OUT_OF_MEMORY, resource_limit_type: 'memory'})

  it("timeouts need -124, type time and RAGFlow's stderr", () => {
    expect(expectTimeout(timeout).ok).toBe(true)
    expect(expectTimeout({...timeout, stderr: ''}).ok).toBe(false)
    expect(expectTimeout(ok(null)).ok).toBe(false)
    expect(byId('ragflow-01').expect(timeout, ctx()).ok).toBe(true)
    expect(byId('ragflow-01').expect(oom, ctx()).ok).toBe(false)
  })

  it('memory: -137 or MemoryError passes, success fails', () => {
    expect(expectMemoryLimit(oom).ok).toBe(true)
    expect(expectMemoryLimit(emptyResult({status: 'resource_limit_exceeded', exit_code: 1, resource_limit_type: 'memory', stderr: 'MemoryError'})).ok).toBe(true)
    expect(byId('ragflow-17').expect(ok(3), ctx()).ok).toBe(false)
    expect(byId('ragflow-17').expect(emptyResult({status: 'program_error', exit_code: 1, stderr: 'ValueError'}), ctx()).ok).toBe(false)
  })

  it('unsafe: -999, "Code is unsafe", Line N lines', () => {
    const r = emptyResult({status: 'program_runner_error', exit_code: -999, detail: 'Code is unsafe', stderr: 'Line 2: Import: os'})
    expect(expectUnsafe(r, ['Line 2: Import: os']).ok).toBe(true)
    expect(expectUnsafe(r, ['Line 3: Import: os']).ok).toBe(false)
    expect(expectUnsafe({...r, detail: 'x'}).ok).toBe(false)
    expect(expectUnsafe({...r, stderr: 'Import os'}).ok).toBe(false)
    expect(expectUnsafe(ok(1)).ok).toBe(false)
  })

  it('network cases fail when the host listener was reached, even if the code says otherwise', () => {
    const c = byId('net-tcp4-py')
    const listener = {kind: 'tcp4' as const, address: '127.0.0.1', port: 1, hits: 0, received: ''}
    expect(c.expect(ok({error: 'ConnectionRefusedError'}), ctx({listeners: {tcp4: listener}})).ok).toBe(true)
    expect(c.expect(ok({error: 'ConnectionRefusedError'}), ctx({listeners: {tcp4: {...listener, hits: 1}}})).ok).toBe(false)
    expect(c.expect(ok({reached: 'HTTP/1.0 200'}), ctx({listeners: {tcp4: listener}})).ok).toBe(false)
    const rag = byId('ragflow-09')
    expect(rag.expect(ok({loopback: 'ECONNREFUSED', dns: 'EAI_AGAIN'}), ctx({listeners: {tcp4: listener}})).ok).toBe(true)
    expect(rag.expect(ok({loopback: 'ECONNREFUSED', dns: 'resolved: 1.2.3.4'}), ctx({listeners: {tcp4: listener}})).ok).toBe(false)
  })

  it('secrets: the canary value or name, and secret-looking names, fail the env cases', () => {
    const c = byId('host-env-node')
    expect(c.expect(ok({env: {PATH: '/bin', HOME: '/tmp'}}), ctx()).ok).toBe(true)
    expect(c.expect(ok({env: {X: 'canary-value'}}), ctx()).ok).toBe(false)
    expect(c.expect(ok({env: {[CANARY_NAME]: 'other'}}), ctx()).ok).toBe(false)
    expect(c.expect(ok({env: {SANDBOX_API_TOKEN: 'x'}}), ctx()).ok).toBe(false)
  })

  it('gVisor probe: the host kernel or a missing gVisor boot log fails', () => {
    const c = byId('gvisor-kernel-py')
    expect(c.expect(ok({release: '4.4.0', version: 'Linux version 4.4.0', kernel_log: '<6>[0.0] Starting gVisor...'}), ctx()).ok).toBe(true)
    expect(c.expect(ok({release: '6.1.0-test', version: 'x', kernel_log: 'Starting gVisor'}), ctx()).ok).toBe(false)
    expect(c.expect(ok({release: '5.10', version: 'Linux version 5.10', kernel_log: 'klogctl failed'}), ctx()).ok).toBe(false)
  })

  it('artifacts: names, types, sizes and counts are checked host-side', () => {
    const a = (name: string, content = 'abc') => ({name, mime_type: 'text/csv', size: Buffer.byteLength(content), content_b64: Buffer.from(content).toString('base64')})
    expect(unsafeArtifact(a('ok.csv'))).toBeNull()
    for (const bad of ['../x.csv', '/etc/x.csv', '..\\x.csv', '.env.csv', 'x.exe', 'noext', 'a..b.csv']) expect(unsafeArtifact(a(bad)), bad).not.toBeNull()
    expect(unsafeArtifact({...a('ok.csv'), size: 99})).not.toBeNull()
    const stolen = byId('proto-control-stolen-py')
    expect(stolen.expect(ok({stolen: true}, {artifacts: [a('ok.png')]}), ctx()).ok).toBe(true)
    expect(stolen.expect(ok({stolen: true}, {artifacts: [a('../../tmp/evil.png')]}), ctx()).ok).toBe(false)
    expect(byId('art-too-many-py').expect(ok('planted', {artifacts: Array.from({length: 11}, (_, i) => a(`f${i}.csv`))}), ctx()).ok).toBe(false)
  })

  it('protocol: a forged marker value fails the marker case', () => {
    const c = byId('proto-marker-py')
    expect(c.expect(ok('real'), ctx()).ok).toBe(true)
    expect(c.expect(ok('forged'), ctx()).ok).toBe(false)
    expect(encodeResultMarker('forged')).toMatch(/^__RAGFLOW_RESULT__:/)
  })

  it('resource attacks need the follow-up run to work', () => {
    const c = byId('res-fork-bomb-py')
    const alive = ok('alive')
    expect(c.expect(oom, ctx({followUp: alive})).ok).toBe(true)
    expect(c.expect(oom, ctx({followUp: emptyResult({status: 'program_runner_error', exit_code: -10})})).ok).toBe(false)
    expect(c.expect(ok({forked: 40, error: 'BlockingIOError: [Errno 11] Resource temporarily unavailable'}), ctx({followUp: alive})).ok).toBe(true)
    expect(c.expect(emptyResult({status: 'runtime_error', exit_code: 2}), ctx({followUp: alive})).ok).toBe(false)
  })
})

describe('helpers', () => {
  it('dedent and code keep backslashes and strip the common indent', () => {
    expect(dedent('\n    a\n      b\n    ')).toBe('a\n  b\n')
    expect(code`
      print("a\nb")
    `).toBe('print("a\\nb")\n')
  })

  it('selectCases by tag, id, prefix; unknown selectors reported', () => {
    expect(selectCases(cases, ['gvisor']).cases.map((c) => c.id)).toEqual(['gvisor-kernel-py', 'gvisor-kernel-node'])
    expect(selectCases(cases, ['ragflow-07,gvisor-kernel-py']).cases).toHaveLength(2)
    expect(selectCases(cases, ['net-tcp*']).cases.map((c) => c.id)).toEqual(['net-tcp4-py', 'net-tcp4-node', 'net-tcp6-py', 'net-tcp6-node'])
    expect(selectCases(cases, ['nope']).unknown).toEqual(['nope'])
    expect(selectCases(cases, []).cases).toHaveLength(cases.length)
  })

  it('policyFor maps needs onto what the target offers', () => {
    expect(policyFor('off', 'per-request')).toEqual({policy: 'off'})
    expect(policyFor('on', 'per-request')).toEqual({policy: 'on'})
    expect(policyFor('any', 'on')).toEqual({})
    expect(policyFor('off', 'off')).toEqual({})
    expect(policyFor('off', 'on').skip).toMatch(/--allow-policy-override/)
    expect(policyFor('on', 'off').skip).toMatch(/policy off/)
  })

  it('ensureCanary sets a random value once', () => {
    const env: NodeJS.ProcessEnv = {}
    const v = ensureCanary(env)
    expect(v).toMatch(/^canary-[0-9a-f]{24}$/)
    expect(ensureCanary(env)).toBe(v)
  })

  it('endpointUrls accepts a base URL or the /run URL', () => {
    expect(endpointUrls('http://127.0.0.1:9385')).toEqual({base: 'http://127.0.0.1:9385', run: 'http://127.0.0.1:9385/run', health: 'http://127.0.0.1:9385/healthz'})
    expect(endpointUrls('http://127.0.0.1:9385/run/').run).toBe('http://127.0.0.1:9385/run')
    expect(() => endpointUrls('ftp://x')).toThrow(/only http/)
    expect(() => endpointUrls('not a url')).toThrow(/Invalid endpoint/)
  })

  it('parseRunResponse fills RAGFlow defaults', () => {
    const r = parseRunResponse({status: 'success', stdout: 'x', exit_code: 0})
    expect(r).toMatchObject({status: 'success', stdout: 'x', stderr: '', artifacts: [], result: null})
    expect(parseRunResponse('nope').exit_code).toBe(EXIT.INTERNAL_ERROR)
  })

  it('detectPolicySupport reads the two probe answers', async () => {
    const refused = emptyResult({status: 'program_runner_error', exit_code: -999})
    const ran = ok(65534)
    expect(await detectPolicySupport(async (p) => (p === 'off' ? ran : refused))).toBe('per-request')
    expect(await detectPolicySupport(async () => ran)).toBe('off')
    expect(await detectPolicySupport(async () => refused)).toBe('on')
    await expect(detectPolicySupport(async () => emptyResult({status: 'program_runner_error', exit_code: -10}))).rejects.toThrow(/cannot run/)
  })
})

describe('host listeners', () => {
  it('count TCP connections on 127.0.0.1 and answer', async () => {
    const l = await startListener('tcp4')
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const s = connect(l.state.port, '127.0.0.1', () => s.write('GET /tok HTTP/1.0\r\n\r\n'))
        let data = ''
        s.on('data', (d) => (data += d))
        s.on('end', () => resolve(data))
        s.on('error', reject)
      })
      expect(reply).toContain('REACHED-THE-HOST')
      expect(l.state.hits).toBe(1)
      expect(l.state.received).toContain('/tok')
    } finally {
      await l.close()
    }
  })

  it('count UDP datagrams on 127.0.0.1 and echo', async () => {
    const l = await startListener('udp4')
    const s = createSocket('udp4')
    try {
      const reply = await new Promise<string>((resolve) => {
        s.on('message', (m) => resolve(String(m)))
        s.send('tok', l.state.port, '127.0.0.1')
      })
      expect(reply).toBe('REACHED-THE-HOST')
      expect(l.state).toMatchObject({hits: 1, received: 'tok', address: '127.0.0.1'})
    } finally {
      s.close()
      await l.close()
    }
  })
})

/** A target answering from a script, for the runner's own logic. */
function scriptedTarget(answer: (language: string, code: string, args: Record<string, unknown>, policy?: string) => RunResult, policy: TargetInfo['policy'] = 'per-request') {
  const calls: Array<{code: string; policy?: string; timeoutSeconds?: number}> = []
  let inFlight = 0
  let maxInFlight = 0
  const target: SuiteTarget = {
    info: () => ({kind: 'provider', label: 'scripted', runtime: null, policy, perRunTimeout: true}),
    async run(language, code, args, options) {
      calls.push({code, policy: options?.policy, timeoutSeconds: options?.timeoutSeconds})
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      await new Promise((r) => setImmediate(r))
      inFlight--
      return answer(language, code, args, options?.policy)
    },
    close: async () => {},
  }
  return {target, calls, max: () => maxInFlight}
}

describe('runSuite', () => {
  const mk = (id: string, extra: Partial<SuiteCase> = {}): SuiteCase => ({
    id,
    title: `case ${id} title`,
    tags: ['t'],
    language: 'python',
    code: `# ${id}\n`,
    expect: (r) => ({ok: r.status === 'success', why: r.status}),
    ...extra,
  })

  it('passes policy per case, runs follow-ups, keeps the declared order, bounds concurrency', async () => {
    const s = scriptedTarget(() => ok('alive'))
    const list = [
      mk('a', {policy: 'on'}),
      mk('b', {followUp: {language: 'python', code: '# follow\n'}, expect: (_r, c) => ({ok: c.followUp?.status === 'success', why: 'follow'})}),
      mk('c', {policy: 'any', timeoutSeconds: 5, tags: ['timeout']}),
      mk('d'),
    ]
    const events: string[] = []
    const report = await runSuite({target: s.target, cases: list, concurrency: 2, host: HOST, onEvent: (e) => e.type === 'case' && events.push(e.report.id)})
    expect(report.results.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd'])
    expect(report).toMatchObject({passed: 4, failed: 0, skipped: 0, total: 4})
    expect(events.sort()).toEqual(['a', 'b', 'c', 'd'])
    expect(s.calls.find((c) => c.code === '# a\n')?.policy).toBe('on')
    expect(s.calls.find((c) => c.code === '# c\n')).toMatchObject({policy: undefined, timeoutSeconds: 5})
    expect(s.calls.find((c) => c.code === '# follow\n')?.policy).toBe('off')
    expect(s.calls[0].code).toBe('# c\n')
    expect(s.max()).toBeLessThanOrEqual(2)
  })

  it('skips cases the target cannot serve and reports failures and thrown expectations', async () => {
    const s = scriptedTarget(() => ok(1), 'on')
    const report = await runSuite({
      target: s.target,
      cases: [
        mk('off-probe'),
        mk('custom', {policy: 'any', skip: () => 'not here'}),
        mk('bad', {policy: 'on', expect: () => ({ok: false, why: 'nope'})}),
        mk('throws', {
          policy: 'on',
          expect: () => {
            throw new Error('boom')
          },
        }),
      ],
      host: HOST,
    })
    expect(report.results.map((r) => r.outcome)).toEqual(['skip', 'skip', 'fail', 'fail'])
    expect(report.results[0].why).toMatch(/--allow-policy-override/)
    expect(report.results[3].why).toMatch(/boom/)
    expect(s.calls.map((c) => c.code)).toEqual(['# bad\n', '# throws\n'])
  })

  it('gives each case fresh loopback listeners and a token', async () => {
    let seen: Record<string, unknown> = {}
    const s = scriptedTarget((_l, _c, args) => {
      seen = args
      return ok({})
    })
    const report = await runSuite({
      target: s.target,
      cases: [mk('l', {listeners: ['tcp4', 'udp4'], arguments: (c) => ({tcp: c.listeners.tcp4?.port, udp: c.listeners.udp4?.port, token: c.token})})],
      host: HOST,
    })
    expect(report.passed).toBe(1)
    expect(seen.tcp).toBeGreaterThan(0)
    expect(seen.udp).toBeGreaterThan(0)
    expect(String(seen.token)).toMatch(/^t[0-9a-f]{16}$/)
  })

  it('a target that throws fails the case instead of the suite', async () => {
    const target: SuiteTarget = {
      info: () => ({kind: 'provider', label: 'x', runtime: null, policy: 'per-request', perRunTimeout: false}),
      run: async () => {
        throw new Error('daemon gone')
      },
      close: async () => {},
    }
    const report = await runSuite({target, cases: [mk('x')], host: HOST})
    expect(report.results[0]).toMatchObject({outcome: 'fail'})
    expect(report.results[0].result?.stderr).toMatch(/daemon gone/)
  })
})

describe('endpoint target against a stand-in manager on 127.0.0.1', () => {
  let server: Server
  let url = ''
  const seen: Array<{auth?: string; body: Record<string, unknown>}> = []
  let honourPolicy = true

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/healthz') {
        res.end('{"status":"ok"}')
        return
      }
      let body = ''
      req.on('data', (d) => (body += d))
      req.on('end', () => {
        if (req.headers.authorization !== 'Bearer s3cret') {
          res.statusCode = 401
          res.end('{"error":"unauthorized"}')
          return
        }
        const parsed = JSON.parse(body) as Record<string, unknown>
        seen.push({auth: req.headers.authorization, body: parsed})
        const source = Buffer.from(String(parsed.code_b64), 'base64').toString()
        const policy = honourPolicy ? parsed.policy : 'on'
        res.setHeader('content-type', 'application/json')
        if (source.includes('import subprocess') && policy !== 'off') {
          res.end(JSON.stringify(emptyResult({status: 'program_runner_error', exit_code: -999, detail: 'Code is unsafe', stderr: 'Line 1: Import: subprocess'})))
        } else if (source.includes('HTTP500')) {
          res.statusCode = 500
          res.end('boom')
        } else res.end(JSON.stringify({status: 'success', stdout: '', stderr: '', exit_code: 0, result: {present: true, value: parsed.arguments, type: 'json'}}))
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    url = `http://127.0.0.1:${(server.address() as {port: number}).port}`
  })
  afterAll(() => new Promise<void>((r) => server.close(() => r())))

  it('detects a per-request policy, sends the token, the code as base64 and the arguments', async () => {
    honourPolicy = true
    const target = await connectEndpoint({url, token: 's3cret'})
    expect(target.info()).toMatchObject({kind: 'endpoint', policy: 'per-request', label: url})
    const r = await target.run('nodejs', 'function main(a) { return a }', {x: 1}, {policy: 'off'})
    expect(r).toMatchObject({status: 'success', result: {value: {x: 1}}})
    expect(seen.at(-1)).toMatchObject({auth: 'Bearer s3cret', body: {language: 'nodejs', arguments: {x: 1}, policy: 'off'}})
    expect(Buffer.from(String(seen.at(-1)!.body.code_b64), 'base64').toString()).toBe('function main(a) { return a }')
    const failed = await target.run('python', '# HTTP500', {})
    expect(failed).toMatchObject({status: 'program_runner_error', detail: 'http_500'})
  })

  it('detects a fixed policy and then sends no policy field', async () => {
    honourPolicy = false
    const target = await connectEndpoint({url, token: 's3cret'})
    expect(target.info().policy).toBe('on')
    await target.run('python', 'def main(): return 1', {}, {policy: 'off'})
    expect(seen.at(-1)!.body).not.toHaveProperty('policy')
  })

  it('a missing token is a clear error (exit 6)', async () => {
    await expect(connectEndpoint({url})).rejects.toMatchObject({code: 'ENDPOINT_UNAUTHORIZED', exit: 6})
  })

  it('an unreachable manager is a clear error (exit 6)', async () => {
    const dead = createServer()
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()))
    const port = (dead.address() as {port: number}).port
    await new Promise<void>((r) => dead.close(() => r()))
    await expect(connectEndpoint({url: `http://127.0.0.1:${port}`})).rejects.toMatchObject({code: 'ENDPOINT_UNREACHABLE', exit: 6})
  })
})

describe('sandbox test (command, no daemon)', () => {
  async function cli(argv: string[]): Promise<{exit: number; stdout: string; json: Record<string, any>}> {
    const {Config} = await import('@oclif/core')
    const {runCommand} = await import('../helpers/cli.js')
    const {default: Test} = await import('../../src/commands/test.js')
    return runCommand(Test, argv, await Config.load({root: process.cwd()}))
  }

  it('--list --json lists every case with tags and policy need', async () => {
    const {exit, json} = await cli(['--list', '--json'])
    expect(exit).toBe(0)
    expect(json.cases).toHaveLength(cases.length)
    expect(json.cases[0]).toEqual({id: 'ragflow-01', title: cases[0].title, tags: cases[0].tags, language: 'python', policy: 'any'})
  })

  it('--list --only filters; the human list ends with a count', async () => {
    const {exit, stdout} = await cli(['--list', '--only', 'gvisor'])
    expect(exit).toBe(0)
    expect(stdout).toMatch(/gvisor-kernel-py[\s\S]*gvisor-kernel-node[\s\S]*2 cases/)
  })

  it('an unknown --only is a configuration error (exit 4) naming the tags', async () => {
    const {exit, json} = await cli(['--only', 'no-such-tag', '--json'])
    expect(exit).toBe(4)
    expect(json.error).toMatchObject({code: 'UNKNOWN_CASE'})
    expect(json.error.suggestions.join(' ')).toMatch(/network/)
  })
})
