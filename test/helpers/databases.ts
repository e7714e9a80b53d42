/**
 * Real database servers for integration tests, from Debian packages, started by the tests:
 * a PRIVATE instance per kind (own temp data dir, free port on 127.0.0.1, own socket), with a
 * database and a password user, reachable by URL and by the database's own CLI client.
 *
 *   const db = await startMariaDB()      // or startPostgres()
 *   db.url                               // mysql://sandbox:…@127.0.0.1:PORT/rag_flow
 *   await db.query('SELECT name FROM system_settings')   // via mysql / psql, tab-separated rows
 *   await db.stop()
 *
 * Starts within one test file share one instance per kind (reference counted; the last stop()
 * shuts it down). Servers are killed if the test process exits without stopping them.
 * Packages are installed with apt-get when missing (the CI machine starts fresh).
 */
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {aptInstall, which} from './apt.js'
import {freePort} from './ports.js'

export interface DatabaseServer {
  kind: 'mysql' | 'postgres'
  /** connection URL for the settings store (password included) */
  url: string
  host: string
  port: number
  user: string
  password: string
  database: string
  /** run SQL with the database's own CLI client as `user`; returns rows as tab-separated lines, no header */
  query(sql: string): Promise<string>
  /** stop this handle; the server stops when the last handle in this process is stopped */
  stop(): Promise<void>
  /** milliseconds from "start requested" to "accepts connections", for the instance behind this handle */
  startupMs: number
  /** true if this handle reused an instance that was already running in this process */
  reused: boolean
}

const USER = 'sandbox'
const PASSWORD = 'Sandbox-test-pw_1'
const DATABASE = 'rag_flow'
const READY_TIMEOUT_MS = 90_000

// ---------------------------------------------------------------- process helpers

interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

function run(cmd: string, args: string[], options: {env?: NodeJS.ProcessEnv; uid?: number; gid?: number; cwd?: string; input?: string} = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: options.env ?? process.env,
      uid: options.uid,
      gid: options.gid,
      cwd: options.cwd,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({code, stdout, stderr}))
    if (child.stdin) {
      child.stdin.on('error', () => {}) // the child may exit before reading its input
      child.stdin.end(options.input)
    }
  })
}

async function runOk(cmd: string, args: string[], options: Parameters<typeof run>[2] = {}): Promise<string> {
  const r = await run(cmd, args, options)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stderr || r.stdout}`)
  return r.stdout
}

/** Poll `probe` until it succeeds; fail early when the server process has exited. */
async function waitUntilReady(what: string, child: ChildProcess, logFile: string, probe: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  let exited: string | undefined
  child.once('exit', (code, signal) => (exited = `exited with ${code ?? signal}`))
  let lastError: unknown
  for (;;) {
    if (exited) break
    try {
      await probe()
      return
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) break
    // poll interval between connection attempts
    await new Promise((r) => setTimeout(r, 100))
  }
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-4000) : '(no log)'
  throw new Error(`${what} did not accept connections (${exited ?? 'timeout'}; last error: ${String(lastError)}):\n${log}`)
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.once('exit', () => {
      clearTimeout(killTimer)
      resolve()
    })
    child.kill(signal)
  })
}

// Kill servers and remove their data if the test process exits without stop().
const liveServers = new Set<{child: ChildProcess; dir: string}>()
process.once('exit', () => {
  for (const s of liveServers) {
    try {
      s.child.kill('SIGKILL')
    } catch {}
    try {
      rmSync(s.dir, {recursive: true, force: true})
    } catch {}
  }
})

/** Stop a server we started and remove its data directory. */
async function retire(live: {child: ChildProcess; dir: string}, signal: NodeJS.Signals): Promise<void> {
  await stopChild(live.child, signal)
  liveServers.delete(live)
  rmSync(live.dir, {recursive: true, force: true})
}

// ---------------------------------------------------------------- shared instance bookkeeping

interface Instance {
  kind: 'mysql' | 'postgres'
  port: number
  startupMs: number
  query(sql: string): Promise<string>
  shutdown(): Promise<void>
}

const instances: Partial<Record<'mysql' | 'postgres', {instance: Promise<Instance>; refs: number}>> = {}

async function acquire(kind: 'mysql' | 'postgres', start: () => Promise<Instance>): Promise<DatabaseServer> {
  let entry = instances[kind]
  const reused = !!entry
  if (!entry) {
    entry = {instance: start(), refs: 0}
    instances[kind] = entry
  }
  entry.refs++
  let instance: Instance
  try {
    instance = await entry.instance
  } catch (error) {
    entry.refs--
    if (instances[kind] === entry) delete instances[kind]
    throw error
  }
  const scheme = kind === 'mysql' ? 'mysql' : 'postgres'
  let stopped = false
  const current = entry
  return {
    kind,
    url: `${scheme}://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${instance.port}/${DATABASE}`,
    host: '127.0.0.1',
    port: instance.port,
    user: USER,
    password: PASSWORD,
    database: DATABASE,
    startupMs: instance.startupMs,
    reused,
    query: (sql) => instance.query(sql),
    async stop() {
      if (stopped) return
      stopped = true
      current.refs--
      if (current.refs === 0) {
        if (instances[kind] === current) delete instances[kind]
        await instance.shutdown()
      }
    },
  }
}

// ---------------------------------------------------------------- MariaDB

function mariadbBinaries() {
  return {
    server: which('mariadbd') ?? which('mysqld'),
    installDb: which('mariadb-install-db') ?? which('mysql_install_db'),
    client: which('mariadb') ?? which('mysql'),
  }
}

async function launchMariaDB(): Promise<Instance> {
  const t0 = Date.now()
  let bins = mariadbBinaries()
  if (!bins.server || !bins.installDb || !bins.client) {
    await aptInstall(['mariadb-server', 'mariadb-client'])
    bins = mariadbBinaries()
  }
  const {server, installDb, client} = bins
  if (!server || !installDb || !client) throw new Error('mariadb-server / mariadb-client did not provide mariadbd, mariadb-install-db and mariadb')

  const dir = mkdtempSync(join(tmpdir(), 'sandbox-mariadb-'))
  const dataDir = join(dir, 'data')
  const socket = join(dir, 'mysqld.sock')
  const logFile = join(dir, 'error.log')
  const port = await freePort()
  await runOk(installDb, ['--no-defaults', `--datadir=${dataDir}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'])
  const child = spawn(
    server,
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      `--socket=${socket}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      '--user=root',
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      `--log-error=${logFile}`,
      '--skip-name-resolve',
      '--performance-schema=OFF',
      '--innodb-buffer-pool-size=32M',
      '--innodb-flush-log-at-trx-commit=2',
    ],
    {stdio: 'ignore'},
  )
  const live = {child, dir}
  liveServers.add(live)

  const rootSql = (sql: string) => runOk(client, ['--no-defaults', `--socket=${socket}`, '-u', 'root', '--batch', '--skip-column-names', '-e', sql])
  try {
    await waitUntilReady('mariadbd', child, logFile, async () => {
      await rootSql('SELECT 1')
    })
    const host = hostname().replace(/'/g, '')
    await rootSql(
      [
        `DROP USER IF EXISTS ''@'localhost', ''@'${host}'`,
        `CREATE DATABASE ${DATABASE}`,
        `CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'`,
        `CREATE USER '${USER}'@'localhost' IDENTIFIED BY '${PASSWORD}'`,
        `GRANT ALL PRIVILEGES ON ${DATABASE}.* TO '${USER}'@'%'`,
        `GRANT ALL PRIVILEGES ON ${DATABASE}.* TO '${USER}'@'localhost'`,
        'FLUSH PRIVILEGES',
      ].join('; '),
    )
    // the password user over TCP, as the code under test will connect
    const query = (sql: string) =>
      runOk(client, ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', USER, '-D', DATABASE, '--batch', '--raw', '--skip-column-names', '-e', sql], {
        env: {...process.env, MYSQL_PWD: PASSWORD},
      })
    await query('SELECT 1')
    return {
      kind: 'mysql',
      port,
      startupMs: Date.now() - t0,
      query,
      async shutdown() {
        await retire(live, 'SIGTERM')
      },
    }
  } catch (error) {
    await retire(live, 'SIGKILL')
    throw error
  }
}

export function startMariaDB(): Promise<DatabaseServer> {
  return acquire('mysql', launchMariaDB)
}

// ---------------------------------------------------------------- PostgreSQL

function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'postgres')) && existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
  return versions.length > 0 ? join(root, versions[0], 'bin') : undefined
}

function postgresUser(): {uid: number; gid: number} | undefined {
  const r = spawnSync('id', ['-u', 'postgres'], {encoding: 'utf8'})
  const g = spawnSync('id', ['-g', 'postgres'], {encoding: 'utf8'})
  if (r.status !== 0 || g.status !== 0) return undefined
  return {uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim())}
}

async function launchPostgres(): Promise<Instance> {
  const t0 = Date.now()
  let binDir = postgresBinDir()
  let psql = which('psql')
  let owner = postgresUser()
  if (!binDir || !psql || !owner) {
    await aptInstall(['postgresql', 'postgresql-client'])
    binDir = postgresBinDir()
    psql = which('psql')
    owner = postgresUser()
  }
  if (!binDir || !psql || !owner) throw new Error('postgresql / postgresql-client did not provide initdb, postgres, psql and the postgres user')
  const {uid, gid} = owner

  // PostgreSQL refuses to run as root: the whole temp dir belongs to the postgres user.
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-postgres-'))
  const dataDir = join(dir, 'data')
  const socketDir = join(dir, 'run')
  const logFile = join(dir, 'postgres.log')
  mkdirSync(socketDir)
  const pwFile = join(dir, 'superuser.pw')
  writeFileSync(pwFile, `${PASSWORD}\n`, {mode: 0o600})
  for (const p of [dir, socketDir, pwFile]) chownSync(p, uid, gid)
  const env: NodeJS.ProcessEnv = {...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8'}
  delete env.PGDATA
  await runOk(
    join(binDir, 'initdb'),
    ['-D', dataDir, '-U', 'postgres', `--pwfile=${pwFile}`, '--auth-local=trust', '--auth-host=scram-sha-256', '--encoding=UTF8', '--locale=C', '--no-sync'],
    {uid, gid, env, cwd: dir},
  )
  const port = await freePort()
  writeFileSync(logFile, '')
  chownSync(logFile, uid, gid)
  const child = spawn(
    join(binDir, 'postgres'),
    [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-k',
      socketDir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'shared_buffers=16MB',
      '-c',
      'max_connections=30',
      '-c',
      `logging_collector=off`,
    ],
    {uid, gid, env, cwd: dir, stdio: ['ignore', 'ignore', 'pipe']},
  )
  // postgres logs to stderr; keep the tail for error reports
  child.stderr?.on('data', (d: Buffer) => {
    try {
      writeFileSync(logFile, d, {flag: 'a'})
    } catch {}
  })
  const live = {child, dir}
  liveServers.add(live)

  const superSql = (sql: string) =>
    runOk(psql, ['-X', '-q', '-h', socketDir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-A', '-t', '-c', sql], {env})
  try {
    await waitUntilReady('postgres', child, logFile, async () => {
      await superSql('SELECT 1')
    })
    await superSql(`CREATE ROLE ${USER} LOGIN PASSWORD '${PASSWORD}'`)
    await superSql(`CREATE DATABASE ${DATABASE} OWNER ${USER}`)
    const query = (sql: string) =>
      runOk(psql, ['-X', '-q', '-h', '127.0.0.1', '-p', String(port), '-U', USER, '-d', DATABASE, '-v', 'ON_ERROR_STOP=1', '-A', '-t', '-F', '\t', '-c', sql], {
        env: {...env, PGPASSWORD: PASSWORD},
      })
    await query('SELECT 1')
    return {
      kind: 'postgres',
      port,
      startupMs: Date.now() - t0,
      query,
      async shutdown() {
        await retire(live, 'SIGINT') // fast shutdown
      },
    }
  } catch (error) {
    await retire(live, 'SIGKILL')
    throw error
  }
}

export function startPostgres(): Promise<DatabaseServer> {
  return acquire('postgres', launchPostgres)
}

export {closedPort} from './ports.js'
