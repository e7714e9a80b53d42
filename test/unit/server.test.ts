import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {settingsFromFlags} from '../../src/commands/start.js'
import {loadConfig} from '../../src/config.js'
import {emptyResult} from '../../src/engine/result.js'
import {checkBearer, exposureWarnings, isLoopbackHost} from '../../src/server/auth.js'
import {tailFile} from '../../src/server/control.js'
import {createLogger, formatLogLine} from '../../src/server/logger.js'
import {histogramQuantile, Metrics, parseMetrics, sumMetric} from '../../src/server/metrics.js'
import {decodeStrictBase64, LIMITS, parseRunRequest, RequestError} from '../../src/server/request.js'
import {acquirePidFile, clientEndpoint, managerFiles, recordedManager, writeState} from '../../src/server/state.js'

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
    const h = rejects(body({code_b64: b64('x'), language: hostile}), 422, /^Unsupported language "ruby\\"\[31mFAKE LOG LINEx+…": use python or nodejs/)
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
    const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31)
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
    healthy: true,
    reason: null,
    pools: [{language: 'python', size: 2, ready: 1, busy: 1, creating: 1, waiting: 3, created: 7, failures: 0, lastError: null}],
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
    const settings = settingsFromFlags({host: '0.0.0.0', port: 9400, 'pool-size': 3, timeout: '1m30s', memory: '512m', 'env-file': 'x.env', 'allow-runc': true, policy: 'off', wait: 90, docker: false, verbose: true})
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
    expect(settingsFromFlags({'allow-runc': false, wait: 90, docker: false, verbose: false})).toEqual({})
  })
})
