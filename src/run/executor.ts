/**
 * The one seam every way of running code sits behind: the local engine (one-shot or pooled),
 * a provider (RAGFlow's create/execute/destroy lifecycle) or a manager over HTTP.
 */
import type {RunResult} from '../engine/result.js'
import type {PolicyMode} from '../policy/types.js'
import type {RunRequest} from './request.js'

/**
 * A request as the pipeline hands it on: limits resolved, and the policy gate's verdict. An
 * executor may prepare (start an engine, a container) before the verdict is in, but it must
 * not let the code run until it has resolved to undefined; a refusal is the answer.
 */
export interface GatedRequest extends RunRequest {
  timeoutSeconds: number
  /** always set when the gate is here; for a remote gate only when the caller named one (then forwarded) */
  policy?: PolicyMode
  verdict: Promise<RunResult | undefined>
}

export interface Executor {
  /**
   * where the code policy is applied: 'here' (the pipeline's gate, before the code leaves this
   * process), or 'remote' (a manager applies its own; the request's policy is forwarded)
   */
  readonly gate: 'here' | 'remote'
  run(request: GatedRequest): Promise<RunResult>
  /** a label for the runtime line of `sandbox run` (gVisor, a provider, a manager URL) */
  runtimeLabel(): string
  /** release what runs left behind (containers, remote sandboxes); idempotent */
  close(): Promise<void>
}
