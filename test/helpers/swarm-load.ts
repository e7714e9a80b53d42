/**
 * Clients of a scale-out endpoint for the swarm test and the scale-out bench: one POST /run
 * that says which host served it (x-sandbox-host), and a closed-loop load of N clients that
 * records every answer. A client repeats a request only when its connection was refused
 * (nothing was sent); any other failure is recorded as lost.
 */
import {Agent, request} from 'node:http'

export const TRIVIAL = {
  python: 'def main():\n    return 6 * 7\n',
  nodejs: 'module.exports.main = () => 6 * 7\n',
} as const

export interface RunAnswer {
  ok: boolean
  /** HTTP status, 0 when no answer came */
  http: number
  status: string | null
  exitCode: number | null
  value: unknown
  host: string | null
  ms: number
  error: string | null
  /** connection-refused repeats before the answer */
  refused: number
  startedAt: number
}

export function runOnce(endpoint: string, language: keyof typeof TRIVIAL, agent?: Agent, code = TRIVIAL[language]): Promise<RunAnswer> {
  const body = JSON.stringify({language, code_b64: Buffer.from(code).toString('base64'), arguments: {}})
  const startedAt = performance.now()
  const attempt = (refused: number): Promise<RunAnswer> =>
    new Promise((resolve) => {
      const req = request(new URL('/run', endpoint), {method: 'POST', agent, headers: {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)}}, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          let parsed: {status?: string; exit_code?: number; result?: {value?: unknown}} = {}
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof parsed
          } catch {
            /* not JSON */
          }
          resolve({
            ok: res.statusCode === 200 && parsed.status === 'success',
            http: res.statusCode ?? 0,
            status: parsed.status ?? null,
            exitCode: parsed.exit_code ?? null,
            value: parsed.result?.value,
            host: (res.headers['x-sandbox-host'] as string | undefined) ?? null,
            ms: performance.now() - startedAt,
            error: null,
            refused,
            startedAt,
          })
        })
        res.on('error', (error) =>
          resolve({ok: false, http: 0, status: null, exitCode: null, value: undefined, host: null, ms: performance.now() - startedAt, error: error.message, refused, startedAt}),
        )
      })
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ECONNREFUSED' && refused < 50) {
          setTimeout(() => void attempt(refused + 1).then(resolve), 100)
          return
        }
        resolve({
          ok: false,
          http: 0,
          status: null,
          exitCode: null,
          value: undefined,
          host: null,
          ms: performance.now() - startedAt,
          error: `${error.code ?? ''} ${error.message}`,
          refused,
          startedAt,
        })
      })
      req.end(body)
    })
  return attempt(0)
}

export interface LoadResult {
  answers: RunAnswer[]
  seconds: number
  runsPerSecond: number
  byHost: Record<string, number>
}

/**
 * `clients` closed-loop clients alternating Python and Node.js until `stop()` resolves true
 * (checked before each request) — `until` sees the answers so far.
 */
export async function closedLoop(endpoint: string, clients: number, until: (answers: RunAnswer[], elapsedMs: number) => boolean): Promise<LoadResult> {
  const agent = new Agent({keepAlive: true, maxSockets: clients})
  const answers: RunAnswer[] = []
  const started = performance.now()
  let n = 0
  await Promise.all(
    Array.from({length: clients}, async () => {
      while (!until(answers, performance.now() - started)) {
        const language = n++ % 2 === 0 ? 'python' : 'nodejs'
        answers.push(await runOnce(endpoint, language, agent))
      }
    }),
  )
  agent.destroy()
  const seconds = (performance.now() - started) / 1000
  const byHost: Record<string, number> = {}
  for (const a of answers) if (a.host) byHost[a.host] = (byHost[a.host] ?? 0) + 1
  return {answers, seconds, runsPerSecond: answers.length / seconds, byHost}
}
