/** A logic-only Runner for unit tests of the pool and the engine (the real ones are covered by the integration tests). */
import type {Runner, RunnerExit} from '../../src/engine/runner.js'

export interface FakeRunner extends Runner {
  /** retire() or remove() was called */
  removed: boolean
  /** the sandbox ends by itself (exit 1) */
  die(): void
}

/** `gone` is what retire/remove wait for (default: nothing) */
export function fakeRunner(id: string | number, options: {gone?: () => Promise<void>} = {}): FakeRunner {
  let exit: (v: RunnerExit) => void = () => {}
  const exited = new Promise<RunnerExit>((resolve) => (exit = resolve))
  const gone = async () => {
    runner.removed = true
    await options.gone?.()
  }
  const runner: FakeRunner = {
    id: String(id),
    removed: false,
    ready: Promise.resolve(),
    detached: new Promise<void>(() => {}),
    isUnusable: false,
    send: () => {},
    stopOutput: () => {},
    kill: async () => exit({exitCode: 137, oomKilled: false}),
    waitExit: () => exited,
    peakMemoryKb: () => null,
    retire: gone,
    remove: gone,
    die: () => exit({exitCode: 1, oomKilled: false}),
  }
  return runner
}
