/**
 * The static policy under load (issue 11.3): does checking big programs stall the caller?
 *
 *   node --import tsx bench/policy.ts            # in-process only
 *   node --import tsx bench/policy.ts --manager  # also against a started manager (needs the images)
 *
 * (a) in process: the worst event-loop lag (a 10 ms timer's lateness) while eight big
 *     programs are checked at once, in the policy workers (as shipped) and inline (as before);
 * (b) with --manager: /healthz latency and a trivial run while eight 2 MB and eight 900 KB
 *     programs are in the manager's policy check.
 * Figures are from one run on a shared host: compare them with each other, not across runs.
 */
import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {closePolicyWorkers, inspectCode, setPolicyBudget, warmUpPolicy} from '../src/policy/index.js'
import {freePort} from '../test/helpers/ports.js'

const chunk = 'import json\n\ndef f(x):\n    return json.dumps({"x": x * 2, "s": "a" * 10})\n\n'
const python = (bytes: number) => chunk.repeat(Math.ceil(bytes / chunk.length)).slice(0, bytes)

/** Run `work` while a 10 ms timer measures how late it fires; returns the worst lateness. */
async function withLagProbe(work: () => Promise<unknown>): Promise<{maxLagMs: number; wallMs: number}> {
  let maxLagMs = 0
  let expected = performance.now() + 10
  const timer = setInterval(() => {
    const now = performance.now()
    maxLagMs = Math.max(maxLagMs, now - expected)
    expected = now + 10
  }, 10)
  const started = performance.now()
  let wallMs = 0
  try {
    await work()
    wallMs = Math.round(performance.now() - started)
    // let a tick that the work held up fire (and be measured) before stopping the probe
    await new Promise((resolve) => setTimeout(resolve, 25))
  } finally {
    clearInterval(timer)
  }
  return {maxLagMs: Math.round(maxLagMs), wallMs}
}

async function inProcess(): Promise<void> {
  const programs = Array.from({length: 8}, () => python(300_000))
  console.log('\n(a) eight 300 KB Python programs checked at once, in this process')
  await warmUpPolicy({workers: true})
  const workers = await withLagProbe(() => Promise.all(programs.map((code) => inspectCode(code, 'python'))))
  console.log(`  in the policy workers: worst event-loop lag ${workers.maxLagMs} ms, all verdicts after ${workers.wallMs} ms`)
  const previous = setPolicyBudget({inlineMaxBytes: Number.POSITIVE_INFINITY})
  const inline = await withLagProbe(() => Promise.all(programs.map((code) => inspectCode(code, 'python'))))
  setPolicyBudget(previous)
  console.log(`  inline (as before):    worst event-loop lag ${inline.maxLagMs} ms, all verdicts after ${inline.wallMs} ms`)
  await closePolicyWorkers()
}

async function post(base: string, code: string): Promise<{status: string; exit_code: number; stderr: string}> {
  const response = await fetch(`${base}/run`, {
    method: 'POST',
    headers: {'content-type': 'application/json'},
    body: JSON.stringify({language: 'python', code_b64: Buffer.from(code).toString('base64'), arguments: {}}),
  })
  return (await response.json()) as {status: string; exit_code: number; stderr: string}
}

async function manager(): Promise<void> {
  const port = await freePort()
  const state = mkdtempSync(join(tmpdir(), 'bench-policy-state-'))
  const data = mkdtempSync(join(tmpdir(), 'bench-policy-data-'))
  const child = spawn(process.execPath, ['bin/dev.js', 'start', '--foreground', '--port', String(port), '--pool-size', '1', '--env-file', '/dev/null'], {
    env: {...process.env, SANDBOX_STATE_DIR: state, SANDBOX_DATA_DIR: data},
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const base = `http://127.0.0.1:${port}`
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`${base}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
      if (ok) break
      if (i > 600) throw new Error('the manager did not become healthy')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    for (const [label, bytes] of [
      ['2 MB', 2_000_000],
      ['900 KB', 900_000],
    ] as const) {
      const code = python(bytes) + '\ndef main():\n    return 1\n'
      const big = Array.from({length: 8}, () => post(base, code))
      // let the requests reach the policy check before measuring
      await new Promise((resolve) => setTimeout(resolve, 200))
      const latencies: number[] = []
      for (let i = 0; i < 5; i++) {
        const started = performance.now()
        await fetch(`${base}/healthz`)
        latencies.push(Math.round(performance.now() - started))
      }
      const started = performance.now()
      const trivial = await post(base, 'def main():\n    return 1\n')
      const trivialMs = Math.round(performance.now() - started)
      const results = await Promise.all(big)
      const verdicts = [...new Set(results.map((r) => `${r.exit_code} ${r.stderr.split(' (')[0].replace(/\d{4,}/g, 'N')}`))]
      console.log(
        `  eight ${label} programs in the policy check: /healthz ${latencies.join(', ')} ms; a trivial run ${trivial.status} in ${trivialMs} ms; big ones: ${verdicts.join(' / ')}`,
      )
    }
  } finally {
    child.kill('SIGTERM')
    await new Promise((resolve) => child.once('exit', resolve))
    rmSync(state, {recursive: true, force: true})
    rmSync(data, {recursive: true, force: true})
  }
}

await inProcess()
if (process.argv.includes('--manager')) {
  console.log('\n(b) a started manager (pool size 1, default policy budget)')
  await manager()
}
