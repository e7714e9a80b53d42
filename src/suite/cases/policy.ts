/**
 * The static code policy (defence in depth, level ragflow by default): RAGFlow's published
 * bypasses and the bypass classes of issue 11.8 are refused, and ordinary code that RAGFlow
 * accepts (or refused by mistake) runs. These cases need the policy on (`on` = `ragflow`).
 */
import {code, deepEqual, expectSuccess, expectUnsafe} from '../expect.js'
import type {Language} from '../../engine/languages.js'
import type {SuiteCase} from '../types.js'

function refused(id: string, title: string, language: Language, source: string, line?: RegExp): SuiteCase {
  return {id, title, tags: ['policy', 'bypass'], language, policy: 'on', code: source, expect: (r) => expectUnsafe(r, line ? [line] : [])}
}

export const policyCases: SuiteCase[] = [
  refused(
    'policy-py-random-os',
    'Policy refuses random._os.system (RAGFlow bypass #8472)',
    'python',
    code`
    import random

    def main():
        return random._os.system("id")
  `,
    /^Line 4: /,
  ),
  refused(
    'policy-py-builtins',
    'Policy refuses __builtins__ lookups of eval',
    'python',
    code`
    def main():
        return __builtins__["eval"]("1 + 1")
  `,
    /^Line 2: /,
  ),
  refused(
    'policy-py-importlib',
    'Policy refuses importlib.import_module("os")',
    'python',
    code`
    import importlib

    def main():
        return importlib.import_module("os").getcwd()
  `,
    /^Line 1: /,
  ),
  refused(
    'policy-py-pathlib',
    'Policy refuses pathlib reads of files',
    'python',
    code`
    from pathlib import Path

    def main():
        return Path("/etc/passwd").read_text()
  `,
  ),
  refused(
    'policy-py-http-server-shutil',
    'Policy refuses http.server.shutil (module re-exports)',
    'python',
    code`
    import http.server

    def main():
        http.server.shutil.rmtree("/tmp/x")
  `,
    /^Line 4: /,
  ),
  refused(
    'policy-py-subclasses',
    'Policy refuses the object.__subclasses__ escape',
    'python',
    code`
    def main():
        return [c.__name__ for c in ().__class__.__bases__[0].__subclasses__()]
  `,
    /^Line 2: /,
  ),
  refused(
    'policy-py-frames',
    "Policy refuses walking frames to the runner's globals",
    'python',
    code`
    def main():
        import inspect
        return list(inspect.currentframe().f_back.f_globals)
  `,
  ),
  refused(
    'policy-js-node-prefix',
    "Policy refuses require('node:child_process')",
    'nodejs',
    code`
    const cp = require('node:child_process')
    function main() {
      return cp.execSync('id').toString()
    }
  `,
    /^Line 1: /,
  ),
  refused(
    'policy-js-fs-promises',
    "Policy refuses require('fs/promises')",
    'nodejs',
    code`
    const fsp = require('fs/promises')
    async function main() {
      return await fsp.readFile('/etc/passwd', 'utf8')
    }
  `,
    /^Line 1: /,
  ),
  refused(
    'policy-js-template-literal',
    'Policy refuses require with a template literal',
    'nodejs',
    "const fs = require(`fs`)\nfunction main() {\n  return fs.readdirSync('/')\n}\n",
    /^Line 1: /,
  ),
  refused(
    'policy-js-dynamic-import',
    'Policy refuses dynamic import of child_process',
    'nodejs',
    code`
    async function main() {
      const cp = await import('child_process')
      return cp.execSync('id').toString()
    }
  `,
    /^Line 2: /,
  ),
  refused(
    'policy-js-function-constructor',
    'Policy refuses the Function constructor via .constructor',
    'nodejs',
    code`
    function main() {
      const f = (function () {}).constructor('return process')
      return typeof f()
    }
  `,
    /^Line 2: /,
  ),
  refused(
    'policy-js-process-binding',
    'Policy refuses process.binding',
    'nodejs',
    code`
    function main() {
      return typeof process.binding('spawn_sync')
    }
  `,
    /^Line 2: /,
  ),
  refused(
    'policy-py-module-dict-alias',
    "Policy refuses a module's __dict__ through an alias (11.8)",
    'python',
    code`
    import glob

    def main():
        namespace = glob.__dict__
        return namespace["os"].system("id")
  `,
    /^Line 4: /,
  ),
  refused(
    'policy-py-attrgetter-path',
    'Policy refuses operator.attrgetter with a dotted path through a module (11.8)',
    'python',
    code`
    import glob
    import operator

    def main():
        return operator.attrgetter("os.system")(glob)("id")
  `,
    /^Line 5: /,
  ),
  refused(
    'policy-py-escaped-name',
    'Policy refuses escaped identifiers in strings (11.8)',
    'python',
    code`
    import operator
    import random

    def main():
        return operator.attrgetter("\x5fos")(random).system("id")
  `,
    /^Line 5: /,
  ),
  refused(
    'policy-py-formatter-get-field',
    'Policy refuses string.Formatter().get_field through a module (11.8)',
    'python',
    code`
    import glob
    import string

    def main():
        return string.Formatter().get_field("0.os.system", [glob], {})[0]("id")
  `,
    /^Line 5: /,
  ),
  refused(
    'policy-py-traceback-frames',
    'Policy refuses frames from traceback.walk_stack (11.8)',
    'python',
    code`
    import traceback

    def main():
        return [sorted(frame.f_globals) for frame, _ in traceback.walk_stack(None)]
  `,
    /^Line 4: /,
  ),
  refused(
    'policy-ts-child-process',
    'Policy refuses child_process in TypeScript (it reads the JavaScript that runs)',
    'typescript',
    code`
    import {execSync} from 'child_process'

    export function main(): string {
      const out: Buffer = execSync('id')
      return out.toString()
    }
  `,
  ),
  {
    id: 'policy-ts-type-only-import',
    title: 'Policy: a type-only import of child_process runs (it is gone from the JavaScript that runs)',
    tags: ['policy', 'typescript', 'false-positive'],
    language: 'typescript',
    policy: 'on',
    code: code`
      import type {ChildProcess} from 'child_process'

      export function main(): string {
        const none: ChildProcess | null = null
        return String(none)
      }
    `,
    expect: (r) => expectSuccess(r, (v) => (v === 'null' ? true : `returned ${JSON.stringify(v)}`)),
  },
  refused(
    'policy-js-process-alias',
    'Policy refuses process.binding through an alias of process (11.8)',
    'nodejs',
    code`
    function main() {
      const p = process
      return typeof p.binding('spawn_sync')
    }
  `,
    /^Line 3: /,
  ),
  refused(
    'policy-js-module-require-call',
    'Policy refuses module.require.call and [...].map(module.require) (11.8)',
    'nodejs',
    code`
    function main() {
      const cp = module.require.call(module, 'child_process')
      const [fs] = ['fs'].map(module.require)
      return typeof cp.execSync + typeof fs.readFileSync
    }
  `,
    /^Line 2: /,
  ),
  refused(
    'policy-js-constructor-spread',
    'Policy refuses f.constructor with spread arguments (11.8)',
    'nodejs',
    code`
    function main() {
      const f = () => 0
      return typeof new f.constructor(...['return process'])()
    }
  `,
    /^Line 3: /,
  ),
  {
    id: 'policy-fp-ragflow-accepts-py',
    title: 'Policy lets code that RAGFlow accepts run: df.os, vars(ns), cls.__mro__, a column named os',
    tags: ['policy', 'false-positive'],
    language: 'python',
    policy: 'on',
    code: code`
      import argparse
      import pandas as pd

      def main():
          df = pd.DataFrame({"os": ["linux", "linux", "mac"]})
          ns = argparse.Namespace(a=1)
          return {"os": df.os.value_counts().to_dict(), "vars": vars(ns), "mro": [c.__name__ for c in int.__mro__], "column": list(df["os"])}
    `,
    expect: (r) =>
      expectSuccess(r, (v) =>
        deepEqual(v, {os: {linux: 2, mac: 1}, vars: {a: 1}, mro: ['int', 'object'], column: ['linux', 'linux', 'mac']}) ? true : `returned ${JSON.stringify(v)}`,
      ),
  },
  {
    id: 'policy-fp-arithmetic-py',
    title: "Policy lets constant arithmetic run (RAGFlow's false positives 2 + 2, 'a' * 10)",
    tags: ['policy', 'false-positive'],
    language: 'python',
    policy: 'on',
    code: code`
      def main():
          return {"sum": 2 + 2, "repeat": "a" * 10, "mib": 1024 * 1024}
    `,
    expect: (r) => expectSuccess(r, (v) => (deepEqual(v, {sum: 4, repeat: 'aaaaaaaaaa', mib: 1048576}) ? true : `returned ${JSON.stringify(v)}`)),
  },
  {
    id: 'policy-fp-methods-py',
    title: "Policy lets re.compile, df.rename and list.remove run (RAGFlow's false positives)",
    tags: ['policy', 'false-positive'],
    language: 'python',
    policy: 'on',
    code: code`
      import re
      import pandas as pd

      def main():
          pattern = re.compile(r"\d+")
          df = pd.DataFrame({"a": [1, 2]}).rename(columns={"a": "b"})
          items = [1, 2, 3]
          items.remove(2)
          return {"digits": pattern.findall("a1b22"), "columns": list(df.columns), "items": items}
    `,
    expect: (r) => expectSuccess(r, (v) => (deepEqual(v, {digits: ['1', '22'], columns: ['b'], items: [1, 3]}) ? true : `returned ${JSON.stringify(v)}`)),
  },
  {
    id: 'policy-fp-node-global-key',
    title: 'Policy lets globalThis[key], constructor names and comparisons run',
    tags: ['policy', 'false-positive'],
    language: 'nodejs',
    policy: 'on',
    code: code`
      function main() {
        const key = ['JS', 'ON'].join('')
        const o = {a: 1}
        return {json: typeof globalThis[key].stringify, name: o.constructor.name, plain: o.constructor === Object}
      }
    `,
    expect: (r) => expectSuccess(r, (v) => (deepEqual(v, {json: 'function', name: 'Object', plain: true}) ? true : `returned ${JSON.stringify(v)}`)),
  },
  {
    id: 'policy-fp-node',
    title: 'Policy lets ordinary Node.js (https, crypto, path, axios) run',
    tags: ['policy', 'false-positive'],
    language: 'nodejs',
    policy: 'on',
    code: code`
      const https = require('https')
      const crypto = require('crypto')
      const path = require('node:path')
      const axios = require('axios')
      function main() {
        return {agent: typeof https.Agent, hash: crypto.createHash('sha1').update('a').digest('hex'), joined: path.join('a', 'b'), axios: typeof axios.get}
      }
    `,
    expect: (r) =>
      expectSuccess(r, (v) =>
        deepEqual(v, {agent: 'function', hash: '86f7e437faa5a7fce15d1ddcb9eaeaea377667b8', joined: 'a/b', axios: 'function'}) ? true : `returned ${JSON.stringify(v)}`,
      ),
  },
]
