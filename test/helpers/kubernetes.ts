/**
 * Offline validation of Kubernetes manifests (no API server runs here, and `kubectl
 * --dry-run=client` needs one for discovery). Two checks, both from the Kubernetes OpenAPI:
 *   - schema: kubernetes-models' validators (ajv, compiled from the Kubernetes 1.27 OpenAPI
 *     spec): required fields, types, enums, formats such as quantities and int-or-string;
 *   - strict fields: the document as a typed object literal against kubernetes-types (the
 *     1.30 API types), checked by the TypeScript compiler; excess-property checks reject an
 *     unknown or misspelt field anywhere in the tree, as the API server's strict field
 *     validation (kubectl's default) does.
 * A missing validator package fails the caller (never a skip).
 */
import {createRequire} from 'node:module'
import {dirname, join, resolve} from 'node:path'

import ts from 'typescript'
import {parseAllDocuments} from 'yaml'

const require = createRequire(import.meta.url)

export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: {name: string; namespace?: string; labels?: Record<string, string>}
  [key: string]: unknown
}

export interface ManifestDocument {
  file: string
  index: number
  object: K8sObject
}

/** Every YAML document of `text` (comments and empty documents dropped); YAML errors throw. */
export function parseManifests(file: string, text: string): ManifestDocument[] {
  const out: ManifestDocument[] = []
  parseAllDocuments(text, {uniqueKeys: true}).forEach((doc, index) => {
    if ('errors' in doc && doc.errors.length) throw new Error(`${file} document ${index + 1}: ${doc.errors.map((e) => e.message).join('; ')}`)
    const object = doc.toJS() as K8sObject | null
    if (object !== null) out.push({file, index, object})
  })
  return out
}

function splitApiVersion(apiVersion: string): {group: string; version: string} {
  const parts = apiVersion.split('/')
  return parts.length === 1 ? {group: '', version: parts[0]} : {group: parts[0], version: parts[1]}
}

function validatorInstalled(name: string): void {
  try {
    require.resolve(`${name}/package.json`)
  } catch {
    throw new Error(`The manifest validator ${name} is not installed: run \`npm ci\` (it is a devDependency)`)
  }
}

/** Schema errors of one object (empty when valid); an unknown apiVersion/kind is an error. */
export function schemaErrors(object: K8sObject): string[] {
  if (typeof object?.apiVersion !== 'string' || typeof object?.kind !== 'string') return ['apiVersion and kind are required']
  const {group, version} = splitApiVersion(object.apiVersion)
  validatorInstalled('kubernetes-models')
  let mod: Record<string, unknown>
  try {
    mod = require(`kubernetes-models/${group ? `${group}/` : ''}${version}`) as Record<string, unknown>
  } catch {
    return [`unknown apiVersion ${object.apiVersion}`]
  }
  const Model = mod[object.kind] as (new (o: unknown) => {validate(): void}) | undefined
  if (!Model) return [`unknown kind ${object.kind} in ${object.apiVersion}`]
  try {
    new Model(object).validate()
    return []
  } catch (error) {
    return String((error as Error).message)
      .split(/,\s(?=data)/)
      .map((s) => s.trim())
  }
}

/** kubernetes-types module of an API group: '' → core, 'node.k8s.io' → node, 'apps' → apps */
function typesModule(apiVersion: string): string {
  const {group, version} = splitApiVersion(apiVersion)
  return `kubernetes-types/${group === '' ? 'core' : group.split('.')[0]}/${version}`
}

/**
 * Strict-field (and type) errors of each object, from one TypeScript program: keyed by the
 * index in `objects`. An apiVersion/kind that kubernetes-types lacks is an error too.
 */
export function strictFieldErrors(objects: K8sObject[], root = process.cwd()): Map<number, string[]> {
  validatorInstalled('kubernetes-types')
  const lines: string[] = []
  const owner: number[] = []
  const push = (text: string, index: number) => {
    for (const l of text.split('\n')) {
      lines.push(l)
      owner.push(index)
    }
  }
  objects.forEach((o, i) => {
    push(`import type {${o.kind} as T${i}} from '${typesModule(o.apiVersion)}'`, i)
  })
  objects.forEach((o, i) => {
    push(`export const d${i}: T${i} = ${JSON.stringify(o, null, 2)}`, i)
  })
  const fileName = resolve(root, 'test', '__kubernetes_manifests__.ts')
  const source = lines.join('\n')
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    lib: ['lib.es2022.d.ts'],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
  }
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, languageVersion, ...rest) =>
    resolve(name) === fileName ? ts.createSourceFile(name, source, languageVersion, true) : getSourceFile(name, languageVersion, ...rest)
  const fileExists = host.fileExists.bind(host)
  host.fileExists = (name) => resolve(name) === fileName || fileExists(name)
  host.readFile = ((readFile) => (name: string) => (resolve(name) === fileName ? source : readFile(name)))(host.readFile.bind(host))
  host.getDefaultLibLocation = () => dirname(require.resolve('typescript/lib/lib.d.ts', {paths: [root]}))
  const program = ts.createProgram([fileName], options, host)
  const errors = new Map<number, string[]>()
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n')
    if (d.file && resolve(d.file.fileName) !== fileName) throw new Error(`kubernetes-types did not type-check: ${text}`)
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1
    const index = line >= 0 ? owner[line] : -1
    const list = errors.get(index) ?? []
    list.push(line >= 0 ? `${text} (at: ${lines[line].trim()})` : text)
    errors.set(index, list)
  }
  return errors
}

/** Both checks over a set of documents; the errors, each prefixed with its document. */
export function validateManifests(docs: ManifestDocument[], root = process.cwd()): string[] {
  const name = (d: ManifestDocument) => `${d.file}#${d.index + 1} ${d.object?.kind ?? '?'}/${d.object?.metadata?.name ?? '?'}`
  const errors: string[] = []
  for (const d of docs) for (const e of schemaErrors(d.object)) errors.push(`${name(d)}: ${e}`)
  for (const [i, list] of strictFieldErrors(
    docs.map((d) => d.object),
    root,
  )) {
    for (const e of list) errors.push(`${i >= 0 ? name(docs[i]) : 'manifests'}: ${e}`)
  }
  return errors
}

export const MANIFEST_DIR = join('deploy', 'kubernetes')
