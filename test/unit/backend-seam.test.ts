/**
 * The Runner / RunnerBackend seam: the engine runs on a backend that is not Docker (a
 * test-only one running the real runner as a plain process), for a language that exists
 * only as a descriptor (TypeScript) — no change to the engine for either.
 */
import {describe, expect, it} from 'vitest'

import {loadBackend, BACKEND_IDS} from '../../src/backends/index.js'
import {loadConfig} from '../../src/config.js'
import {Engine, type EngineEvent} from '../../src/engine/engine.js'
import {isSandboxError} from '../../src/errors.js'
import {ProcessBackend} from '../helpers/process-backend.js'

describe('RunnerBackend seam', () => {
  it('the engine runs JavaScript and TypeScript on a backend given to it, pooled per runtime, and removes every runner at stop', async () => {
    const backend = new ProcessBackend()
    const events: EngineEvent[] = []
    const engine = new Engine({config: loadConfig({}), backend, languages: ['nodejs', 'typescript'], poolSize: 1, onEvent: (e) => events.push(e)})
    await engine.start()
    try {
      expect(engine.status().pools.map((p) => p.language)).toEqual(['nodejs'])
      expect(engine.status().runtime).toBe('runc')
      expect(events.some((e) => e.level === 'warn' && /test backend/.test(e.message))).toBe(true)
      const ts = await engine.run({
        language: 'typescript',
        code: 'export function main({x}: {x: string}): number {\n  console.log("ts")\n  return Number(x) * 2\n}\n',
        arguments: {x: '21'},
      })
      expect(ts).toMatchObject({status: 'success', stdout: 'ts\n', result: {present: true, value: 42}})
      const js = await engine.run({language: 'nodejs', code: 'module.exports.main = ({a}) => a + 1\n', arguments: {a: 1}})
      expect(js).toMatchObject({status: 'success', result: {present: true, value: 2}})
      const syntax = await engine.run({language: 'typescript', code: 'function main( {\n'})
      expect(syntax.status).toBe('program_error')
      expect(syntax.stderr).toContain('TypeScript syntax error: main.ts:2:1')
    } finally {
      await engine.stop()
    }
    expect(backend.made.length).toBeGreaterThanOrEqual(3)
    expect(backend.made.every((r) => r.isUnusable)).toBe(true)
  })

  it('backends are looked up by id; an unknown id is a clear configuration error', async () => {
    expect(BACKEND_IDS).toContain('docker')
    expect((await loadBackend('docker')).id).toBe('docker')
    const error = await loadBackend('kubernetes').catch((error_: unknown) => error_)
    expect(isSandboxError(error) && error.code).toBe('UNKNOWN_BACKEND')
  })
})
