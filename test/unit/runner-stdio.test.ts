/** untilReady: why a runner did not get ready, from the facts of its exit. */
import {describe, expect, it} from 'vitest'

import {RunnerStdio, untilReady} from '../../src/engine/runner-stdio.js'

describe('untilReady', () => {
  it('a runner killed for memory while it starts: says the memory limit is too small', async () => {
    const stdio = new RunnerStdio()
    await expect(untilReady(stdio, Promise.resolve({exitCode: 137, oomKilled: true}), 10_000)).rejects.toThrow(
      /killed for memory before it was ready \(exit code 137\): the memory limit is too small to start it; raise SANDBOX_MAX_MEMORY or --memory/,
    )
  })

  it('a SIGKILL that was not the OOM killer, or another exit: the exit code and the boot output', async () => {
    const stdio = new RunnerStdio()
    stdio.deliver(2, Buffer.from('ImportError: no module named x\n'))
    await expect(untilReady(stdio, Promise.resolve({exitCode: 137, oomKilled: false}), 10_000)).rejects.toThrow(
      /exited before it was ready \(exit code 137\): ImportError: no module named x/,
    )
    await expect(untilReady(new RunnerStdio(), Promise.resolve({exitCode: 1}), 10_000)).rejects.toThrow(/exited before it was ready \(exit code 1\)$/)
  })

  it('ready: resolves', async () => {
    const stdio = new RunnerStdio()
    const ready = untilReady(stdio, new Promise(() => {}), 10_000)
    stdio.deliver(2, Buffer.from('__SANDBOX_READY__\n'))
    await expect(ready).resolves.toBeUndefined()
  })
})
