import {closeSync, existsSync, mkdtempSync, openSync, readFileSync, statSync, writeSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {logRotator} from '../../src/server/logger.js'
import {logRotation} from '../../src/server/main.js'

describe('manager.log rotation', () => {
  it('rotates by size through the O_APPEND descriptor the manager was started with, keeping N older files', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'log-rotation-')), 'manager.log')
    // as `sandbox start` hands it to the manager: opened for appending, the manager only writes
    const fd = openSync(path, 'a', 0o600)
    const rotate = logRotator({path, maxBytes: 100, keep: 2})
    const line = (n: number) => `${JSON.stringify({n, msg: 'x'.repeat(30)})}\n`
    for (let n = 0; n < 12; n++) {
      const text = line(n)
      writeSync(fd, text)
      rotate(Buffer.byteLength(text))
    }
    closeSync(fd)
    const numbers = (file: string) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as {n: number}).n)
    // the live file was emptied in place and written again from its start: nothing lost, nothing doubled
    expect(statSync(path).size).toBeLessThanOrEqual(100 + line(0).length)
    const live = numbers(path)
    const one = numbers(`${path}.1`)
    const two = numbers(`${path}.2`)
    expect([...two, ...one, ...live]).toEqual([...Array(12).keys()].slice(12 - two.length - one.length - live.length))
    expect(existsSync(`${path}.3`)).toBe(false)
    expect(statSync(`${path}.1`).mode & 0o777).toBe(0o600)
  })

  it('is on only for the background manager, with SANDBOX_LOG_MAX_BYTES and SANDBOX_LOG_KEEP', () => {
    expect(logRotation({})).toEqual({})
    expect(logRotation({SANDBOX_MANAGER_LOG_FILE: '/x/manager.log'})).toEqual({rotation: {path: '/x/manager.log', maxBytes: 10 * 1024 * 1024, keep: 3}})
    expect(logRotation({SANDBOX_MANAGER_LOG_FILE: '/x/manager.log', SANDBOX_LOG_MAX_BYTES: '1m', SANDBOX_LOG_KEEP: '5'})).toEqual({
      rotation: {path: '/x/manager.log', maxBytes: 1024 * 1024, keep: 5},
    })
    const bad = logRotation({SANDBOX_MANAGER_LOG_FILE: '/x/manager.log', SANDBOX_LOG_MAX_BYTES: 'lots', SANDBOX_LOG_KEEP: '0'})
    expect(bad.rotation).toEqual({path: '/x/manager.log', maxBytes: 10 * 1024 * 1024, keep: 3})
    expect(bad.warning).toContain('SANDBOX_LOG_MAX_BYTES')
    expect(bad.warning).toContain('SANDBOX_LOG_KEEP')
  })
})
