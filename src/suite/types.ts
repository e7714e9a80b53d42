/**
 * The security / conformance suite behind `sandbox test`: cases are data (code + an
 * expectation over RAGFlow's RunResult), run against a target (the in-process engine, a
 * manager endpoint, or later any provider).
 */
import type {Language} from '../engine/languages.js'
import type {RunResult} from '../engine/result.js'

export type PolicyMode = 'on' | 'off'

/**
 * What a case needs from the static code policy:
 * - 'off': a sandbox-boundary probe (uses os, open, socket…): must reach the sandbox unfiltered
 * - 'on':  a policy case: must go through the policy
 * - 'any': passes either way (plain code the policy allows)
 */
export type CasePolicy = PolicyMode | 'any'

export type ListenerKind = 'tcp4' | 'tcp6' | 'udp4' | 'udp6'

/** A listener the suite starts on the host's loopback for one case. */
export interface HostListener {
  kind: ListenerKind
  /** 127.0.0.1 or ::1 */
  address: string
  port: number
  /** TCP connections accepted / UDP datagrams received */
  hits: number
  /** bytes received (TCP data, UDP payloads), utf8, capped */
  received: string
}

/** Facts about the machine the suite runs on, compared with what the sandbox sees. */
export interface HostFacts {
  hostname: string
  kernelRelease: string
  procVersion: string | null
  machineId: string | null
  bootId: string | null
  /** a file the suite wrote on the host; the sandbox must not see it */
  plantedPath: string
  plantedContent: string
  /** the suite's working directory on the host (e.g. the repository) */
  cwd: string
}

export interface CaseContext {
  /** random per case run; probes put it in what they leave behind */
  token: string
  /** a value present in the target's (manager's) environment, when known */
  canary: string | undefined
  canaryName: string
  host: HostFacts
  listeners: Partial<Record<ListenerKind, HostListener>>
  /** result of the follow-up run, for cases that have one */
  followUp?: RunResult
}

export interface Verdict {
  ok: boolean
  why: string
}

export interface CaseRun {
  language: Language
  code: string
  arguments?: Record<string, unknown> | ((ctx: CaseContext) => Record<string, unknown>)
  policy?: CasePolicy
}

export interface SuiteCase {
  id: string
  title: string
  tags: string[]
  language: Language
  code: string
  arguments?: Record<string, unknown> | ((ctx: CaseContext) => Record<string, unknown>)
  /** default 'off' (a boundary probe) */
  policy?: CasePolicy
  /** per-run wall-clock limit when the target supports it (the engine does; an endpoint uses its own) */
  timeoutSeconds?: number
  /** loopback listeners started on the host before the run, given to the code via ctx.listeners */
  listeners?: ListenerKind[]
  /** a second run after the first (isolation between runs, "the next run works") */
  followUp?: CaseRun
  /** return a reason to skip the case on this host/target, or null */
  skip?: (ctx: CaseContext, target: TargetInfo) => string | null
  expect: (result: RunResult, ctx: CaseContext) => Verdict
}

export interface RunOptions {
  timeoutSeconds?: number
  policy?: PolicyMode
}

/**
 * How policy requests reach the target:
 * 'per-request' = the target honours a policy per run; 'on'/'off' = fixed for every run.
 */
export type PolicySupport = 'per-request' | PolicyMode

export interface TargetInfo {
  kind: 'engine' | 'endpoint' | 'provider'
  /** e.g. "engine (runsc)", "http://127.0.0.1:9385" */
  label: string
  runtime: string | null
  policy: PolicySupport
  /** whether per-run timeouts are honoured (else the target's own limit applies) */
  perRunTimeout: boolean
}

/** The tiny interface every target adapter implements. */
export interface SuiteTarget {
  info(): TargetInfo
  run(language: Language, code: string, args: Record<string, unknown>, options?: RunOptions): Promise<RunResult>
  close(): Promise<void>
}

export type CaseOutcome = 'pass' | 'fail' | 'skip'

export interface CaseReport {
  id: string
  title: string
  tags: string[]
  language: Language
  outcome: CaseOutcome
  why: string
  ms: number
  result: RunResult | null
  followUp: RunResult | null
}

export interface SuiteReport {
  target: TargetInfo
  passed: number
  failed: number
  skipped: number
  total: number
  durationMs: number
  results: CaseReport[]
}

export type SuiteEvent = {type: 'start'; total: number; target: TargetInfo} | {type: 'case'; report: CaseReport; done: number; total: number}
