import {describe, expect, it} from 'vitest'

import {classify, type ClassifyInput} from '../../src/engine/classify.js'
import {frameLimits} from '../../src/engine/frame.js'
import {OutputCollector, type OutputCollectorOptions} from '../../src/engine/output.js'
import {encodeResultMarker, EXIT, extractResultMarker, RESULT_MARKER} from '../../src/engine/result.js'
import {CLASSIFY_BASE} from '../helpers/classify.js'

const frame = (nonce: string, control: object) => `__SANDBOX_CONTROL_${nonce}__:${Buffer.from(JSON.stringify(control)).toString('base64')}\n`
const end = (nonce: string) => `__SANDBOX_END_${nonce}__\n`
const okFrame = (value: unknown = null) => ({ok: true, result: {present: true, value, type: 'json'}, error: null, error_type: null, exit_code: 0, artifacts: [], notes: []})
const collector = (nonce: string, maxOutputBytes: number, extra: Partial<OutputCollectorOptions> = {}) =>
  new OutputCollector({nonce, maxOutputBytes, limits: frameLimits(), ...extra})
const control = (c: OutputCollector) => {
  const f = c.finish().frame
  return f?.kind === 'ok' ? f.frame : undefined
}

describe('OutputCollector', () => {
  it('separates user output from the control frame, even when split across chunks', () => {
    const c = collector('n1', 1000)
    const stream = Buffer.from('hello\nworld\n' + frame('n1', okFrame(1)))
    for (let i = 0; i < stream.length; i += 3) c.stdout(stream.subarray(i, i + 3))
    c.stderr(Buffer.from('warn\n' + end('n1')))
    const out = c.finish()
    expect(out.stdout).toBe('hello\nworld\n')
    expect(out.stderr).toBe('warn\n')
    expect(out.frame).toMatchObject({kind: 'ok', frame: {ok: true, result: {value: 1}}})
  })

  it('is complete only when both the stderr end frame and the control frame arrived', async () => {
    const c = collector('n', 1000)
    let done = false
    void c.complete.then(() => (done = true))
    c.stdout(Buffer.from(frame('n', {ok: true, result: null, error: null, artifacts: [], notes: []})))
    await Promise.resolve()
    expect(done).toBe(false)
    c.stderr(Buffer.from('late stderr' + end('n')))
    await c.complete
    expect(c.finish().stderr).toBe('late stderr')
  })

  it('keeps output without a trailing newline intact', () => {
    const c = collector('n', 1000)
    c.stdout(Buffer.from('no newline' + frame('n', {ok: true, result: null, error: null, artifacts: [], notes: []})))
    expect(c.finish().stdout).toBe('no newline')
  })

  it('two frames with the nonce (program code that found it wrote one first): the first decides, however the output was chunked', () => {
    const stdout = Buffer.from('out\n' + frame('n', okFrame('forged')) + frame('n', okFrame('real')))
    const stderr = Buffer.from(end('n') + 'between\n' + end('n'))
    const results = [1, 2, 7, stdout.length].map((size) => {
      const c = collector('n', 1000)
      for (let i = 0; i < Math.max(stdout.length, stderr.length); i += size) {
        if (i < stdout.length) c.stdout(stdout.subarray(i, i + size))
        if (i < stderr.length) c.stderr(stderr.subarray(i, i + size))
      }
      return control(c)?.result
    })
    expect(results).toEqual(Array(4).fill({present: true, value: 'forged', type: 'json'}))
  })

  it('ignores a control frame with a different nonce (forged by user code)', () => {
    const c = collector('real', 1000)
    c.stdout(Buffer.from(frame('fake', okFrame('forged'))))
    const out = c.finish()
    expect(out.frame).toBeUndefined()
    expect(out.stdout).toContain('__SANDBOX_CONTROL_fake__')
  })

  it('caps user output across stdout and stderr and reports the overflow once', () => {
    let overflows = 0
    const c = collector('n', 10, {onLimit: () => overflows++})
    c.stdout(Buffer.from('0123456'))
    c.stderr(Buffer.from('789abcdef'))
    c.stdout(Buffer.from('more'))
    const out = c.finish()
    expect(out.stdout + out.stderr).toHaveLength(10)
    expect(c.limit).toMatchObject({cap: 'output', detail: 'Output limit exceeded: more than 10 bytes of stdout and stderr'})
    expect(overflows).toBe(1)
  })

  it('does not count the control frame against the output cap', () => {
    const c = collector('n', 5)
    c.stdout(Buffer.from('hi\n' + frame('n', okFrame('x'.repeat(5000)))))
    expect(c.limit).toBeUndefined()
    expect((control(c)?.result?.value as string).length).toBe(5000)
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
  const base: ClassifyInput = CLASSIFY_BASE
  const ok = {
    ok: true,
    result: {present: true, value: 42, type: 'json' as const},
    error: null,
    error_type: null,
    exit_code: 0,
    artifacts: [{name: 'c.png', size: 3, content_b64: 'AAAA'}],
    notes: [],
  }

  it('success carries the result, artifacts with MIME types, and the time and memory measured by the host', () => {
    const r = classify({...base, control: ok})
    expect(r).toMatchObject({status: 'success', exit_code: 0, time_used_ms: 12, memory_used_kb: 9000, result: {value: 42}})
    expect(r.artifacts[0]).toEqual({name: 'c.png', mime_type: 'image/png', size: 3, content_b64: 'AAAA'})
  })

  it('timeout → -124 time', () => {
    const r = classify({...base, timedOut: true, exitCode: 137})
    expect(r).toMatchObject({status: 'resource_limit_exceeded', exit_code: EXIT.TIMEOUT, resource_limit_type: 'time'})
    expect(r.stderr).toContain('Execution timeout')
  })

  it('OOM → -137 memory; memory is the measured peak, or the limit when the cgroup could not be read', () => {
    const r = classify({...base, oomKilled: true, exitCode: 137})
    expect(r).toMatchObject({status: 'resource_limit_exceeded', exit_code: EXIT.OUT_OF_MEMORY, resource_limit_type: 'memory', memory_used_kb: 9000})
    expect(classify({...base, oomKilled: true, exitCode: 137, memoryKb: null}).memory_used_kb).toBe(262_144)
  })

  it('output flood → output limit', () => {
    const r = classify({...base, outputOverflow: true, exitCode: 137})
    expect(r).toMatchObject({status: 'resource_limit_exceeded', resource_limit_type: 'output', exit_code: EXIT.OUTPUT_LIMIT})
  })

  it('an exception in main → program_error with the real exit code', () => {
    const r = classify({
      ...base,
      exitCode: 1,
      stderr: 'Traceback...\nZeroDivisionError: division by zero\n',
      control: {...ok, ok: false, result: null, artifacts: [], error: 'ZeroDivisionError: division by zero', error_type: 'ZeroDivisionError', exit_code: 1},
    })
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

describe('OutputCollector: frames anywhere, streaming, caps', () => {
  it('finds a frame that starts mid-line and a prefix split across chunks; the held-back tail is the user’s when no frame follows', () => {
    const c = collector('abc', 1000)
    const stream = Buffer.from('partial line' + frame('abc', okFrame(7)))
    // split inside the prefix
    c.stdout(stream.subarray(0, 20))
    c.stdout(stream.subarray(20))
    expect(c.finish().stdout).toBe('partial line')
    expect(control(collector('abc', 1000))).toBeUndefined()
    const d = collector('abc', 1000)
    d.stdout(Buffer.from('ends with __SANDBOX_CON'))
    expect(d.finish().stdout).toBe('ends with __SANDBOX_CON')
  })

  it('passes only the user’s bytes to onOutput, in order, never frame bytes', () => {
    const seen: Array<[string, string]> = []
    const c = collector('n', 1000, {onOutput: (s, b) => seen.push([s, b.toString()])})
    const stream = Buffer.from('a\nb' + frame('n', okFrame({secret: 'frame-bytes'})))
    for (let i = 0; i < stream.length; i += 5) c.stdout(stream.subarray(i, i + 5))
    c.stderr(Buffer.from('err' + end('n')))
    const out = c.finish()
    const streamed = (s: string) =>
      seen
        .filter(([k]) => k === s)
        .map(([, v]) => v)
        .join('')
    expect(streamed('stdout')).toBe('a\nb')
    expect(streamed('stderr')).toBe('err')
    expect(streamed('stdout')).toBe(out.stdout)
    expect(seen.some(([, v]) => v.includes('SANDBOX') || v.includes(Buffer.from('frame').toString('base64').slice(0, 4)))).toBe(false)
  })

  it('streams nothing past the output cap and ignores what comes after finish', () => {
    let streamed = 0
    const c = collector('n', 8, {onOutput: (_, b) => (streamed += b.length)})
    c.stdout(Buffer.from('0123456789'))
    expect(streamed).toBe(8)
    c.finish()
    c.stdout(Buffer.from('late'))
    expect(streamed).toBe(8)
  })

  it('stops at the frame cap (a frame that never ends, or many frames adding up) and reports which cap', () => {
    const limits = frameLimits(1024)
    let hits = 0
    const c = new OutputCollector({nonce: 'n', maxOutputBytes: 1000, limits, onLimit: () => hits++})
    c.stdout(Buffer.from('__SANDBOX_CONTROL_n__:'))
    for (let i = 0; i < 2000 && !c.limit; i++) c.stdout(Buffer.alloc(64 * 1024, 'A'))
    expect(c.limit?.cap).toBe('frame')
    expect(c.limit?.detail).toMatch(/^Output limit exceeded: the runner's report is over the \d+-byte frame limit$/)
    expect(hits).toBe(1)
    expect(c.finish().frame).toBeUndefined()
    const many = new OutputCollector({nonce: 'n', maxOutputBytes: 1000, limits})
    // each frame is valid and under the cap; together they are not
    const one = Buffer.from(frame('n', {...okFrame(null), artifacts: [{name: 'a.csv', size: 4 << 20, content_b64: Buffer.alloc(4 << 20).toString('base64')}]}))
    for (let i = 0; i < 100 && !many.limit; i++) many.stdout(one)
    expect(many.limit?.cap).toBe('frame')
  })

  it('the first complete frame decides; a frame of the wrong shape is malformed, not an error', () => {
    const c = collector('n', 1000)
    c.stdout(Buffer.from(frame('n', okFrame('first')) + frame('n', okFrame('second'))))
    expect(control(c)?.result?.value).toBe('first')
    const bad = collector('n', 1000)
    bad.stdout(Buffer.from(frame('n', {ok: true, result: 'a string', error: null, artifacts: [], notes: [], time_used_ms: 'soon', memory_used_kb: {}})))
    expect(bad.finish().frame).toMatchObject({kind: 'malformed'})
    const notBase64 = collector('n', 1000)
    notBase64.stdout(Buffer.from('__SANDBOX_CONTROL_n__:!!!not base64!!!\n'))
    expect(notBase64.finish().frame).toEqual({kind: 'malformed', reason: 'the frame is not base64'})
    const notJson = collector('n', 1000)
    notJson.stdout(Buffer.from(`__SANDBOX_CONTROL_n__:${Buffer.from('{"ok": tru').toString('base64')}\n`))
    expect(notJson.finish().frame).toEqual({kind: 'malformed', reason: 'the frame is not JSON'})
  })
})

describe('FrameDecoder', () => {
  it('decodes base64 split at any point, padding included', async () => {
    const {FrameDecoder} = await import('../../src/engine/frame.js')
    for (const text of ['a', 'ab', 'abc', 'abcd', 'hello world, ü 漢字']) {
      const b64 = Buffer.from(text).toString('base64')
      for (let cut = 0; cut <= b64.length; cut++) {
        const d = new FrameDecoder()
        d.push(Buffer.from(b64.slice(0, cut)))
        d.push(Buffer.from(b64.slice(cut)))
        expect(d.finish()?.toString(), `${text} cut at ${cut}`).toBe(text)
      }
    }
  })

  it('refuses characters outside base64, padding in the middle, and a truncated group', async () => {
    const {FrameDecoder} = await import('../../src/engine/frame.js')
    const decode = (...parts: string[]) => {
      const d = new FrameDecoder()
      for (const p of parts) d.push(Buffer.from(p))
      return d.finish()
    }
    expect(decode('QUJD', 'R*==')).toBeUndefined()
    expect(decode('QQ==', 'QUJD')).toBeUndefined()
    expect(decode('QQ=A')).toBeUndefined()
    expect(decode('QUJ')).toBeUndefined()
    expect(decode('QUJD\r')).toBeUndefined()
    expect(decode('')?.length).toBe(0)
  })
})

describe('checkControlFrame: every field of every frame', () => {
  const limits = frameLimits(1000)
  const valid = {
    ok: true,
    result: {present: true, value: {a: [1, 'x']}, type: 'json'},
    error: null,
    error_type: null,
    exit_code: 0,
    artifacts: [{name: 'a.csv', size: 3, content_b64: 'YSxi'}],
    notes: ['n'],
  }
  const check = async (over: Record<string, unknown>, drop: string[] = []) => {
    const {checkControlFrame} = await import('../../src/engine/frame.js')
    const raw: Record<string, unknown> = {...valid, ...over}
    for (const k of drop) delete raw[k]
    return checkControlFrame(raw, limits)
  }

  it('accepts the runners’ shape: every field, error_type and exit_code included', async () => {
    expect(await check({})).toMatchObject({kind: 'ok', frame: {ok: true, result: {value: {a: [1, 'x']}}, error_type: null, exit_code: 0}})
    expect(await check({ok: false, result: null, error: 'e'.repeat(4000), error_type: `${'N'.repeat(100)}:${'E'.repeat(64)}`, exit_code: 255, artifacts: []})).toMatchObject({
      kind: 'ok',
    })
    expect(await check({ok: false, result: null, error: 'ValueError: x', error_type: 'ValueError', exit_code: 1, artifacts: []})).toMatchObject({kind: 'ok'})
    expect(await check({result: {present: false, value: null, type: 'json'}})).toMatchObject({kind: 'ok'})
  })

  it('a result nested deeper than the host can serialise again is an output limit, not an internal error', async () => {
    const {checkControlFrame, MAX_RESULT_DEPTH} = await import('../../src/engine/frame.js')
    const nest = (depth: number, wrap: (x: unknown) => unknown) => {
      let x: unknown = 1
      for (let i = 0; i < depth; i++) x = wrap(x)
      return x
    }
    const frame = (value: unknown) => ({...valid, artifacts: [], result: {present: true, value, type: 'json'}})
    const big = frameLimits(1024 * 1024)
    // 5,000 nested lists: JSON.stringify on the host overflowed its stack (the guest's Node wrote them)
    for (const wrap of [(x: unknown) => [x], (x: unknown) => ({aB: x}), (x: unknown) => [0, {k: [x]}]]) {
      const deep = checkControlFrame(JSON.parse(JSON.stringify(frame(nest(MAX_RESULT_DEPTH, wrap)))), big)
      expect(deep.kind === 'ok' || deep.kind === 'limit').toBe(true)
      const raw = Buffer.from(
        `{"ok":true,"result":{"present":true,"value":${'['.repeat(5000)}${']'.repeat(5000)},"type":"json"},"error":null,"error_type":null,"exit_code":0,"artifacts":[],"notes":[]}`,
      )
      const {parseControlFrame} = await import('../../src/engine/frame.js')
      expect(parseControlFrame(raw, big)).toMatchObject({kind: 'limit', detail: expect.stringContaining(`nested deeper than ${MAX_RESULT_DEPTH} levels`)})
    }
    expect(checkControlFrame(frame(nest(MAX_RESULT_DEPTH - 1, (x) => [x])), big).kind).toBe('ok')
    // the result marker on stdout is held to the same bound: too deep, it is not a result
    const marker = `${RESULT_MARKER}${Buffer.from(`{"present":true,"value":${'['.repeat(5000)}${']'.repeat(5000)},"type":"json"}`).toString('base64')}`
    expect(extractResultMarker(`${marker}\n`).result).toBeUndefined()
  })

  it.each([
    ['not an object', null],
    ['a list', []],
  ])('refuses a frame that is %s', async (_, raw) => {
    const {checkControlFrame} = await import('../../src/engine/frame.js')
    expect(checkControlFrame(raw, limits).kind).toBe('malformed')
  })

  it.each<[string, Record<string, unknown>, string[]?]>([
    ['a guest-reported time', {time_used_ms: 'soon'}],
    ['a guest-reported memory', {memory_used_kb: {}}],
    ['an unknown field', {extra: 1}],
    ['ok that is not a boolean', {ok: 'yes'}],
    ['a missing ok', {}, ['ok']],
    ['a missing notes', {}, ['notes']],
    ['a missing error_type', {}, ['error_type']],
    ['a missing exit_code', {}, ['exit_code']],
    ['a result that is a string', {result: 'forged'}],
    ['a result with extra keys', {result: {present: true, value: 1, type: 'json', more: 1}}],
    ['a result of another type', {result: {present: true, value: 1, type: 'pickle'}}],
    ['result.present not a boolean', {result: {present: 1, value: 1, type: 'json'}}],
    ['an error that is an object', {error: {msg: 'x'}}],
    ['an endless error', {error: 'e'.repeat(4001)}],
    ['an error_type that is a number', {error_type: 3}],
    ['an endless error_type', {error_type: 'E'.repeat(166)}],
    ['exit_code 256', {exit_code: 256}],
    ['exit_code -1', {exit_code: -1}],
    ['exit_code 1.5', {exit_code: 1.5}],
    ['exit_code "0"', {exit_code: '0'}],
    ['notes that are not a list', {notes: 'n'}],
    ['a note that is a number', {notes: [1]}],
    ['an endless note', {notes: ['n'.repeat(1025)]}],
    ['too many notes', {notes: Array.from({length: 65}, () => 'n')}],
    ['artifacts that are not a list', {artifacts: {}}],
    ['an artifact with extra keys', {artifacts: [{name: 'a.csv', size: 1, content_b64: 'YQ==', mime_type: 'x'}]}],
    ['an artifact size that is a string', {artifacts: [{name: 'a.csv', size: '1', content_b64: 'YQ=='}]}],
    ['an artifact content that is not base64', {artifacts: [{name: 'a.csv', size: 1, content_b64: 'Y?=='}]}],
    ['an artifact name that is not a string', {artifacts: [{name: 5, size: 1, content_b64: 'YQ=='}]}],
  ])('refuses %s as malformed', async (_, over, drop) => {
    const r = await check(over, drop)
    expect(r.kind).toBe('malformed')
  })

  it('over a cap is a limit that names the cap', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024 + 1).toString('base64')
    expect(await check({result: {present: true, value: 'x'.repeat(1000), type: 'json'}})).toEqual({
      kind: 'limit',
      detail: 'main() returned 1002 bytes, over the 1000-byte result limit (SANDBOX_MAX_RESULT_BYTES)',
    })
    expect(await check({artifacts: Array.from({length: 11}, (_, i) => ({name: `f${i}.csv`, size: 1, content_b64: 'YQ=='}))})).toMatchObject({
      kind: 'limit',
      detail: expect.stringMatching(/11 artifacts, over the limit of 10/),
    })
    expect(await check({artifacts: [{name: 'a.csv', size: 1, content_b64: big}]})).toMatchObject({kind: 'limit', detail: expect.stringMatching(/per artifact/)})
    const nine = Buffer.alloc(9 * 1024 * 1024).toString('base64')
    expect(
      await check({
        artifacts: [
          {name: 'a.csv', size: 1, content_b64: nine},
          {name: 'b.csv', size: 1, content_b64: nine},
        ],
      }),
    ).toMatchObject({kind: 'limit', detail: expect.stringMatching(/total limit/)})
  })

  it('the frame cap leaves room for the largest honest frame and stays far below the old 200 MB', async () => {
    const {maxFrameBytes, ARTIFACT_CAPS} = await import('../../src/engine/frame.js')
    const l = frameLimits()
    const honest = Math.ceil((l.maxResultBytes + (ARTIFACT_CAPS.totalBytes * 4) / 3 + 64 * 1024) / 3) * 4
    expect(maxFrameBytes(l)).toBeGreaterThan(honest)
    expect(maxFrameBytes(l)).toBeLessThan(64 * 1024 * 1024)
  })
})

describe('memory from the cgroup', () => {
  it('reads the container’s peak from its v1 or v2 cgroup file, null when none exists', async () => {
    const {mkdtempSync, mkdirSync, writeFileSync} = await import('node:fs')
    const {tmpdir} = await import('node:os')
    const {join} = await import('node:path')
    const {readPeakMemoryKb} = await import('../../src/docker/containers.js')
    const root = mkdtempSync(join(tmpdir(), 'cgroup-'))
    const v1 = 'a'.repeat(64)
    const v2 = 'b'.repeat(64)
    mkdirSync(join(root, 'memory', 'docker', v1), {recursive: true})
    writeFileSync(join(root, 'memory', 'docker', v1, 'memory.max_usage_in_bytes'), '20971520\n')
    mkdirSync(join(root, 'system.slice', `docker-${v2}.scope`), {recursive: true})
    writeFileSync(join(root, 'system.slice', `docker-${v2}.scope`, 'memory.peak'), '1048576\n')
    expect(readPeakMemoryKb(v1, root)).toBe(20_480)
    expect(readPeakMemoryKb(v2, root)).toBe(1024)
    expect(readPeakMemoryKb('c'.repeat(64), root)).toBeNull()
    expect(readPeakMemoryKb('../../etc', root)).toBeNull()
  })
})

describe('SANDBOX_MAX_RESULT_BYTES', () => {
  it('defaults to 4 MiB, takes bytes or a size, refuses anything else', async () => {
    const {loadConfig} = await import('../../src/config.js')
    const load = (v?: string) => loadConfig({env: v === undefined ? {} : {SANDBOX_MAX_RESULT_BYTES: v}, envFile: undefined}).maxResultBytes
    expect(load()).toBe(4 * 1024 * 1024)
    expect(load('1000')).toBe(1000)
    expect(load('512k')).toBe(512 * 1024)
    expect(load('16m')).toBe(16 * 1024 * 1024)
    for (const bad of ['0', '-1', '1.5m', 'lots', '65m', '1t']) {
      expect(() => load(bad), bad).toThrow(/Invalid SANDBOX_MAX_RESULT_BYTES/)
    }
  })
})

describe('runner containers and Docker’s log store', () => {
  it('every runner container uses the none log driver', async () => {
    const {hardenedHostConfig} = await import('../../src/docker/containers.js')
    const spec = {image: 'i', cmd: ['python3'], language: 'python', owner: 'o', runtime: 'runsc' as const, memoryBytes: 256 << 20}
    expect(hardenedHostConfig(spec).LogConfig).toEqual({Type: 'none', Config: {}})
    expect(hardenedHostConfig({...spec, runtime: 'runc', autoRemove: true}).LogConfig?.Type).toBe('none')
  })
})
