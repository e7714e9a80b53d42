import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {settingsFromFlags} from '../../src/commands/start.js'
import {loadConfig} from '../../src/config.js'
import {emptyResult} from '../../src/engine/result.js'
import {checkBearer, exposureWarnings, isLoopbackHost} from '../../src/server/auth.js'
import {tailFile} from '../../src/supervisor/log-files.js'
import {createLogger, formatLogLine} from '../../src/server/logger.js'
import {histogramQuantile, Metrics, parseMetrics, sumMetric} from '../../src/server/metrics.js'
import {decodeStrictBase64, LIMITS, parseRunRequest, RequestError} from '../../src/server/request.js'
import {acquirePidFile, clientEndpoint, managerFiles, managerState, recordedManager, writeState} from '../../src/server/state.js'
import {checkStartAgainstRunning, checkTokenKept, launchConfig, launchForRestart, launchFromStart, MANAGER_VARIABLES, type LaunchRecord} from '../../src/supervisor/launch.js'
import {parseLaunch} from '../../src/server/main.js'
import {checkManagerConfig} from '../../src/server/manager.js'
import {effectiveSettings} from '../../src/server/status.js'

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')
const body = (o: unknown) => Buffer.from(JSON.stringify(o))

function rejects(input: Buffer | string, status: number, pattern?: RegExp): RequestError {
  try {
    parseRunRequest(input)
  } catch (error) {
    expect(error).toBeInstanceOf(RequestError)
    const e = error as RequestError
    expect(e.status).toBe(status)
    if (pattern) expect(e.message).toMatch(pattern)
    return e
  }
  throw new Error('expected a RequestError')
}

describe('POST /run request validation', () => {
  it('accepts RAGFlow requests; language defaults to python, arguments to {}', () => {
    const r = parseRunRequest(body({code_b64: b64('def main():\n    return 1\n')}))
    expect(r).toMatchObject({language: 'python', arguments: {}, code: 'def main():\n    return 1\n'})
    expect(parseRunRequest(body({code_b64: b64('x'), language: 'nodejs', arguments: null})).arguments).toEqual({})
  })

  it('accepts javascript as an alias of nodejs and ignores extra fields', () => {
    const r = parseRunRequest(body({code_b64: b64('function main(){}'), language: 'javascript', base_image: 'whatever', arguments: {a: true, b: null}}))
    expect(r.language).toBe('nodejs')
    expect(r.arguments).toEqual({a: true, b: null})
  })

  it('keeps unicode code and arguments intact', () => {
    const code = 'def main(name):\n    return f"héllo {name} 🌍"\n'
    const r = parseRunRequest(body({code_b64: b64(code), arguments: {name: 'wörld ✓'}}))
    expect(r.code).toBe(code)
    expect(r.arguments.name).toBe('wörld ✓')
    expect(r.codeBytes).toBe(Buffer.byteLength(code))
  })

  it('422 for bodies that are not a JSON object', () => {
    rejects('', 422, /empty/)
    rejects('{"code_b64": ', 422, /not valid JSON/)
    rejects('[1,2]', 422, /JSON object/)
    rejects('null', 422, /JSON object/)
    rejects('"code"', 422, /JSON object/)
    rejects(Buffer.from([0xff, 0xfe, 0x00]), 422, /UTF-8/)
  })

  it('never echoes the body in the JSON error message', () => {
    const e = rejects('{"code_b64": "SECRET-CODE', 422)
    expect(e.message).not.toContain('SECRET')
  })

  it('422 for missing, non-string or non-strict base64 code', () => {
    rejects(body({language: 'python'}), 422, /code_b64 is required/)
    rejects(body({code_b64: 42}), 422, /must be a string/)
    rejects(body({code_b64: 'aGVsbG8'}), 422, /Invalid base64/) // missing padding
    rejects(body({code_b64: 'aGVs bG8='}), 422, /Invalid base64/) // whitespace
    rejects(body({code_b64: 'aGVs\nbG8='}), 422, /Invalid base64/)
    rejects(body({code_b64: 'aGVsbG8*'}), 422, /Invalid base64/)
    rejects(body({code_b64: 'aGVsbG8_'}), 422, /Invalid base64/) // url-safe alphabet
    rejects(body({code_b64: 'aG=sbG8='}), 422, /Invalid base64/)
    rejects(body({code_b64: ''}), 422, /empty code/)
    rejects(body({code_b64: b64('   \n')}), 422, /empty code/)
    rejects(body({code_b64: Buffer.from([0xc3, 0x28]).toString('base64')}), 422, /UTF-8/)
  })

  it('422 for an unknown language or a non-object arguments', () => {
    const e = rejects(body({code_b64: b64('x'), language: 'ruby'}), 422, /Unsupported language "ruby"/)
    expect(e.field).toBe('language')
    rejects(body({code_b64: b64('x'), language: 5}), 422, /language must be a string/)
    // the echoed value is bounded, escaped and free of control characters
    const hostile = `ruby"\u001b[31m\r\nFAKE LOG LINE\u202e\u0000${'x'.repeat(5000)}`
    const h = rejects(
      body({code_b64: b64('x'), language: hostile}),
      422,
      /^Unsupported language "ruby\\"\[31mFAKE LOG LINEx+…": use python, nodejs \(alias javascript\), typescript/,
    )
    expect(h.message.length).toBeLessThan(120)
    expect(h.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/)
    expect(JSON.parse(h.message.slice('Unsupported language '.length, h.message.indexOf(': use')))).toBe(`ruby"[31mFAKE LOG LINE${'x'.repeat(10)}…`)
    // a surrogate pair is never cut in half
    const emoji = rejects(body({code_b64: b64('x'), language: '😀'.repeat(40)}), 422, /Unsupported language/)
    expect(emoji.message).toContain(`"${'😀'.repeat(32)}…"`)
    rejects(body({code_b64: b64('x'), arguments: [1, 2]}), 422, /arguments must be a JSON object/)
    rejects(body({code_b64: b64('x'), arguments: 'a=1'}), 422, /arguments/)
    rejects(body({code_b64: b64('x'), arguments: 3}), 422, /arguments/)
  })

  it('413 when the decoded code is larger than the limit', () => {
    const big = 'x'.repeat(LIMITS.maxCodeBytes + 1)
    rejects(body({code_b64: b64(big)}), 413, /too large/)
    expect(parseRunRequest(body({code_b64: b64('y'.repeat(LIMITS.maxCodeBytes))})).codeBytes).toBe(LIMITS.maxCodeBytes)
  })

  it('strict base64 matches Python b64decode(validate=True)', () => {
    expect(decodeStrictBase64('')?.length).toBe(0)
    expect(decodeStrictBase64('QQ==')?.toString()).toBe('A')
    expect(decodeStrictBase64('QUI=')?.toString()).toBe('AB')
    expect(decodeStrictBase64('QUJD')?.toString()).toBe('ABC')
    for (const bad of ['Q', 'QQ', 'QQ=', 'Q===', '====', 'QQ==QQ==', 'QUJD\n', ' QUJD', 'QU-D']) expect(decodeStrictBase64(bad)).toBeUndefined()
  })

  it('random bodies never throw anything but RequestError', () => {
    let seed = 42
    const rnd = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31
    const pieces = ['{', '}', '"code_b64"', ':', '"', 'null', '[', ']', ',', '"language"', '"arguments"', 'true', '1e999', '\\u0000', 'aGk=', '"nodejs"']
    for (let i = 0; i < 2000; i++) {
      const text = Array.from({length: Math.floor(rnd() * 12)}, () => pieces[Math.floor(rnd() * pieces.length)]).join('')
      try {
        parseRunRequest(text)
      } catch (error) {
        expect(error).toBeInstanceOf(RequestError)
        expect([413, 422]).toContain((error as RequestError).status)
      }
    }
  })
})

describe('bearer token', () => {
  it('allows everything without a token', () => {
    expect(checkBearer(undefined, undefined)).toBe(true)
    expect(checkBearer('Bearer x', '')).toBe(true)
  })

  it('requires exactly "Bearer <token>"', () => {
    expect(checkBearer('Bearer s3cret', 's3cret')).toBe(true)
    expect(checkBearer('bearer s3cret', 's3cret')).toBe(true)
    expect(checkBearer(['Bearer s3cret'], 's3cret')).toBe(true)
    expect(checkBearer(undefined, 's3cret')).toBe(false)
    expect(checkBearer('', 's3cret')).toBe(false)
    expect(checkBearer('s3cret', 's3cret')).toBe(false)
    expect(checkBearer('Basic s3cret', 's3cret')).toBe(false)
    expect(checkBearer('Bearer s3cre', 's3cret')).toBe(false)
    expect(checkBearer('Bearer s3cret2', 's3cret')).toBe(false)
    expect(checkBearer('Bearer s3cret extra', 's3cret')).toBe(false)
  })

  it('warns about a public address without a token only', () => {
    expect(isLoopbackHost('127.0.0.1')).toBe(true)
    expect(isLoopbackHost('::1')).toBe(true)
    expect(isLoopbackHost('localhost')).toBe(true)
    expect(isLoopbackHost('0.0.0.0')).toBe(false)
    expect(exposureWarnings('127.0.0.1', undefined)).toEqual([])
    expect(exposureWarnings('0.0.0.0', 'tok')).toEqual([])
    expect(exposureWarnings('0.0.0.0', undefined)[0]).toMatch(/WITHOUT an API token/)
  })
})

describe('metrics', () => {
  const engineStatus = {
    runtime: 'runsc' as const,
    backend: 'runsc',
    healthy: true,
    reason: null,
    pools: [{language: 'python', size: 2, ready: 1, busy: 1, creating: 1, waiting: 3, created: 7, failures: 0, rejected: 2, lastError: null}],
    admission: {limit: 3, live: 3, evictions: 1, executing: 1, queued: 3, rejected: 2},
  }

  it('renders valid Prometheus text that parses back', () => {
    const m = new Metrics()
    m.recordRun('python', emptyResult({status: 'success'}), 0.004)
    m.recordRun('python', emptyResult({status: 'success'}), 0.02)
    m.recordRun('nodejs', emptyResult({status: 'program_runner_error', exit_code: -10}), 10.5)
    m.recordHttp('/run', 200)
    m.recordHttp('/run', 422)
    const text = m.render(engineStatus, {rssBytes: 50e6, heapUsedBytes: 1e6, startTimeSeconds: 1000, cpuSeconds: 1.5}, {version: '0.1.0'})
    for (const line of text.trim().split('\n')) {
      expect(line).toMatch(/^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+0-9.eInf]+)$/)
    }
    const s = parseMetrics(text)
    expect(sumMetric(s, 'sandbox_runs_total', {language: 'python', status: 'success'})).toBe(2)
    expect(sumMetric(s, 'sandbox_runner_errors_total', {exit_code: '-10'})).toBe(1)
    expect(sumMetric(s, 'sandbox_http_requests_total', {code: '422'})).toBe(1)
    expect(sumMetric(s, 'sandbox_pool_ready', {language: 'python'})).toBe(1)
    expect(sumMetric(s, 'sandbox_queue_depth')).toBe(3)
    // admission control: the cap, what exists, what runs, what was refused
    expect(sumMetric(s, 'sandbox_admission_limit')).toBe(3)
    expect(sumMetric(s, 'sandbox_containers_live')).toBe(3)
    expect(sumMetric(s, 'sandbox_runs_executing')).toBe(1)
    expect(sumMetric(s, 'sandbox_queue_rejected_total', {language: 'python'})).toBe(2)
    expect(sumMetric(s, 'sandbox_admission_evictions_total')).toBe(1)
    expect(sumMetric(s, 'process_resident_memory_bytes')).toBe(50e6)
    expect(sumMetric(s, 'sandbox_healthy')).toBe(1)
    expect(s.find((x) => x.name === 'sandbox_info')?.labels).toMatchObject({runtime: 'runsc', version: '0.1.0'})
  })

  it('keeps a cumulative latency histogram', () => {
    const m = new Metrics()
    for (const sec of [0.001, 0.003, 0.007, 0.2, 100]) m.recordRun('python', emptyResult({}), sec)
    const s = parseMetrics(m.render(engineStatus))
    const bucket = (le: string) => s.find((x) => x.name === 'sandbox_run_duration_seconds_bucket' && x.labels.le === le)?.value
    expect(bucket('0.005')).toBe(2)
    expect(bucket('0.01')).toBe(3)
    expect(bucket('0.25')).toBe(4)
    expect(bucket('60')).toBe(4)
    expect(bucket('+Inf')).toBe(5)
    expect(sumMetric(s, 'sandbox_run_duration_seconds_count')).toBe(5)
    const p50 = histogramQuantile(s, 'sandbox_run_duration_seconds', 0.5)!
    expect(p50).toBeGreaterThan(0.005)
    expect(p50).toBeLessThanOrEqual(0.01)
  })

  it('escapes label values', () => {
    const m = new Metrics()
    const text = m.render(engineStatus, undefined, {version: 'a"b\\c\nd'})
    expect(text).toContain('version="a\\"b\\\\c\\nd"')
    expect(parseMetrics(text).find((x) => x.name === 'sandbox_info')?.labels.version).toBe('a"b\\c\nd')
  })
})

describe('logs', () => {
  it('writes one JSON object per line and respects the level', () => {
    const lines: string[] = []
    const log = createLogger({write: (l) => lines.push(l), level: 'info'})
    log.debug('hidden')
    log.info('run', {req: 'abc', ms: 1.5, skipped: undefined})
    log.error('boom', {error: Object.assign(new Error('bad'), {code: 'E1'})})
    expect(lines).toHaveLength(2)
    const first = JSON.parse(lines[0])
    expect(first).toMatchObject({level: 'info', msg: 'run', req: 'abc', ms: 1.5})
    expect('skipped' in first).toBe(false)
    expect(JSON.parse(lines[1]).error).toEqual({name: 'Error', message: 'bad', code: 'E1'})
    expect(formatLogLine(lines[0])).toMatch(/INFO +run {2}req=abc ms=1.5/)
    expect(formatLogLine('plain text')).toBe('plain text')
  })
})

describe('state files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-state-'))
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  it('takes the pid file once, replaces a stale one, and releases it', () => {
    const files = managerFiles(dir)
    expect(recordedManager(files)).toEqual({state: 'none'})
    // a pid that cannot be alive
    writeFileSync(files.pidFile, '999999999\n')
    expect(recordedManager(files).state).toBe('stale')
    const release = acquirePidFile(files)
    expect(readFileSync(files.pidFile, 'utf8').trim()).toBe(String(process.pid))
    expect(recordedManager(files)).toMatchObject({state: 'running', pid: process.pid})
    release()
    expect(recordedManager(files)).toEqual({state: 'none'})
    // a live process that is not us (our parent) holds it
    writeFileSync(files.pidFile, `${process.ppid}\n`)
    expect(() => acquirePidFile(files)).toThrow(/already running/)
    rmSync(files.pidFile)
  })

  it('treats a reused pid (other start time) as stale', () => {
    const files = managerFiles(dir)
    writeFileSync(files.pidFile, `${process.pid}\n`)
    writeState({mode: 'process', pid: process.pid, startTicks: 1, host: '127.0.0.1', port: 1, endpoint: 'x', startedAt: '', version: '', tokenRequired: false, warnings: []}, files)
    expect(recordedManager(files).state).toBe('stale')
  })

  it('client endpoints for bind addresses', () => {
    expect(clientEndpoint('127.0.0.1', 9385)).toBe('http://127.0.0.1:9385')
    expect(clientEndpoint('0.0.0.0', 9385)).toBe('http://127.0.0.1:9385')
    expect(clientEndpoint('::', 1)).toBe('http://[::1]:1')
  })

  it('tails the last lines of a file', () => {
    const f = join(dir, 'log')
    writeFileSync(f, Array.from({length: 5000}, (_, i) => `line ${i}`).join('\n') + '\n')
    expect(tailFile(f, 3)).toEqual(['line 4997', 'line 4998', 'line 4999'])
    expect(tailFile(f, 0)).toEqual([])
    expect(tailFile(join(dir, 'missing'), 3)).toEqual([])
  })
})

describe('start flags for the background manager', () => {
  it('become SANDBOX_* variables that win over .env and the environment, like flags', () => {
    const settings = settingsFromFlags({
      host: '0.0.0.0',
      port: 9400,
      'pool-size': 3,
      timeout: '1m30s',
      memory: '512m',
      'env-file': 'x.env',
      'allow-runc': true,
      policy: 'off',
      wait: 90,
      docker: false,
      verbose: true,
    })
    expect(settings).toMatchObject({
      SANDBOX_EXECUTOR_MANAGER_HOST: '0.0.0.0',
      SANDBOX_EXECUTOR_MANAGER_PORT: '9400',
      SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: '3',
      SANDBOX_TIMEOUT: '1m30s',
      SANDBOX_MAX_MEMORY: '512m',
      SANDBOX_CODE_POLICY: 'off',
      SANDBOX_ALLOW_RUNC: 'true',
      SANDBOX_LOG_LEVEL: 'debug',
    })
    expect(settings.SANDBOX_ENV_FILE).toMatch(/^\/.*x\.env$/)
    const config = loadConfig({envFile: '/dev/null', env: {SANDBOX_TIMEOUT: '5', SANDBOX_EXECUTOR_MANAGER_PORT: '1', ...settings}})
    expect(config).toMatchObject({host: '0.0.0.0', port: 9400, poolSize: 3, timeoutSeconds: 90, memory: '512m', codePolicy: 'off', allowRunc: true})
    // flags not given set nothing; --no-allow-runc says false (and restart keeps it)
    expect(settingsFromFlags({wait: 90, docker: false, verbose: false})).toEqual({})
    expect(settingsFromFlags({'allow-runc': false, wait: 90, docker: false, verbose: false})).toEqual({SANDBOX_ALLOW_RUNC: 'false'})
  })
})

describe('manager lifecycle: what start was told, and what restart and a second start do with it', () => {
  const base = {...process.env}
  for (const k of Object.keys(MANAGER_VARIABLES)) delete base[k]
  delete base.SANDBOX_API_TOKEN
  const envNone = {...base}
  const cfg = (launch: LaunchRecord, env: NodeJS.ProcessEnv = envNone) => launchConfig({...launch, environment: {SANDBOX_ENV_FILE: '/dev/null', ...launch.environment}}, env)
  const flags = (f: Partial<Parameters<typeof settingsFromFlags>[0]>) => settingsFromFlags({wait: 90, docker: false, verbose: false, ...f})
  const running = (launch: LaunchRecord, env: NodeJS.ProcessEnv = envNone) => {
    const config = cfg(launch, env)
    return managerState({mode: 'process', pid: process.pid, address: {host: '127.0.0.1', port: config.port}, settings: effectiveSettings(config), launch, warnings: []})
  }

  it('records flags and the manager variables of the environment, never the token', () => {
    const launch = launchFromStart(flags({port: 9426}), {...envNone, SANDBOX_TIMEOUT: '30s', SANDBOX_API_TOKEN: 's3cret', HOME: '/root'}, undefined)
    expect(launch).toEqual({flags: {SANDBOX_EXECUTOR_MANAGER_PORT: '9426'}, environment: {SANDBOX_TIMEOUT: '30s'}})
    expect(JSON.stringify(running(launch, {...envNone, SANDBOX_API_TOKEN: 's3cret'}))).not.toContain('s3cret')
    // a .env found in the working directory is pinned by its absolute path
    expect(launchFromStart({}, envNone, 'deploy/.env').environment.SANDBOX_ENV_FILE).toMatch(/^\/.*deploy\/\.env$/)
  })

  it('restart keeps the port start was given; its own flags override; its environment beats only the recorded environment', () => {
    const started = launchFromStart(flags({port: 9426, 'pool-size': 3}), {...envNone, SANDBOX_TIMEOUT: '30s'}, undefined)
    // a restart from a shell that sets another port and timeout, with --pool-size 4
    const relaunch = launchForRestart(started, flags({'pool-size': 4}), {...envNone, SANDBOX_EXECUTOR_MANAGER_PORT: '9999', SANDBOX_TIMEOUT: '45s'})
    const config = cfg(relaunch)
    expect(config.port).toBe(9426)
    expect(config.poolSize).toBe(4)
    expect(config.timeoutSeconds).toBe(45)
    // nothing recorded, nothing given: the environment and defaults
    expect(cfg(launchForRestart(undefined, {}, envNone)).port).toBe(9385)
  })

  it('a manager that required a token is never restarted without one', () => {
    const launch = launchFromStart({}, envNone, undefined)
    const state = running(launch, {...envNone, SANDBOX_API_TOKEN: 't'})
    expect(state.settings?.tokenRequired).toBe(true)
    let caught: unknown
    try {
      checkTokenKept(state, cfg(launch))
    } catch (error) {
      caught = error
    }
    expect(caught).toMatchObject({code: 'TOKEN_MISSING', exit: 4})
    expect(() => checkTokenKept(state, cfg(launch, {...envNone, SANDBOX_API_TOKEN: 'other'}))).not.toThrow()
  })

  it('start while one runs: same → fine; another port → MANAGER_RUNNING_ELSEWHERE; other settings → MANAGER_RUNNING_DIFFERENT (exit 4)', () => {
    const state = running(launchFromStart(flags({port: 9426}), envNone, undefined))
    const attempt = (launch: LaunchRecord, env: NodeJS.ProcessEnv = envNone) => {
      try {
        checkStartAgainstRunning(state, launch, cfg(launch, env))
        return 'already'
      } catch (error) {
        return `${(error as {code: string}).code}/${(error as {exit: number}).exit}`
      }
    }
    expect(attempt(launchFromStart(flags({port: 9426}), envNone, undefined))).toBe('already')
    // said nothing about the port: the running manager is what you get
    expect(attempt(launchFromStart({}, envNone, undefined))).toBe('already')
    expect(attempt(launchFromStart(flags({port: 9500}), envNone, undefined))).toBe('MANAGER_RUNNING_ELSEWHERE/4')
    expect(attempt(launchFromStart({}, {...envNone, SANDBOX_EXECUTOR_MANAGER_PORT: '9500'}, undefined))).toBe('MANAGER_RUNNING_ELSEWHERE/4')
    expect(attempt(launchFromStart(flags({port: 9426, host: '0.0.0.0'}), envNone, undefined))).toBe('MANAGER_RUNNING_ELSEWHERE/4')
    expect(attempt(launchFromStart(flags({port: 9426, host: 'localhost'}), envNone, undefined))).toBe('already')
    expect(attempt(launchFromStart(flags({'pool-size': 5}), envNone, undefined))).toBe('MANAGER_RUNNING_DIFFERENT/4')
    expect(attempt(launchFromStart(flags({memory: '256M'}), envNone, undefined))).toBe('already')
    expect(attempt(launchFromStart(flags({'max-concurrent': 2}), envNone, undefined))).toBe('MANAGER_RUNNING_DIFFERENT/4')
    // the older-release setting is a setting of the running manager too
    expect(attempt(launchFromStart(flags({'result-in-stdout': true}), envNone, undefined))).toBe('MANAGER_RUNNING_DIFFERENT/4')
    expect(attempt(launchFromStart(flags({'result-in-stdout': false}), envNone, undefined))).toBe('already')
    // asking for a token-protected manager never passes for an open one
    const tokenLaunch = launchFromStart({}, envNone, undefined)
    expect(attempt(tokenLaunch, {...envNone, SANDBOX_API_TOKEN: 'x'})).toBe('MANAGER_RUNNING_DIFFERENT/4')
  })

  it('the override needs a token: refused at start (exit 4)', () => {
    const config = cfg(launchFromStart(flags({'allow-policy-override': true}), envNone, undefined))
    expect(config.allowPolicyOverride).toBe(true)
    expect(() => checkManagerConfig(config)).toThrow(/without an API token/)
    expect(() => checkManagerConfig({...config, apiToken: 't'})).not.toThrow()
    expect(loadConfig({env: {...envNone, SANDBOX_ALLOW_POLICY_OVERRIDE: 'on'}, envFile: '/dev/null'}).allowPolicyOverride).toBe(true)
    expect(() => loadConfig({env: {...envNone, SANDBOX_ALLOW_POLICY_OVERRIDE: 'maybe'}, envFile: '/dev/null'})).toThrow(/SANDBOX_ALLOW_POLICY_OVERRIDE/)
  })

  it('SANDBOX_RESULT_IN_STDOUT: off by default, a boolean, and given to the manager container and restart', () => {
    expect(loadConfig({env: envNone, envFile: '/dev/null'}).resultInStdout).toBe(false)
    expect(loadConfig({env: {...envNone, SANDBOX_RESULT_IN_STDOUT: 'on'}, envFile: '/dev/null'}).resultInStdout).toBe(true)
    expect(() => loadConfig({env: {...envNone, SANDBOX_RESULT_IN_STDOUT: 'sometimes'}, envFile: '/dev/null'})).toThrow(/SANDBOX_RESULT_IN_STDOUT/)
    expect(cfg(launchFromStart(flags({'result-in-stdout': true}), envNone, undefined)).resultInStdout).toBe(true)
  })

  it('SANDBOX_MAX_CONCURRENT_RUNS: a whole number from 1, else the computed default', () => {
    expect(loadConfig({env: {...envNone, SANDBOX_MAX_CONCURRENT_RUNS: '3'}, envFile: '/dev/null'}).maxConcurrentRuns).toBe(3)
    expect(loadConfig({env: envNone, envFile: '/dev/null'}).maxConcurrentRuns).toBeGreaterThanOrEqual(1)
    for (const bad of ['0', '-1', '2.5', 'many'])
      expect(() => loadConfig({env: {...envNone, SANDBOX_MAX_CONCURRENT_RUNS: bad}, envFile: '/dev/null'}), bad).toThrow(/SANDBOX_MAX_CONCURRENT_RUNS/)
  })

  it('the launch travels to the manager process as JSON and back', () => {
    const launch = launchFromStart(flags({port: 9426}), {...envNone, SANDBOX_TIMEOUT: '30s'}, undefined)
    expect(parseLaunch(JSON.stringify(launch))).toEqual(launch)
    expect(parseLaunch('{"flags": {"a": 1}}')).toBeUndefined()
    expect(parseLaunch('nope')).toBeUndefined()
    expect(parseLaunch(undefined)).toBeUndefined()
  })
})

describe('POST /run policy field', () => {
  it("absent or null: the manager's policy; a level name: passed on; anything else: 422", () => {
    expect(parseRunRequest(body({code_b64: b64('x')})).policy).toBeUndefined()
    expect(parseRunRequest(body({code_b64: b64('x'), policy: null})).policy).toBeUndefined()
    for (const level of ['off', 'on', 'ragflow', 'standard']) expect(parseRunRequest(body({code_b64: b64('x'), policy: level})).policy).toBe(level)
    for (const bad of ['OFF', 'none', '', 0, false, {}, 'toString', '__proto__']) rejects(body({code_b64: b64('x'), policy: bad}), 422, /policy must be one of/)
  })
})
