/**
 * SANDBOX_RESULT_IN_STDOUT's formatting: what RAGFlow's old Python runner printed
 * (print(result): Python's str() of the value) checked against this host's python3 printing the
 * same value, and RAGFlow's old stdout reading (strip, json.loads, else ast.literal_eval, else
 * the text) getting the value back; the manager adds the line only when the setting is on.
 */
import {spawnSync} from 'node:child_process'
import {request} from 'node:http'

import {describe, expect, it} from 'vitest'

import type {EngineStatus} from '../../src/engine/engine.js'
import type {RunRequest} from '../../src/run/request.js'
import {emptyResult, type RunResult} from '../../src/engine/result.js'
import {createManagerServer} from '../../src/server/http.js'
import {legacyResultText, pythonRepr, withResultInStdout} from '../../src/server/legacy-stdout.js'
import {createLogger} from '../../src/server/logger.js'
import {ragflowParse} from '../helpers/ragflow-stdout.js'

const VALUES: unknown[] = [
  {a: 1},
  {name: "O'Brien", quote: 'say "hi"', both: `it's "x"`, tab: 'a\tb\n', back: 'c:\\x', uni: 'héllo 世界', ctl: '\u0001\u007f'},
  // a number JSON cannot hold exactly is part of what is rendered
  // eslint-disable-next-line no-loss-of-precision
  [1, -2.5, 0.1, 1e-7, 1.5e300, 12345678901234567890, true, false, null, [], {}],
  {nested: {list: [{k: [null, true]}], empty: ''}, n: 3},
  'plain text',
  42,
  true,
]

describe('legacy stdout: Python print(result)', () => {
  it("formats a JSON value exactly as this host's python3 prints it", () => {
    for (const value of VALUES) {
      const r = spawnSync('python3', ['-c', 'import json, sys; print(json.loads(sys.stdin.read()))'], {input: JSON.stringify(value), encoding: 'utf8'})
      expect(r.status).toBe(0)
      expect(`${legacyResultText('python', value)}\n`).toBe(r.stdout)
    }
  })

  it('RAGFlow\'s old stdout parsing gets {"a": 1} (and dicts, lists) back', () => {
    expect(pythonRepr({a: 1})).toBe("{'a': 1}")
    expect(ragflowParse(`${legacyResultText('python', {a: 1})}\n`)).toEqual({a: 1})
    for (const value of VALUES.slice(0, 4)) expect(ragflowParse(`${legacyResultText('python', value)}\n`)).toEqual(value)
  })

  it('None prints nothing; Node prints console.log of the value, null nothing', () => {
    expect(legacyResultText('python', null)).toBeUndefined()
    expect(legacyResultText('nodejs', null)).toBeUndefined()
    expect(legacyResultText('nodejs', {a: 1})).toBe('{ a: 1 }')
    expect(legacyResultText('nodejs', 'text')).toBe('text')
    expect(legacyResultText('nodejs', [1, 'x'])).toBe("[ 1, 'x' ]")
  })

  it('appends a line to successful runs with a result only', () => {
    const ok = emptyResult({stdout: 'partial', result: {present: true, value: {a: 1}, type: 'json'}})
    expect(withResultInStdout('python', ok).stdout).toBe("partial\n{'a': 1}\n")
    const failed = emptyResult({status: 'program_error', exit_code: 1, stdout: 'x\n', result: null})
    expect(withResultInStdout('python', failed)).toBe(failed)
    const none = emptyResult({stdout: '', result: {present: true, value: null, type: 'json'}})
    expect(withResultInStdout('python', none).stdout).toBe('')
  })
})

class Engine {
  async run(req: RunRequest): Promise<RunResult> {
    return emptyResult({stdout: '', result: {present: true, value: req.arguments ?? null, type: 'json'}})
  }

  status(): EngineStatus {
    return {runtime: 'runsc', backend: 'runsc', healthy: true, reason: null, pools: [], admission: {limit: 4, live: 0, evictions: 0, executing: 0, queued: 0, rejected: 0}}
  }
}

function post(port: number, body: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request({host: '127.0.0.1', port, method: 'POST', path: '/run', headers: {'content-type': 'application/json'}}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>))
    })
    req.on('error', reject)
    req.end(JSON.stringify(body))
  })
}

describe('the manager: SANDBOX_RESULT_IN_STDOUT', () => {
  for (const on of [false, true]) {
    it(`${on ? 'on' : 'off (the default)'}: stdout ${on ? 'ends with' : 'does not carry'} the result; result stays as it is`, async () => {
      const server = createManagerServer({engine: new Engine(), logger: createLogger({write: () => {}}), ...(on ? {resultInStdout: true} : {})})
      const {port} = await server.listen('127.0.0.1', 0)
      try {
        const answer = await post(port, {code_b64: Buffer.from('def main(a): return {"a": a}').toString('base64'), language: 'python', arguments: {a: 1}})
        expect(answer.result).toEqual({present: true, value: {a: 1}, type: 'json'})
        expect(answer.stdout).toBe(on ? "{'a': 1}\n" : '')
      } finally {
        await server.close()
      }
    })
  }
})
