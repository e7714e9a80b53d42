/**
 * Artifact abuse: files written to artifacts/ come back only when they are regular files
 * directly in that directory, with an allowed type, a safe name, at most 10 MB each and at
 * most 10 of them. Whatever the code does, no returned artifact may carry a name that could
 * escape a download directory on the host.
 */
import type {Artifact, RunResult} from '../../engine/result.js'
import {brief, code, fail, pass} from '../expect.js'
import type {SuiteCase, Verdict} from '../types.js'

export const ARTIFACT_LIMITS = {
  maxFiles: 10,
  maxBytes: 10 * 1024 * 1024,
  extensions: ['png', 'jpg', 'jpeg', 'svg', 'pdf', 'csv', 'json', 'html'],
}

/** The host-side rule every returned artifact must satisfy. */
export function unsafeArtifact(a: Artifact): string | null {
  const name = String(a.name)
  if (!name || name.startsWith('.') || name.includes('/') || name.includes('\\') || name.includes('..') || name.includes('\0')) return `unsafe name ${JSON.stringify(name)}`
  const ext = name.includes('.') ? name.split('.').pop()!.toLowerCase() : ''
  if (!ARTIFACT_LIMITS.extensions.includes(ext)) return `type .${ext} is not allowed (${JSON.stringify(name)})`
  const bytes = Buffer.from(String(a.content_b64 ?? ''), 'base64').length
  if (bytes > ARTIFACT_LIMITS.maxBytes) return `${name} is ${bytes} bytes`
  if (bytes !== a.size) return `${name}: size ${a.size} but ${bytes} bytes of content`
  return null
}

/** success, every artifact safe, and the returned names are exactly `names` */
function artifactsAre(r: RunResult, names: string[] | ((got: string[]) => true | string)): Verdict {
  if (r.status !== 'success') return fail(`the run failed: ${brief(r)}`)
  if (r.artifacts.length > ARTIFACT_LIMITS.maxFiles) return fail(`${r.artifacts.length} artifacts returned (max ${ARTIFACT_LIMITS.maxFiles})`)
  for (const a of r.artifacts) {
    const bad = unsafeArtifact(a)
    if (bad) return fail(bad)
  }
  const got = r.artifacts.map((a) => a.name).sort()
  if (typeof names === 'function') {
    const outcome = names(got)
    return outcome === true ? pass(`returned: ${got.join(', ') || 'none'}`) : fail(outcome)
  }
  const want = [...names].sort()
  return got.join('|') === want.join('|') ? pass(`returned only ${want.join(', ') || 'nothing'}`) : fail(`returned [${got.join(', ')}], expected [${want.join(', ')}]`)
}

export const artifactCases: SuiteCase[] = [
  {
    id: 'art-symlink-py',
    title: 'A symlink to /etc/passwd in artifacts/ is not returned (Python)',
    tags: ['artifacts', 'files'],
    language: 'python',
    code: code`
      import os

      def main():
          os.makedirs("artifacts", exist_ok=True)
          os.symlink("/etc/passwd", "artifacts/passwd.csv")
          os.symlink("/proc/self/environ", "artifacts/environ.json")
          with open("artifacts/ok.csv", "w") as f:
              f.write("a,b\n1,2\n")
          return "planted"
    `,
    expect: (r) => {
      const v = artifactsAre(r, ['ok.csv'])
      if (!v.ok) return v
      return r.artifacts.some((a) => Buffer.from(a.content_b64, 'base64').toString().includes('root:')) ? fail('passwd content came back') : v
    },
  },
  {
    id: 'art-symlink-node',
    title: 'A symlink to /etc/passwd in artifacts/ is not returned (Node.js)',
    tags: ['artifacts', 'files'],
    language: 'nodejs',
    code: code`
      const fs = require('fs')
      function main() {
        fs.mkdirSync('artifacts', {recursive: true})
        fs.symlinkSync('/etc/passwd', 'artifacts/passwd.csv')
        fs.writeFileSync('artifacts/ok.json', '{"ok": true}')
        return 'planted'
      }
    `,
    expect: (r) => artifactsAre(r, ['ok.json']),
  },
  {
    id: 'art-dir-symlink-py',
    title: 'artifacts/ replaced by a symlink to another directory returns nothing from there',
    tags: ['artifacts', 'files'],
    language: 'python',
    code: code`
      import os, shutil

      def main():
          os.makedirs("/tmp/elsewhere", exist_ok=True)
          with open("/tmp/elsewhere/outside.csv", "w") as f:
              f.write("x,y\n")
          shutil.rmtree("artifacts", ignore_errors=True)
          os.symlink("/tmp/elsewhere", "artifacts")
          return "planted"
    `,
    expect: (r) => artifactsAre(r, []),
  },
  {
    id: 'art-traversal-py',
    title: 'Traversal and hidden names, subdirectories and files outside artifacts/ are not returned',
    tags: ['artifacts', 'files'],
    language: 'python',
    code: code`
      import os

      def main():
          os.makedirs("artifacts/sub", exist_ok=True)
          for path in ["artifacts/../escape.csv", "artifacts/..hidden.csv", "artifacts/.env.csv", "artifacts/sub/inner.csv", "artifacts/a..b.csv", "artifacts/ok.csv"]:
              with open(path, "w") as f:
                  f.write("1,2\n")
          return "planted"
    `,
    expect: (r) => artifactsAre(r, ['ok.csv']),
  },
  {
    id: 'art-oversize-py',
    title: 'An artifact over 10 MB is not returned; a small one is',
    tags: ['artifacts', 'limits'],
    language: 'python',
    code: code`
      import os

      def main():
          os.makedirs("artifacts", exist_ok=True)
          with open("artifacts/big.csv", "wb") as f:
              f.write(b"9" * (11 * 1024 * 1024))
          with open("artifacts/small.csv", "w") as f:
              f.write("1\n")
          return "planted"
    `,
    expect: (r) => artifactsAre(r, ['small.csv']),
  },
  {
    id: 'art-wrong-type-py',
    title: 'Artifacts of other types (.exe, .sh, no extension, .csv.exe) are not returned',
    tags: ['artifacts', 'limits'],
    language: 'python',
    code: code`
      import os

      def main():
          os.makedirs("artifacts", exist_ok=True)
          for name in ["evil.exe", "run.sh", "noext", "data.csv.exe", "page.HTML"]:
              with open("artifacts/" + name, "wb") as f:
                  f.write(b"MZ payload")
          return "planted"
    `,
    expect: (r) => artifactsAre(r, (got) => (got.every((n) => n === 'page.HTML') ? true : `returned ${got.join(', ')}`)),
  },
  {
    id: 'art-wrong-type-node',
    title: 'Artifacts of other types are not returned (Node.js)',
    tags: ['artifacts', 'limits'],
    language: 'nodejs',
    code: code`
      const fs = require('fs')
      function main() {
        fs.mkdirSync('artifacts', {recursive: true})
        for (const name of ['evil.exe', 'x.js', 'noext']) fs.writeFileSync('artifacts/' + name, 'payload')
        fs.writeFileSync('artifacts/chart.svg', '<svg xmlns="http://www.w3.org/2000/svg"/>')
        return 'planted'
      }
    `,
    expect: (r) => {
      const v = artifactsAre(r, ['chart.svg'])
      if (!v.ok) return v
      return r.artifacts[0].mime_type === 'image/svg+xml' ? v : fail(`chart.svg came back as ${r.artifacts[0].mime_type}`)
    },
  },
  {
    id: 'art-too-many-py',
    title: 'At most 10 artifacts are returned',
    tags: ['artifacts', 'limits'],
    language: 'python',
    code: code`
      import os

      def main():
          os.makedirs("artifacts", exist_ok=True)
          for i in range(25):
              with open("artifacts/file-%02d.csv" % i, "w") as f:
                  f.write("%d\n" % i)
          return "planted"
    `,
    expect: (r) => artifactsAre(r, (got) => (got.length === 10 ? true : `${got.length} artifacts returned, expected exactly 10`)),
  },
  {
    id: 'art-fifo-py',
    title: 'A FIFO named like an artifact is skipped without hanging the run',
    tags: ['artifacts', 'files'],
    language: 'python',
    timeoutSeconds: 8,
    code: code`
      import os

      def main():
          os.makedirs("artifacts", exist_ok=True)
          os.mkfifo("artifacts/pipe.csv")
          with open("artifacts/ok.csv", "w") as f:
              f.write("1\n")
          return "planted"
    `,
    expect: (r) => artifactsAre(r, ['ok.csv']),
  },
  {
    id: 'art-empty-py',
    title: 'An empty artifact file is skipped',
    tags: ['artifacts', 'limits'],
    language: 'python',
    code: code`
      import os

      def main():
          os.makedirs("artifacts", exist_ok=True)
          open("artifacts/empty.csv", "w").close()
          with open("artifacts/full.csv", "w") as f:
              f.write("1\n")
          return "planted"
    `,
    expect: (r) => artifactsAre(r, ['full.csv']),
  },
]
