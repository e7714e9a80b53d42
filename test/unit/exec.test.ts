import {describe, expect, it} from 'vitest'

import {runProgram} from '../../src/exec.js'

describe('runProgram', () => {
  it('decodes a character split across two writes and keeps a last line without a newline', async () => {
    const lines: string[] = []
    // "é" is \303\251: the two bytes leave in separate writes
    const r = await runProgram('sh', ['-c', 'printf "one\\n"; printf "\\303"; sleep 0.2; printf "\\251 last"'], {onLine: (l) => lines.push(l)})
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('one\né last')
    expect(lines).toEqual(['one', 'é last'])
    expect(r.tail).toEqual(['one', 'é last'])
  })

  it('says when the time limit stopped the program (not exit 1)', async () => {
    const r = await runProgram('sleep', ['30'], {timeoutMs: 100})
    expect(r).toMatchObject({code: 124, timedOut: true})
    expect(r.stderr).toContain('timed out after 100 ms')
  })

  it('reports a signal as 128+N', async () => {
    const r = await runProgram('sh', ['-c', 'kill -TERM $$'])
    expect(r).toMatchObject({code: 143, signal: 'SIGTERM', timedOut: false})
  })

  it('passes exit codes and both streams through, and names a missing program', async () => {
    expect(await runProgram('sh', ['-c', 'echo out; echo err >&2; exit 3'])).toMatchObject({code: 3, stdout: 'out', stderr: 'err'})
    expect(await runProgram('no-such-program-here', [])).toMatchObject({code: 127, stderr: 'no-such-program-here: command not found'})
  })

  it('adds to the environment rather than replacing it', async () => {
    const r = await runProgram('sh', ['-c', 'echo "$EXTRA:${PATH:+has-path}"'], {env: {EXTRA: 'x'}})
    expect(r.stdout).toBe('x:has-path')
  })
})
