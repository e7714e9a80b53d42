/**
 * The ONE client of our own HTTP API (an executor manager: `sandbox start`, or RAGFlow's):
 * POST /run, GET /healthz, GET /status, and the ONE parser of a /run answer. Used by the
 * self_managed provider, the suite's endpoint target (as an Executor) and the CLI.
 *
 * Retries are real: connection failures before the request reached the server, and 502/503/504
 * answers, are retried with exponential backoff and jitter. Nothing is retried once the
 * connection was established and the request sent (the code may be running).
 */
import {checkArtifacts} from '../engine/classify.js'
import {emptyResult, extractResultMarker, type RunResult} from '../engine/result.js'
import {ExitCode, SandboxError} from '../errors.js'
import {HttpFailure, httpCall, type HttpAnswer} from '../providers/http.js'
import type {ProviderEvent} from '../providers/types.js'
import type {Executor, GatedRequest} from '../run/executor.js'
import type {RunRequest} from '../run/request.js'
import type {StatusDocument} from '../server/status.js'
import {maskDbUrl} from '../settings/url.js'

/** A failure talking to the manager (exit 6), with the HTTP status when it answered. */
export class ManagerError extends SandboxError {
  constructor(
    message: string,
    code: string,
    suggestions: string[] = [],
    readonly answer?: HttpAnswer,
    cause?: unknown,
  ) {
    super(message, {code, exit: ExitCode.REMOTE, suggestions, cause})
  }
}

export interface ManagerClientOptions {
  /** base URL of the manager (http://127.0.0.1:9385), no trailing /run */
  url: string
  token?: string
  /** per /run request, seconds (the manager's own limit is added on top); default 30 */
  timeoutSeconds?: number
  /** retries before the request reached the manager; default 3 */
  maxRetries?: number
  /** base delay of the retry backoff, ms; default 200 */
  retryBaseDelayMs?: number
  /** hints in errors: how to fix the endpoint, a wrong token, a missing token */
  hints?: {endpoint?: string; tokenMismatch?: string; tokenMissing?: string}
  onEvent?: (event: ProviderEvent) => void
}

export interface HealthAnswer {
  reachable: boolean
  healthy: boolean
  httpStatus: number | null
  body: {status?: string; reason?: string; phase?: string} | null
  error?: string
}

/** 502/503/504: a gateway or a manager that is not serving yet answered; the code did not run. */
const RETRY_STATUSES = new Set([502, 503, 504])

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Turn a /run answer (parsed JSON) into a RunResult; throws MANAGER_BAD_RESPONSE when it is none. */
export function parseRunAnswer(data: unknown, where = 'The executor manager'): RunResult {
  if (data === null || typeof data !== 'object' || Array.isArray(data) || typeof (data as {status?: unknown}).status !== 'string') {
    throw new ManagerError(`${where} answered without a result status`, 'MANAGER_BAD_RESPONSE')
  }
  const d = data as Record<string, unknown>
  const str = (v: unknown) => (typeof v === 'string' ? v : '')
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null)
  let stdout = str(d.stdout)
  let result = d.result && typeof d.result === 'object' ? (d.result as RunResult['result']) : null
  if (!result) {
    // an older manager (RAGFlow SEED) leaves the marker in stdout
    const extracted = extractResultMarker(stdout)
    stdout = extracted.stdout
    result = extracted.result ?? null
  }
  return emptyResult({
    status: d.status as RunResult['status'],
    stdout,
    stderr: str(d.stderr),
    exit_code: typeof d.exit_code === 'number' ? d.exit_code : 0,
    detail: typeof d.detail === 'string' ? d.detail : null,
    time_used_ms: num(d.time_used_ms),
    memory_used_kb: num(d.memory_used_kb),
    resource_limit_type: (d.resource_limit_type as RunResult['resource_limit_type']) ?? null,
    unauthorized_access_type: (d.unauthorized_access_type as RunResult['unauthorized_access_type']) ?? null,
    runtime_error_type: (d.runtime_error_type as RunResult['runtime_error_type']) ?? null,
    result,
    artifacts: Array.isArray(d.artifacts) ? (d.artifacts as RunResult['artifacts']) : [],
  })
}

export class ManagerClient {
  readonly base: string
  /** for messages (password masked) */
  readonly endpoint: string
  private readonly timeoutSeconds: number
  private readonly maxRetries: number

  constructor(private readonly options: ManagerClientOptions) {
    this.base = options.url.replace(/\/+$/, '')
    this.endpoint = maskDbUrl(this.base)
    this.timeoutSeconds = options.timeoutSeconds ?? 30
    this.maxRetries = options.maxRetries ?? 3
  }

  private url(path: string): URL {
    return new URL(this.base + path)
  }

  private headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = {Accept: 'application/json'}
    if (json) h['Content-Type'] = 'application/json'
    if (this.options.token) h.Authorization = `Bearer ${this.options.token}`
    return h
  }

  /**
   * POST /run. Program failures are results; a manager that cannot be reached, refuses the
   * request (401/403/4xx), fails (5xx) or answers garbage throws a ManagerError (exit 6).
   * `policy` is sent only when given (not part of RAGFlow's protocol; a manager may honour it).
   */
  async run(request: Pick<RunRequest, 'language' | 'code' | 'arguments' | 'policy' | 'timeoutSeconds'>): Promise<RunResult> {
    const body: Record<string, unknown> = {code_b64: Buffer.from(request.code, 'utf8').toString('base64'), language: request.language, arguments: request.arguments ?? {}}
    if (request.policy !== undefined) body.policy = request.policy
    // the manager applies its own limit and may queue for a container first
    const timeoutMs = Math.max(this.timeoutSeconds, (request.timeoutSeconds ?? 0) + 15) * 1000
    const answer = await this.send(JSON.stringify(body), timeoutMs)
    if (answer.status !== 200) throw this.httpError(answer)
    let data: unknown
    try {
      data = JSON.parse(answer.body)
    } catch {
      throw new ManagerError(
        `The executor manager at ${this.endpoint} answered with something that is not JSON`,
        'MANAGER_BAD_RESPONSE',
        ['Check that the endpoint points at the executor manager (GET /healthz answers {"status":"ok"})'],
        answer,
      )
    }
    return parseRunAnswer(data, `The executor manager at ${this.endpoint}`)
  }

  /** POST /run with retries that can never run the code twice. */
  private async send(body: string, timeoutMs: number): Promise<HttpAnswer> {
    const attempts = this.maxRetries + 1
    const base = this.options.retryBaseDelayMs ?? 200
    let last: {failure?: HttpFailure; answer?: HttpAnswer} = {}
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const answer = await httpCall(this.url('/run'), {method: 'POST', headers: this.headers(true), body, timeoutMs})
        if (!RETRY_STATUSES.has(answer.status)) return answer
        last = {answer}
      } catch (error) {
        if (!(error instanceof HttpFailure)) throw error
        if (error.phase === 'after-connect') throw this.afterConnectError(error, timeoutMs)
        last = {failure: error}
      }
      if (attempt < attempts) {
        const cap = Math.min(3000, base * 2 ** (attempt - 1))
        const delay = cap / 2 + Math.random() * (cap / 2)
        const why = last.failure ? last.failure.code : `HTTP ${last.answer?.status}`
        this.options.onEvent?.({level: 'warn', message: `executor manager: ${why}; retry ${attempt}/${this.maxRetries} in ${Math.round(delay)} ms`})
        await sleep(delay)
      }
    }
    if (last.answer) throw this.httpError(last.answer, attempts)
    const failure = last.failure!
    throw new ManagerError(
      `Cannot reach the executor manager at ${this.endpoint}: ${failure.code}${failure.timedOut ? ' (connect timeout)' : ''} after ${attempts} attempt${attempts === 1 ? '' : 's'}`,
      'MANAGER_UNREACHABLE',
      [
        "Start it with `sandbox start` (or check that RAGFlow's sandbox-executor-manager is running)",
        ...(this.options.hints?.endpoint ? [this.options.hints.endpoint] : []),
        // RAGFlow HEAD's default names the manager on RAGFlow's compose network only
        ...(new URL(this.base).hostname === 'sandbox-executor-manager'
          ? ["sandbox-executor-manager resolves only inside RAGFlow's Docker network: from this host use `--endpoint http://127.0.0.1:9385` (`sandbox start`)"]
          : []),
        'Or run locally without a manager: `sandbox run --provider docker`',
      ],
      undefined,
      failure,
    )
  }

  private afterConnectError(failure: HttpFailure, timeoutMs: number): Error {
    if (failure.timedOut) {
      return new ManagerError(
        `Execution timed out after ${Math.round(timeoutMs / 1000)} seconds (no answer from ${this.endpoint})`,
        'MANAGER_TIMEOUT',
        ['Raise the request timeout: `sandbox configure self-managed --timeout N`', 'Not retried: the code may have started on the manager'],
        undefined,
        failure,
      )
    }
    return new ManagerError(
      `The connection to the executor manager at ${this.endpoint} broke after the request was sent: ${failure.message}`,
      'MANAGER_CONNECTION_LOST',
      ["Not retried, because the code may already have run; check the manager's log (`sandbox logs`)"],
      undefined,
      failure,
    )
  }

  private httpError(answer: HttpAnswer, attempts?: number): Error {
    const text = answer.body.length > 500 ? `${answer.body.slice(0, 500)}…` : answer.body
    if (answer.status === 401 || answer.status === 403) {
      return new ManagerError(
        `The executor manager at ${this.endpoint} refused the request: HTTP ${answer.status}`,
        'MANAGER_UNAUTHORIZED',
        [
          this.options.token
            ? (this.options.hints?.tokenMismatch ?? "The API token does not match the manager's SANDBOX_API_TOKEN")
            : (this.options.hints?.tokenMissing ?? 'The manager requires a token (its SANDBOX_API_TOKEN)'),
        ],
        answer,
      )
    }
    const tries = attempts && attempts > 1 ? ` (after ${attempts} attempts)` : ''
    return new ManagerError(
      `HTTP ${answer.status}: ${text}${tries}`,
      answer.status >= 500 ? 'MANAGER_ERROR' : 'MANAGER_REJECTED',
      [`The executor manager at ${this.endpoint} did not run the code; see its log (\`sandbox logs\`)`],
      answer,
    )
  }

  /** GET /healthz (never throws) */
  async health(timeoutMs = 2000): Promise<HealthAnswer> {
    try {
      const answer = await httpCall(this.url('/healthz'), {method: 'GET', headers: this.headers(false), timeoutMs})
      let body: HealthAnswer['body'] = null
      try {
        body = JSON.parse(answer.body) as HealthAnswer['body']
      } catch {}
      return {reachable: true, healthy: answer.status === 200 && body?.status === 'ok', httpStatus: answer.status, body}
    } catch (error) {
      return {reachable: false, healthy: false, httpStatus: null, body: null, error: (error as Error).message}
    }
  }

  /** GET /status: the manager's own JSON description (token-protected). Never throws. */
  async status(timeoutMs = 3000): Promise<{status: 200; body: StatusDocument} | {status: number | null; error: string}> {
    try {
      const answer = await httpCall(this.url('/status'), {method: 'GET', headers: this.headers(false), timeoutMs})
      if (answer.status === 401)
        return {status: 401, error: this.options.token ? 'the manager refused the API token' : 'the manager requires an API token (set SANDBOX_API_TOKEN or --token)'}
      if (answer.status === 404) return {status: 404, error: 'the manager has no GET /status (an older version?)'}
      if (answer.status !== 200) return {status: answer.status, error: `HTTP ${answer.status}`}
      const body = JSON.parse(answer.body) as StatusDocument
      if (!body || typeof body !== 'object' || !Array.isArray(body.pools)) return {status: answer.status, error: 'GET /status did not answer a status document'}
      return {status: 200, body}
    } catch (error) {
      return {status: null, error: (error as Error).message}
    }
  }
}

/** Artifacts from the wire, never trusted: plain file names, allowed types, sizes (as the engine checks its runners). */
export function trustedArtifacts(result: RunResult): RunResult {
  return {...result, artifacts: checkArtifacts(result.artifacts).artifacts}
}

/**
 * A manager as an Executor: its own code policy applies (gate 'remote'); a policy the caller
 * named is forwarded (a manager started with --allow-policy-override honours it, others refuse it).
 */
export class ManagerExecutor implements Executor {
  readonly gate = 'remote' as const

  constructor(readonly client: ManagerClient) {}

  run(request: GatedRequest): Promise<RunResult> {
    return this.client.run(request)
  }

  runtimeLabel(): string {
    return `manager ${this.client.endpoint}`
  }

  async close(): Promise<void> {}
}
