/**
 * The run pipeline's contract without a daemon: one code-size limit, the policy gate decided in
 * one place (an executor never sees refused code run), the settings resolver's precedence.
 */
import {describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import {emptyResult, type RunResult} from '../../src/engine/result.js'
import type {Executor, GatedRequest} from '../../src/run/executor.js'
import {Pipeline} from '../../src/run/pipeline.js'
import {RUN_LIMITS} from '../../src/run/request.js'
import {applyRunSettings, resolveRunSettings, settingSources} from '../../src/run/settings.js'
import {LIMITS} from '../../src/server/request.js'

/** an executor that records what it was asked and "runs" only after the verdict */
class FakeExecutor implements Executor {
  ran: GatedRequest[] = []
  seen: GatedRequest[] = []
  constructor(readonly gate: 'here' | 'remote' = 'here') {}
  async run(request: GatedRequest): Promise<RunResult> {
    this.seen.push(request)
    const refused = await request.verdict
    if (refused) return refused
    this.ran.push(request)
    return emptyResult({status: 'success', exit_code: 0, stdout: 'ran'})
  }
  runtimeLabel(): string {
    return 'fake'
  }
  async close(): Promise<void> {}
}

const UNSAFE = 'import os\n\ndef main():\n    return os.getcwd()\n'

describe('the run pipeline', () => {
  it("one code-size limit: the manager parser uses the pipeline's", () => {
    expect(LIMITS.maxCodeBytes).toBe(RUN_LIMITS.maxCodeBytes)
    expect(RUN_LIMITS.maxCodeBytes).toBe(2 * 1024 * 1024)
  })

  it('refuses oversized code before the executor sees it (CODE_TOO_LARGE, exit 4)', async () => {
    const fake = new FakeExecutor()
    const pipeline = new Pipeline(fake, {timeoutSeconds: 10, policy: 'off'})
    await expect(pipeline.run({language: 'python', code: 'x'.repeat(RUN_LIMITS.maxCodeBytes + 1)})).rejects.toMatchObject({code: 'CODE_TOO_LARGE', exit: 4})
    expect(fake.seen).toHaveLength(0)
    expect((await pipeline.run({language: 'python', code: `def main():\n    return 1\n#${'x'.repeat(RUN_LIMITS.maxCodeBytes - 30)}`})).status).toBe('success')
  })

  it('applies the policy gate (default and per request) and the code never runs when refused', async () => {
    const fake = new FakeExecutor()
    const pipeline = new Pipeline(fake, {timeoutSeconds: 10, policy: 'ragflow'})
    const refused = await pipeline.run({language: 'python', code: UNSAFE})
    expect(refused).toMatchObject({status: 'program_runner_error', exit_code: -999, detail: 'Code is unsafe'})
    expect(fake.ran).toHaveLength(0)
    expect((await pipeline.run({language: 'python', code: UNSAFE, policy: 'off'})).status).toBe('success')
    expect(fake.ran.map((r) => [r.policy, r.timeoutSeconds])).toEqual([['off', 10]])
  })

  it("the gate's refusal wins even over an executor that ignores the verdict", async () => {
    const careless: Executor = {gate: 'here', run: async () => emptyResult({status: 'success', exit_code: 0}), runtimeLabel: () => 'x', close: async () => {}}
    expect(await new Pipeline(careless, {timeoutSeconds: 10, policy: 'ragflow'}).run({language: 'python', code: UNSAFE})).toMatchObject({exit_code: -999})
  })

  it('a remote gate (a manager) gets the code and only the policy the caller named', async () => {
    const fake = new FakeExecutor('remote')
    const pipeline = new Pipeline(fake, {timeoutSeconds: 0})
    expect((await pipeline.run({language: 'python', code: UNSAFE})).status).toBe('success')
    await pipeline.run({language: 'python', code: UNSAFE, policy: 'on'})
    expect(fake.ran.map((r) => r.policy)).toEqual([undefined, 'on'])
  })

  it('never fails open: a local gate without a policy is an error', async () => {
    await expect(new Pipeline(new FakeExecutor(), {timeoutSeconds: 10}).run({language: 'python', code: UNSAFE})).rejects.toThrow(/no code policy/)
  })
})

describe('the run settings resolver: flag > environment > stored > default', () => {
  const stored = {timeout: 42, memory: '512m', allow_runc: true}

  it('a stored docker row fills what came from a default', () => {
    const config = loadConfig({env: {}, envFile: '/dev/null'})
    const settings = resolveRunSettings(config, stored)
    expect(settingSources(settings)).toEqual({timeoutSeconds: 'stored', memory: 'stored', codePolicy: 'default', allowRunc: 'stored'})
    const applied = applyRunSettings(config, settings)
    expect(applied).toMatchObject({timeoutSeconds: 42, memory: '512m', memoryBytes: 512 * 1024 ** 2, allowRunc: true})
  })

  it('the environment beats the stored row, a flag beats the environment', () => {
    const env = {SANDBOX_TIMEOUT: '7s', SANDBOX_MAX_MEMORY: '128m', SANDBOX_ALLOW_RUNC: 'false', SANDBOX_CODE_POLICY: 'standard'}
    const fromEnv = resolveRunSettings(loadConfig({env, envFile: '/dev/null'}), stored)
    expect(fromEnv).toEqual({
      timeoutSeconds: {value: 7, source: 'env'},
      memory: {value: '128m', source: 'env'},
      codePolicy: {value: 'standard', source: 'env'},
      allowRunc: {value: false, source: 'env'},
    })
    const fromFlags = resolveRunSettings(loadConfig({env, envFile: '/dev/null', overrides: {timeoutSeconds: 3, memory: '64m', codePolicy: 'off'}}), stored)
    expect(settingSources(fromFlags)).toEqual({timeoutSeconds: 'flag', memory: 'flag', codePolicy: 'flag', allowRunc: 'env'})
    expect(fromFlags.timeoutSeconds.value).toBe(3)
  })

  it('without a stored row the defaults stay defaults', () => {
    const settings = resolveRunSettings(loadConfig({env: {}, envFile: '/dev/null'}), {allow_runc: false})
    expect(settings).toEqual({
      timeoutSeconds: {value: 10, source: 'default'},
      memory: {value: '256m', source: 'default'},
      codePolicy: {value: 'ragflow', source: 'default'},
      allowRunc: {value: false, source: 'default'},
    })
  })
})
