/**
 * Protocol abuse: what user code prints cannot override what main returns (forged
 * __RAGFLOW_RESULT__ markers, forged runner control frames — guessed or with the job's nonce
 * stolen from the runner's own stack), and arguments are data: huge, odd, or code-like
 * values arrive intact and are never executed.
 */
import {createHash} from 'node:crypto'

import {encodeResultMarker} from '../../engine/result.js'
import {brief, code, deepEqual, expectSuccess, expectValue, fail, pass, safeJson, valueOf} from '../expect.js'
import type {SuiteCase} from '../types.js'
import {unsafeArtifact} from './artifacts.js'

const FORGED = encodeResultMarker('forged')
const HUGE = 'x'.repeat(1024 * 1024 - 8) + 'é世界🚀'
const HUGE_SHA = createHash('sha256').update(HUGE, 'utf8').digest('hex')

/** JSON values of every kind, keys Python's **kwargs accepts (any string) */
export const ODD_ARGUMENTS: Record<string, unknown> = {
  text: 'héllo 世界 🚀 "quotes" \\ backslash \n newline \t tab \u0000 nul \u2028 sep',
  nested: {a: [1, {b: null, c: [true, false, []]}], d: {}},
  nothing: null,
  yes: true,
  no: false,
  int: 9007199254740991,
  negative: -42,
  float: 1.5e-10,
  empty: '',
  list: [],
  'with space': 'ok',
  ключ: 'значение',
}

const CODE_LIKE = {
  py: '"""); import os; os.system("id"); ("""',
  js: "'); process.exit(3); ('",
  marker: '\n__RAGFLOW_RESULT__:' + Buffer.from('{"present":true,"value":"injected","type":"json"}').toString('base64') + '\n',
  template: '${process.exit(4)}',
  dunder: "__import__('os').system('id')",
}

export const protocolCases: SuiteCase[] = [
  {
    id: 'proto-marker-py',
    title: "A forged __RAGFLOW_RESULT__ line printed by the code does not override main's return (Python)",
    tags: ['protocol', 'result'],
    language: 'python',
    policy: 'any',
    arguments: {forged: FORGED},
    code: code`
      def main(forged):
          print(forged)
          print("between")
          return "real"
    `,
    expect: (r) => expectSuccess(r, (v) => (v === 'real' ? true : `result is ${safeJson(v)}, expected "real"`)),
  },
  {
    id: 'proto-marker-node',
    title: "A forged __RAGFLOW_RESULT__ line does not override main's return (Node.js)",
    tags: ['protocol', 'result'],
    language: 'nodejs',
    policy: 'any',
    arguments: {forged: FORGED},
    code: code`
      function main({forged}) {
        console.log(forged)
        return 'real'
      }
    `,
    expect: (r) => expectSuccess(r, (v) => (v === 'real' ? true : `result is ${safeJson(v)}, expected "real"`)),
  },
  {
    id: 'proto-marker-none-py',
    title: 'A forged marker cannot invent a result when main returns None',
    tags: ['protocol', 'result'],
    language: 'python',
    policy: 'any',
    arguments: {forged: FORGED},
    code: code`
      def main(forged):
          print(forged)
    `,
    expect: (r) => expectSuccess(r, (v, res) => (res.result?.present && v === null ? true : `result is ${safeJson(res.result)}, expected present null`)),
  },
  {
    id: 'proto-marker-failure-py',
    title: 'A forged marker cannot turn a failing program into a success',
    tags: ['protocol', 'result'],
    language: 'python',
    policy: 'any',
    arguments: {forged: FORGED},
    code: code`
      def main(forged):
          print(forged)
          raise ValueError("real failure")
    `,
    expect: (r) =>
      r.status === 'program_error' && /real failure/.test(r.stderr) && valueOf(r) === undefined
        ? pass('program_error with the real traceback')
        : fail(`expected program_error: ${brief(r)}`),
  },
  {
    id: 'proto-control-guess-py',
    title: 'Guessed runner control/end frames are plain output and cannot fake success',
    tags: ['protocol', 'frames'],
    language: 'python',
    code: code`
      import base64, json, sys

      def main():
          fake = {"ok": True, "result": {"present": True, "value": "forged", "type": "json"}, "error": None, "artifacts": [], "notes": []}
          payload = base64.b64encode(json.dumps(fake).encode()).decode()
          for nonce in ["0" * 24, "", "x"]:
              sys.stdout.write("\n__SANDBOX_CONTROL_%s__:%s\n" % (nonce, payload))
              sys.stderr.write("\n__SANDBOX_END_%s__\n" % nonce)
          sys.stdout.flush()
          sys.stderr.flush()
          raise RuntimeError("real failure")
    `,
    expect: (r) =>
      r.status === 'program_error' && /real failure/.test(r.stderr) && valueOf(r) === undefined
        ? pass('the fake frames changed nothing')
        : fail(`expected program_error: ${brief(r)}`),
  },
  {
    id: 'proto-control-stolen-py',
    title: "A control frame forged with the runner's own nonce cannot smuggle unsafe artifacts",
    tags: ['protocol', 'frames', 'artifacts'],
    language: 'python',
    timeoutSeconds: 8,
    code: code`
      import base64, json, sys, time

      def main():
          nonce = None
          f = sys._getframe()
          while f is not None and nonce is None:
              job = f.f_locals.get("job")
              if isinstance(job, dict) and "nonce" in job:
                  nonce = job["nonce"]
              f = f.f_back
          if nonce is None:
              return {"stolen": False}
          evil = base64.b64encode(b"evil").decode()
          fake = {"ok": True, "result": {"present": True, "value": {"stolen": True}, "type": "json"}, "error": None, "notes": [],
                  "artifacts": [{"name": n, "size": 4, "content_b64": evil} for n in
                                ["../../../../tmp/evil.png", "/etc/cron.d/evil.csv", "..\\evil.csv", ".bashrc.csv", "evil.exe", "ok.png"]]
                               + [{"name": "many-%d.png" % i, "size": 4, "content_b64": evil} for i in range(20)]}
          sys.stdout.write("\n__SANDBOX_CONTROL_%s__:%s\n" % (nonce, base64.b64encode(json.dumps(fake).encode()).decode()))
          sys.stdout.flush()
          sys.stderr.write("\n__SANDBOX_END_%s__\n" % nonce)
          sys.stderr.flush()
          time.sleep(2)
          return {"stolen": True, "late": True}
    `,
    expect: (r) => {
      if (r.status !== 'success') return pass(`not accepted as a success (${r.status})`)
      if (r.artifacts.length > 10) return fail(`${r.artifacts.length} artifacts accepted (max 10)`)
      for (const a of r.artifacts) {
        const bad = unsafeArtifact(a)
        if (bad) return fail(`forged artifact accepted: ${bad}`)
      }
      return pass(`returned ${r.artifacts.length} artifact(s), all with safe names and types`)
    },
  },
  {
    id: 'proto-huge-args-py',
    title: 'A 1 MB argument arrives intact (Python)',
    tags: ['protocol', 'arguments'],
    language: 'python',
    policy: 'any',
    arguments: {blob: HUGE},
    code: code`
      import hashlib

      def main(blob):
          return {"length": len(blob), "sha256": hashlib.sha256(blob.encode("utf-8")).hexdigest()}
    `,
    expect: (r) =>
      expectValue(r, (v) => (v.length === [...HUGE].length && v.sha256 === HUGE_SHA ? true : `got length ${String(v.length)}, sha ${String(v.sha256)}`), '1 MB, same sha256'),
  },
  {
    id: 'proto-huge-args-node',
    title: 'A 1 MB argument arrives intact (Node.js)',
    tags: ['protocol', 'arguments'],
    language: 'nodejs',
    policy: 'any',
    arguments: {blob: HUGE},
    code: code`
      const crypto = require('crypto')
      function main({blob}) {
        return {length: blob.length, sha256: crypto.createHash('sha256').update(blob, 'utf8').digest('hex')}
      }
    `,
    expect: (r) =>
      expectValue(r, (v) => (v.length === HUGE.length && v.sha256 === HUGE_SHA ? true : `got length ${String(v.length)}, sha ${String(v.sha256)}`), '1 MB, same sha256'),
  },
  {
    id: 'proto-odd-args-py',
    title: 'Unicode, nested, null, boolean and odd-key arguments round-trip (Python)',
    tags: ['protocol', 'arguments'],
    language: 'python',
    policy: 'any',
    arguments: ODD_ARGUMENTS,
    code: code`
      def main(**kwargs):
          return {"echo": kwargs, "types": {k: type(v).__name__ for k, v in kwargs.items()}}
    `,
    expect: (r) =>
      expectValue(
        r,
        (v) => {
          if (!deepEqual(v.echo, ODD_ARGUMENTS)) return 'the arguments changed on the way'
          const t = v.types as Record<string, string>
          return t.nothing === 'NoneType' && t.yes === 'bool' && t.no === 'bool' && t.int === 'int' && t.nested === 'dict' ? true : `types ${JSON.stringify(t)}`
        },
        'identical, with Python types None/bool/int/dict',
      ),
  },
  {
    id: 'proto-odd-args-node',
    title: 'Unicode, nested, null, boolean and odd-key arguments round-trip (Node.js)',
    tags: ['protocol', 'arguments'],
    language: 'nodejs',
    policy: 'any',
    arguments: ODD_ARGUMENTS,
    code: code`
      function main(args) {
        return {echo: args, types: Object.fromEntries(Object.entries(args).map(([k, v]) => [k, v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v]))}
      }
    `,
    expect: (r) =>
      expectValue(
        r,
        (v) => {
          if (!deepEqual(v.echo, ODD_ARGUMENTS)) return 'the arguments changed on the way'
          const t = v.types as Record<string, string>
          return t.nothing === 'null' && t.yes === 'boolean' && t.nested === 'object' ? true : `types ${JSON.stringify(t)}`
        },
        'identical',
      ),
  },
  {
    id: 'proto-code-args-py',
    title: 'Code-like arguments are data, never executed (Python)',
    tags: ['protocol', 'arguments'],
    language: 'python',
    policy: 'any',
    arguments: CODE_LIKE,
    code: code`
      def main(**kwargs):
          return kwargs
    `,
    expect: (r) => expectSuccess(r, (v) => (deepEqual(v, CODE_LIKE) ? true : `returned ${safeJson(v)}`)),
  },
  {
    id: 'proto-code-args-node',
    title: 'Code-like arguments are data, never executed (Node.js)',
    tags: ['protocol', 'arguments'],
    language: 'nodejs',
    policy: 'any',
    arguments: CODE_LIKE,
    code: code`
      function main(args) {
        return args
      }
    `,
    expect: (r) => expectSuccess(r, (v) => (deepEqual(v, CODE_LIKE) ? true : `returned ${safeJson(v)}`)),
  },
  {
    id: 'proto-stdin-py',
    title: 'stdin is empty: no leftover job data, no host input',
    tags: ['protocol', 'frames'],
    language: 'python',
    code: code`
      import sys

      def main():
          return {"stdin": sys.stdin.read(4096)}
    `,
    expect: (r) => expectValue(r, (v) => (v.stdin === '' ? true : `stdin had ${JSON.stringify(String(v.stdin).slice(0, 80))}`), 'EOF'),
  },
  {
    id: 'proto-report-lost-py',
    title: 'A program that puts /dev/null over every stdio copy (os.dup2) ends without a result: a program error, never a success',
    tags: ['protocol', 'frames'],
    language: 'python',
    code: code`
      import os

      def main():
          null = os.open("/dev/null", os.O_WRONLY)
          for fd in range(1, 64):
              if fd != null:
                  try:
                      os.dup2(null, fd)
                  except OSError:
                      pass
          return "redirected"
    `,
    expect: (r) => (r.status === 'program_error' && r.result === null ? pass('program_error, no result') : fail(`expected program_error without a result: ${brief(r)}`)),
  },
  {
    id: 'proto-report-lost-node',
    title: 'A program that closes stdout and stderr and opens /dev/null in their place ends without a result: a program error, never a success',
    tags: ['protocol', 'frames'],
    language: 'nodejs',
    code: code`
      const fs = require('fs')

      function main() {
        const raw = process.binding('fs')
        for (const fd of [1, 2]) raw.close(fd, undefined, {})
        fs.openSync('/dev/null', 'w')
        fs.openSync('/dev/null', 'w')
        return 'redirected'
      }
    `,
    expect: (r) => (r.status === 'program_error' && r.result === null ? pass('program_error, no result') : fail(`expected program_error without a result: ${brief(r)}`)),
  },
  {
    id: 'proto-unsettled-node',
    title: 'A main whose promise never settles (nothing left to run) is a program error, not a success',
    tags: ['protocol', 'result'],
    language: 'nodejs',
    policy: 'any',
    code: code`
      function main() {
        return new Promise(() => {})
      }
    `,
    expect: (r) =>
      r.status === 'program_error' && /never returned/.test(r.detail ?? '')
        ? pass('program_error: main never returned')
        : fail(`expected program_error "main() never returned": ${brief(r)}`),
  },
  {
    id: 'proto-huge-int-py',
    title: 'An integer beyond what a JSON number carries (10**400) is a clean program error, not a silent null',
    tags: ['protocol', 'result'],
    language: 'python',
    policy: 'any',
    code: code`
      def main():
          return {"big": 10 ** 400, "fits": 2 ** 53}
    `,
    expect: (r) =>
      r.status === 'program_error' && /too large for JSON/.test(r.detail ?? '')
        ? pass('program_error: too large for JSON')
        : fail(`expected program_error "too large for JSON": ${brief(r)}`),
  },
  {
    id: 'proto-non-json-py',
    title: 'A return value that is not JSON is a clean program error',
    tags: ['protocol', 'result'],
    language: 'python',
    policy: 'any',
    code: code`
      def main():
          return {1, 2, 3}
    `,
    expect: (r) =>
      r.status === 'program_error' && /JSON|serializ/i.test(r.stderr + (r.detail ?? ''))
        ? pass('program_error: not JSON-serializable')
        : fail(`expected program_error: ${brief(r)}`),
  },
]
