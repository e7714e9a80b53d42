/**
 * Isolation between runs: whatever one run leaves behind (files, a background process,
 * environment, patched modules or globals) is invisible to the next run. The first run
 * plants, the follow-up run looks; both carry the case's random token.
 */
import {brief, code, expectValue, fail, valueOf} from '../expect.js'
import type {CaseContext, SuiteCase, Verdict} from '../types.js'
import type {RunResult} from '../../engine/result.js'

const withToken = (ctx: CaseContext) => ({token: ctx.token})

/** the planting run must have worked, and the follow-up run must see nothing */
function nothingLeft(r: RunResult, ctx: CaseContext, planted: (v: Record<string, unknown>) => true | string, clean: (v: Record<string, unknown>) => true | string): Verdict {
  const first = expectValue(r, planted)
  if (!first.ok) return fail(`the first run could not plant: ${first.why}`)
  const f = ctx.followUp
  if (!f) return fail('no follow-up run')
  if (f.status !== 'success') return fail(`the follow-up run failed: ${brief(f)}`)
  const v = valueOf(f)
  if (!v || typeof v !== 'object') return fail(`the follow-up run returned ${JSON.stringify(v)}`)
  const outcome = clean(v as Record<string, unknown>)
  return outcome === true ? {ok: true, why: 'the next run starts clean'} : fail(outcome)
}

const FILE_CHECK_PY = code`
  import os

  def main(token):
      found = []
      for d in ["/workspace", "/tmp", "/dev/shm"]:
          try:
              found += [os.path.join(d, n) for n in os.listdir(d) if token in n]
          except OSError:
              pass
      return {"found": found}
`

const PROC_CHECK_PY = code`
  import os

  def main(token):
      found = []
      for pid in os.listdir("/proc"):
          if not pid.isdigit():
              continue
          try:
              with open("/proc/%s/cmdline" % pid, "rb") as f:
                  if token.encode() in f.read():
                      found.append(pid)
          except OSError:
              pass
      return {"found": found, "pid": os.getpid()}
`

const foundNothing = (v: Record<string, unknown>) => ((v.found as unknown[]).length ? `left over: ${JSON.stringify(v.found)}` : true)

export const isolationCases: SuiteCase[] = [
  {
    id: 'iso-files-py',
    title: 'Files left in /workspace, /tmp and /dev/shm are gone in the next run (Python)',
    tags: ['isolation', 'files'],
    language: 'python',
    arguments: withToken,
    code: code`
      def main(token):
          for d in ["/workspace", "/tmp", "/dev/shm"]:
              with open("%s/leftover-%s.txt" % (d, token), "w") as f:
                  f.write(token)
          return {"planted": True}
    `,
    followUp: {language: 'python', code: FILE_CHECK_PY, arguments: withToken},
    expect: (r, ctx) => nothingLeft(r, ctx, (v) => (v.planted ? true : 'not planted'), foundNothing),
  },
  {
    id: 'iso-files-node',
    title: 'Files left in /workspace and /tmp are gone in the next run (Node.js)',
    tags: ['isolation', 'files'],
    language: 'nodejs',
    arguments: withToken,
    code: code`
      const fs = require('fs')
      function main({token}) {
        for (const d of ['/workspace', '/tmp']) fs.writeFileSync(d + '/leftover-' + token + '.txt', token)
        return {planted: true}
      }
    `,
    followUp: {
      language: 'nodejs',
      arguments: withToken,
      code: code`
        const fs = require('fs')
        function main({token}) {
          const found = []
          for (const d of ['/workspace', '/tmp']) for (const n of fs.readdirSync(d)) if (n.includes(token)) found.push(d + '/' + n)
          return {found}
        }
      `,
    },
    expect: (r, ctx) => nothingLeft(r, ctx, (v) => (v.planted ? true : 'not planted'), foundNothing),
  },
  {
    id: 'iso-process-py',
    title: 'A background process started by one run is gone in the next (Python)',
    tags: ['isolation', 'processes'],
    language: 'python',
    arguments: withToken,
    code: code`
      import os

      def main(token):
          pid = os.fork()
          if pid == 0:
              os.setsid()
              os.execvp("python3", ["python3", "-c", "import time\nwhile True: time.sleep(1)", token])
          return {"child": pid}
    `,
    followUp: {language: 'python', code: PROC_CHECK_PY, arguments: withToken},
    expect: (r, ctx) => nothingLeft(r, ctx, (v) => (Number(v.child) > 0 ? true : 'no child'), foundNothing),
  },
  {
    id: 'iso-process-node',
    title: 'A detached background process started by one run is gone in the next (Node.js)',
    tags: ['isolation', 'processes'],
    language: 'nodejs',
    arguments: withToken,
    code: code`
      const {spawn} = require('child_process')
      function main({token}) {
        const child = spawn('node', ['-e', 'setInterval(() => {}, 1000)', token], {detached: true, stdio: 'ignore'})
        child.unref()
        return {child: child.pid}
      }
    `,
    followUp: {language: 'python', code: PROC_CHECK_PY, arguments: withToken},
    expect: (r, ctx) => nothingLeft(r, ctx, (v) => (Number(v.child) > 0 ? true : 'no child'), foundNothing),
  },
  {
    id: 'iso-env-py',
    title: 'An environment variable set by one run is gone in the next (Python)',
    tags: ['isolation', 'env'],
    language: 'python',
    arguments: withToken,
    code: code`
      import os

      def main(token):
          os.environ["SUITE_LEFTOVER"] = token
          os.putenv("SUITE_LEFTOVER_PUT", token)
          return {"planted": os.environ.get("SUITE_LEFTOVER") == token}
    `,
    followUp: {
      language: 'python',
      arguments: withToken,
      code: code`
        import os

        def main(token):
            return {"found": [k for k, v in os.environ.items() if token in v or k.startswith("SUITE_LEFTOVER")]}
      `,
    },
    expect: (r, ctx) => nothingLeft(r, ctx, (v) => (v.planted ? true : 'not planted'), foundNothing),
  },
  {
    id: 'iso-env-node',
    title: 'An environment variable set by one run is gone in the next (Node.js)',
    tags: ['isolation', 'env'],
    language: 'nodejs',
    policy: 'any',
    arguments: withToken,
    code: code`
      function main({token}) {
        process.env.SUITE_LEFTOVER = token
        return {planted: process.env.SUITE_LEFTOVER === token}
      }
    `,
    followUp: {
      language: 'nodejs',
      policy: 'any',
      arguments: withToken,
      code: code`
        function main({token}) {
          return {found: Object.entries(process.env).filter(([k, v]) => k.startsWith('SUITE_LEFTOVER') || String(v).includes(token)).map(([k]) => k)}
        }
      `,
    },
    expect: (r, ctx) => nothingLeft(r, ctx, (v) => (v.planted ? true : 'not planted'), foundNothing),
  },
  {
    id: 'iso-module-py',
    title: 'A standard-library function patched by one run is intact in the next (Python)',
    tags: ['isolation', 'modules'],
    language: 'python',
    policy: 'any',
    code: code`
      import statistics

      def main():
          statistics.mean = lambda data: -1
          return {"planted": statistics.mean([1, 2, 3]) == -1}
    `,
    followUp: {
      language: 'python',
      policy: 'any',
      code: code`
        import statistics

        def main():
            mean = statistics.mean([1, 2, 3])
            return {"found": [] if mean == 2 else ["statistics.mean returned %r" % mean]}
      `,
    },
    expect: (r, ctx) => nothingLeft(r, ctx, (v) => (v.planted ? true : 'not planted'), foundNothing),
  },
  {
    id: 'iso-global-node',
    title: 'A prototype patched by one run is intact in the next (Node.js)',
    tags: ['isolation', 'modules'],
    language: 'nodejs',
    policy: 'any',
    arguments: withToken,
    code: code`
      function main({token}) {
        Array.prototype.leftover = token
        Math.max = () => -1
        return {planted: [].leftover === token}
      }
    `,
    followUp: {
      language: 'nodejs',
      policy: 'any',
      arguments: withToken,
      code: code`
        function main({token}) {
          const found = []
          if ([].leftover !== undefined) found.push('Array.prototype.leftover')
          if (Math.max(1, 2) !== 2) found.push('Math.max')
          return {found}
        }
      `,
    },
    expect: (r, ctx) => nothingLeft(r, ctx, (v) => (v.planted ? true : 'not planted'), foundNothing),
  },
]
