import {describe, expect, it} from 'vitest'

import {classify, type ClassifyInput} from '../../src/engine/classify.js'
import {OutputCollector} from '../../src/engine/output.js'
import {encodeResultMarker, EXIT, extractResultMarker, RESULT_MARKER} from '../../src/engine/result.js'

const frame = (nonce: string, control: object) =>
  `\n__SANDBOX_CONTROL_${nonce}__:${Buffer.from(JSON.stringify(control)).toString('base64')}\n`
const end = (nonce: string) => `\n__SANDBOX_END_${nonce}__\n`

describe('OutputCollector', () => {
  it('separates user output from the control frame, even when split across chunks', () => {
    const c = new OutputCollector('n1', 1000, 10_000)
    const stream = Buffer.from('hello\nworld\n' + frame('n1', {ok: true, result: {present: true, value: 1, type: 'json'}, artifacts: [], notes: []}))
    for (let i = 0; i < stream.length; i += 3) c.stdout(stream.subarray(i, i + 3))
    c.stderr(Buffer.from('warn\n' + end('n1')))
    const out = c.finish()
    expect(out.stdout).toBe('hello\nworld\n')
    expect(out.stderr).toBe('warn\n')
    expect(out.control?.ok).toBe(true)
    expect(out.control?.result?.value).toBe(1)
  })

  it('is complete only when both the stderr end frame and the control frame arrived', async () => {
    const c = new OutputCollector('n', 1000, 10_000)
    let done = false
    void c.complete.then(() => (done = true))
    c.stdout(Buffer.from(frame('n', {ok: true, result: null, artifacts: [], notes: []})))
    await Promise.resolve()
    expect(done).toBe(false)
    c.stderr(Buffer.from('late stderr' + end('n')))
    await c.complete
    expect(c.finish().stderr).toBe('late stderr')
  })

  it('keeps output without a trailing newline intact', () => {
    const c = new OutputCollector('n', 1000, 10_000)
    c.stdout(Buffer.from('no newline' + frame('n', {ok: true, result: null, artifacts: [], notes: []})))
    expect(c.finish().stdout).toBe('no newline')
  })

  it('ignores a control frame with a different nonce (forged by user code)', () => {
    const c = new OutputCollector('real', 1000, 10_000)
    c.stdout(Buffer.from(frame('fake', {ok: true, result: {present: true, value: 'forged', type: 'json'}, artifacts: [], notes: []}).slice(1)))
    const out = c.finish()
    expect(out.control).toBeUndefined()
    expect(out.stdout).toContain('__SANDBOX_CONTROL_fake__')
  })

  it('caps user output across stdout and stderr and reports the overflow once', () => {
    let overflows = 0
    const c = new OutputCollector('n', 10, 10_000, () => overflows++)
    c.stdout(Buffer.from('0123456'))
    c.stderr(Buffer.from('789abcdef'))
    c.stdout(Buffer.from('more'))
    const out = c.finish()
    expect(out.stdout + out.stderr).toHaveLength(10)
    expect(c.overflowed).toBe(true)
    expect(overflows).toBe(1)
  })

  it('does not count the control frame against the output cap', () => {
    const c = new OutputCollector('n', 5, 1_000_000)
    c.stdout(Buffer.from('hi\n' + frame('n', {ok: true, result: {present: true, value: 'x'.repeat(5000), type: 'json'}, artifacts: [], notes: []})))
    const out = c.finish()
    expect(c.overflowed).toBe(false)
    expect((out.control?.result?.value as string).length).toBe(5000)
  })
})

describe('result marker', () => {
  it('removes valid markers, the last one wins, undecodable ones stay', () => {
    const text = `a\n${encodeResultMarker(1)}\nb\n${RESULT_MARKER}!!notbase64\n${encodeResultMarker({x: 2})}\n`
    const {stdout, result} = extractResultMarker(text)
    expect(result).toEqual({present: true, value: {x: 2}, type: 'json'})
    expect(stdout).toBe(`a\nb\n${RESULT_MARKER}!!notbase64\n`)
  })

  it('leaves stdout without markers untouched', () => {
    expect(extractResultMarker('plain')).toEqual({stdout: 'plain', result: undefined})
  })
})

describe('classify', () => {
  const base: ClassifyInput = {
    stdout: '',
    stderr: '',
    control: undefined,
    markerResult: undefined,
    exitCode: 0,
    oomKilled: false,
    timedOut: false,
    outputOverflow: false,
    wallMs: 12,
    timeoutSeconds: 10,
    memoryBytes: 256 * 1024 * 1024,
    maxOutputBytes: 1024,
  }
  const ok = {ok: true, result: {present: true, value: 42, type: 'json' as const}, error: null, error_type: null, artifacts: [{name: 'c.png', size: 3, content_b64: 'AAAA'}], notes: [], time_used_ms: 1.5, memory_used_kb: 9000}

  it('success carries the result, artifacts with MIME types, and the runner-measured time', () => {
    const r = classify({...base, control: ok})
    expect(r).toMatchObject({status: 'success', exit_code: 0, time_used_ms: 1.5, memory_used_kb: 9000, result: {value: 42}})
    expect(r.artifacts[0]).toEqual({name: 'c.png', mime_type: 'image/png', size: 3, content_b64: 'AAAA'})
  })

  it('timeout → -124 time', () => {
    const r = classify({...base, timedOut: true, exitCode: 137})
    expect(r).toMatchObject({status: 'resource_limit_exceeded', exit_code: EXIT.TIMEOUT, resource_limit_type: 'time'})
    expect(r.stderr).toContain('Execution timeout')
  })

  it('OOM → -137 memory', () => {
    const r = classify({...base, oomKilled: true, exitCode: 137})
    expect(r).toMatchObject({status: 'resource_limit_exceeded', exit_code: EXIT.OUT_OF_MEMORY, resource_limit_type: 'memory', memory_used_kb: 262_144})
  })

  it('output flood → output limit', () => {
    const r = classify({...base, outputOverflow: true, exitCode: 137})
    expect(r).toMatchObject({status: 'resource_limit_exceeded', resource_limit_type: 'output', exit_code: EXIT.OUTPUT_LIMIT})
  })

  it('an exception in main → program_error with the real exit code', () => {
    const r = classify({...base, exitCode: 1, stderr: 'Traceback...\nZeroDivisionError: division by zero\n', control: {...ok, ok: false, result: null, artifacts: [], error: 'ZeroDivisionError: division by zero'}})
    expect(r).toMatchObject({status: 'program_error', exit_code: 1, runtime_error_type: 'nonzero_exit', detail: 'ZeroDivisionError: division by zero'})
  })

  it('RAGFlow stderr mappings, for a run that failed without a runner record: MemoryError, Permission denied, Operation not permitted, network', () => {
    const fail = (stderr: string) => classify({...base, exitCode: 1, stderr, control: undefined})
    expect(fail('MemoryError\n')).toMatchObject({status: 'resource_limit_exceeded', resource_limit_type: 'memory'})
    expect(fail("PermissionError: [Errno 13] Permission denied: '/etc/shadow'")).toMatchObject({status: 'unauthorized_access', unauthorized_access_type: 'file_access'})
    expect(fail('PermissionError: [Errno 1] Operation not permitted')).toMatchObject({status: 'unauthorized_access', unauthorized_access_type: 'disallowed_syscall'})
    expect(fail('OSError: [Errno 101] Network is unreachable')).toMatchObject({status: 'unauthorized_access', unauthorized_access_type: 'network_access'})
  })

  it('a runner that vanished with a signal → runtime_error signalled', () => {
    expect(classify({...base, exitCode: 139})).toMatchObject({status: 'runtime_error', runtime_error_type: 'signalled', exit_code: 139})
  })
})

describe('artifacts reported by a runner are checked on the host', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64')
  it('refuses traversal, separators, hidden names, wrong types, lying sizes; keeps at most 10', async () => {
    const {checkArtifacts} = await import('../../src/engine/classify.js')
    const good = Array.from({length: 12}, (_, i) => ({name: `f${i}.csv`, size: 1, content_b64: b64('x')}))
    const {artifacts, rejected} = checkArtifacts([
      {name: '../../../../tmp/evil.png', size: 1, content_b64: b64('x')},
      {name: 'a/b.png', size: 1, content_b64: b64('x')},
      {name: '.hidden.png', size: 1, content_b64: b64('x')},
      {name: 'run.exe', size: 1, content_b64: b64('x')},
      {name: 'liar.png', size: 99, content_b64: b64('x')},
      ...good,
    ])
    expect(artifacts.map((a) => a.name)).toEqual(good.slice(0, 10).map((g) => g.name))
    expect(artifacts[0].mime_type).toBe('text/csv')
    expect(rejected).toHaveLength(7)
    expect(checkArtifacts('not a list').artifacts).toEqual([])
  })
})
