/**
 * The manager's OpenAPI document checked the way a client would use it: a real OpenAPI validator
 * (@readme/openapi-parser) for the document, and Ajv (JSON Schema 2020-12, OpenAPI 3.1's dialect)
 * for each live answer against the response the document gives for its path, method and status.
 */
import {compileErrors, validate} from '@readme/openapi-parser'
import {Ajv2020} from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'

export type OpenApiDocument = {paths: Record<string, Record<string, {responses: Record<string, {content?: Record<string, unknown>}>}>>} & Record<string, unknown>

/** the validator's verdict: '' when valid, else its errors */
export async function openApiErrors(doc: unknown): Promise<string> {
  const result = await validate(structuredClone(doc) as Parameters<typeof validate>[0])
  return result.valid ? '' : compileErrors(result)
}

export interface Answer {
  status: number
  contentType: string
  /** the body: parsed JSON for a JSON content type, else the text */
  body: unknown
}

/** fetch → Answer (JSON parsed when the content type says so) */
export async function answerOf(res: Response): Promise<Answer> {
  const contentType = res.headers.get('content-type') ?? ''
  const text = await res.text()
  return {status: res.status, contentType, body: contentType.startsWith('application/json') && text !== '' ? JSON.parse(text) : text}
}

/** `/a/{id}` of the document that a concrete path `/a/x` is an instance of */
function templateOf(doc: OpenApiDocument, path: string): string | undefined {
  const exact = Object.keys(doc.paths).find((p) => p === path)
  if (exact) return exact
  return Object.keys(doc.paths).find((p) => {
    const pattern = p
      .replace(/[.+?^$()|[\]\\]/g, '\\$&')
      .replace(/\{path\}$/, '.*')
      .replace(/\{[^}]+\}/g, '[^/]+')
    return new RegExp(`^${pattern}$`).test(path)
  })
}

export class AnswerChecker {
  private readonly ajv: Ajv2020
  /** "get /status 200" of every answer checked */
  readonly checked = new Set<string>()

  constructor(private readonly doc: OpenApiDocument) {
    this.ajv = new Ajv2020({strict: false, allErrors: true})
    addFormats.default(this.ajv)
    this.ajv.addSchema(structuredClone(doc) as object, 'openapi.json')
  }

  /** '' when the answer matches the document's response for its path, method and status; else why not */
  check(method: string, path: string, answer: Answer): string {
    const template = templateOf(this.doc, path)
    if (!template) return `${path} is not in the document`
    const operation = this.doc.paths[template][method.toLowerCase()]
    if (!operation) return `${method} ${template} is not in the document`
    const response = operation.responses[String(answer.status)]
    if (!response) return `${method} ${template} does not document status ${answer.status}`
    this.checked.add(`${method.toLowerCase()} ${template} ${answer.status}`)
    // HEAD: the headers of GET, no body
    if (!response.content || method.toUpperCase() === 'HEAD') return ''
    const mediaType = Object.keys(response.content).find((type) => answer.contentType.split(';')[0].trim() === type)
    if (!mediaType) return `${method} ${template} ${answer.status}: content type ${answer.contentType} is not documented (${Object.keys(response.content).join(', ')})`
    const pointer = ['paths', template, method.toLowerCase(), 'responses', String(answer.status), 'content', mediaType, 'schema']
      .map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1'))
      .join('/')
    const validate = this.ajv.getSchema(`openapi.json#/${pointer}`)
    if (!validate) return `no schema at ${pointer}`
    return validate(answer.body) ? '' : `${method} ${template} ${answer.status}: ${this.ajv.errorsText(validate.errors)}`
  }

  /** the documented operations no checked answer covered */
  unchecked(): string[] {
    const covered = new Set([...this.checked].map((k) => k.split(' ').slice(0, 2).join(' ')))
    return Object.entries(this.doc.paths).flatMap(([path, ops]) => Object.keys(ops).flatMap((m) => (covered.has(`${m} ${path}`) ? [] : [`${m} ${path}`])))
  }
}
