/**
 * The shell examples in README.md and docs/*.md work as written.
 *
 * Every command in a ```sh (or bash/shell) block is either in RUN (run here, in order, with
 * its expected exit code and output) or in NOT_RUN (with the reason it is not run in CI).
 * A new example in the docs that is in neither list fails the first test, and so does an
 * entry of either list that no longer appears in the docs: no example goes untested silently.
 *
 * Commands run exactly as written, through bash, with `sandbox` and `npx sandbox` mapped to
 * `node bin/dev.js` of this work tree. They run in temporary directories holding a copy of
 * examples/ (and the files the docs ask the reader to write), with a temporary state and
 * data directory and a free port for the manager (SANDBOX_EXECUTOR_MANAGER_PORT), so the
 * work tree, ~/.local and port 9385 are never touched.
 *
 * Left behind on purpose: the image sandbox-python-tabulate:latest that docs/README.md's
 * "add a package" example builds (a rebuild is then a cache hit; `sandbox clean --images`
 * removes it), and /tmp/sandbox-settings.db that its configure example writes.
 */
import {execFile} from 'node:child_process'
import {cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {freePort} from '../helpers/ports.js'

const ROOT = process.cwd()
const CLI = join(ROOT, 'bin', 'dev.js')

// ---------------------------------------------------------------------------------------
// extraction

export interface DocCommand {
  file: string
  line: number
  command: string
}

/** Cut a trailing `# comment` that is outside quotes and starts a word. */
export function stripComment(line: string): string {
  let quote: string | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (c === '\\' && quote !== "'") {
      i++
      continue
    }
    if (quote) {
      if (c === quote) quote = undefined
      continue
    }
    if (c === '"' || c === "'") quote = c
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return line.slice(0, i).trimEnd()
  }
  return line.trimEnd()
}

/** The commands of every shell block: continuation lines joined, comments and blank lines dropped. */
export function shellCommands(markdown: string, file: string): DocCommand[] {
  const out: DocCommand[] = []
  const lines = markdown.split('\n')
  let inShell = false
  let inOther = false
  let pending: DocCommand | undefined
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]
    const fence = /^\s*```(\S*)\s*$/.exec(raw)
    if (fence && !inShell && !inOther) {
      if (['sh', 'bash', 'shell'].includes(fence[1])) inShell = true
      else inOther = true
      continue
    }
    if (fence && (inShell || inOther) && fence[1] === '') {
      inShell = false
      inOther = false
      continue
    }
    if (!inShell) continue
    const text = stripComment(raw).trim()
    if (!pending && (text === '' || text.startsWith('#'))) continue
    const continued = text.endsWith('\\')
    const part = continued ? text.slice(0, -1).trimEnd() : text
    if (pending) pending.command = `${pending.command} ${part}`.trim()
    else pending = {file, line: i + 1, command: part}
    if (!continued) {
      out.push(pending)
      pending = undefined
    }
  }
  return out
}

/** Code blocks of one language, with the line of their opening fence. */
export function codeBlocks(markdown: string, language: string): Array<{line: number; code: string}> {
  const out: Array<{line: number; code: string}> = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```' + language) continue
    const start = i
    const body: string[] = []
    for (i++; i < lines.length && lines[i].trim() !== '```'; i++) body.push(lines[i])
    out.push({line: start + 1, code: body.join('\n') + '\n'})
  }
  return out
}

const DOC_FILES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
]
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8')
const allCommands = () => DOC_FILES.flatMap((f) => shellCommands(read(f), f))

// ---------------------------------------------------------------------------------------
// the checked lists

interface Outcome {
  code: number
  stdout: string
  stderr: string
  /** stdout + stderr with oclif's wrapping and "›" margins folded into single spaces */
  text: string
}

interface RunEntry {
  command: string
  /** which temporary directory it runs in (each has its own .env) */
  cwd?: 'main' | 'extras'
  /** expected exit code (default 0) */
  exit?: number
  /** substrings expected in stdout+stderr (whitespace-normalised) */
  output?: string[]
  /** substrings that must NOT appear (secrets) */
  absent?: string[]
  check?: (o: Outcome, cwd: string) => void
  /**
   * the error code the docs quote next to the message: checked in the text ("Code: X") and by
   * running the same command again with --json, whose error must have exactly the documented
   * fields {code, message, suggestions, exit}
   */
  code?: string
  timeoutMs?: number
  /** another program listens on the manager's port while the command runs */
  portTaken?: boolean
}

const json = (o: Outcome) => JSON.parse(o.stdout) as Record<string, unknown>

/** Run in this order. Commands that depend on earlier ones (start → status → stop) follow them. */
const RUN: RunEntry[] = [
  // --- a new user: check and set up the host (writes .env in the working directory)
  {command: 'sandbox setup', output: ['✓ Docker daemon', '✓ runsc registered', 'host ready']},
  {command: 'sandbox setup --yes', output: ['host ready'], check: (_o, cwd) => expect(existsSync(join(cwd, '.env')), '.env written').toBe(true)},
  {command: 'sandbox build', output: ['sandbox-base-python:latest', 'sandbox-base-nodejs:latest']},
  // --- running code
  {command: 'sandbox run examples/hello.py --arg name=World', output: ['Hello from Python, World!', '"greeting": "Hello, World!"', '✓ success', ' s wall']},
  {command: 'sandbox run hello.py --arg name=World', output: ['Hello, World!', '✓ success']},
  {command: 'sandbox run examples/hello.ts --arg name=World', output: ['Hello from TypeScript, World!', '"greeting": "Hello, World!"', '✓ success']},
  {
    command: 'sandbox run hello.py --arg name=World --json',
    check: (o) => {
      const r = json(o)
      expect(r.status).toBe('success')
      expect(r.result).toEqual({present: true, value: {greeting: 'Hello, World!'}, type: 'json'})
      expect(r.artifacts).toEqual([])
    },
  },
  {
    command: 'sandbox run examples/hello.js --arg name=World --json',
    check: (o) => {
      const r = json(o)
      expect(r.status).toBe('success')
      expect(r.stdout).toBe('Hello from Node.js, World!\n')
      expect((r.result as {value: unknown}).value).toEqual({greeting: 'Hello, World!', length: 5})
    },
  },
  // README: the artifacts example, under the default policy, as printed
  {
    command: 'sandbox run squares.py --arg rows=5 --save-artifacts out/',
    output: ['Artifact: squares.csv (text/csv', '→ out/squares.csv', '"total": 30', '✓ success'],
    check: (_o, cwd) => expect(readFileSync(join(cwd, 'out', 'squares.csv'), 'utf8')).toBe('n,square\n0,0\n1,1\n2,4\n3,9\n4,16\n'),
  },
  {
    command: 'sandbox run examples/chart.py --save-artifacts out/',
    output: ['Artifact: chart.png (image/png'],
    check: (_o, cwd) => {
      const png = readFileSync(join(cwd, 'out', 'chart.png'))
      expect(png.subarray(1, 4).toString('ascii')).toBe('PNG')
    },
  },
  // README "Exit codes": the shape of every error
  {command: 'sandbox run missing.py', exit: 2, output: ['Error: File not found: missing.py'], code: 'FILE_NOT_FOUND'},
  // troubleshooting: typos, network
  {
    command: 'sandbox rnu examples/hello.py',
    exit: 2,
    output: ['Error: rnu is not a sandbox command: did you mean `sandbox run`?', 'Try this: `sandbox --help` lists every command'],
    code: 'UNKNOWN_COMMAND',
  },
  {
    command: 'sandbox run examples/hello.py --tiemout 5',
    exit: 2,
    output: ['Error: Unknown flag --tiemout: did you mean --timeout?', 'Try this: see `sandbox run --help` for every flag'],
    code: 'UNKNOWN_FLAG',
  },
  {
    command: 'sandbox run fetch.py',
    exit: 1,
    output: ['requests.exceptions.ConnectionError', '[Errno 111] Connection refused', '✗ unauthorized_access · exit 1 ·', 'Network access is not allowed in the sandbox'],
  },
  // --- failures the troubleshooting page shows, with its exact messages
  {
    command: 'DOCKER_HOST=unix:///nonexistent.sock sandbox setup',
    exit: 3,
    output: [
      "✗ Docker daemon Cannot reach the Docker daemon at unix:///nonexistent.sock: connect ENOENT /nonexistent.sock — fix: start the Docker daemon at unix:///nonexistent.sock, or unset DOCKER_HOST to use this machine's daemon",
    ],
  },
  {
    command: 'DOCKER_HOST=tcp://127.0.0.1:1 sandbox run --backend docker examples/hello.py',
    exit: 3,
    output: ['Cannot reach the Docker daemon at tcp://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1'],
    code: 'DOCKER_UNREACHABLE',
  },
  {
    command: 'SANDBOX_BASE_PYTHON_IMAGE=nonexistent:1 sandbox run examples/hello.py',
    exit: 3,
    output: ['Base images are not ready: nonexistent:1 (python): nonexistent:1 is not built; run `sandbox build --language python`'],
    code: 'IMAGES_MISSING',
  },
  {
    command: 'sandbox configure docker --db mysql://root:secretpw@127.0.0.1:1/rag_flow',
    exit: 3,
    output: ['Cannot connect to the MySQL/MariaDB settings database at 127.0.0.1:1 (mysql://root:****@127.0.0.1:1/rag_flow): connect ECONNREFUSED 127.0.0.1:1'],
    code: 'DATABASE_UNREACHABLE',
    absent: ['secretpw'],
  },
  {
    command: 'sandbox configure show --db sqlite://settings.db',
    exit: 2,
    output: ['Invalid database URL "sqlite://settings.db": the SQLite path must be absolute: sqlite:///absolute/path.db (three slashes)'],
    code: 'INVALID_DB_URL',
  },
  // --- the executor manager (on a free port, in a temporary state directory)
  {
    command: 'sandbox start',
    portTaken: true,
    exit: 3,
    output: [
      'Error: The manager exited during start (exit code 3). Last lines of',
      'on 127.0.0.1 is already in use","code":"PORT_IN_USE"',
      'Code: MANAGER_START_FAILED',
      '* see the whole log with `sandbox logs -n 100`',
    ],
  },
  {command: 'sandbox start', output: ['Manager ready at http://127.0.0.1:', 'runtime runsc']},
  {command: 'sandbox status', output: ['Manager: running (healthy)', 'python  pool:', 'nodejs  pool:']},
  {command: 'sandbox logs -n 20', output: ['ready']},
  {command: 'sandbox stop', output: ['Stopped manager', 'No container of it remains']},
  // --- provider settings in RAGFlow's row format (a SQLite file)
  {command: 'sandbox configure docker --db sqlite:///tmp/sandbox-settings.db', output: ['✓ Saved sandbox.docker and sandbox.provider_type in /tmp/sandbox-settings.db']},
  {command: 'sandbox configure show --db sqlite:///tmp/sandbox-settings.db', output: ['Active provider: docker', 'docker — ']},
  // --- the security suite
  {command: 'sandbox test --list', output: ['gvisor-kernel-py', 'ragflow-01', 'cases']},
  {command: 'sandbox test --only gvisor', output: ['passed, 0 failed', 'in-process engine (runsc)']},
  // --- docs/README.md: an extra Debian package in an image of its own name
  {command: "echo 'SANDBOX_BASE_PYTHON_IMAGE=sandbox-python-tabulate:latest' >> .env", cwd: 'extras'},
  {command: "echo 'SANDBOX_EXTRA_DEBIAN_PACKAGES=python3-tabulate' >> .env", cwd: 'extras'},
  {command: 'sandbox build --language python', cwd: 'extras', output: ['sandbox-python-tabulate:latest'], timeoutMs: 600_000},
  {command: 'sandbox run table.py --arg rows=3', cwd: 'extras', output: ['n squared', '✓ success']},
]

const SUITE = 'every case is run by test/integration/suite.test.ts'
const NO_CLUSTER = 'needs a Kubernetes cluster (none runs here); deploy/kubernetes is validated offline by test/unit/kubernetes-manifests.test.ts'
const SWARM = 'test/integration/swarm.test.ts runs these steps on two Docker engines in network namespaces'
const NOT_RUN: Record<string, string> = {
  // docs/scale-out.md "Docker Swarm": hosts of a real swarm; the same steps on namespaced engines are test/integration/swarm.test.ts
  'docker swarm init --advertise-addr <manager ip>': `needs a host of its own; ${SWARM}`,
  'docker swarm join --token <token> <manager ip>:2377': `needs a second host; ${SWARM}`,
  'sandbox build && sandbox build --manager': `replaces the shared image sandbox-executor-manager:latest; ${SWARM}`,
  'sandbox swarm images --to tcp://<node2>:2375': `needs a second host's engine; ${SWARM}`,
  'sandbox swarm label node1 node2': `needs a swarm with these nodes; ${SWARM}`,
  'sandbox swarm deploy --endpoint gateway --pool-size 4 -e SANDBOX_API_TOKEN=$TOKEN': `needs a swarm; ${SWARM}`,
  'sandbox swarm status --endpoint http://<manager ip>:9385': `needs a swarm; ${SWARM}`,
  'sandbox swarm remove': `needs a swarm; ${SWARM}`,
  'npm ci && npx sandbox setup --yes && npx sandbox run examples/hello.py --arg name=World':
    'npm ci would reinstall the dependencies of the work tree under test; its sandbox commands run here on their own (`sandbox setup --yes`, `sandbox run examples/hello.py --arg name=World`)',
  'npm test': 'the test suite itself, of which this file is a part',
  'npm pack': 'packs and installs the package in a temporary prefix: test/integration/package-install.test.ts',
  'npm install -g ./gvisor-sandbox-0.1.0.tgz': 'a global install into a temporary prefix, then setup and a run outside the clone: test/integration/package-install.test.ts',
  'BENCH_ONLY=startup npm run bench': 'a benchmark (about a minute); run by hand',
  'export DOCKER_GID=$(stat -c %g /var/run/docker.sock)': 'the compose recipe: test/integration/compose.test.ts sets DOCKER_GID so, and runs up and down',
  'docker-compose -f deploy/compose.yaml up -d': 'run by test/integration/compose.test.ts (with its own project name, network and port)',
  'docker-compose -f deploy/compose.yaml down': 'run by test/integration/compose.test.ts, which checks nothing is left behind',
  'sandbox test': `all 136 cases take about 80 s; ${SUITE}`,
  'sandbox test --only network --only host': `39 cases, about 20 s; ${SUITE}`,
  'sandbox test --json > report.json': `the whole suite; ${SUITE}`,
  'sandbox test --endpoint http://127.0.0.1:9385 --token "$SANDBOX_API_TOKEN"':
    'needs a manager with a token on port 9385; the endpoint target is tested by test/integration/suite.test.ts',
  'sandbox test --endpoint http://127.0.0.1:9385': 'needs a manager on port 9385, which CI must not take; the endpoint target is tested by test/integration/suite.test.ts',
  'sandbox test --endpoint http://127.0.0.1:9385 --token s3cret': 'needs a manager with this token on port 9385; the endpoint target is tested by test/integration/suite.test.ts',
  'sandbox test --provider self_managed': 'needs a configured self_managed provider; provider targets are tested by test/integration/providers.test.ts',
  'sandbox start --docker --network docker_ragflow':
    "needs RAGFlow's docker_ragflow network and the manager image; docker mode is tested by test/integration/manager-docker.test.ts",
  'node --input-type=module -e "const m = await import(\'./dist/docker/manager-image.js\'); console.log(await m.buildManagerImage())"':
    'needs a compiled dist/ and replaces the shared image sandbox-executor-manager:latest; buildManagerImage is tested by test/integration/manager-docker.test.ts',
  "docker network inspect docker_ragflow --format '{{(index .IPAM.Config 0).Gateway}}'": "needs RAGFlow's docker_ragflow network",
  'sandbox start --host 172.19.0.1': "an example address (the gateway of RAGFlow's network on one machine)",
  'sandbox configure self-managed --endpoint http://sandbox-executor-manager:9385 --db mysql://root:infini_rag_flow@127.0.0.1:5455/rag_flow':
    "needs RAGFlow's MySQL on port 5455; writing into MariaDB and PostgreSQL is tested by test/integration/configure-databases.test.ts",
  'sandbox configure show --db mysql://root:infini_rag_flow@127.0.0.1:5455/rag_flow': "needs RAGFlow's MySQL on port 5455 (see test/integration/configure-databases.test.ts)",
  'SANDBOX_API_TOKEN=s3cret sandbox start --host 0.0.0.0': 'would listen on every address of the CI machine; the token is tested by test/integration/manager.test.ts',
  'SANDBOX_API_TOKEN=s3cret sandbox start --allow-policy-override':
    'takes port 9385, which CI must not take; a manager started this way is tested by test/integration/suite.test.ts (all cases, 0 skipped) and manager.test.ts',
  'sandbox configure self-managed --endpoint http://10.0.0.5:9385 --api-token s3cret --test':
    'an example address; configure --test against a real manager is tested by test/integration/providers.test.ts',
  'npm run bench': 'takes minutes and loads the machine; run by hand (docs/benchmarks.md)',
  'SANDBOX_API_TOKEN=s3cret sandbox start --admin':
    'takes port 9385, which CI must not take; the admin API and page are tested by test/integration/admin-api.test.ts and admin-page.test.ts',
  'curl -s -H "Authorization: Bearer s3cret" http://127.0.0.1:9385/api/v1/admin/sandbox/config':
    'needs a manager on port 9385 started with --admin (see test/integration/admin-api.test.ts)',
  'curl -s http://127.0.0.1:9385/openapi.json -o openapi.json':
    "needs a manager on port 9385; docs/api.md's examples run against a test manager in test/integration/openapi.test.ts",
  'curl -s http://127.0.0.1:9385/healthz': "needs a manager on port 9385; docs/api.md's examples run against a test manager in test/integration/openapi.test.ts",
  'curl -s -H "Authorization: Bearer s3cret" -d \'{"code_b64": "ZGVmIG1haW4obmFtZSk6CiAgICByZXR1cm4gZiJIZWxsbywge25hbWV9ISIK", "language": "python", "arguments": {"name": "World"}}\' http://127.0.0.1:9385/run':
    "needs a manager on port 9385; docs/api.md's examples run against a test manager in test/integration/openapi.test.ts",
  'curl -s -H "Authorization: Bearer s3cret" http://127.0.0.1:9385/status':
    "needs a manager on port 9385; docs/api.md's examples run against a test manager in test/integration/openapi.test.ts",
  'BENCH_RUNS=20 BENCH_SECONDS=3 npm run bench': 'a benchmark (about two minutes); run by hand',
  'BENCH_JSON=bench-results.json npm run bench': 'a benchmark (several minutes); run by hand',
  'node --import tsx bench/load.ts': 'a benchmark of the manager under load; run by hand',
  'node --import tsx bench/http.ts': 'a benchmark of the HTTP layer alone; run by hand',
  'kubectl label node NODE sandbox/gvisor=true': NO_CLUSTER,
  'kubectl taint node NODE sandbox/gvisor=true:NoSchedule': NO_CLUSTER,
  'kubectl apply -f deploy/kubernetes/namespace.yaml': NO_CLUSTER,
  'kubectl apply -k deploy/kubernetes': NO_CLUSTER,
  'kubectl -n sandbox rollout status deployment/sandbox-executor-manager': NO_CLUSTER,
  'kubectl -n sandbox scale deployment/sandbox-executor-manager --replicas=3': NO_CLUSTER,
  'kubectl -n sandbox create secret generic sandbox-api-token --from-literal=token="$(openssl rand -hex 32)"': NO_CLUSTER,
  'BENCH_ONLY=capacity BENCH_SECONDS=20 npm run bench': 'a benchmark of one host for the load model (about a minute); run by hand',
}

// ---------------------------------------------------------------------------------------
// running

let tmp: string
const dirs: Record<'main' | 'extras', string> = {main: '', extras: ''}
let env: NodeJS.ProcessEnv

const PRELUDE = [
  `sandbox() { "${process.execPath}" "${CLI}" "$@"; }`,
  `npx() { if [ "$1" = sandbox ]; then shift; "${process.execPath}" "${CLI}" "$@"; else command npx "$@"; fi; }`,
].join('\n')

/** a TCP listener on 127.0.0.1:port, for "the port is taken" */
function listen(port: number): Promise<{close: () => void}> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve({close: () => server.close()}))
  })
}

const fold = (s: string) => s.replace(/\n[ \t]*›[ \t]*/g, ' ').replace(/\s+/g, ' ')

function sh(command: string, cwd: string, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', `${PRELUDE}\n${command}`], {cwd, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8'}, (error, stdout, stderr) => {
      const code = error ? (typeof (error as {code?: unknown}).code === 'number' ? (error as {code: number}).code : -1) : 0
      resolve({code, stdout, stderr, text: fold(`${stdout}\n${stderr}`)})
    })
  })
}

/** The file a reader writes from a code block: the first ```python block of a doc (after `after`). */
function blockFile(doc: string, after: string | undefined, language: string): string {
  const text = read(doc)
  const from = after ? text.indexOf(after) : 0
  expect(from, `${doc} mentions ${after}`).toBeGreaterThanOrEqual(0)
  const lineOfAfter = text.slice(0, from).split('\n').length
  const block = codeBlocks(text, language).find((b) => b.line >= lineOfAfter)
  expect(block, `a \`\`\`${language} block in ${doc}${after ? ` after "${after}"` : ''}`).toBeDefined()
  return block!.code
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'sandbox-docs-'))
  for (const name of ['main', 'extras'] as const) {
    dirs[name] = join(tmp, name)
    mkdirSync(dirs[name])
    cpSync(join(ROOT, 'examples'), join(dirs[name], 'examples'), {recursive: true})
  }
  // README "What you write": the hello.py the reader saves, run as `sandbox run hello.py`
  writeFileSync(join(dirs.main, 'hello.py'), blockFile('README.md', '## What you write', 'python'))
  // README: squares.py, the artifacts example
  writeFileSync(join(dirs.main, 'squares.py'), blockFile('README.md', 'Files written to `artifacts/`', 'python'))
  // docs/README.md: table.py for the extra-package example
  writeFileSync(join(dirs.extras, 'table.py'), blockFile('docs/README.md', 'where `table.py` is', 'python'))
  // troubleshooting: fetch.py, the network failure
  writeFileSync(join(dirs.main, 'fetch.py'), blockFile('docs/troubleshooting.md', '### Network access fails', 'python'))

  env = {}
  for (const [k, v] of Object.entries(process.env)) {
    // the docs' commands must not pick up the caller's sandbox settings or credentials
    if (/^(SANDBOX_|AGENTRUN_|ALIBABA_CLOUD_|FC_|E2B_|BENCH_)/.test(k)) continue
    env[k] = v
  }
  Object.assign(env, {
    SANDBOX_STATE_DIR: join(tmp, 'state'),
    SANDBOX_DATA_DIR: join(tmp, 'data'),
    SANDBOX_EXECUTOR_MANAGER_PORT: String(await freePort()),
    FORCE_COLOR: '0',
    NO_COLOR: '1',
  })
})

afterAll(async () => {
  if (!tmp) return
  // a failed run must not leave the manager behind
  await sh('sandbox stop', dirs.main, 60_000)
  rmSync(tmp, {recursive: true, force: true})
})

describe('shell examples in README.md and docs/*.md', () => {
  it('every example is either run here or listed with the reason it is not', () => {
    const commands = allCommands()
    expect(commands.length).toBeGreaterThan(20)
    const run = new Set(RUN.map((r) => r.command))
    const unlisted = commands.filter((c) => !run.has(c.command) && !(c.command in NOT_RUN)).map((c) => `${c.file}:${c.line}: ${c.command}`)
    expect(unlisted, 'add these to RUN or NOT_RUN in test/integration/docs.test.ts').toEqual([])
    const seen = new Set(commands.map((c) => c.command))
    const stale = [...run, ...Object.keys(NOT_RUN)].filter((c) => !seen.has(c))
    expect(stale, 'these are in the lists but in no doc any more').toEqual([])
    expect(
      [...run].filter((c) => c in NOT_RUN),
      'in both lists',
    ).toEqual([])
    for (const [command, reason] of Object.entries(NOT_RUN)) expect(reason.length, `reason for ${command}`).toBeGreaterThan(10)
  })

  it('the README quick start is the sum of commands that are run', () => {
    const quick = allCommands().find((c) => c.file === 'README.md' && c.command.startsWith('npm ci'))
    expect(quick, 'README quick start').toBeDefined()
    const parts = quick!.command.split('&&').map((p) => p.trim().replace(/^npx /, ''))
    expect(parts[0]).toBe('npm ci')
    for (const part of parts.slice(1)) expect(RUN.map((r) => r.command)).toContain(part)
  })

  for (const entry of RUN) {
    const timeout = entry.timeoutMs ?? 120_000
    it(
      `runs: ${entry.command}${entry.portTaken ? ' (port taken)' : ''}`,
      async () => {
        const cwd = dirs[entry.cwd ?? 'main']
        const squatter = entry.portTaken ? await listen(Number(env.SANDBOX_EXECUTOR_MANAGER_PORT)) : undefined
        const o = await sh(entry.command, cwd, timeout - 5000).finally(() => squatter?.close())
        const context = `exit ${o.code}\n--- stdout\n${o.stdout.slice(-4000)}\n--- stderr\n${o.stderr.slice(-4000)}`
        expect(o.code, context).toBe(entry.exit ?? 0)
        for (const want of entry.output ?? []) expect(o.text, context).toContain(fold(want))
        for (const secret of entry.absent ?? []) expect(o.text).not.toContain(secret)
        entry.check?.(o, cwd)
        if (entry.code) {
          expect(o.text, context).toContain(`Code: ${entry.code}`)
          const j = await sh(`${entry.command} --json`, cwd, timeout - 5000)
          expect(j.code, j.stdout).toBe(entry.exit ?? 0)
          const error = (JSON.parse(j.stdout) as {error: {code: string; exit: number; message: string}}).error
          expect(Object.keys(error)).toEqual(['code', 'message', 'suggestions', 'exit'])
          expect(error.code).toBe(entry.code)
          expect(error.exit).toBe(entry.exit)
          // the message lines (the text form adds "Error: ", "Code:" and "Try this" around them)
          for (const want of entry.output ?? []) {
            if (/^(✗|Try this|Code:|\* )/.test(want)) continue
            expect(fold(error.message)).toContain(fold(want.replace(/^Error: /, '')))
          }
        }
      },
      timeout,
    )
  }
})
