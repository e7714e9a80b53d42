/**
 * Python analyser: tree-sitter-python (wasm) in web-tree-sitter.
 *
 * Tree-sitter is error tolerant: code with a syntax error still yields a tree in which the
 * parts that parsed are real nodes. The rules look at every such node, inside ERROR regions
 * too, and the ERROR regions are also scanned token by token, so a syntax error elsewhere
 * cannot hide a forbidden import. Code that merely fails to parse is not refused (Python
 * then reports the SyntaxError with its line, which is more useful than RAGFlow's
 * "Parsing Error").
 *
 * The runner writes the code to main.py and imports it, so CPython reads it as a file:
 * a lone CR is a line break and a PEP 263 coding cookie changes how the bytes are decoded.
 * Both are accounted for before tree-sitter sees the text.
 */
import {createRequire} from 'node:module'
import {Language, Parser, type Node, type TreeCursor} from 'web-tree-sitter'

import {prerequisiteError} from '../errors.js'
import {
  PY_ALLOWED_PRIVATE_MODULES,
  PY_DANGEROUS_BUILTINS,
  PY_DANGEROUS_MODULE_ATTRIBUTES,
  PY_ESCAPE_ATTRIBUTES,
  PY_ESCAPE_GLOBALS,
  PY_ESCAPE_STRINGS,
  PY_FILE_IO_METHODS,
  PY_FORBIDDEN_DOTTED_MODULES,
  PY_FORBIDDEN_MODULES,
  PY_MODULE_ATTRIBUTE_NAMES,
  PY_MODULE_OBJECT_NAMES,
  PY_PRIVATE_MODULE_ATTRIBUTES,
  PY_SAFE_SOURCE_ENCODINGS,
} from './rules.js'
import type {PolicyIssue} from './types.js'

const require = createRequire(import.meta.url)

let parserPromise: Promise<Parser> | undefined

/** The one cached parser. Initialised lazily on first use; a failed load is retried next time. */
export function pythonParser(): Promise<Parser> {
  parserPromise ??= (async () => {
    await Parser.init()
    const wasm = require.resolve('tree-sitter-python/tree-sitter-python.wasm')
    const language = await Language.load(wasm)
    const parser = new Parser()
    parser.setLanguage(language)
    return parser
  })().catch((error: unknown) => {
    parserPromise = undefined
    throw prerequisiteError(
      'The Python parser of the code policy could not be loaded',
      'POLICY_PARSER_UNAVAILABLE',
      ['Reinstall the package dependencies (npm ci): web-tree-sitter and tree-sitter-python', 'Or turn the policy off: --policy off / SANDBOX_CODE_POLICY=off'],
      error,
    )
  })
  return parserPromise
}

const NON_ASCII = /[^\u0000-\u007F]/
/** CPython NFKC-normalises identifiers: `𝐞𝐯𝐚𝐥` and `ｅｖａｌ` are `eval`. */
const normalise = (name: string): string => (NON_ASCII.test(name) ? name.normalize('NFKC') : name)

/** (parent type) -> fields of that parent in which an identifier is a binding or a name, not a use. */
const BINDING_FIELDS: Record<string, ReadonlySet<string | null>> = {
  keyword_argument: new Set(['name']),
  function_definition: new Set(['name']),
  class_definition: new Set(['name']),
  default_parameter: new Set(['name']),
  typed_default_parameter: new Set(['name']),
  typed_parameter: new Set([null]),
  assignment: new Set(['left']),
  augmented_assignment: new Set(['left']),
  for_statement: new Set(['left']),
  for_in_clause: new Set(['left']),
  named_expression: new Set(['name']),
  aliased_import: new Set(['alias']),
}
/** Parents whose identifier children are always bindings or plain names. */
const BINDING_PARENTS: ReadonlySet<string> = new Set([
  'parameters', 'lambda_parameters', 'list_splat_pattern', 'dictionary_splat_pattern', 'dotted_name',
  'global_statement', 'nonlocal_statement', 'as_pattern_target', 'pattern_list', 'tuple_pattern',
  'list_pattern', 'delete_statement', 'keyword_pattern',
])

const FORMAT_FIELD_ESCAPE = new RegExp(String.raw`\{[^{}]*?[.[](` + [...PY_ESCAPE_ATTRIBUTES].join('|') + String.raw`)\b`)

const CODING_COOKIE = /^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)/

function isForbiddenModule(dotted: string): boolean {
  const first = dotted.split('.', 1)[0]
  if (PY_FORBIDDEN_MODULES.has(first)) return true
  if (first.startsWith('_') && !PY_ALLOWED_PRIVATE_MODULES.has(first)) return true
  return PY_FORBIDDEN_DOTTED_MODULES.some((m) => dotted === m || dotted.startsWith(m + '.'))
}

/** An attribute name that reaches a forbidden module: `x.shutil`, `random._os`, `x._posixsubprocess`. */
function isModuleAttribute(attr: string): boolean {
  return PY_PRIVATE_MODULE_ATTRIBUTES.has(attr) || PY_MODULE_ATTRIBUTE_NAMES.has(attr.replace(/^_+/, ''))
}

/** Attribute names refused on any object. */
const isInterestingAttribute = (attr: string): boolean =>
  isModuleAttribute(attr) || PY_ESCAPE_ATTRIBUTES.has(attr) || PY_FILE_IO_METHODS.has(attr)

/** Object names whose attributes are checked: forbidden modules, builtins, io/codecs/gc, http. */
const INTERESTING_OBJECTS: ReadonlySet<string> = new Set([
  ...PY_MODULE_OBJECT_NAMES,
  '__builtins__',
  ...PY_DANGEROUS_MODULE_ATTRIBUTES.keys(),
  ...PY_FORBIDDEN_DOTTED_MODULES.map((m) => m.split('.', 1)[0]),
])

/** `a.b.c` for a chain of plain names (at most a few levels), else the source text, shortened. */
function describe(node: Node): string {
  const parts: string[] = []
  let current: Node | null = node
  for (let depth = 0; current && depth < 8; depth++) {
    if (current.type === 'identifier') {
      parts.unshift(normalise(current.text))
      return parts.join('.')
    }
    if (current.type !== 'attribute') break
    const attr = current.childForFieldName('attribute')
    if (!attr) break
    parts.unshift(normalise(attr.text))
    current = current.childForFieldName('object')
  }
  const text = node.text.replace(/\s+/g, ' ')
  return text.length > 60 ? text.slice(0, 57) + '...' : text
}

/** Dotted module name of a dotted_name / aliased_import node (whitespace and continuations dropped). */
function dottedName(node: Node): string {
  const target = node.type === 'aliased_import' ? node.childForFieldName('name') : node
  if (!target) return ''
  if (target.type === 'identifier') return normalise(target.text)
  return target.namedChildren
    .filter((child): child is Node => child !== null && child.type === 'identifier')
    .map((child) => normalise(child.text))
    .join('.')
}

/** Node types the rules inspect. */
const RULE_NODE_TYPES = ['identifier', 'import_statement', 'import_from_statement', 'exec_statement', 'string_content']

const isField = (parent: Node, field: string, child: Node): boolean => parent.childForFieldName(field)?.id === child.id

class PythonInspector {
  readonly issues: PolicyIssue[] = []
  private readonly seenAttributes = new Set<number>()

  add(node: {readonly startPosition: {row: number}}, message: string): void {
    this.issues.push({line: node.startPosition.row + 1, message})
  }

  checkEncoding(code: string): void {
    const lines = code.split('\n', 2)
    for (const [index, line] of lines.entries()) {
      const match = CODING_COOKIE.exec(line)
      if (match) {
        const encoding = match[1].toLowerCase()
        if (!PY_SAFE_SOURCE_ENCODINGS.has(encoding)) this.issues.push({line: index + 1, message: `Encoding Declaration: ${match[1]}`})
        return
      }
      // PEP 263: the cookie counts on line 2 only if line 1 is blank or a comment
      if (!/^[ \t\f]*(#.*)?$/.test(line)) return
    }
  }

  /**
   * The nodes the rules look at are collected by tree-sitter itself (descendantsOfType runs
   * inside the wasm module, about 2.5x faster than stepping a cursor from JavaScript);
   * only broken code pays for a full cursor walk, to scan its ERROR regions token by token.
   */
  walk(root: Node, code: string): void {
    for (const node of root.descendantsOfType(RULE_NODE_TYPES)) {
      if (!node) continue
      switch (node.type) {
        case 'identifier': {
          this.identifier(node, normalise(code.slice(node.startIndex, node.endIndex)))
          break
        }
        case 'import_statement': {
          this.importStatement(node)
          break
        }
        case 'import_from_statement': {
          this.importFrom(node)
          break
        }
        case 'exec_statement': {
          this.add(node, 'Call: exec')
          break
        }
        case 'string_content': {
          this.stringContent(node, code.slice(node.startIndex, node.endIndex))
          break
        }
      }
    }
    if (root.hasError) this.looseScan(root)
  }

  private stringContent(node: Node, text: string): void {
    if (PY_ESCAPE_STRINGS.has(text) || (text.startsWith('_') && isModuleAttribute(text))) this.add(node, `String: ${text}`)
    else if (text.includes('{')) {
      // str.format reads attributes: '{0.__init__.__globals__}'.format(f)
      const field = FORMAT_FIELD_ESCAPE.exec(text)
      if (field) this.add(node, `Format String: ${field[1]}`)
    }
  }

  private looseScan(root: Node): void {
    const cursor = root.walk()
    const loose = new LooseScan(this)
    let errorDepth = 0
    try {
      for (;;) {
        const type = cursor.nodeType
        if (cursor.gotoFirstChild()) {
          if (type === 'ERROR') errorDepth++
          continue
        }
        if (errorDepth > 0 || loose.pending) loose.leaf(cursor, type)
        while (!cursor.gotoNextSibling()) {
          if (!cursor.gotoParent()) {
            loose.finish()
            return
          }
          if (cursor.nodeType === 'ERROR') errorDepth--
        }
      }
    } finally {
      cursor.delete()
    }
  }

  /**
   * Identifiers carry most of the checks; a name that no rule mentions costs one string
   * slice. Attribute rules are triggered from the attribute's name or its object's name.
   */
  private identifier(node: Node, name: string): void {
    if (
      !PY_DANGEROUS_BUILTINS.has(name) &&
      !PY_ESCAPE_GLOBALS.has(name) &&
      !INTERESTING_OBJECTS.has(name) &&
      !isInterestingAttribute(name) &&
      name !== '__dict__'
    ) {
      return
    }
    const parent = node.parent
    if (!parent) return
    const parentType = parent.type
    if (parentType === 'attribute') {
      if (isField(parent, 'attribute', node)) {
        if (isInterestingAttribute(name)) this.attribute(parent)
        else if (name === '__dict__') this.dictLookup(parent)
        return
      }
      if (INTERESTING_OBJECTS.has(name)) this.attribute(parent)
      if (name === '__builtins__') return // reported by the attribute rule
    }
    if (PY_ESCAPE_GLOBALS.has(name)) {
      this.add(node, `Reference: ${name}`)
      return
    }
    if (!PY_DANGEROUS_BUILTINS.has(name)) return
    if (parentType === 'call' && isField(parent, 'function', node)) {
      this.add(node, `Call: ${name}`)
      return
    }
    if (BINDING_PARENTS.has(parentType)) return
    const fields = BINDING_FIELDS[parentType]
    if (fields && (fields.has(null) || [...fields].some((field) => field !== null && isField(parent, field, node)))) return
    this.add(node, `Reference: ${name}`)
  }

  private attribute(node: Node | null): void {
    if (!node || this.seenAttributes.has(node.id)) return
    this.seenAttributes.add(node.id)
    const object = node.childForFieldName('object')
    const attrNode = node.childForFieldName('attribute')
    if (!object || !attrNode) return
    const attr = normalise(attrNode.text)
    const objectName = object.type === 'identifier' ? normalise(object.text) : undefined

    if (objectName === 'builtins' || objectName === '__builtins__') {
      const parent = node.parent
      const isCallee = parent?.type === 'call' && parent.childForFieldName('function')?.id === node.id
      if (isCallee && PY_DANGEROUS_BUILTINS.has(attr)) this.add(node, `Call: ${objectName}.${attr}`)
      else this.add(node, `Attribute Access: ${objectName}.${attr}`)
      return
    }
    // RAGFlow's rule: X.y where X is (the name of) a forbidden module, imported or not
    if (objectName !== undefined && PY_MODULE_OBJECT_NAMES.has(objectName)) {
      this.add(node, `Attribute Access: ${objectName}.${attr}`)
      return
    }
    if (objectName !== undefined && PY_FORBIDDEN_DOTTED_MODULES.includes(`${objectName}.${attr}`)) {
      this.add(node, `Attribute Access: ${objectName}.${attr}`)
      return
    }
    if (isInterestingAttribute(attr) || (objectName !== undefined && PY_DANGEROUS_MODULE_ATTRIBUTES.get(objectName)?.has(attr))) {
      this.add(node, `Attribute Access: ${describe(object)}.${attr}`)
    }
  }

  /** `x.__dict__['_os']`, `x.__dict__.get('os')`: getattr spelled as a dict lookup. */
  private dictLookup(dict: Node): void {
    const parent = dict.parent
    let key: Node | null | undefined
    if (parent?.type === 'subscript' && isField(parent, 'value', dict)) {
      key = parent.childForFieldName('subscript')
    } else if (parent?.type === 'attribute' && isField(parent, 'object', dict) && parent.childForFieldName('attribute')?.text === 'get') {
      const call = parent.parent
      if (call?.type === 'call') key = call.childForFieldName('arguments')?.firstNamedChild
    }
    if (key?.type !== 'string' || key.namedChildCount !== 3) return // string_start, string_content, string_end
    const name = key.namedChild(1)?.text ?? ''
    if (
      isModuleAttribute(name) ||
      PY_MODULE_OBJECT_NAMES.has(name) ||
      PY_ESCAPE_ATTRIBUTES.has(name) ||
      PY_ESCAPE_GLOBALS.has(name) ||
      PY_DANGEROUS_BUILTINS.has(name)
    ) {
      const object = dict.childForFieldName('object')
      this.add(dict, `Attribute Access: ${object ? describe(object) : ''}.__dict__['${name}']`)
    }
  }

  private importStatement(node: Node): void {
    for (const child of node.childrenForFieldName('name')) {
      const name = dottedName(child)
      if (name && isForbiddenModule(name)) this.add(node, `Import: ${name}`)
    }
  }

  private importFrom(node: Node): void {
    const moduleNode = node.childForFieldName('module_name')
    if (!moduleNode || moduleNode.type !== 'dotted_name') return // relative imports cannot reach the stdlib
    const module = dottedName(moduleNode)
    if (isForbiddenModule(module)) {
      this.add(node, `From Import: ${module}`)
      return
    }
    for (const child of node.childrenForFieldName('name')) {
      const name = dottedName(child)
      const full = `${module}.${name}`
      if (
        isForbiddenModule(full) ||
        isModuleAttribute(name) ||
        PY_ESCAPE_ATTRIBUTES.has(name) ||
        PY_DANGEROUS_MODULE_ATTRIBUTES.get(module)?.has(name)
      ) {
        this.add(node, `From Import: ${full}`)
      }
    }
  }
}

/**
 * Regions tree-sitter could not parse (ERROR nodes) may hold imports and attribute chains
 * only as loose tokens, keywords sometimes demoted to identifiers: `from os import x` after a
 * broken line is ERROR(identifier "from", identifier "os"). Scan their leaves in order.
 */
class LooseScan {
  /** 'import' / 'from' seen, collecting a dotted name */
  pending: {keyword: string; line: number; parts: string[]; wantName: boolean} | undefined
  private previous: string[] = []

  constructor(private readonly inspector: PythonInspector) {}

  leaf(cursor: TreeCursor, type: string): void {
    const text = type === 'identifier' ? normalise(cursor.nodeText) : cursor.nodeText
    const line = cursor.startPosition.row
    const isName = type === 'identifier' || /^\w+$/.test(text)
    if (this.pending) {
      if (this.pending.wantName && isName && text !== 'import' && text !== 'as') {
        this.pending.parts.push(text)
        this.pending.wantName = false
        this.remember(text)
        return
      }
      if (!this.pending.wantName && text === '.') {
        this.pending.wantName = true
        this.remember(text)
        return
      }
      this.finish()
    }
    if (text === 'import' || text === 'from') {
      this.pending = {keyword: text, line, parts: [], wantName: true}
    } else if (isName && this.previous.at(-1) === '.') {
      const object = this.previous.at(-2)
      if (
        isInterestingAttribute(text) ||
        (object !== undefined && (PY_MODULE_OBJECT_NAMES.has(object) || object === '__builtins__' || PY_DANGEROUS_MODULE_ATTRIBUTES.get(object)?.has(text)))
      ) {
        this.inspector.add({startPosition: {row: line}}, `Attribute Access: ${object ?? ''}.${text}`)
      }
    }
    this.remember(text)
  }

  finish(): void {
    const pending = this.pending
    this.pending = undefined
    if (!pending || pending.parts.length === 0) return
    const name = pending.parts.join('.')
    if (isForbiddenModule(name)) this.inspector.add({startPosition: {row: pending.line}}, `${pending.keyword === 'from' ? 'From Import' : 'Import'}: ${name}`)
  }

  private remember(text: string): void {
    this.previous.push(text)
    if (this.previous.length > 2) this.previous.shift()
  }
}

/** Inspect Python source. Synchronous once the parser is loaded. */
export function inspectPythonWith(parser: Parser, source: string): PolicyIssue[] {
  // CPython treats a lone CR as a line break; tree-sitter would read `# x\rimport os` as one comment.
  const code = source.includes('\r') ? source.replace(/\r\n?/g, '\n') : source
  const inspector = new PythonInspector()
  inspector.checkEncoding(code)
  const tree = parser.parse(code)
  if (!tree) return inspector.issues
  try {
    inspector.walk(tree.rootNode, code)
  } finally {
    tree.delete()
  }
  return inspector.issues
}

export async function inspectPython(source: string): Promise<PolicyIssue[]> {
  return inspectPythonWith(await pythonParser(), source)
}
