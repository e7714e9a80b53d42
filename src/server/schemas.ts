/**
 * The manager's answers as JSON Schemas (2020-12, the dialect of OpenAPI 3.1), and the OpenAPI
 * document generated from the routes that carry them.
 *
 * Each route says what it answers with `config: {openapi: RouteDoc}`; its request schemas are
 * the ones Fastify validates with (`schema.body`, `schema.params`). The response schemas stay
 * documentation: they are NOT attached as Fastify's `schema.response`, because fast-json-stringify
 * would drop unlisted properties and change bytes RAGFlow compares (the answers are written with
 * JSON.stringify, http.ts sendJson). test/unit/openapi.test.ts and test/integration/openapi.test.ts
 * check the document with a real OpenAPI validator and the live answers against it, so the two
 * cannot drift.
 */
import type {FastifyInstance, RouteOptions} from 'fastify'

import {TOOLKIT_VERSION} from '../paths.js'
import {HTTP_REASONS} from './request.js'

export type JsonSchema = Record<string, unknown>

export interface ResponseDoc {
  description: string
  /** content type → schema; none: an answer without a body */
  content?: Record<string, JsonSchema>
  headers?: Record<string, {description: string; schema: JsonSchema}>
}

/** What a route answers, for the OpenAPI document (route `config.openapi`). */
export interface RouteDoc {
  summary: string
  description?: string
  tags: string[]
  /** the bearer token: default from the route (config.public: none; else the manager's token) */
  security?: 'bearer' | 'none'
  /** a GET route also answers HEAD (RAGFlow's HEAD /) */
  head?: boolean
  responses: Record<string, ResponseDoc>
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** the route's entry in GET /openapi.json */
    openapi?: RouteDoc
  }
}

const str = (description: string): JsonSchema => ({type: 'string', description})
const int = (description: string): JsonSchema => ({type: 'integer', description})
const bool = (description: string): JsonSchema => ({type: 'boolean', description})
const object = (properties: Record<string, JsonSchema>, description?: string, required = Object.keys(properties)): JsonSchema => ({
  type: 'object',
  ...(description ? {description} : {}),
  required,
  properties,
})

/** RAGFlow's CodeExecutionResult (src/engine/result.ts RunResult), the answer of every executed POST /run */
export const RUN_RESULT_SCHEMA: JsonSchema = {
  ...object({
    status: {
      type: 'string',
      enum: ['success', 'program_error', 'resource_limit_exceeded', 'unauthorized_access', 'runtime_error', 'program_runner_error'],
      description: 'how the run ended (RAGFlow ExecutionStatus)',
    },
    stdout: str("the program's standard output (result-marker lines removed)"),
    stderr: str("the program's standard error, or the reason it did not run"),
    exit_code: int(
      'the exit code; negative: synthetic (-999 unsafe code, -10 no container, -3 internal error, -124 timeout, -137 out of memory, -25 output limit, -70 malformed report, -429 rate limited)',
    ),
    detail: {type: ['string', 'null'], description: 'a machine-readable reason for program_runner_error (e.g. no_available_container, internal_error)'},
    time_used_ms: {type: ['number', 'null'], description: 'wall time of the run, ms'},
    memory_used_kb: {type: ['number', 'null'], description: 'peak memory of the run, KiB'},
    resource_limit_type: {type: ['string', 'null'], enum: ['time', 'memory', 'output', null], description: 'which limit was hit (resource_limit_exceeded)'},
    unauthorized_access_type: {
      type: ['string', 'null'],
      enum: ['disallowed_syscall', 'file_access', 'network_access', null],
      description: 'what was refused (unauthorized_access)',
    },
    runtime_error_type: {type: ['string', 'null'], enum: ['signalled', 'nonzero_exit', null], description: 'how the program failed (runtime_error)'},
    result: {
      oneOf: [
        {type: 'null'},
        object(
          {present: bool('main returned'), value: {description: "main's return value (any JSON)"}, type: {type: 'string', enum: ['json']}},
          'the structured return value of main',
        ),
      ],
    },
    artifacts: {
      type: 'array',
      description: 'files the program wrote to artifacts/',
      items: object({name: str('file name'), mime_type: str('media type'), size: int('bytes'), content_b64: str('the file, base64')}),
    },
  }),
  additionalProperties: false,
}

/** every 4xx of RAGFlow's routes (request.ts RequestError.toJSON): nothing ran */
export const ERROR_SCHEMA: JsonSchema = {
  ...object(
    {
      error: {type: 'string', enum: [...new Set([...Object.values(HTTP_REASONS), 'error', 'internal_error'])], description: 'the HTTP reason (internal_error: a 500)'},
      message: str('what was wrong and how to fix it (never echoes the code sent)'),
      field: str('the request field that was wrong'),
    },
    'a refused request; nothing ran',
    ['error', 'message'],
  ),
  additionalProperties: false,
}

/** GET /healthz and GET / */
export const HEALTH_SCHEMA: JsonSchema = {
  oneOf: [
    {...object({status: {const: 'ok'}}), additionalProperties: false},
    {
      ...object({status: {const: 'unhealthy'}, phase: {type: 'string', enum: ['starting', 'serving', 'stopping']}, reason: str('why the manager cannot serve')}),
      additionalProperties: false,
    },
  ],
}

const count = (description: string): JsonSchema => ({type: 'integer', minimum: 0, description})
const counts: JsonSchema = {type: 'object', additionalProperties: {type: 'integer', minimum: 0}}

/** ManagerSettings (status.ts): the settings a manager runs with, no secrets */
export const MANAGER_SETTINGS_SCHEMA: JsonSchema = {
  ...object({
    host: str('the address asked for'),
    port: int('the port asked for'),
    poolSize: count('warm containers per language'),
    timeoutSeconds: {type: 'number', description: 'run time limit, s'},
    memory: str('memory limit of a container (e.g. 256m)'),
    codePolicy: str('the code policy (off, warn, strict…)'),
    maxConcurrentRuns: count('containers alive at once'),
    queueTimeoutSeconds: {type: 'number', description: 'how long a run waits for a container'},
    allowPolicyOverride: bool('a per-request policy is honoured'),
    resultInStdout: bool('SANDBOX_RESULT_IN_STDOUT'),
    adminApi: bool('SANDBOX_ADMIN_API: the admin API and settings page are served'),
    allowRunc: bool('runc allowed when runsc is missing'),
    tokenRequired: bool('an API token is required'),
    envFile: {type: ['string', 'null'], description: 'the .env file the settings were read from'},
  }),
  additionalProperties: false,
}

/** StatusDocument (status.ts), GET /status */
export const STATUS_SCHEMA: JsonSchema = {
  ...object({
    status: {type: 'string', enum: ['ok', 'unhealthy'], description: 'ok when GET /healthz would answer 200'},
    phase: {type: 'string', enum: ['starting', 'serving', 'stopping']},
    reason: {type: ['string', 'null']},
    version: str('the toolkit version'),
    node: str('the Node.js version'),
    pid: int('process id'),
    startedAt: {type: 'string', format: 'date-time'},
    uptimeSeconds: count('seconds since start'),
    runtime: {type: ['string', 'null'], description: 'the container runtime (runsc)'},
    backend: {type: ['string', 'null'], description: 'what makes the sandboxes: docker (through dockerd) or runsc (gVisor driven directly)'},
    settings: {oneOf: [{type: 'null'}, MANAGER_SETTINGS_SCHEMA]},
    pools: {
      type: 'array',
      items: {
        ...object(
          {
            language: str('python or nodejs'),
            kind: {
              type: 'string',
              enum: ['plain', 'preloaded'],
              description: 'plain, or preloaded: numpy, pandas and matplotlib imported before readiness (SANDBOX_PRELOAD_POOL_SIZE)',
            },
            size: count('warm containers wanted'),
            ready: count('idle warm containers'),
            busy: count('containers running code'),
            creating: count('containers being created'),
            waiting: count('runs waiting for a container'),
            created: count('containers created since start'),
            failures: count('container creations that failed'),
            rejected: count('runs that found no container in time (-10)'),
            served: count('runs this pool has served since start'),
            abandoned: count('creations abandoned because runs were waiting: boots of preloaded runners begun while all was idle'),
            lastError: {type: ['string', 'null']},
          },
          undefined,
          ['language', 'size', 'ready', 'busy', 'creating', 'waiting', 'created', 'failures', 'rejected', 'lastError'],
        ),
        additionalProperties: false,
      },
    },
    admission: {
      ...object({
        limit: count('containers that may exist at once'),
        live: count('containers that exist now'),
        evictions: count('idle containers removed for another language'),
        executing: count('runs executing'),
        queued: count('runs queued'),
        rejected: count('runs rejected'),
      }),
      additionalProperties: false,
    },
    runs: {...object({total: count('runs answered'), byStatus: counts, byLanguage: counts, busy: count('runs answered -10')}), additionalProperties: false},
    rejected: count('HTTP 4xx answers (nothing ran)'),
    inFlight: count('runs in progress'),
    rssBytes: count('resident memory'),
    heapUsedBytes: count('V8 heap used'),
  }),
  additionalProperties: false,
}

/** GET /metrics */
export const METRICS_TEXT_SCHEMA: JsonSchema = {type: 'string', description: 'Prometheus text exposition format 0.0.4'}

/** RAGFlow's admin envelope around `data` (200: code 0) */
export const adminEnvelope = (data: JsonSchema): JsonSchema => ({
  ...object({code: {const: 0}, message: str('Success, or what was done'), data}),
  additionalProperties: false,
})

/** every admin error: HTTP 400 (401 without the token), body code 400/401/500, data null */
export const ADMIN_ERROR_SCHEMA: JsonSchema = {
  ...object({code: {type: 'integer', enum: [400, 401, 413, 415, 500]}, message: str('what was wrong'), data: {type: 'null'}}, "RAGFlow's admin error envelope"),
  additionalProperties: false,
}

export const PROVIDER_SUMMARY_SCHEMA: JsonSchema = {
  ...object({id: str('provider id (provider_type)'), name: str('display name'), description: str('what it is'), tags: {type: 'array', items: {type: 'string'}}}),
  additionalProperties: false,
}

/** a provider's settings schema: field → {type, required, label, secret, default, …} */
export const PROVIDER_SCHEMA_SCHEMA: JsonSchema = {type: 'object', additionalProperties: {type: 'object'}}

export const ADMIN_CONFIG_SCHEMA: JsonSchema = {
  ...object(
    {
      provider_type: str('the active provider'),
      config: {type: 'object', description: "the provider's settings, secrets masked"},
      environment: {type: 'object', additionalProperties: {type: 'string'}, description: 'fields the manager takes from an environment variable (beats what is stored)'},
    },
    undefined,
    ['provider_type', 'config'],
  ),
  additionalProperties: false,
}

export const ADMIN_TEST_SCHEMA: JsonSchema = {
  ...object({
    success: bool('the provider answered a test run'),
    message: str('what happened'),
    details: {
      ...object({
        exit_code: {type: ['integer', 'null']},
        execution_time: {type: ['number', 'null']},
        stdout: str('first 200 characters and "..."'),
        stderr: str('first 200 characters and "..."'),
      }),
      additionalProperties: false,
    },
  }),
  additionalProperties: false,
}

export const ADMIN_RUN_SCHEMA: JsonSchema = {
  ...object({provider: str('the provider that ran it'), result: RUN_RESULT_SCHEMA}),
  additionalProperties: false,
}

/** named in components.schemas; every use of one of these objects becomes a $ref */
export const NAMED_SCHEMAS: Record<string, JsonSchema> = {
  RunResult: RUN_RESULT_SCHEMA,
  Error: ERROR_SCHEMA,
  Health: HEALTH_SCHEMA,
  Status: STATUS_SCHEMA,
  ManagerSettings: MANAGER_SETTINGS_SCHEMA,
  AdminError: ADMIN_ERROR_SCHEMA,
  ProviderSummary: PROVIDER_SUMMARY_SCHEMA,
  ProviderSchema: PROVIDER_SCHEMA_SCHEMA,
  AdminConfig: ADMIN_CONFIG_SCHEMA,
  AdminTestReport: ADMIN_TEST_SCHEMA,
  AdminRunResult: ADMIN_RUN_SCHEMA,
}

// ----- response docs shared by routes

export const json = (description: string, schema: JsonSchema): ResponseDoc => ({description, content: {'application/json': schema}})
export const REFUSED = (description: string): ResponseDoc => json(description, ERROR_SCHEMA)
export const UNAUTHORIZED = REFUSED('missing or wrong API token (only when SANDBOX_API_TOKEN is set)')
export const ADMIN_RESPONSES = (data: JsonSchema): Record<string, ResponseDoc> => ({
  '200': json("RAGFlow's envelope, code 0", adminEnvelope(data)),
  '400': json('refused (body code 400) or failed (body code 500)', ADMIN_ERROR_SCHEMA),
  '401': json('missing or wrong API token', ADMIN_ERROR_SCHEMA),
})

// ----- the document

export const OPENAPI_PATH = '/openapi.json'

interface DocumentedRoute {
  method: string
  url: string
  route: RouteOptions
}

/**
 * Record every route as it is registered (add before the route plugins are registered: child
 * scopes inherit the hook). The routes' config is read when the document is built, after every
 * plugin's own onRoute hooks have run (e.g. the admin API marks its routes public).
 */
export function recordRoutes(app: FastifyInstance): () => DocumentedRoute[] {
  const routes: DocumentedRoute[] = []
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({method, url: route.url, route})
  })
  return () => routes
}

/** `/a/:id/b` → `/a/{id}/b`; a trailing `*` → `{path}` */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{path}')

/** which routes of those registered are not in the document: HEAD twins of GET routes, and any without config.openapi */
export function undocumented(routes: DocumentedRoute[]): DocumentedRoute[] {
  return routes.filter((r) => r.method !== 'HEAD' && !r.route.config?.openapi)
}

/** The OpenAPI 3.1 document of the routes that carry `config.openapi`. */
export function openApiDocument(routes: DocumentedRoute[]): Record<string, unknown> {
  const names = new Map(Object.entries(NAMED_SCHEMAS).map(([name, schema]) => [schema, name]))
  const ref = (schema: unknown, top = false): unknown => {
    if (Array.isArray(schema)) return schema.map((s) => ref(s))
    if (schema === null || typeof schema !== 'object') return schema
    const name = names.get(schema as JsonSchema)
    if (name && !top) return {$ref: `#/components/schemas/${name}`}
    return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, ref(v)]))
  }
  const paths: Record<string, Record<string, unknown>> = {}
  for (const {method, url, route} of routes) {
    const doc = route.config?.openapi
    if (!doc || method === 'HEAD') continue
    const path = openApiPath(url)
    const security = (doc.security ?? (route.config?.public ? 'none' : 'bearer')) === 'bearer' ? [{bearer: []}] : []
    const schema = (route.schema ?? {}) as {body?: JsonSchema; params?: {properties?: Record<string, JsonSchema>}}
    const params = [...path.matchAll(/\{([^}]+)\}/g)].map(([, name]) => ({
      name,
      in: 'path',
      required: true,
      schema: ref(schema.params?.properties?.[name] ?? {type: 'string'}),
    }))
    const responses = Object.fromEntries(
      Object.entries(doc.responses).map(([status, r]) => [
        status,
        {
          description: r.description,
          ...(r.headers ? {headers: ref(r.headers)} : {}),
          ...(r.content ? {content: Object.fromEntries(Object.entries(r.content).map(([type, s]) => [type, {schema: ref(s)}]))} : {}),
        },
      ]),
    )
    const operation = {
      operationId: `${method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : '')) || 'Root'}`,
      summary: doc.summary,
      ...(doc.description ? {description: doc.description} : {}),
      tags: doc.tags,
      security,
      ...(params.length ? {parameters: params} : {}),
      ...(schema.body ? {requestBody: {required: true, content: {'application/json': {schema: ref(schema.body)}}}} : {}),
      responses,
    }
    paths[path] = {...paths[path], [method.toLowerCase()]: operation}
    if (doc.head && method === 'GET') paths[path].head = {...operation, operationId: `head${operation.operationId.slice(3)}`, summary: `${doc.summary} (HEAD)`}
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'sandbox executor manager',
      version: TOOLKIT_VERSION,
      description:
        "Runs untrusted Python and JavaScript in gVisor containers; a drop-in for RAGFlow's sandbox executor manager (POST /run). Every route needs `Authorization: Bearer <SANDBOX_API_TOKEN>` when the manager has a token, except those with no security.",
      license: {name: 'Apache-2.0', identifier: 'Apache-2.0'},
    },
    tags: [
      {name: 'ragflow', description: "RAGFlow's executor manager API"},
      {name: 'manager', description: "the manager's own routes"},
      {name: 'admin', description: "RAGFlow's sandbox admin API (SANDBOX_ADMIN_API=on; the token is required)"},
    ],
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(NAMED_SCHEMAS).map(([name, schema]) => [name, ref(schema, true)])),
      securitySchemes: {bearer: {type: 'http', scheme: 'bearer', description: 'SANDBOX_API_TOKEN'}},
    },
  }
}
