/**
 * The run pipeline: the ONE place where a request gets its limits and where the code policy
 * gate is decided (src/engine/policy-gate.ts's policyRefusal). `sandbox run`, POST /run and
 * `sandbox test` all run code through it.
 *
 * The gate's verdict is handed to the executor as a promise: a local engine starts (preflight,
 * a container) while the policy looks at the code, as the one-shot run always did, and the code
 * runs only once the verdict says so.
 */
import {policyRefusal} from '../engine/policy-gate.js'
import type {RunResult} from '../engine/result.js'
import type {PolicyMode} from '../policy/types.js'
import type {Executor} from './executor.js'
import {checkCodeSize, RUN_LIMITS, type RunRequest} from './request.js'

export interface PipelineDefaults {
  timeoutSeconds: number
  /** the policy of a request that names none; needed when the gate is here (a remote gate applies its own) */
  policy?: PolicyMode
  maxCodeBytes?: number
}

export class Pipeline {
  constructor(
    readonly executor: Executor,
    private readonly defaults: PipelineDefaults,
  ) {}

  /** Runs one request. Throws CODE_TOO_LARGE (nothing runs) and the executor's infrastructure errors. */
  async run(request: RunRequest): Promise<RunResult> {
    request.signal?.throwIfAborted()
    checkCodeSize(request.code, this.defaults.maxCodeBytes ?? RUN_LIMITS.maxCodeBytes)
    const policy = request.policy ?? this.defaults.policy
    let verdict: Promise<RunResult | undefined> = Promise.resolve(undefined)
    if (this.executor.gate === 'here') {
      // never fail open: a gate without a policy is a bug, not "off"
      if (policy === undefined) throw new Error('the run pipeline has no code policy for this run')
      verdict = policyRefusal(request.code, request.language, policy)
    }
    // awaited by the executor; a rejection surfaces there
    verdict.catch(() => {})
    const result = await this.executor.run({...request, timeoutSeconds: request.timeoutSeconds ?? this.defaults.timeoutSeconds, policy, verdict})
    // the gate's answer wins, whatever an executor made of it
    return (await verdict) ?? result
  }

  close(): Promise<void> {
    return this.executor.close()
  }
}
