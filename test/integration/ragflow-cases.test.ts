/**
 * RAGFlow's own security test script (agent/sandbox/tests/sandbox_security_tests_full.py at
 * RAGFlow commit fd11aca8e5) against a started manager (issue 10, first "must show"): its 17
 * programs, POSTed to /run as that script does (code dedented and base64-encoded, 5 at a
 * time, retried on -429), judged as it judges them: a case passes when `status` is
 * "success", an expected failure when it is anything else. The programs and expectations are
 * data here; what we add are our own, stricter checks of each answer.
 *
 * Where our answer differs from what the script expects, the difference is listed in
 * DIFFERENCES with the reason and the exact answer we give instead (docs/ragflow.md lists them
 * too). Case 17 "passes" on RAGFlow only because RAGFlow's static check refuses `'a' * 1024`
 * (a false positive): its program uses about 1 MB and may simply succeed.
 */
import {Agent} from 'node:http'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {BACKEND_IDS} from '../../src/backends/index.js'
import type {RunResult} from '../../src/engine/result.js'
import {expectUnsafe} from '../../src/suite/expect.js'
import {postRun, runBody, startCliManager, type PrivateState} from '../helpers/manager.js'

interface RagflowCase {
  n: number
  name: string
  language: 'python' | 'nodejs'
  /** as in RAGFlow's file: starts with a newline, dedented before sending */
  code: string
  /** RAGFlow's `should_fail` */
  shouldFail: boolean
  /** our own, stricter reading of the answer (RAGFlow's script only looks at `status`) */
  check?: (r: RunResult) => void
}

const LOOP = `
def main():
    while True:
        pass
            `

const timedOut = (r: RunResult) => expect(r).toMatchObject({status: 'resource_limit_exceeded', exit_code: -124, resource_limit_type: 'time'})
// RAGFlow's answer: -999, "Code is unsafe", stderr lines "Line N: finding" (ours may add the rule and how to proceed)
const refused = (line: string) => (r: RunResult) => expect(expectUnsafe(r, [line])).toMatchObject({ok: true})

export const RAGFLOW_CASES: RagflowCase[] = [
  ...[1, 2, 3, 4, 5, 6].map((n) => ({n, name: `${n} Infinite loop: Should be forcibly terminated`, language: 'python' as const, code: LOOP, shouldFail: true, check: timedOut})),
  {
    n: 7,
    name: '7 Normal test: Python without dependencies',
    language: 'python',
    code: `
def main():
    return {"data": "hello, world"}
            `,
    shouldFail: false,
    check: (r) => expect(r).toMatchObject({exit_code: 0, stdout: '', stderr: '', result: {present: true, value: {data: 'hello, world'}, type: 'json'}}),
  },
  {
    n: 8,
    name: '8 Normal test: Python with pandas, should pass without any error',
    language: 'python',
    code: `
import pandas as pd

def main():
    data = {'Name': ['Alice', 'Bob', 'Charlie'],
            'Age': [25, 30, 35]}
    df = pd.DataFrame(data)
            `,
    shouldFail: false,
    check: (r) => expect(r).toMatchObject({exit_code: 0, result: {present: true, value: null, type: 'json'}}),
  },
  {
    n: 9,
    name: '9 Normal test: Nodejs without dependencies, should pass without any error',
    language: 'nodejs',
    code: `
const https = require('https');

async function main(args) {
  return new Promise((resolve, reject) => {
    const req = https.get('https://example.com/', (res) => {
      let data = '';

      res.on('data', (chunk) => {
        data += chunk;
      });

      res.on('end', () => {
        clearTimeout(timeout);
        console.log('Body:', data);
        resolve(data);
      });
    });

    const timeout = setTimeout(() => {
      req.destroy(new Error('Request timeout after 10s'));
    }, 10000);

    req.on('error', (err) => {
      clearTimeout(timeout);
      console.error('Error:', err.message);
      reject(err);
    });
  });
}

module.exports = { main };
            `,
    shouldFail: false,
  },
  {
    n: 10,
    name: '10 Normal test: Nodejs with axios, should pass without any error',
    language: 'nodejs',
    code: `
const axios = require('axios');

async function main(args) {
  try {
    const response = await axios.get('https://example.com/', {
      timeout: 10000
    });
    console.log('Body:', response.data);
  } catch (error) {
    console.error('Error:', error.message);
  }
}

module.exports = { main };
            `,
    shouldFail: false,
    // the program caught its own network error and returned: a completed run, whatever it logged
    check: (r) => {
      expect(r).toMatchObject({exit_code: 0, result: {present: true, value: null, type: 'json'}})
      expect(r.stderr).toMatch(/^Error: /)
    },
  },
  {
    n: 11,
    name: '11 Dangerous import: Should fail due to os module import',
    language: 'python',
    code: `
import os

def main():
    pass
            `,
    shouldFail: true,
    check: refused('Line 2: Import: os'),
  },
  {
    n: 12,
    name: '12 Dangerous import from subprocess: Should fail due to subprocess import',
    language: 'python',
    code: `
from subprocess import Popen

def main():
    pass
            `,
    shouldFail: true,
    check: refused('Line 2: From Import: subprocess'),
  },
  {
    n: 13,
    name: '13 Dangerous call: Should fail due to eval function call',
    language: 'python',
    code: `
def main():
    eval('os.system("echo hello")')
            `,
    shouldFail: true,
    check: refused('Line 3: Call: eval'),
  },
  {
    n: 14,
    name: '14 Dangerous attribute access: Should fail due to shutil.rmtree',
    language: 'python',
    code: `
import shutil

def main():
    shutil.rmtree('/some/path')
            `,
    shouldFail: true,
    check: refused('Line 2: Import: shutil'),
  },
  {
    n: 15,
    name: '15 Dangerous binary operation: Should fail due to unsafe concatenation leading to eval',
    language: 'python',
    code: `
def main():
    dangerous_string = "os." + "system"
    eval(dangerous_string + '("echo hello")')
            `,
    shouldFail: true,
    check: refused('Line 4: Call: eval'),
  },
  {
    n: 16,
    name: '16 Dangerous function definition: Should fail due to user-defined eval function',
    language: 'python',
    code: `
def eval_function():
    eval('os.system("echo hello")')

def main():
    eval_function()
            `,
    shouldFail: true,
    check: refused('Line 3: Call: eval'),
  },
  {
    n: 17,
    name: '17 Memory exhaustion(256m): Should fail due to exceeding memory limit(try to allocate 300m)',
    language: 'python',
    code: `
def main():
    x = ['a' * 1024 * 1024] * 300  # 300MB
`,
    shouldFail: true,
  },
]

/**
 * Where we answer differently from what RAGFlow's script expects, and what we answer instead.
 * Case 9's main rejects with the network error (`reject(err)`): with no network in the sandbox
 * that is a failed run, labelled from the runner's record of the error (Error:EAI_AGAIN).
 * RAGFlow "passes" it only with internet access, or at fd11aca8e5 because its Node runner
 * swallowed a rejected main and exited 0 (fixed later in RAGFlow: errors exit 1).
 * Case 17 allocates about 1 MB (300 references to one string): it runs and succeeds unless a
 * static check refuses it; RAGFlow's refuses `'a' * 1024` as a constant binary operation.
 */
const DIFFERENCES: Record<number, {why: string; check: (r: RunResult) => void}> = {
  9: {
    why: 'no network in the sandbox: main rejects with getaddrinfo EAI_AGAIN',
    check: (r) =>
      expect(r).toMatchObject({status: 'unauthorized_access', unauthorized_access_type: 'network_access', detail: 'Network access is not allowed in the sandbox', exit_code: 1}),
  },
  17: {
    why: 'uses about 1 MB: success, or -999 if the policy refuses the constant multiplication',
    check: (r) => expect(['success', 'program_runner_error']).toContain(r.status),
  },
}

/** Python's textwrap.dedent, which RAGFlow's script applies: whitespace-only lines become empty, the common margin goes */
function pyDedent(text: string): string {
  const lines = text.split('\n').map((l) => (l.trim() === '' ? '' : l))
  const margins = lines.filter((l) => l).map((l) => /^[ \t]*/.exec(l)![0].length)
  const margin = margins.length ? Math.min(...margins) : 0
  return lines.map((l) => l.slice(margin)).join('\n')
}

let manager: PrivateState
const agent = new Agent({keepAlive: true, maxSockets: 8})

/** What RAGFlow's execute_single_test does: dedent, base64, POST, retry on -429; HTTP errors are failures. */
async function execute(c: RagflowCase): Promise<RunResult> {
  const body = runBody(pyDedent(c.code), c.language, {})
  for (;;) {
    const answer = await postRun(manager.port, body, {agent})
    expect(answer.status, answer.text).toBe(200)
    const result = JSON.parse(answer.text) as RunResult
    if (result.exit_code !== -429) return result
  }
}

/** RAGFlow's validate_test_result: passed = status is success; an expected failure is OK when it did not pass */
const meetsRagflowExpectation = (c: RagflowCase, r: RunResult) => (r.status === 'success') !== c.shouldFail

async function runAll(cases: RagflowCase[], workers: number): Promise<Map<number, RunResult>> {
  const results = new Map<number, RunResult>()
  const queue = [...cases]
  await Promise.all(
    Array.from({length: workers}, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) results.set(c.n, await execute(c))
    }),
  )
  return results
}

// on each backend (SANDBOX_BACKEND / --backend): the cases must pass on both
describe.each(BACKEND_IDS)("RAGFlow's sandbox_security_tests_full.py against a started manager (%s backend)", (backend) => {
  beforeAll(async () => {
    // the manager as RAGFlow deploys it: default policy (RAGFlow's rules), default 10 s timeout
    manager = await startCliManager('sandbox-ragflow-cases-', ['--pool-size', '2', '--backend', backend])
  }, 120_000)

  afterAll(async () => {
    await manager?.close()
  })

  it('the 17 cases, 5 at a time: every case meets RAGFlow’s expectation except the listed differences, which give exactly the documented answer', async () => {
    expect(RAGFLOW_CASES.map((c) => c.n)).toEqual(Array.from({length: 17}, (_, i) => i + 1))
    const results = await runAll(RAGFLOW_CASES, 5)
    const report = RAGFLOW_CASES.map((c) => {
      const r = results.get(c.n)!
      const met = meetsRagflowExpectation(c, r)
      return `${met ? (c.shouldFail ? '✓' : '✅') : c.shouldFail ? '⚠️' : '❌'} ${c.name}: status=${r.status} exit=${r.exit_code}${DIFFERENCES[c.n] ? ` (difference: ${DIFFERENCES[c.n].why})` : ''}`
    })
    process.stderr.write(`[ragflow-cases]\n${report.join('\n')}\n`)

    const unexpected = RAGFLOW_CASES.filter((c) => !DIFFERENCES[c.n] && !meetsRagflowExpectation(c, results.get(c.n)!)).map((c) => `${c.name}: ${JSON.stringify(results.get(c.n))}`)
    expect(unexpected).toEqual([])
    for (const c of RAGFLOW_CASES) {
      const r = results.get(c.n)!
      c.check?.(r)
      DIFFERENCES[c.n]?.check(r)
    }
  }, 300_000)
})

afterAll(() => agent.destroy())
