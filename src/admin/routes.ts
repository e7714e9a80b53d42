/**
 * RAGFlow's sandbox admin API as a Fastify 5 plugin (admin/server/routes.py at HEAD), plus the
 * settings page. Register it without a prefix: `app.register(adminRoutes, options)`.
 *
 *   GET  /api/v1/admin/sandbox/providers              list of {id, name, description, tags}
 *   GET  /api/v1/admin/sandbox/providers/<id>/schema  the provider's schema dict
 *   GET  /api/v1/admin/sandbox/config                 {provider_type, config} (secrets masked)
 *   POST /api/v1/admin/sandbox/config                 {provider_type, config, set_active} → {provider_type, config}
 *   POST /api/v1/admin/sandbox/test                   {provider_type, config} → {success, message, details}
 *   POST /api/v1/admin/sandbox/run                    ours: {code, language, arguments} through the active provider
 *   GET  /admin/                                      the settings page (static files, no secrets in them)
 *
 * RAGFlow's envelope: 200 {code: 0, message: "Success" | …, data}; every error HTTP 400
 * {code: 400 | 500, message, data: null}. Every API route needs "Authorization: Bearer <token>"
 * (the manager's SANDBOX_API_TOKEN); without a token configured the plugin refuses to register.
 */
import {existsSync} from 'node:fs'

import fastifyStatic from '@fastify/static'
import type {FastifyError, FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'

import {normalizeLanguage} from '../engine/languages.js'
import {configError} from '../errors.js'
import {packagePath} from '../paths.js'
import type {ProviderConfig} from '../providers/types.js'
import {checkBearer} from '../server/auth.js'
import {ADMIN_CONFIG_SCHEMA, ADMIN_RESPONSES, ADMIN_RUN_SCHEMA, ADMIN_TEST_SCHEMA, PROVIDER_SCHEMA_SCHEMA, PROVIDER_SUMMARY_SCHEMA, type RouteDoc} from '../server/schemas.js'
import {ADMIN_NEEDS_TOKEN} from './config.js'
import {AdminError, AdminService, type AdminServiceOptions} from './service.js'

export const ADMIN_API_PREFIX = '/api/v1/admin'
export const ADMIN_PAGE_PREFIX = '/admin/'
/** where `npm run build` puts the page (vite.admin.config.ts) */
export const ADMIN_PAGE_DIR = packagePath('dist', 'admin', 'page')

export interface AdminRoutesOptions extends AdminServiceOptions {
  /** the manager's SANDBOX_API_TOKEN: required */
  token: string | undefined
  /** the built page (default dist/admin/page); missing: /admin/ answers 503 saying how to build it */
  pageDir?: string
}

interface Envelope {
  code: number
  message: string
  data: unknown
}

const ok = (data: unknown, message = 'Success'): Envelope => ({code: 0, message, data})

function fail(reply: FastifyReply, message: string, code: number, status = 400): FastifyReply {
  return reply.code(status).send({code, message, data: null} satisfies Envelope)
}

const object = {type: 'object'} as const

const schemas = {
  config: {
    body: {
      type: ['object', 'null'],
      properties: {provider_type: {type: 'string', maxLength: 128}, config: {type: 'object'}, set_active: {type: 'boolean'}},
    },
  },
  test: {
    body: {type: ['object', 'null'], properties: {provider_type: {type: 'string', maxLength: 128}, config: object}},
  },
  run: {
    body: {
      type: ['object', 'null'],
      properties: {
        code: {type: 'string', minLength: 1},
        language: {type: 'string', maxLength: 32},
        arguments: object,
        timeout: {type: 'integer', minimum: 1, maximum: 3600},
      },
    },
  },
  schema: {params: {type: 'object', properties: {provider_id: {type: 'string', maxLength: 128}}, required: ['provider_id']}},
}

/** what each route answers (GET /openapi.json) */
const doc = (summary: string, data: Record<string, unknown>): {config: {openapi: RouteDoc}} => ({
  config: {openapi: {summary, tags: ['admin'], security: 'bearer', responses: ADMIN_RESPONSES(data)}},
})
const docs = {
  providers: doc('List the sandbox providers', {type: 'array', items: PROVIDER_SUMMARY_SCHEMA}),
  schema: doc("A provider's settings schema", PROVIDER_SCHEMA_SCHEMA),
  getConfig: doc('The active provider and its settings (secrets masked)', ADMIN_CONFIG_SCHEMA),
  setConfig: doc("Store a provider's settings (and make it active)", ADMIN_CONFIG_SCHEMA),
  test: doc("Test a provider's settings with a small run", ADMIN_TEST_SCHEMA),
  run: doc('Run code through the active provider', ADMIN_RUN_SCHEMA),
}
const PAGE_DOC: RouteDoc = {
  summary: 'The settings page (static files; the page asks for the token)',
  tags: ['admin'],
  security: 'none',
  responses: {
    '200': {
      description: 'a file of the page',
      content: Object.fromEntries(['text/html', 'text/css', 'text/javascript', 'application/javascript'].map((type) => [type, {type: 'string'}])),
    },
    '301': {description: 'to /admin/'},
    '503': {description: 'the page is not built', content: {'text/plain': {type: 'string'}}},
  },
}

type Body = Record<string, unknown> | null | undefined

/** RAGFlow's "if not data": no body, null or {} */
const empty = (body: Body) => !body || (typeof body === 'object' && Object.keys(body).length === 0)

export async function adminRoutes(app: FastifyInstance, options: AdminRoutesOptions): Promise<void> {
  if (!options.token) throw configError(ADMIN_NEEDS_TOKEN, 'ADMIN_API_NEEDS_TOKEN')
  const token = options.token
  const service = new AdminService(options)

  await app.register(
    async (api) => {
      // this plugin checks the token itself and answers in RAGFlow's envelope: the manager's own
      // token check (src/server/http.ts) lets its routes through
      api.addHook('onRoute', (route) => {
        route.config = {...(route.config as object), public: true}
      })
      api.addHook('onRequest', async (request, reply) => {
        if (!checkBearer(request.headers.authorization, token)) {
          reply.header('www-authenticate', 'Bearer realm="sandbox"')
          return fail(reply, 'Missing or wrong API token: send "Authorization: Bearer <SANDBOX_API_TOKEN>"', 401, 401)
        }
      })
      api.setErrorHandler((error: FastifyError, _request, reply) => {
        const admin: unknown = error
        if (admin instanceof AdminError) return fail(reply, admin.message, admin.code)
        if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return fail(reply, 'Request body is required', 400)
        if (error.validation) return fail(reply, `Invalid request: ${error.message}`, 400)
        const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400
        // RAGFlow: any other exception is body code 500 with HTTP 400; the client errors keep theirs (413, 415)
        return fail(reply, error.message, status === 400 ? 500 : status, status)
      })

      api.get('/sandbox/providers', docs.providers, async () => ok(service.listProviders()))

      api.get('/sandbox/providers/:provider_id/schema', {schema: schemas.schema, ...docs.schema}, async (request: FastifyRequest<{Params: {provider_id: string}}>) =>
        ok(service.providerSchema(request.params.provider_id)),
      )

      api.get('/sandbox/config', docs.getConfig, async () => ok(await service.getConfig()))

      api.post('/sandbox/config', {schema: schemas.config, ...docs.setConfig}, async (request: FastifyRequest<{Body: Body}>, reply) => {
        const body = request.body
        if (empty(body)) return fail(reply, 'Request body is required', 400)
        if (!body!.provider_type) return fail(reply, 'provider_type is required', 400)
        const data = await service.setConfig({
          provider_type: String(body!.provider_type),
          config: (body!.config as ProviderConfig | undefined) ?? {},
          set_active: (body!.set_active as boolean | undefined) ?? true,
        })
        return ok(data, 'Sandbox configuration updated successfully')
      })

      api.post('/sandbox/test', {schema: schemas.test, ...docs.test}, async (request: FastifyRequest<{Body: Body}>, reply) => {
        const body = request.body
        if (empty(body)) return fail(reply, 'Request body is required', 400)
        if (!body!.provider_type) return fail(reply, 'provider_type is required', 400)
        return ok(await service.testConnection({provider_type: String(body!.provider_type), config: (body!.config as ProviderConfig | undefined) ?? {}}))
      })

      api.post('/sandbox/run', {schema: schemas.run, ...docs.run}, async (request: FastifyRequest<{Body: Body}>, reply) => {
        const body = request.body
        if (empty(body)) return fail(reply, 'Request body is required', 400)
        if (typeof body!.code !== 'string' || !body!.code.trim()) return fail(reply, 'code is required', 400)
        const language = normalizeLanguage(typeof body!.language === 'string' ? body!.language : 'python')
        if (!language) return fail(reply, `Unsupported language: ${String(body!.language)} (python or nodejs)`, 400)
        const data = await service.tryRun({
          code: body!.code,
          language,
          arguments: body!.arguments as Record<string, unknown> | undefined,
          timeoutSeconds: body!.timeout as number | undefined,
        })
        return ok(data)
      })
    },
    {prefix: ADMIN_API_PREFIX},
  )

  const pageDir = options.pageDir ?? ADMIN_PAGE_DIR
  await app.register(async (page) => {
    // static files, no secrets: open without the token (the page asks for it and sends it to the API)
    page.addHook('onRoute', (route) => {
      route.config = {openapi: PAGE_DOC, ...(route.config as object), public: true}
    })
    // the page loads only its own files; images only from its own data: URLs (artifacts)
    page.addHook('onSend', async (_request, reply, payload) => {
      reply.header(
        'content-security-policy',
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      )
      reply.header('x-content-type-options', 'nosniff')
      reply.header('referrer-policy', 'no-referrer')
      return payload
    })
    page.get(ADMIN_PAGE_PREFIX.slice(0, -1), async (_request, reply) => reply.redirect(ADMIN_PAGE_PREFIX, 301))
    if (existsSync(pageDir)) {
      await page.register(fastifyStatic, {root: pageDir, prefix: ADMIN_PAGE_PREFIX, decorateReply: false, redirect: true, index: ['index.html']})
    } else {
      page.get(`${ADMIN_PAGE_PREFIX}*`, async (_request, reply) =>
        reply.code(503).type('text/plain').send(`The settings page is not built (${pageDir} is missing): run \`npm run build\``),
      )
    }
  })
}
