/**
 * RAGFlow's own 17 cases (agent/sandbox/tests/sandbox_security_tests_full.py), kept with the
 * same code where it still proves something, and tightened where RAGFlow's expectation was
 * wrong: the two Node.js cases needed internet access — here they must show that the network
 * is blocked; the memory case was refused by RAGFlow's own AST check before it ran — here it
 * really allocates until the limit stops it. Like RAGFlow's file, the code starts with a
 * newline, so the first code line is reported as line 2.
 */
import {code, deepEqual, expectMemoryLimit, expectSuccess, expectTimeout, expectUnsafe, expectValue, fail} from '../expect.js'
import type {SuiteCase} from '../types.js'

const nl = (text: string) => '\n' + text

const INFINITE_LOOP = nl(code`
  def main():
      while True:
          pass
`)

const loops: SuiteCase[] = [1, 2, 3, 4, 5, 6].map((n) => ({
  id: `ragflow-${String(n).padStart(2, '0')}`,
  title: `RAGFlow ${n}: infinite loop is forcibly terminated`,
  tags: ['ragflow', 'resources', 'timeout'],
  language: 'python',
  code: INFINITE_LOOP,
  policy: 'any',
  timeoutSeconds: 2,
  expect: (r) => expectTimeout(r),
}))

/** host-side evidence first: the listener saw nothing; then the code's own account */
function networkBlocked(v: Record<string, unknown>, hits: number | undefined): true | string {
  if (hits === undefined) return 'no listener was started'
  if (hits > 0) return `the host's 127.0.0.1 listener received ${hits} connection(s) from the sandbox`
  if (typeof v.loopback !== 'string' || v.loopback.startsWith('reached')) return `the request to the host listener did not fail (${String(v.loopback)})`
  if (typeof v.dns !== 'string' || v.dns.startsWith('resolved')) return `example.com was resolved (${String(v.dns)})`
  return true
}

export const ragflowCases: SuiteCase[] = [
  ...loops,
  {
    id: 'ragflow-07',
    title: 'RAGFlow 7: plain Python returns a dict',
    tags: ['ragflow', 'positive'],
    language: 'python',
    policy: 'any',
    code: nl(code`
      def main():
          return {"data": "hello, world"}
    `),
    expect: (r) =>
      expectSuccess(r, (v, res) =>
        deepEqual(v, {data: 'hello, world'}) ? (res.stdout === '' ? true : `stdout should be empty, got ${JSON.stringify(res.stdout)}`) : `result ${JSON.stringify(v)}`,
      ),
  },
  {
    id: 'ragflow-08',
    title: 'RAGFlow 8: Python with pandas runs without error',
    tags: ['ragflow', 'positive'],
    language: 'python',
    policy: 'any',
    code: nl(code`
      import pandas as pd

      def main():
          data = {'Name': ['Alice', 'Bob', 'Charlie'],
                  'Age': [25, 30, 35]}
          df = pd.DataFrame(data)
    `),
    expect: (r) => expectSuccess(r, (v, res) => (res.result?.present && v === null ? true : `expected result null (main returns None), got ${JSON.stringify(res.result)}`)),
  },
  {
    id: 'ragflow-09',
    title: 'RAGFlow 9: Node https cannot reach the host (127.0.0.1 listener) and cannot resolve names',
    tags: ['ragflow', 'network'],
    language: 'nodejs',
    policy: 'any',
    listeners: ['tcp4'],
    arguments: (ctx) => ({port: ctx.listeners.tcp4!.port}),
    code: nl(code`
      const https = require('https');
      const dns = require('dns');

      async function main(args) {
        const loopback = await new Promise((resolve) => {
          const req = https.get({host: '127.0.0.1', port: args.port, path: '/', rejectUnauthorized: false, timeout: 3000}, (res) => {
            let data = '';
            res.on('data', (chunk) => { data += chunk; });
            res.on('end', () => resolve('reached: ' + data));
          });
          req.on('timeout', () => req.destroy(new Error('Request timeout after 3s')));
          req.on('error', (err) => resolve(err.code || err.message));
        });
        const dnsResult = await new Promise((resolve) => {
          dns.lookup('example.com', (err, address) => resolve(err ? err.code || err.message : 'resolved: ' + address));
        });
        return {loopback, dns: dnsResult};
      }

      module.exports = { main };
    `),
    expect: (r, ctx) => expectValue(r, (v) => networkBlocked(v, ctx.listeners.tcp4?.hits), 'no connection reached the host and DNS failed'),
  },
  {
    id: 'ragflow-10',
    title: 'RAGFlow 10: Node axios loads but cannot reach the host or resolve names',
    tags: ['ragflow', 'network'],
    language: 'nodejs',
    policy: 'any',
    listeners: ['tcp4'],
    arguments: (ctx) => ({port: ctx.listeners.tcp4!.port}),
    code: nl(code`
      const axios = require('axios');
      const dns = require('dns');

      async function main(args) {
        let loopback;
        try {
          const response = await axios.get('http://127.0.0.1:' + args.port + '/', {timeout: 3000});
          loopback = 'reached: ' + response.data;
        } catch (error) {
          loopback = error.code || error.message;
        }
        const dnsResult = await new Promise((resolve) => {
          dns.lookup('example.com', (err, address) => resolve(err ? err.code || err.message : 'resolved: ' + address));
        });
        return {loopback, dns: dnsResult};
      }

      module.exports = { main };
    `),
    expect: (r, ctx) => expectValue(r, (v) => networkBlocked(v, ctx.listeners.tcp4?.hits), 'axios works, the network does not'),
  },
  {
    id: 'ragflow-11',
    title: 'RAGFlow 11: import os is refused by the code policy',
    tags: ['ragflow', 'policy'],
    language: 'python',
    policy: 'on',
    code: nl(code`
      import os

      def main():
          pass
    `),
    expect: (r) => expectUnsafe(r, ['Line 2: Import: os']),
  },
  {
    id: 'ragflow-12',
    title: 'RAGFlow 12: from subprocess import Popen is refused',
    tags: ['ragflow', 'policy'],
    language: 'python',
    policy: 'on',
    code: nl(code`
      from subprocess import Popen

      def main():
          pass
    `),
    expect: (r) => expectUnsafe(r, ['Line 2: From Import: subprocess']),
  },
  {
    id: 'ragflow-13',
    title: 'RAGFlow 13: a call to eval is refused',
    tags: ['ragflow', 'policy'],
    language: 'python',
    policy: 'on',
    code: nl(code`
      def main():
          eval('os.system("echo hello")')
    `),
    expect: (r) => expectUnsafe(r, ['Line 3: Call: eval']),
  },
  {
    id: 'ragflow-14',
    title: 'RAGFlow 14: import shutil and shutil.rmtree are refused',
    tags: ['ragflow', 'policy'],
    language: 'python',
    policy: 'on',
    code: nl(code`
      import shutil

      def main():
          shutil.rmtree('/some/path')
    `),
    expect: (r) => expectUnsafe(r, ['Line 2: Import: shutil', 'Line 5: Attribute Access: shutil.rmtree']),
  },
  {
    id: 'ragflow-15',
    title: 'RAGFlow 15: eval of a concatenated string is refused',
    tags: ['ragflow', 'policy'],
    language: 'python',
    policy: 'on',
    code: nl(code`
      def main():
          dangerous_string = "os." + "system"
          eval(dangerous_string + '("echo hello")')
    `),
    expect: (r) => expectUnsafe(r, ['Line 4: Call: eval']),
  },
  {
    id: 'ragflow-16',
    title: 'RAGFlow 16: eval inside a helper function is refused',
    tags: ['ragflow', 'policy'],
    language: 'python',
    policy: 'on',
    code: nl(code`
      def eval_function():
          eval('os.system("echo hello")')

      def main():
          eval_function()
    `),
    expect: (r) => expectUnsafe(r, ['Line 3: Call: eval']),
  },
  {
    id: 'ragflow-17',
    title: 'RAGFlow 17: memory exhaustion really allocates and is stopped at the limit',
    tags: ['ragflow', 'resources', 'memory'],
    language: 'python',
    policy: 'any',
    timeoutSeconds: 20,
    code: nl(code`
      def main():
          chunks = []
          while True:
              # 16 MiB of real (written) memory per step, until the limit stops the program
              chunks.append(bytearray(b"x" * 16777216))
          return len(chunks)
    `),
    expect: (r) => (r.status === 'success' ? fail('allocated without limit and returned') : expectMemoryLimit(r)),
  },
]
