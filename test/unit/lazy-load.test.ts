/**
 * Start-up cost of `sandbox run`: what its modules load before the code runs. Each check runs
 * in a new Node.js process (a module is loaded once per process) and lists the packages in
 * the module cache. Heavy packages that a run on this host's engine never calls stay out:
 * Fastify (the manager), execa (building images, setup), gRPC/protobufjs (dockerode's BuildKit
 * sessions), ssh2 (docker-modem's ssh:// hosts), the remote providers' SDKs and the MySQL and
 * PostgreSQL clients. Where they are loaded on first use, that first use still works.
 */
import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {pathToFileURL} from 'node:url'
import {join, resolve} from 'node:path'

import {describe, expect, it} from 'vitest'

/** runs an ES module body with tsx in a new process; it prints JSON on its last line */
function fresh(body: string): unknown {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-lazy-load-'))
  try {
    const trace = join(dir, 'resolved.txt')
    writeFileSync(trace, '')
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', body], {
      encoding: 'utf8',
      env: {...process.env, NO_COLOR: '1', LAZY_LOAD_TRACE: trace},
    })
    return JSON.parse(out.trim().split('\n').pop() ?? 'null')
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}
const src = (path: string) => JSON.stringify(pathToFileURL(resolve('src', path)).href)

/**
 * The packages loaded so far: the CommonJS module cache, and every ES module resolved (a resolve
 * hook registered before anything else is imported writes each URL to a file).
 */
const LOADED = `
import {createRequire, register} from 'node:module'
import {readFileSync} from 'node:fs'
const trace = process.env.LAZY_LOAD_TRACE
register('data:text/javascript,' + encodeURIComponent(\`import {appendFileSync} from 'node:fs'
export async function resolve(specifier, context, next) { const r = await next(specifier, context); appendFileSync(\${JSON.stringify(trace)}, r.url + '\\\\n'); return r }\`))
const packageOf = (p) => p.match(/node_modules\\/((?:@[^/]+\\/)?[^/]+)/)?.[1]
const loaded = () => [...new Set([...Object.keys(createRequire(import.meta.url).cache), ...readFileSync(trace, 'utf8').split('\\n')].map(packageOf).filter(Boolean))]
`
const HEAVY = ['fastify', 'execa', '@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs', 'ssh2', 'e2b', 'mysql2', 'pg']

describe('what sandbox run loads', () => {
  it('the run command and the docker backend load none of the heavy packages it does not call', () => {
    const loaded = fresh(`${LOADED}
await import(${src('commands/run.ts')})
await import(${src('backends/docker/index.ts')})
console.log(JSON.stringify(loaded()))`) as string[]
    expect(loaded).toContain('dockerode')
    for (const name of HEAVY) expect(loaded, name).not.toContain(name)
  })

  it("dockerode's BuildKit session and docker-modem's ssh agent load on their first call and work", () => {
    const result = fresh(`${LOADED}
const {docker} = await import(${src('docker/client.ts')})
docker()
const require = createRequire(import.meta.url)
const dockerode = require.resolve('dockerode')
const session = createRequire(dockerode).resolve('./session.js')
const ssh = createRequire(createRequire(dockerode).resolve('docker-modem')).resolve('./ssh.js')
const before = loaded()
// what dockerode and docker-modem hold: the stand-ins
const withSession = require.cache[session].exports
const sshAgent = require.cache[ssh].exports
const error = await new Promise((done) => withSession({modem: {dial: (_opts, cb) => cb(new Error('no daemon here'))}}, null, (err) => done(err.message)))
const agent = sshAgent({host: '127.0.0.1'})
console.log(JSON.stringify({before, after: loaded(), error, agent: agent.constructor.name, real: require(session) !== withSession && require(ssh) !== sshAgent}))`) as {
      before: string[]
      after: string[]
      error: string
      agent: string
      real: boolean
    }
    expect(result.before).not.toContain('@grpc/grpc-js')
    expect(result.before).not.toContain('ssh2')
    expect(result.error).toBe('no daemon here')
    expect(result.agent).toBe('Agent')
    expect(result.after).toContain('@grpc/grpc-js')
    expect(result.after).toContain('ssh2')
    expect(result.real).toBe(true)
  })
})
