/**
 * Positive cases: what users need must work inside all that isolation — scientific Python,
 * charts as artifacts, axios, unicode, async main, ES modules, arguments, TypeScript.
 */
import {code, deepEqual, expectSuccess, fail, pass} from '../expect.js'
import type {SuiteCase} from '../types.js'

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

const equals = (want: unknown) => (v: unknown) => (deepEqual(v, want) ? true : `returned ${JSON.stringify(v)}, expected ${JSON.stringify(want)}`)

export const positiveCases: SuiteCase[] = [
  {
    id: 'pos-numpy',
    title: 'numpy works',
    tags: ['positive', 'python'],
    language: 'python',
    policy: 'any',
    code: code`
      import numpy as np

      def main():
          a = np.arange(12).reshape(3, 4)
          return {"sum": int(a.sum()), "shape": list(a.shape), "det": round(float(np.linalg.det(np.array([[2.0, 1.0], [1.0, 3.0]]))), 6)}
    `,
    expect: (r) => expectSuccess(r, equals({sum: 66, shape: [3, 4], det: 5})),
  },
  {
    id: 'pos-pandas',
    title: 'pandas groupby returns a JSON-able result',
    tags: ['positive', 'python'],
    language: 'python',
    policy: 'any',
    code: code`
      import pandas as pd

      def main():
          df = pd.DataFrame({"team": ["a", "b", "a"], "score": [1, 2, 3]})
          return df.groupby("team")["score"].sum().to_dict()
    `,
    expect: (r) => expectSuccess(r, equals({a: 4, b: 2})),
  },
  {
    id: 'pos-matplotlib-chart',
    title: 'A matplotlib chart comes back as a PNG artifact',
    tags: ['positive', 'python', 'artifacts'],
    language: 'python',
    policy: 'any',
    timeoutSeconds: 30,
    code: code`
      import matplotlib
      matplotlib.use("Agg")
      import matplotlib.pyplot as plt

      def main():
          fig, ax = plt.subplots(figsize=(3, 2))
          ax.bar(["a", "b", "c"], [3, 1, 2])
          ax.set_title("sandbox chart")
          fig.savefig("artifacts/chart.png", dpi=60)
          return {"saved": "chart.png"}
    `,
    expect: (r) => {
      const v = expectSuccess(r, equals({saved: 'chart.png'}))
      if (!v.ok) return v
      const chart = r.artifacts.find((a) => a.name === 'chart.png')
      if (!chart) return fail(`no chart.png artifact (got ${r.artifacts.map((a) => a.name).join(', ') || 'none'}; stderr ${r.stderr.slice(0, 200)})`)
      if (chart.mime_type !== 'image/png') return fail(`chart.png has mime ${chart.mime_type}`)
      const bytes = Buffer.from(chart.content_b64, 'base64')
      if (!bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return fail('chart.png is not a PNG')
      return bytes.length === chart.size ? pass(`chart.png, ${bytes.length} bytes, image/png`) : fail(`size ${chart.size} vs ${bytes.length} bytes`)
    },
  },
  {
    id: 'pos-axios',
    title: "require('axios') works",
    tags: ['positive', 'nodejs'],
    language: 'nodejs',
    policy: 'any',
    code: code`
      const axios = require('axios')
      function main() {
        return {get: typeof axios.get, create: typeof axios.create, version: typeof axios.VERSION}
      }
    `,
    expect: (r) => expectSuccess(r, equals({get: 'function', create: 'function', version: 'string'})),
  },
  {
    id: 'pos-unicode-py',
    title: 'Unicode output and results survive (Python)',
    tags: ['positive', 'python', 'unicode'],
    language: 'python',
    policy: 'any',
    code: code`
      def main():
          print("héllo 世界 🚀")
          return {"text": "世界 🚀", "emoji": "👩‍💻", "rtl": "مرحبا"}
    `,
    expect: (r) => {
      const v = expectSuccess(r, equals({text: '世界 🚀', emoji: '👩‍💻', rtl: 'مرحبا'}))
      return v.ok && !r.stdout.includes('héllo 世界 🚀') ? fail(`stdout ${JSON.stringify(r.stdout)}`) : v
    },
  },
  {
    id: 'pos-unicode-node',
    title: 'Unicode output and results survive (Node.js)',
    tags: ['positive', 'nodejs', 'unicode'],
    language: 'nodejs',
    policy: 'any',
    code: code`
      function main() {
        console.log('héllo 世界 🚀')
        return {text: '世界 🚀', emoji: '👩‍💻'}
      }
    `,
    expect: (r) => {
      const v = expectSuccess(r, equals({text: '世界 🚀', emoji: '👩‍💻'}))
      return v.ok && !r.stdout.includes('héllo 世界 🚀') ? fail(`stdout ${JSON.stringify(r.stdout)}`) : v
    },
  },
  {
    id: 'pos-async-py',
    title: 'async def main works (Python)',
    tags: ['positive', 'python'],
    language: 'python',
    policy: 'any',
    arguments: {n: 20},
    code: code`
      async def square(x):
          return x * x

      async def main(n):
          return {"squares": [await square(i) for i in range(3)], "n": n}
    `,
    expect: (r) => expectSuccess(r, equals({squares: [0, 1, 4], n: 20})),
  },
  {
    id: 'pos-async-node',
    title: 'async function main works (Node.js)',
    tags: ['positive', 'nodejs'],
    language: 'nodejs',
    policy: 'any',
    code: code`
      async function main() {
        await new Promise((resolve) => setTimeout(resolve, 20))
        return {awaited: true}
      }
      module.exports = {main}
    `,
    expect: (r) => expectSuccess(r, equals({awaited: true})),
  },
  {
    id: 'pos-esm-node',
    title: 'An ES module exporting main works (Node.js)',
    tags: ['positive', 'nodejs'],
    language: 'nodejs',
    policy: 'any',
    arguments: {n: 2},
    code: code`
      import {createHash} from 'crypto'

      export async function main({n}) {
        return {esm: true, double: n * 2, hash: createHash('md5').update('x').digest('hex').length}
      }
    `,
    expect: (r) => expectSuccess(r, equals({esm: true, double: 4, hash: 32})),
  },
  {
    id: 'pos-args-py',
    title: "RAGFlow's default component code: main(arg1, arg2) (Python)",
    tags: ['positive', 'python', 'ragflow'],
    language: 'python',
    policy: 'any',
    arguments: {arg1: 'Hello ', arg2: 'World'},
    code: code`
      def main(arg1: str, arg2: str) -> dict:
          return {"result": arg1 + arg2}
    `,
    expect: (r) => expectSuccess(r, equals({result: 'Hello World'})),
  },
  {
    id: 'pos-args-node',
    title: "RAGFlow's default component code: main({arg1, arg2}) (Node.js)",
    tags: ['positive', 'nodejs', 'ragflow'],
    language: 'nodejs',
    policy: 'any',
    arguments: {arg1: 'Hello ', arg2: 'World'},
    code: code`
      async function main({arg1, arg2}) {
        return {result: arg1 + arg2}
      }
    `,
    expect: (r) => expectSuccess(r, equals({result: 'Hello World'})),
  },
  {
    id: 'pos-stderr-kept-py',
    title: 'Warnings on stderr are kept and the run still succeeds',
    tags: ['positive', 'python'],
    language: 'python',
    policy: 'any',
    code: code`
      import warnings

      def main():
          warnings.warn("just a warning")
          return 1
    `,
    expect: (r) => {
      const v = expectSuccess(r, equals(1))
      return v.ok && !r.stderr.includes('just a warning') ? fail(`stderr ${JSON.stringify(r.stderr)}`) : v
    },
  },
  {
    id: 'pos-ts-main',
    title: 'TypeScript: a typed main(args) runs (types stripped on the host, Node.js runs it)',
    tags: ['positive', 'typescript'],
    language: 'typescript',
    policy: 'any',
    arguments: {x: '21', tags: ['a', 'b']},
    code: code`
      interface Args {
        x: string
        tags: string[]
      }
      type Out = {doubled: number; tags: string}

      enum Unit { One = 1 }

      export function main({x, tags}: Args): Out {
        const n = Number(x) as number
        return {doubled: n * 2 * Unit.One, tags: tags.join('') satisfies string}
      }
    `,
    expect: (r) => expectSuccess(r, equals({doubled: 42, tags: 'ab'})),
  },
  {
    id: 'pos-ts-esm-async',
    title: 'TypeScript: imports, generics and an async main work',
    tags: ['positive', 'typescript'],
    language: 'typescript',
    policy: 'any',
    code: code`
      import {createHash} from 'crypto'
      import type {Hash} from 'crypto'

      const wait = <T,>(value: T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(value), 5))

      export async function main(): Promise<{length: number; typed: boolean}> {
        const hash: Hash = createHash('md5')
        return {length: (await wait(hash.update('x').digest('hex'))).length, typed: true}
      }
    `,
    expect: (r) => expectSuccess(r, equals({length: 32, typed: true})),
  },
  {
    id: 'pos-ts-type-error-runs',
    title: 'TypeScript: a type error does not block the run (as with tsx and esbuild)',
    tags: ['positive', 'typescript'],
    language: 'typescript',
    policy: 'any',
    code: code`
      function main(): number {
        const n: number = 'not a number'
        return n
      }
    `,
    expect: (r) => expectSuccess(r, equals('not a number')),
  },
  {
    id: 'pos-ts-syntax-error',
    title: 'TypeScript: a syntax error is a program_error that names the line',
    tags: ['positive', 'typescript'],
    language: 'typescript',
    policy: 'any',
    code: code`
      export function main(): number {
        return (1 +
      }
    `,
    expect: (r) =>
      r.status === 'program_error' && /TypeScript syntax error: main\.ts:3:/.test(r.stderr)
        ? pass('program_error: ' + r.stderr.split('\n').find((l) => l.includes('TypeScript syntax error')))
        : fail(`status ${r.status}, stderr ${JSON.stringify(r.stderr.slice(0, 300))}`),
  },
]
