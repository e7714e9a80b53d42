/**
 * A loopback stand-in for Tenki Sandbox, enough of its protocol for Tenki's official JS SDK
 * (`@tenkicloud/sandbox` 0.5.4) as our `tenki` provider drives it. Tenki speaks gRPC over HTTP/2
 * (the SDK's `createGrpcTransport`, plaintext h2c here) in two planes:
 *
 *   control plane (baseUrl)   `tenki.sandbox.v1.SandboxService`, `Authorization: Bearer tk_…`
 *     CreateSession            → {session{id, state RUNNING, …}, data_plane_endpoint, credential, route_status VERIFIED}
 *     CreateSessionCredential  → a fresh data-plane credential (the SDK asks when one is refused)
 *     GetSession, TerminateSession, WhoAmI
 *   data plane (data_plane_endpoint, its own port)  `tenki.sandbox.v1.SandboxSessionDataPlaneService`,
 *     `x-tenki-session-cert: <the session's credential>`
 *     WriteFile                {request{session_id, path, content}}
 *     Stat                     (the SDK's readiness probe when a route is not yet verified)
 *     Run (bidirectional)      client: start{session_id, cmd[], cwd, env, stream_stdin, timeout_ms}, stdin_close, signal{KILL…};
 *                              server: started{pid}, stdout, stderr, exit{exit_code, signal, timed_out, duration_ms, reason}
 *
 * The messages are declared here from the SDK's published schema (tenki/sandbox/v1/sandbox.proto,
 * field numbers as in the SDK): only the fields this stand-in reads or writes — protobuf ignores
 * the rest on the wire. Errors are gRPC statuses the SDK maps to its error classes:
 * Unauthenticated → UnauthorizedError, ResourceExhausted → QuotaExceededError / RateLimitedError
 * ("rate limit"), NotFound → SessionNotFoundError, FailedPrecondition "…terminated…" →
 * SessionTerminatedError.
 *
 * Commands run for real: `mkdir -p DIR…` records directories; `python3|node FILE` runs the written
 * file in our gVisor engine (launcher.ts), and a KILL signal on the stream aborts that run. As
 * the guest contract says, a cwd that does not exist fails before the process starts.
 */
import {randomBytes} from 'node:crypto'
import {createServer, type Http2Server, type Http2Session} from 'node:http2'
import type {AddressInfo} from 'node:net'
import {posix} from 'node:path'

import {create, createFileRegistry, type DescMethodBiDiStreaming, type DescMethodUnary, type DescService, type MessageInitShape} from '@bufbuild/protobuf'
import {
  type DescriptorProtoSchema,
  type EnumDescriptorProtoSchema,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  file_google_protobuf_duration,
  file_google_protobuf_timestamp,
  FileDescriptorProtoSchema,
  timestampFromMs,
} from '@bufbuild/protobuf/wkt'
import {Code, ConnectError, type ConnectRouter, type HandlerContext} from '@connectrpc/connect'
import {connectNodeAdapter} from '@connectrpc/connect-node'

import {runScript} from './launcher.js'

// ---- the schema subset (package tenki.sandbox.v1)

type FieldDef = [name: string, number: number, type: string, repeated?: 'repeated']
const SCALARS: Record<string, Type> = {string: Type.STRING, bool: Type.BOOL, int32: Type.INT32, uint32: Type.UINT32, int64: Type.INT64, uint64: Type.UINT64, bytes: Type.BYTES}
const PKG = '.tenki.sandbox.v1.'
const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())

function field([name, number, type, repeated]: FieldDef, oneofIndex?: number) {
  const base = {name, number, jsonName: camel(name), label: repeated ? Label.REPEATED : Label.OPTIONAL, ...(oneofIndex === undefined ? {} : {oneofIndex})}
  if (type in SCALARS) return {...base, type: SCALARS[type]}
  if (type.startsWith('enum ')) return {...base, type: Type.ENUM, typeName: type.slice(5)}
  return {...base, type: Type.MESSAGE, typeName: type.startsWith('.') ? type : PKG + type}
}
type MessageDef = MessageInitShape<typeof DescriptorProtoSchema>
type EnumDef = MessageInitShape<typeof EnumDescriptorProtoSchema>
const mapEntry = (name: string): MessageDef => ({name, field: [field(['key', 1, 'string']), field(['value', 2, 'string'])], options: {mapEntry: true}})
const message = (name: string, fields: FieldDef[], extra: {nestedType?: MessageDef[]; enumType?: EnumDef[]; oneof?: string} = {}): MessageDef => ({
  name,
  field: fields.map((f) => field(f, extra.oneof ? 0 : undefined)),
  nestedType: extra.nestedType ?? [],
  enumType: extra.enumType ?? [],
  oneofDecl: extra.oneof ? [{name: extra.oneof}] : [],
})
const enumType = (name: string, values: Record<string, number>): EnumDef => ({name, value: Object.entries(values).map(([n, number]) => ({name: n, number}))})
const wrapper = (name: string, key: 'request' | 'response' | 'frame', inner: string) => message(name, [[key, 1, inner]])

const file = create(FileDescriptorProtoSchema, {
  name: 'tenki/sandbox/v1/sandbox.proto',
  package: 'tenki.sandbox.v1',
  syntax: 'proto3',
  dependency: ['google/protobuf/duration.proto', 'google/protobuf/timestamp.proto'],
  enumType: [
    enumType('SessionState', {SESSION_STATE_UNSPECIFIED: 0, SESSION_STATE_CREATING: 1, SESSION_STATE_RUNNING: 3, SESSION_STATE_TERMINATING: 5, SESSION_STATE_TERMINATED: 6}),
    enumType('DataPlaneRouteStatus', {
      DATA_PLANE_ROUTE_STATUS_UNSPECIFIED: 0,
      DATA_PLANE_ROUTE_STATUS_VERIFIED: 1,
      DATA_PLANE_ROUTE_STATUS_NOT_READY: 2,
      DATA_PLANE_ROUTE_STATUS_FAILED: 3,
    }),
  ],
  messageType: [
    message(
      'SandboxSession',
      [
        ['id', 1, 'string'],
        ['state', 2, `enum ${PKG}SessionState`],
        ['owner_type', 3, 'string'],
        ['owner_id', 4, 'string'],
        ['timeout_at', 8, '.google.protobuf.Timestamp'],
        ['outbound_enabled', 10, 'bool'],
        ['cpu_cores', 11, 'int32'],
        ['memory_mb', 12, 'int32'],
        ['metadata', 13, 'SandboxSession.MetadataEntry', 'repeated'],
        ['disk_size_gb', 20, 'int32'],
      ],
      {nestedType: [mapEntry('MetadataEntry')]},
    ),
    message('SessionCredential', [
      ['credential', 1, 'string'],
      ['expires_at', 2, '.google.protobuf.Timestamp'],
    ]),
    message(
      'CreateSessionRequest',
      [
        ['owner_id', 1, 'string'],
        ['owner_type', 2, 'string'],
        ['allow_inbound', 3, 'bool'],
        ['allow_outbound', 4, 'bool'],
        ['max_duration', 5, '.google.protobuf.Duration'],
        ['cpu_cores', 6, 'int32'],
        ['memory_mb', 7, 'int32'],
        ['metadata', 8, 'CreateSessionRequest.MetadataEntry', 'repeated'],
        ['registry_ref', 18, 'string'],
        ['disk_size_gb', 21, 'int32'],
        ['wait_ready', 26, 'bool'],
      ],
      {nestedType: [mapEntry('MetadataEntry')]},
    ),
    message('CreateSessionResponse', [
      ['session', 1, 'SandboxSession'],
      ['data_plane_endpoint', 2, 'string'],
      ['credential', 3, 'SessionCredential'],
      ['route_status', 4, `enum ${PKG}DataPlaneRouteStatus`],
    ]),
    message('CreateSessionCredentialRequest', [['session_id', 1, 'string']]),
    message('CreateSessionCredentialResponse', [
      ['credential', 1, 'SessionCredential'],
      ['data_plane_endpoint', 2, 'string'],
      ['route_status', 3, `enum ${PKG}DataPlaneRouteStatus`],
    ]),
    message('GetSessionRequest', [['session_id', 1, 'string']]),
    message('GetSessionResponse', [['session', 1, 'SandboxSession']]),
    message('TerminateSessionRequest', [['session_id', 1, 'string']]),
    message('TerminateSessionResponse', [['session', 1, 'SandboxSession']]),
    message('WhoAmIRequest', []),
    message('WhoAmIWorkspace', [
      ['workspace_id', 1, 'string'],
      ['name', 2, 'string'],
    ]),
    message('WhoAmIResponse', [
      ['owner_type', 1, 'string'],
      ['owner_id', 2, 'string'],
      ['workspaces', 3, 'WhoAmIWorkspace', 'repeated'],
    ]),
    message(
      'RunStart',
      [
        ['session_id', 1, 'string'],
        ['cmd', 2, 'string', 'repeated'],
        ['cwd', 3, 'string'],
        ['env', 4, 'RunStart.EnvEntry', 'repeated'],
        ['stream_stdin', 6, 'bool'],
        ['timeout_ms', 7, 'uint32'],
        ['privileged', 8, 'bool'],
      ],
      {nestedType: [mapEntry('EnvEntry')]},
    ),
    message('RunSignal', [['signal', 1, `enum ${PKG}RunSignal.Sig`]], {
      enumType: [enumType('Sig', {SIG_UNSPECIFIED: 0, SIG_TERM: 1, SIG_KILL: 2, SIG_INT: 3, SIG_HUP: 4, SIG_USR1: 5, SIG_USR2: 6})],
    }),
    message('RunStarted', [['pid', 1, 'uint64']]),
    message('RunExit', [
      ['exit_code', 1, 'int32'],
      ['signal', 2, 'string'],
      ['timed_out', 3, 'bool'],
      ['duration_ms', 4, 'uint64'],
      ['reason', 5, 'string'],
      ['errno', 6, 'int32'],
    ]),
    message(
      'RunRequest',
      [
        ['start', 1, 'RunStart'],
        ['stdin', 2, 'bytes'],
        ['signal', 3, 'RunSignal'],
        ['stdin_close', 4, 'bool'],
      ],
      {oneof: 'payload'},
    ),
    message(
      'RunResponse',
      [
        ['started', 1, 'RunStarted'],
        ['stdout', 2, 'bytes'],
        ['stderr', 3, 'bytes'],
        ['exit', 4, 'RunExit'],
      ],
      {oneof: 'payload'},
    ),
    message('WriteFileRequest', [
      ['session_id', 1, 'string'],
      ['path', 2, 'string'],
      ['content', 3, 'bytes'],
    ]),
    message('WriteFileResponse', [
      ['path', 1, 'string'],
      ['size_bytes', 2, 'int64'],
    ]),
    message('StatRequest', [
      ['session_id', 1, 'string'],
      ['path', 2, 'string'],
    ]),
    message('StatResponse', []),
    wrapper('SandboxSessionDataPlaneServiceRunRequest', 'frame', 'RunRequest'),
    wrapper('SandboxSessionDataPlaneServiceRunResponse', 'frame', 'RunResponse'),
    wrapper('SandboxSessionDataPlaneServiceWriteFileRequest', 'request', 'WriteFileRequest'),
    wrapper('SandboxSessionDataPlaneServiceWriteFileResponse', 'response', 'WriteFileResponse'),
    wrapper('SandboxSessionDataPlaneServiceStatRequest', 'request', 'StatRequest'),
    wrapper('SandboxSessionDataPlaneServiceStatResponse', 'response', 'StatResponse'),
  ],
  service: [
    {
      name: 'SandboxService',
      method: ['CreateSession', 'CreateSessionCredential', 'GetSession', 'TerminateSession', 'WhoAmI'].map((name) => ({
        name,
        inputType: `${PKG}${name}Request`,
        outputType: `${PKG}${name}Response`,
      })),
    },
    {
      name: 'SandboxSessionDataPlaneService',
      method: ['Run', 'WriteFile', 'Stat'].map((name) => ({
        name,
        inputType: `${PKG}SandboxSessionDataPlaneService${name}Request`,
        outputType: `${PKG}SandboxSessionDataPlaneService${name}Response`,
        ...(name === 'Run' ? {clientStreaming: true, serverStreaming: true} : {}),
      })),
    },
  ],
})

const registry = createFileRegistry(
  file,
  (name) => ({'google/protobuf/duration.proto': file_google_protobuf_duration, 'google/protobuf/timestamp.proto': file_google_protobuf_timestamp})[name],
)
const service = (name: string): DescService => {
  const s = registry.getService(`tenki.sandbox.v1.${name}`)
  if (!s) throw new Error(`stand-in schema lacks ${name}`)
  return s
}
const controlPlane = service('SandboxService')
const dataPlane = service('SandboxSessionDataPlaneService')
const unary = (s: DescService, name: string) => s.method[name] as DescMethodUnary
const SESSION_RUNNING = 3
const SESSION_TERMINATED = 6
const ROUTE_VERIFIED = 1
const SIGNALS = ['UNSPECIFIED', 'TERM', 'KILL', 'INT', 'HUP', 'USR1', 'USR2']

// ---- the shapes of the messages this stand-in reads (as @bufbuild/protobuf decodes them)

interface CreateSessionRequest {
  ownerType: string
  ownerId: string
  allowInbound: boolean
  allowOutbound: boolean
  maxDuration?: {seconds: bigint; nanos: number}
  cpuCores: number
  memoryMb: number
  diskSizeGb: number
  metadata: Record<string, string>
  registryRef: string
  waitReady: boolean
}
interface RunFrame {
  frame?: {
    payload:
      | {case: 'start'; value: {sessionId: string; cmd: string[]; cwd: string; env: Record<string, string>; timeoutMs: number}}
      | {case: 'signal'; value: {signal: number}}
      | {case: 'stdin'; value: Uint8Array}
      | {case: 'stdinClose'; value: boolean}
      | {case: undefined; value?: undefined}
  }
}

export interface TenkiCreate {
  allowOutbound: boolean
  allowInbound: boolean
  maxDurationMs: number
  cpuCores: number
  memoryMb: number
  diskSizeGb: number
  image: string
  metadata: Record<string, string>
}

export interface TenkiStandIn {
  /** the control plane's URL (the SDK's baseUrl, our base_url) */
  baseUrl: string
  /** the data plane's URL (handed out in CreateSession) */
  dataPlaneUrl: string
  apiKey: string
  /** sessions not terminated */
  live(): string[]
  /** every RPC seen: "Service/Method" */
  calls: string[]
  /** CreateSession requests as the SDK sent them */
  creates: TenkiCreate[]
  /** commands run, argv joined by spaces, with their cwd */
  commands: Array<{argv: string; cwd: string}>
  /** files written: path → content */
  files: Map<string, string>
  /** signals received on Run streams ("KILL", …) */
  signals: string[]
  /** sessions terminated (TerminateSession) */
  terminated: string[]
  /** answer the next CreateSession with this gRPC error */
  failNextCreate(code: Code, message: string): void
  /** answer the next WriteFile with this gRPC error */
  failNextWrite(code: Code, message: string): void
  /** end a session on the server side (as max_lifetime does): later calls find it terminated */
  expire(sessionId: string): void
  close(): Promise<void>
}

interface StandInSession {
  id: string
  state: number
  credential: string
  dirs: Set<string>
  files: Map<string, Buffer>
  create: TenkiCreate
  timeoutAt: number
}

const HOME = '/home/tenki'

async function listen(server: Http2Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

export async function startTenkiStandIn(options: {apiKey?: string} = {}): Promise<TenkiStandIn> {
  const apiKey = options.apiKey ?? `tk_standin_${randomBytes(12).toString('hex')}`
  const sessions = new Map<string, StandInSession>()
  const calls: string[] = []
  const creates: TenkiCreate[] = []
  const commands: Array<{argv: string; cwd: string}> = []
  const files = new Map<string, string>()
  const signals: string[] = []
  const terminated: string[] = []
  /** gRPC errors to answer the next CreateSession / WriteFile with, once */
  const failNext: {create?: ConnectError; write?: ConnectError} = {}
  const injected = (call: 'create' | 'write') => {
    const failure = failNext[call]
    delete failNext[call]
    if (failure) throw failure
  }
  let nextPid = 100
  let dataPlaneUrl = ''

  const seen = (context: HandlerContext) => calls.push(`${context.service.name}/${context.method.name}`)
  const authorize = (context: HandlerContext) => {
    seen(context)
    if (context.requestHeader.get('authorization') !== `Bearer ${apiKey}`) throw new ConnectError('invalid API key', Code.Unauthenticated)
  }
  const lookup = (id: string, verb: string): StandInSession => {
    const session = sessions.get(id)
    if (!session) throw new ConnectError(`session ${id} not found`, Code.NotFound)
    if (session.state === SESSION_TERMINATED) throw new ConnectError(`cannot ${verb}: session ${id} is terminated`, Code.FailedPrecondition)
    return session
  }
  /** the data plane's check: the session's own credential, minted by the control plane */
  const dataSession = (context: HandlerContext, id: string, verb: string): StandInSession => {
    seen(context)
    const session = lookup(id, verb)
    if (context.requestHeader.get('x-tenki-session-cert') !== session.credential) throw new ConnectError('invalid session credential', Code.Unauthenticated)
    return session
  }
  const sessionMessage = (s: StandInSession) => ({
    id: s.id,
    state: s.state,
    ownerType: 'SERVICE',
    ownerId: 'standin',
    timeoutAt: timestampFromMs(s.timeoutAt),
    outboundEnabled: s.create.allowOutbound,
    cpuCores: s.create.cpuCores || 2,
    memoryMb: s.create.memoryMb || 4096,
    diskSizeGb: s.create.diskSizeGb || 10,
    metadata: s.create.metadata,
  })
  const credential = () => ({credential: randomBytes(16).toString('hex'), expiresAt: timestampFromMs(Date.now() + 3_600_000)})

  const controlRoutes = (router: ConnectRouter) =>
    router
      .rpc(unary(controlPlane, 'createSession'), (request, context) => {
        authorize(context)
        const r = request as unknown as CreateSessionRequest
        const created: TenkiCreate = {
          allowOutbound: r.allowOutbound,
          allowInbound: r.allowInbound,
          maxDurationMs: r.maxDuration ? Number(r.maxDuration.seconds) * 1000 + Math.floor(r.maxDuration.nanos / 1e6) : 0,
          cpuCores: r.cpuCores,
          memoryMb: r.memoryMb,
          diskSizeGb: r.diskSizeGb,
          image: r.registryRef,
          metadata: {...r.metadata},
        }
        creates.push(created)
        injected('create')
        const cred = credential()
        const session: StandInSession = {
          id: `sbx_${randomBytes(8).toString('hex')}`,
          state: SESSION_RUNNING,
          credential: cred.credential,
          dirs: new Set([HOME, '/tmp']),
          files: new Map(),
          create: created,
          timeoutAt: Date.now() + (created.maxDurationMs || 3_600_000),
        }
        sessions.set(session.id, session)
        return {session: sessionMessage(session), dataPlaneEndpoint: dataPlaneUrl, credential: cred, routeStatus: ROUTE_VERIFIED}
      })
      .rpc(unary(controlPlane, 'createSessionCredential'), (request, context) => {
        authorize(context)
        const session = lookup((request as unknown as {sessionId: string}).sessionId, 'mint a credential')
        const cred = credential()
        session.credential = cred.credential
        return {credential: cred, dataPlaneEndpoint: dataPlaneUrl, routeStatus: ROUTE_VERIFIED}
      })
      .rpc(unary(controlPlane, 'getSession'), (request, context) => {
        authorize(context)
        const id = (request as unknown as {sessionId: string}).sessionId
        const session = sessions.get(id)
        if (!session) throw new ConnectError(`session ${id} not found`, Code.NotFound)
        return {session: sessionMessage(session)}
      })
      .rpc(unary(controlPlane, 'terminateSession'), (request, context) => {
        authorize(context)
        const id = (request as unknown as {sessionId: string}).sessionId
        const session = sessions.get(id)
        if (!session) throw new ConnectError(`session ${id} not found`, Code.NotFound)
        if (session.state !== SESSION_TERMINATED) terminated.push(id)
        session.state = SESSION_TERMINATED
        return {session: sessionMessage(session)}
      })
      .rpc(unary(controlPlane, 'whoAmI'), (_request, context) => {
        authorize(context)
        return {ownerType: 'SERVICE', ownerId: 'standin', workspaces: [{workspaceId: 'ws_standin', name: 'stand-in'}]}
      })

  async function* runProcess(requests: AsyncIterable<RunFrame>, context: HandlerContext) {
    const frames = requests[Symbol.asyncIterator]()
    const first = (await frames.next()).value as RunFrame | undefined
    const payload = first?.frame?.payload
    if (payload?.case !== 'start') throw new ConnectError('the first Run frame must be start', Code.InvalidArgument)
    const start = payload.value
    const session = dataSession(context, start.sessionId, 'run')
    const started = Date.now()
    const cwd = start.cwd ? posix.resolve(HOME, start.cwd) : HOME
    const argv = start.cmd
    commands.push({argv: argv.join(' '), cwd})
    const exit = (exitCode: number, extra: {signal?: string; reason?: string; errno?: number; timedOut?: boolean} = {}) => ({
      frame: {
        payload: {
          case: 'exit' as const,
          value: {
            exitCode,
            signal: extra.signal ?? '',
            timedOut: extra.timedOut ?? false,
            durationMs: BigInt(Date.now() - started),
            reason: extra.reason ?? 'exit',
            errno: extra.errno ?? 0,
          },
        },
      },
    })
    // the guest contract: a missing cwd fails before the process starts
    if (!session.dirs.has(cwd)) {
      yield exit(-1, {reason: `cwd_not_found: ${cwd}`, errno: 2})
      return
    }
    yield {frame: {payload: {case: 'started' as const, value: {pid: BigInt(nextPid++)}}}}
    // what the client sends while the process runs: stdin close, signals
    const killed = new AbortController()
    void (async () => {
      for (;;) {
        const next = await frames.next()
        if (next.done) return
        const p = (next.value as RunFrame).frame?.payload
        if (p?.case === 'signal') {
          signals.push(SIGNALS[p.value.signal] ?? String(p.value.signal))
          killed.abort()
        }
      }
    })().catch(() => undefined)
    const text = (s: string) => new TextEncoder().encode(s)

    if (argv[0] === 'mkdir') {
      for (const dir of argv.slice(1).filter((a) => !a.startsWith('-'))) {
        const path = posix.resolve(cwd, dir)
        for (let d = path; d !== '/'; d = posix.dirname(d)) session.dirs.add(d)
      }
      yield exit(0)
      return
    }
    const interpreter = argv[0] === 'python3' || argv[0] === 'python' ? 'python' : argv[0] === 'node' ? 'nodejs' : undefined
    const path = argv[1] === undefined ? undefined : posix.resolve(cwd, argv[1])
    const script = path === undefined ? undefined : session.files.get(path)
    if (!interpreter || script === undefined) {
      yield {
        frame: {
          payload: {
            case: 'stderr' as const,
            value: text(interpreter ? `${argv[0]}: can't open file '${path}': [Errno 2] No such file or directory\n` : `stand-in runs only python3|node FILE and mkdir\n`),
          },
        },
      }
      yield exit(interpreter ? 2 : 127)
      return
    }
    let outcome: Awaited<ReturnType<typeof runScript>>
    try {
      outcome = await runScript(interpreter, script.toString('utf8'), Math.max(1, Math.ceil((start.timeoutMs || 120_000) / 1000)), killed.signal)
    } catch (error) {
      if (!killed.signal.aborted) throw error
      yield exit(-1, {signal: 'SIGKILL', reason: 'signaled'})
      return
    }
    if (outcome.stdout) yield {frame: {payload: {case: 'stdout' as const, value: text(outcome.stdout)}}}
    if (outcome.stderr) yield {frame: {payload: {case: 'stderr' as const, value: text(outcome.stderr)}}}
    yield outcome.timedOut ? exit(-1, {signal: 'SIGKILL', reason: 'timeout', timedOut: true}) : exit(outcome.exitCode)
  }

  const dataRoutes = (router: ConnectRouter) =>
    router
      .rpc(dataPlane.method.run as DescMethodBiDiStreaming, (requests, context) => runProcess(requests as unknown as AsyncIterable<RunFrame>, context))
      .rpc(unary(dataPlane, 'writeFile'), (request, context) => {
        const r = (request as unknown as {request?: {sessionId: string; path: string; content: Uint8Array}}).request
        const session = dataSession(context, r?.sessionId ?? '', 'write a file')
        injected('write')
        const path = posix.resolve(HOME, r?.path ?? '')
        if (!session.dirs.has(posix.dirname(path))) throw new ConnectError(`open ${path}: no such file or directory`, Code.NotFound)
        const content = Buffer.from(r?.content ?? new Uint8Array())
        session.files.set(path, content)
        files.set(path, content.toString('utf8'))
        return {response: {path, sizeBytes: BigInt(content.length)}}
      })
      .rpc(unary(dataPlane, 'stat'), (request, context) => {
        dataSession(context, (request as unknown as {request?: {sessionId: string}}).request?.sessionId ?? '', 'stat')
        return {response: {}}
      })

  const opened = new Set<Http2Session>()
  const serve = (routes: (router: ConnectRouter) => void) => {
    const server = createServer(connectNodeAdapter({routes}))
    server.on('session', (s) => {
      opened.add(s)
      s.on('close', () => opened.delete(s))
    })
    return server
  }
  const control = serve(controlRoutes)
  const data = serve(dataRoutes)
  const baseUrl = await listen(control)
  dataPlaneUrl = await listen(data)

  return {
    baseUrl,
    dataPlaneUrl,
    apiKey,
    calls,
    creates,
    commands,
    files,
    signals,
    terminated,
    live: () => [...sessions.values()].filter((s) => s.state !== SESSION_TERMINATED).map((s) => s.id),
    failNextCreate: (code, message) => (failNext.create = new ConnectError(message, code)),
    failNextWrite: (code, message) => (failNext.write = new ConnectError(message, code)),
    expire: (sessionId) => {
      const session = sessions.get(sessionId)
      if (session) session.state = SESSION_TERMINATED
    },
    close: async () => {
      for (const s of opened) s.destroy()
      await Promise.all([control, data].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
    },
  }
}
