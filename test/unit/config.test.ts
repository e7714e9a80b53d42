import {describe, expect, it} from 'vitest'

import {formatDuration, loadConfig, parseDuration, parseEnvFile, parseMemory} from '../../src/config.js'

describe('config parsing', () => {
  it('durations: RAGFlow formats plus bare seconds (RAGFlow bug #9442)', () => {
    expect(parseDuration('10')).toBe(10)
    expect(parseDuration('60')).toBe(60)
    expect(parseDuration('90s')).toBe(90)
    expect(parseDuration('2m')).toBe(120)
    expect(parseDuration('1m30s')).toBe(90)
    expect(parseDuration(' 1M30S ')).toBe(90)
    for (const bad of ['0', '', 'abc', '1h', '-5', '0s']) expect(() => parseDuration(bad), bad).toThrow(/Invalid timeout/)
    expect(formatDuration(90)).toBe('1m30s')
    expect(formatDuration(10)).toBe('10s')
  })

  it('memory: positive integer + b/k/m/g', () => {
    expect(parseMemory('256m')).toBe(256 * 1024 * 1024)
    expect(parseMemory('1G')).toBe(1024 ** 3)
    for (const bad of ['0m', '256', '256mb', '1.5g', '1m']) expect(() => parseMemory(bad), bad).toThrow(/Invalid memory/)
  })

  it('.env parsing: comments, quotes, export', () => {
    expect(parseEnvFile('# c\nA=1\nexport B="two words"\nC=3 # note\n\nbad line')).toEqual({A: '1', B: 'two words', C: '3'})
  })

  it('env overrides defaults, overrides win over env, bad values are clear errors', () => {
    const c = loadConfig({env: {SANDBOX_TIMEOUT: '60', SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: '4', SANDBOX_ENABLE_SECCOMP: 'yes'}, overrides: {poolSize: 7}})
    expect(c.timeoutSeconds).toBe(60)
    expect(c.poolSize).toBe(7)
    expect(c.enableSeccomp).toBe(true)
    expect(c.memoryBytes).toBe(256 * 1024 * 1024)
    expect(() => loadConfig({env: {SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: 'many'}})).toThrow(/SANDBOX_EXECUTOR_MANAGER_POOL_SIZE/)
    expect(() => loadConfig({env: {SANDBOX_MAX_MEMORY: '1.5g'}})).toThrow(/SANDBOX_MAX_MEMORY/)
    expect(() => loadConfig({envFile: '/nonexistent/.env', env: {}})).toThrow(/does not exist/)
  })
})

describe('package lists', async () => {
  const {parseList} = await import('../../src/config.js')
  it('split on spaces and commas, but not inside a version range', () => {
    expect(parseList('numpy, scipy  pandas>=2,<3 x==1')).toEqual(['numpy', 'scipy', 'pandas>=2,<3', 'x==1'])
    expect(parseList(undefined)).toEqual([])
  })
})
