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
import {hint, type HintKind} from './hints.js'
import {
  PY_ALLOWED_PRIVATE_MODULES,
  PY_ANY_OBJECT_MODULE_NAMES,
  PY_ATTRIBUTE_BUILTINS,
  PY_DISTINCTIVE,
  PY_ESCAPE_ATTRIBUTES,
  PY_ESCAPE_GLOBALS,
  PY_ESCAPE_STRINGS,
  PY_FILE_IO_METHODS,
  PY_PATH_RESOLVERS,
  PY_PRIVATE_MODULE_ATTRIBUTES,
  PY_SAFE_SOURCE_ENCODINGS,
  PYTHON_RULES,
  type PythonRules,
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
  'parameters',
  'lambda_parameters',
  'list_splat_pattern',
  'dictionary_splat_pattern',
  'dotted_name',
  'global_statement',
  'nonlocal_statement',
  'as_pattern_target',
  'pattern_list',
  'tuple_pattern',
  'list_pattern',
  'delete_statement',
  'keyword_pattern',
])

const CODING_COOKIE = /^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)/

/** `_os`, `_sys`, `_subprocess`, `_posixsubprocess`, `ctypeslib`: a module under a private alias. */
const isPrivateModuleAlias = (name: string): boolean =>
  PY_PRIVATE_MODULE_ATTRIBUTES.has(name) || (name.startsWith('_') && !name.startsWith('__') && PY_DISTINCTIVE.has(name.slice(1)))

// ---------------------------------------------------------------- string values

/** The few `\N{…}` names that spell identifiers; an unknown name becomes a separator (no word is made up). */
function namedCharacter(name: string): string {
  const upper = name.trim().toUpperCase()
  if (upper === 'LOW LINE') return '_'
  if (upper === 'FULL STOP') return '.'
  const letter = /^LATIN (SMALL|CAPITAL) LETTER ([A-Z])$/.exec(upper)
  if (letter) return letter[1] === 'SMALL' ? letter[2].toLowerCase() : letter[2]
  const digit = /^DIGIT (ZERO|ONE|TWO|THREE|FOUR|FIVE|SIX|SEVEN|EIGHT|NINE)$/.exec(upper)
  if (digit) return String(['ZERO', 'ONE', 'TWO', 'THREE', 'FOUR', 'FIVE', 'SIX', 'SEVEN', 'EIGHT', 'NINE'].indexOf(digit[1]))
  return '\u0000'
}

const SIMPLE_ESCAPES: Record<string, string> = {n: '\n', t: '\t', r: '\r', a: '\u0007', b: '\b', f: '\f', v: '\v', '\\': '\\', "'": "'", '"': '"', '\n': ''}

/** Python's escape sequences, as the compiler resolves them (`'\x5fos'` is `_os`). */
export function decodePythonEscapes(text: string, bytes = false): string {
  if (!text.includes('\\')) return text
  return text.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{[^}]*\}|[0-7]{1,3}|[\s\S])/g, (whole, body: string) => {
    const kind = body[0]
    if (kind === 'x') return String.fromCharCode(Number.parseInt(body.slice(1), 16))
    if (!bytes && (kind === 'u' || kind === 'U') && body.length > 1) {
      const code = Number.parseInt(body.slice(1), 16)
      return code <= 0x10_ff_ff ? String.fromCodePoint(code) : '\u0000'
    }
    if (!bytes && kind === 'N' && body.length > 1) return namedCharacter(body.slice(2, -1))
    if (/^[0-7]/.test(body)) return String.fromCharCode(Number.parseInt(body, 8) & 0xff_ff)
    return SIMPLE_ESCAPES[body] ?? whole
  })
}

/** The value of a string known before running: literals (escapes resolved), implicit and `+` concatenation, f-strings of constants. */
export function pythonStaticString(node: Node | null | undefined, depth = 0): string | undefined {
  if (!node || depth > 50) return undefined
  switch (node.type) {
    case 'string': {
      const start = node.child(0)
      const prefix = start?.type === 'string_start' ? start.text.replace(/["']/g, '').toLowerCase() : ''
      let value = ''
      for (const child of node.namedChildren) {
        if (!child) continue
        if (child.type === 'string_content') {
          value += prefix.includes('r') ? child.text : decodePythonEscapes(child.text, prefix.includes('b'))
        } else if (child.type === 'interpolation') {
          const inner = pythonStaticString(child.childForFieldName('expression') ?? child.namedChild(0), depth + 1)
          value += inner ?? '\u0000'
        }
      }
      return value
    }
    case 'concatenated_string': {
      let value = ''
      for (const child of node.namedChildren) {
        const part = pythonStaticString(child, depth + 1)
        if (part === undefined) return undefined
        value += part
      }
      return value
    }
    case 'binary_operator': {
      if (node.childForFieldName('operator')?.type !== '+') return undefined
      const left = pythonStaticString(node.childForFieldName('left'), depth + 1)
      if (left === undefined) return undefined
      const right = pythonStaticString(node.childForFieldName('right'), depth + 1)
      return right === undefined ? undefined : left + right
    }
    case 'parenthesized_expression': {
      return pythonStaticString(node.namedChild(0), depth + 1)
    }
    default: {
      return undefined
    }
  }
}

const WORDS = /[A-Za-z_]\w*/g
/** os functions that start or replace processes (for the hint; the allow-list decides) */
const STARTS_PROCESS = /^(system|popen|exec|spawn|fork|posix_spawn|kill|plock|startfile|wait)/
const FORMAT_FIELDS = /\{[^{}]*\}/g

// ---------------------------------------------------------------- rules per module

/** Which hint a forbidden module gets. */
function moduleKind(module: string, level: 'ragflow' | 'standard'): HintKind {
  const first = module.split('.', 1)[0]
  if (
    ['subprocess', 'multiprocessing', 'pty', 'distutils', 'webbrowser', 'posix', 'nt', '_posixsubprocess'].includes(first) ||
    module === 'concurrent.futures.process' ||
    module === 'asyncio.subprocess'
  )
    return 'process'
  if (['ctypes', 'cffi', '_ctypes'].includes(first) || module === 'numpy.ctypeslib') return 'native'
  if (['socket', 'socketserver', '_socket', 'ftplib', 'telnetlib'].includes(first) || module === 'http.client') return 'socket'
  if (['pickle', 'marshal', 'shelve', 'dill', 'cloudpickle', 'code', 'codeop', 'pdb', 'bdb', 'cProfile', 'profile', 'trace', 'doctest', 'runpy', 'pydoc'].includes(first))
    return 'code'
  if (level === 'ragflow' && ['os', 'sys', 'shutil'].includes(first)) return 'os'
  if (level === 'ragflow' && first === 'pathlib') return 'file'
  if (level === 'ragflow' && ['threading', 'asyncio'].includes(first)) return 'threads'
  return 'escape'
}

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

/** The identifier an attribute chain starts at (`a` of `a.b.c`), if it is a plain chain. */
function chainRoot(node: Node | null): Node | undefined {
  let current = node
  for (let depth = 0; current && depth < 64; depth++) {
    if (current.type === 'identifier') return current
    if (current.type !== 'attribute') return undefined
    current = current.childForFieldName('object')
  }
  return undefined
}

/** Node types the rules inspect. */
const RULE_NODE_TYPES = ['identifier', 'import_statement', 'import_from_statement', 'exec_statement', 'string']

/** Expressions a string can be part of and still have a value known before running. */
const STRING_EXPRESSIONS: ReadonlySet<string> = new Set(['concatenated_string', 'binary_operator', 'parenthesized_expression'])

/** Only a literal with one of these can name an escape or a private module alias, alone or in a concatenation. */
const MAYBE_ESCAPE = /[_\\]|ctypes|lib/

const isField = (parent: Node, field: string, child: Node): boolean => parent.childForFieldName(field)?.id === child.id

const isCallee = (node: Node): boolean => {
  const parent = node.parent
  return parent?.type === 'call' && isField(parent, 'function', node)
}

const callArguments = (call: Node): Node[] =>
  (call.childForFieldName('arguments')?.namedChildren ?? []).filter((child): child is Node => child !== null && child.type !== 'comment')

/** The level's derived sets, computed once per level. */
class Profile {
  readonly rules: PythonRules
  /** `X.y` refused where X is this bare name (RAGFlow's rule) */
  readonly moduleObjects: ReadonlySet<string>
  /** `obj.X` refused on any object */
  readonly anyObjectModules: ReadonlySet<string>
  /** `m.X` refused on a chain from an imported module */
  readonly chainModules: ReadonlySet<string>
  readonly interestingObjects: ReadonlySet<string>
  /** every identifier some rule looks at; the others cost one lookup */
  readonly interesting: ReadonlySet<string>

  constructor(rules: PythonRules) {
    this.rules = rules
    const reachable = (name: string) => rules.forbiddenModules.has(name) || rules.restrictedModules.has(name)
    this.moduleObjects = new Set([...PY_DISTINCTIVE].filter((name) => rules.forbiddenModules.has(name)))
    this.anyObjectModules = new Set([...PY_ANY_OBJECT_MODULE_NAMES].filter((name) => rules.forbiddenModules.has(name)))
    this.chainModules = new Set([...PY_DISTINCTIVE].filter((name) => reachable(name)))
    this.interestingObjects = new Set([
      ...this.moduleObjects,
      ...rules.restrictedModules.keys(),
      'builtins',
      '__builtins__',
      ...rules.moduleAttributes.keys(),
      ...rules.forbiddenDotted.map((m) => m.split('.', 1)[0]),
    ])
    this.interesting = new Set([
      ...rules.builtins,
      ...PY_ESCAPE_GLOBALS,
      ...this.interestingObjects,
      ...PY_ESCAPE_ATTRIBUTES,
      ...PY_PRIVATE_MODULE_ATTRIBUTES,
      ...[...PY_DISTINCTIVE].map((name) => `_${name}`),
      ...this.anyObjectModules,
      ...(rules.fileIoMethods ? PY_FILE_IO_METHODS : []),
      ...rules.dangerousAttributes,
      ...this.chainModules,
      '__dict__',
      'vars',
      'capture_locals',
      ...PY_PATH_RESOLVERS,
      ...(rules.attributeBuiltins ? PY_ATTRIBUTE_BUILTINS : []),
    ])
  }

  /** The module a finding is about, as its hint names it: `os` for os.path, `logging.config` for a dotted rule. */
  subject(dotted: string): string {
    return this.rules.forbiddenDotted.find((m) => dotted === m || dotted.startsWith(m + '.')) ?? dotted.split('.', 1)[0]
  }

  isForbiddenModule(dotted: string): boolean {
    const first = dotted.split('.', 1)[0]
    if (this.rules.forbiddenModules.has(first)) return true
    if (first.startsWith('_') && !PY_ALLOWED_PRIVATE_MODULES.has(first)) return true
    return this.rules.forbiddenDotted.some((m) => dotted === m || dotted.startsWith(m + '.'))
  }

  /** An attribute name refused on any object. */
  anyObjectAttribute(attr: string): HintKind | undefined {
    if (PY_ESCAPE_ATTRIBUTES.has(attr)) return 'escape'
    if (isPrivateModuleAlias(attr) || this.anyObjectModules.has(attr)) return 'module-path'
    if (this.rules.fileIoMethods && PY_FILE_IO_METHODS.has(attr)) return 'file'
    if (this.rules.dangerousAttributes.has(attr)) return /subprocess|Process/.test(attr) ? 'process' : 'socket'
    return undefined
  }
}

const PROFILES = {ragflow: new Profile(PYTHON_RULES.ragflow), standard: new Profile(PYTHON_RULES.standard)}

class PythonInspector {
  readonly issues: PolicyIssue[] = []
  private readonly seenAttributes = new Set<number>()
  private readonly seenStrings = new Set<number>()
  /** names bound to modules: by import, or by assignment from another one (`m = random`) */
  private readonly modules = new Set<string>()
  /** classes the code defines (and never rebinds): `Base.__subclasses__()` lists only the code's own classes */
  private readonly classes = new Set<string>()
  /** names bound to a restricted module (`os`, `sys`, `import os as o`) -> its name */
  private readonly restricted = new Map<string, string>()
  private readonly level: 'ragflow' | 'standard'

  constructor(private readonly profile: Profile) {
    this.level = profile.rules.level
    for (const name of profile.rules.restrictedModules.keys()) this.restricted.set(name, name)
  }

  add(node: {readonly startPosition: {row: number}}, message: string, kind?: HintKind, subject?: string): void {
    this.issues.push({line: node.startPosition.row + 1, message, ...(kind ? {hint: hint(kind, this.level, subject)} : {})})
  }

  checkEncoding(code: string): void {
    const lines = code.split('\n', 2)
    for (const [index, line] of lines.entries()) {
      const match = CODING_COOKIE.exec(line)
      if (match) {
        const encoding = match[1].toLowerCase()
        if (!PY_SAFE_SOURCE_ENCODINGS.has(encoding)) {
          this.issues.push({
            line: index + 1,
            message: `Encoding Declaration: ${match[1]}`,
            hint: `a source encoding other than UTF-8 or Latin-1 can hide code from the policy and is refused by the ${this.level} policy: save the code as UTF-8`,
          })
        }
        return
      }
      // PEP 263: the cookie counts on line 2 only if line 1 is blank or a comment
      if (!/^[ \t\f]*(#.*)?$/.test(line)) return
    }
  }

  /** Names bound to modules (imports, and assignments of those), before the rules look at uses. */
  private bindModules(root: Node): void {
    const assignments: Array<[string, Node]> = []
    const reassigned = new Set<string>()
    for (const node of root.descendantsOfType(['import_statement', 'import_from_statement', 'assignment', 'class_definition'])) {
      if (!node) continue
      if (node.type === 'class_definition') {
        const name = node.childForFieldName('name')
        if (name) this.classes.add(normalise(name.text))
        continue
      }
      if (node.type === 'assignment') {
        const left = node.childForFieldName('left')
        const right = node.childForFieldName('right')
        if (left?.type === 'identifier') reassigned.add(normalise(left.text))
        if (left?.type === 'identifier' && right && (right.type === 'identifier' || right.type === 'attribute')) assignments.push([normalise(left.text), right])
        continue
      }
      for (const child of node.childrenForFieldName('name')) {
        if (!child) continue
        if (child.type === 'aliased_import') {
          const alias = child.childForFieldName('alias')
          if (!alias) continue
          const aliasName = normalise(alias.text)
          this.modules.add(aliasName)
          const module = dottedName(child)
          if (node.type === 'import_statement' && this.profile.rules.restrictedModules.has(module)) this.restricted.set(aliasName, module)
        } else if (child.type === 'dotted_name') {
          const name = dottedName(child)
          this.modules.add(node.type === 'import_statement' ? name.split('.', 1)[0] : name)
        }
      }
    }
    for (const name of reassigned) this.classes.delete(name)
    for (let round = 0; round < 3; round++) {
      let grew = false
      for (const [name, right] of assignments) {
        const root = chainRoot(right)
        if (root && this.modules.has(normalise(root.text)) && !this.modules.has(name)) {
          this.modules.add(name)
          grew = true
        }
      }
      if (!grew) break
    }
  }

  /**
   * The nodes the rules look at are collected by tree-sitter itself (descendantsOfType runs
   * inside the wasm module, about 2.5x faster than stepping a cursor from JavaScript);
   * only broken code pays for a full cursor walk, to scan its ERROR regions token by token.
   */
  private root: Node | undefined

  walk(root: Node, code: string): void {
    this.root = root
    this.bindModules(root)
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
          this.add(node, 'Call: exec', 'code')
          break
        }
        default: {
          this.stringLiteral(node, code)
        }
      }
    }
    if (root.hasError) this.looseScan(root)
  }

  /**
   * A string literal on its own (fast: most literals hold no `_` or `\\` and are done with one
   * regex test), and the whole concatenation it is part of (`'_' 'os'`, `'__glo' + 'bals__'`).
   */
  private stringLiteral(node: Node, code: string): void {
    const raw = code.slice(node.startIndex, node.endIndex)
    // an escape name needs a `_` or a `\` in some piece (`ctypeslib` may come as 'ctypes' + 'lib')
    if (!MAYBE_ESCAPE.test(raw)) return
    const parent = node.parent
    if (parent && STRING_EXPRESSIONS.has(parent.type)) {
      let top = parent
      while (top.parent && STRING_EXPRESSIONS.has(top.parent.type)) top = top.parent
      if (!this.seenStrings.has(top.id)) {
        this.seenStrings.add(top.id)
        this.staticString(top)
      }
    }
    if (!/[_\\]|ctypeslib/.test(raw)) return
    const prefix = /^[A-Za-z]*/.exec(raw)?.[0].toLowerCase() ?? ''
    if (prefix.includes('f') && raw.includes('{')) {
      this.staticString(node)
      return
    }
    const rest = raw.slice(prefix.length)
    const quote = rest.startsWith('"""') || rest.startsWith("'''") ? 3 : 1
    const body = rest.slice(quote, Math.max(quote, rest.length - quote))
    this.checkString(node, prefix.includes('r') ? body : decodePythonEscapes(body, prefix.includes('b')))
  }

  /** A string (or a concatenation of strings) whose value names an escape or a private module alias. */
  private staticString(node: Node): void {
    const value = pythonStaticString(node)
    if (value !== undefined) this.checkString(node, value)
  }

  private checkString(node: Node, value: string): void {
    if (value.length === 0) return
    // a name or a path ('__globals__', 'x.__globals__', '_os.system') is checked word by word;
    // in prose only the str.format fields are ('{0.__globals__}' reads the attribute)
    const words = /\s/.test(value) ? (value.match(FORMAT_FIELDS) ?? []).flatMap((field) => field.match(WORDS) ?? []) : (value.match(WORDS) ?? [])
    for (const word of words) {
      if (PY_ESCAPE_STRINGS.has(word)) this.add(node, `String: ${word}`, 'escape')
      else if (isPrivateModuleAlias(word)) this.add(node, `String: ${word}`, 'module-path')
    }
  }

  private looseScan(root: Node): void {
    const cursor = root.walk()
    const loose = new LooseScan(this, this.profile)
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

  private isInteresting(name: string): boolean {
    return this.profile.interesting.has(name) || this.restricted.has(name)
  }

  /**
   * Identifiers carry most of the checks; a name that no rule mentions costs one set lookup.
   * Attribute rules are triggered from the attribute's name or its object's name.
   */
  private identifier(node: Node, name: string): void {
    if (!this.isInteresting(name)) return
    const parent = node.parent
    if (!parent) return
    const parentType = parent.type
    if (parentType === 'attribute') {
      if (isField(parent, 'attribute', node)) {
        this.attributeName(parent, name)
        return
      }
      if (this.profile.interestingObjects.has(name) || this.restricted.has(name)) this.attribute(parent)
      if (name === '__builtins__' || this.restricted.has(name)) return // reported by the attribute rule
    }
    if (PY_ESCAPE_GLOBALS.has(name)) {
      this.add(node, `Reference: ${name}`, 'escape')
      return
    }
    if (name === 'capture_locals') {
      // traceback's capture_locals=True copies every frame's locals, the runner's included
      if (parentType === 'keyword_argument' && isField(parent, 'name', node)) this.add(node, 'Keyword: capture_locals', 'escape')
      return
    }
    if (PY_PATH_RESOLVERS.has(name) && isCallee(node)) this.pathResolver(parent)
    const bindingUse = BINDING_PARENTS.has(parentType) || this.isBinding(parent, node)
    if (this.restricted.has(name) && parentType !== 'attribute') {
      // standard: `os` may only appear as os.<allowed name>; as a value it hands out all of os
      if (!bindingUse && parentType !== 'aliased_import') this.add(node, `Reference: ${name}`, 'restricted', this.restricted.get(name))
      return
    }
    if (name === 'vars' && isCallee(node)) {
      this.varsCall(parent)
      return
    }
    if (this.profile.rules.attributeBuiltins && PY_ATTRIBUTE_BUILTINS.has(name) && !this.profile.rules.builtins.has(name)) {
      if (isCallee(node)) this.attributeBuiltinCall(parent, name)
      return
    }
    if (!this.profile.rules.builtins.has(name)) return
    const kind = builtinKind(name, this.level)
    if (isCallee(node)) {
      this.add(node, `Call: ${name}`, kind, `${name}()`)
      return
    }
    if (bindingUse) return
    this.add(node, `Reference: ${name}`, kind, name)
  }

  /**
   * Names bound anywhere other than by their class statement (a parameter, a loop target,
   * `with … as`, `:=`, an import, `global`): such a name may hold `object` at run time.
   * Computed once, and only for code that asks for a class's subclasses.
   */
  private reboundNames: Set<string> | undefined
  private rebound(): Set<string> {
    if (this.reboundNames) return this.reboundNames
    const names = new Set<string>()
    for (const node of this.root?.descendantsOfType('identifier') ?? []) {
      if (!node) continue
      const parent = node.parent
      if (!parent || (parent.type === 'class_definition' && isField(parent, 'name', node))) continue
      if (BINDING_PARENTS.has(parent.type) || this.isBinding(parent, node) || parent.type === 'as_pattern' || parent.type === 'with_item') names.add(normalise(node.text))
    }
    this.reboundNames = names
    return names
  }

  private isBinding(parent: Node, node: Node): boolean {
    const fields = BINDING_FIELDS[parent.type]
    return Boolean(fields && (fields.has(null) || [...fields].some((field) => field !== null && isField(parent, field, node))))
  }

  /** `x.NAME`: the attribute-name rules. */
  private attributeName(attribute: Node, attr: string): void {
    if (attr === '__dict__') {
      this.dictAccess(attribute)
      return
    }
    if (PY_PATH_RESOLVERS.has(attr) && isCallee(attribute)) this.pathResolver(attribute.parent)
    const object = attribute.childForFieldName('object')
    if (!object) return
    const kind = this.profile.anyObjectAttribute(attr)
    // the plugin-registry idiom: the subclasses of a class defined right here reach nothing else
    if (attr === '__subclasses__' && object.type === 'identifier' && this.classes.has(normalise(object.text)) && !this.rebound().has(normalise(object.text))) return
    if (kind) {
      this.report(attribute, `Attribute Access: ${describe(object)}.${attr}`, kind)
      return
    }
    if (this.profile.chainModules.has(attr)) {
      // `glob.os`, `shutil.os`, `m.sys` after `m = logging`: a module reached through an imported module
      const root = chainRoot(object)
      if (root && this.modules.has(normalise(root.text))) {
        this.report(attribute, `Attribute Access: ${describe(object)}.${attr}`, 'module-path')
        return
      }
    }
    if (object.type === 'identifier') this.attribute(attribute)
  }

  private report(attribute: Node, message: string, kind: HintKind, subject?: string): void {
    if (this.seenAttributes.has(attribute.id)) return
    this.seenAttributes.add(attribute.id)
    this.add(attribute, message, kind, subject)
  }

  /** `NAME.y` where NAME is a module of interest. */
  private attribute(node: Node | null): void {
    if (!node || this.seenAttributes.has(node.id)) return
    const object = node.childForFieldName('object')
    const attrNode = node.childForFieldName('attribute')
    if (!object || !attrNode) return
    const attr = normalise(attrNode.text)
    const objectName = object.type === 'identifier' ? normalise(object.text) : undefined
    if (objectName === undefined) return
    const rules = this.profile.rules

    if (objectName === 'builtins' || objectName === '__builtins__') {
      if (isCallee(node) && (rules.builtins.has(attr) || PY_ATTRIBUTE_BUILTINS.has(attr))) this.report(node, `Call: ${objectName}.${attr}`, 'escape')
      else this.report(node, `Attribute Access: ${objectName}.${attr}`, 'escape')
      return
    }
    // RAGFlow's rule: X.y where X is (the name of) a forbidden module, imported or not
    if (this.profile.moduleObjects.has(objectName)) {
      this.report(node, `Attribute Access: ${objectName}.${attr}`, moduleKind(objectName, this.level), objectName)
      return
    }
    const restricted = this.restricted.get(objectName)
    if (restricted !== undefined) {
      if (!rules.restrictedModules.get(restricted)?.has(attr)) {
        this.report(node, `Attribute Access: ${objectName}.${attr}`, STARTS_PROCESS.test(attr) ? 'process' : 'restricted', restricted)
      }
      return
    }
    if (rules.forbiddenDotted.includes(`${objectName}.${attr}`)) {
      this.report(node, `Attribute Access: ${objectName}.${attr}`, moduleKind(`${objectName}.${attr}`, this.level), `${objectName}.${attr}`)
      return
    }
    if (rules.moduleAttributes.get(objectName)?.has(attr)) {
      const file = objectName === 'io' || objectName === 'codecs'
      this.report(node, `Attribute Access: ${objectName}.${attr}`, file ? 'file' : 'escape', `${objectName}.${attr}`)
    }
  }

  /**
   * `x.__dict__`: a module's namespace is getattr by another name, refused outright
   * (`random.__dict__`, `d = random.__dict__; d['_os']`). On other objects `__dict__` is
   * ordinary; a lookup of a module or escape name in it is not (`x.__dict__['_os']`).
   */
  private dictAccess(dict: Node): void {
    const object = dict.childForFieldName('object')
    const root = object ? chainRoot(object) : undefined
    if (object && root && this.modules.has(normalise(root.text))) {
      this.report(dict, `Attribute Access: ${describe(object)}.__dict__`, 'module-path')
      return
    }
    const parent = dict.parent
    let key: Node | null | undefined
    if (parent?.type === 'subscript' && isField(parent, 'value', dict)) {
      key = parent.childForFieldName('subscript')
    } else if (parent?.type === 'attribute' && isField(parent, 'object', dict) && parent.childForFieldName('attribute')?.text === 'get') {
      const call = parent.parent
      if (call?.type === 'call') key = callArguments(call)[0]
    }
    const name = pythonStaticString(key)
    if (name === undefined) return
    if (isPrivateModuleAlias(name) || PY_DISTINCTIVE.has(name) || PY_ESCAPE_ATTRIBUTES.has(name) || PY_ESCAPE_GLOBALS.has(name) || PYTHON_RULES.ragflow.builtins.has(name)) {
      this.report(dict, `Attribute Access: ${object ? describe(object) : ''}.__dict__['${name}']`, 'module-path')
    }
  }

  /** `vars()` is locals() (refused as RAGFlow refuses locals); `vars(module)` is a module's namespace. `vars(ns)` is fine. */
  private varsCall(call: Node | null): void {
    if (!call) return
    const args = callArguments(call)
    if (args.length === 0) {
      this.add(call, 'Call: vars', 'escape')
      return
    }
    const root = chainRoot(args[0])
    if (root && (this.modules.has(normalise(root.text)) || this.restricted.has(normalise(root.text)))) {
      this.add(call, `Call: vars(${describe(args[0])})`, 'module-path')
    }
  }

  /** standard: getattr/setattr/hasattr/delattr are fine, with the name checked like an attribute. */
  private attributeBuiltinCall(call: Node | null, name: string): void {
    if (!call) return
    const [object, attribute] = callArguments(call)
    if (!object || !attribute || object.type === 'list_splat' || object.type === 'dictionary_splat') return
    const root = chainRoot(object)
    const onModule = root !== undefined && (this.modules.has(normalise(root.text)) || normalise(root.text) === '__builtins__' || normalise(root.text) === 'builtins')
    const attr = pythonStaticString(attribute)
    if (attr === undefined) {
      if (onModule) this.add(call, `Call: ${name}(${describe(object)}, <computed name>)`, 'dynamic')
      return
    }
    const kind =
      this.profile.anyObjectAttribute(attr) ??
      (attr === '__dict__' && onModule ? 'module-path' : undefined) ??
      (onModule && this.profile.chainModules.has(attr) ? 'module-path' : undefined)
    if (kind) this.add(call, `Call: ${name}(${describe(object)}, '${attr}')`, kind)
  }

  /** `operator.attrgetter('os.system')`, `Formatter().get_field('0.os.system', …)`: a dotted path resolved at run time. */
  private pathResolver(call: Node | null): void {
    if (call?.type !== 'call') return
    const callee = call.childForFieldName('function')
    const resolver = callee?.type === 'attribute' ? callee.childForFieldName('attribute')?.text : callee?.text
    for (const [index, argument] of callArguments(call).entries()) {
      if (resolver === 'get_field' && index > 0) break
      if (resolver === 'methodcaller' && index > 0) break
      const path = pythonStaticString(argument)
      if (path === undefined) continue
      const segments = path.split(/[.[\]]+/).filter(Boolean)
      for (const segment of resolver === 'get_field' ? segments.slice(1) : segments) {
        if (PY_DISTINCTIVE.has(segment) || segment === '__dict__' || PY_ESCAPE_ATTRIBUTES.has(segment) || isPrivateModuleAlias(segment)) {
          this.add(call, `Attribute Path: ${path}`, 'module-path')
          break
        }
      }
    }
  }

  private importStatement(node: Node): void {
    for (const child of node.childrenForFieldName('name')) {
      const name = dottedName(child)
      if (name && this.profile.isForbiddenModule(name)) this.add(node, `Import: ${name}`, moduleKind(name, this.level), this.profile.subject(name))
    }
  }

  private importFrom(node: Node): void {
    const moduleNode = node.childForFieldName('module_name')
    if (!moduleNode || moduleNode.type !== 'dotted_name') return // relative imports cannot reach the stdlib
    const module = dottedName(moduleNode)
    if (this.profile.isForbiddenModule(module)) {
      this.add(node, `From Import: ${module}`, moduleKind(module, this.level), this.profile.subject(module))
      return
    }
    const rules = this.profile.rules
    const allowed = rules.restrictedModules.get(module)
    if (allowed && node.namedChildren.some((child) => child?.type === 'wildcard_import')) {
      this.add(node, `From Import: ${module}.*`, 'restricted', module)
      return
    }
    for (const child of node.childrenForFieldName('name')) {
      const name = dottedName(child)
      const full = `${module}.${name}`
      if (allowed) {
        if (!allowed.has(name)) this.add(node, `From Import: ${full}`, STARTS_PROCESS.test(name) ? 'process' : 'restricted', module)
        continue
      }
      const kind = this.profile.isForbiddenModule(full)
        ? moduleKind(full, this.level)
        : (this.profile.anyObjectAttribute(name) ??
          (this.profile.chainModules.has(name) ? 'module-path' : undefined) ??
          (rules.moduleAttributes.get(module)?.has(name) ? (module === 'io' || module === 'codecs' ? 'file' : 'escape') : undefined))
      if (kind) this.add(node, `From Import: ${full}`, kind, full)
    }
  }
}

function builtinKind(name: string, level: 'ragflow' | 'standard'): HintKind {
  if (name === 'open') return 'file'
  if (name === 'getattr' || name === 'setattr') return level === 'ragflow' ? 'getattr' : 'escape'
  if (name === 'eval' || name === 'exec' || name === 'compile') return 'code'
  return 'escape'
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

  constructor(
    private readonly inspector: PythonInspector,
    private readonly profile: Profile,
  ) {}

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
      const rules = this.profile.rules
      const restricted = object === undefined ? undefined : rules.restrictedModules.get(object)
      if (
        this.profile.anyObjectAttribute(text) !== undefined ||
        (object !== undefined &&
          (this.profile.moduleObjects.has(object) ||
            object === '__builtins__' ||
            rules.moduleAttributes.get(object)?.has(text) ||
            (restricted !== undefined && !restricted.has(text))))
      ) {
        this.inspector.add({startPosition: {row: line}}, `Attribute Access: ${object ?? ''}.${text}`, 'escape')
      }
    }
    this.remember(text)
  }

  finish(): void {
    const pending = this.pending
    this.pending = undefined
    if (!pending || pending.parts.length === 0) return
    const name = pending.parts.join('.')
    if (this.profile.isForbiddenModule(name)) {
      this.inspector.add(
        {startPosition: {row: pending.line}},
        `${pending.keyword === 'from' ? 'From Import' : 'Import'}: ${name}`,
        moduleKind(name, this.profile.rules.level),
        this.profile.subject(name),
      )
    }
  }

  private remember(text: string): void {
    this.previous.push(text)
    if (this.previous.length > 2) this.previous.shift()
  }
}

/** Inspect Python source at a level. Synchronous once the parser is loaded. */
export function inspectPythonWith(parser: Parser, source: string, level: 'ragflow' | 'standard' = 'ragflow'): PolicyIssue[] {
  // CPython treats a lone CR as a line break; tree-sitter would read `# x\rimport os` as one comment.
  const code = source.includes('\r') ? source.replace(/\r\n?/g, '\n') : source
  const inspector = new PythonInspector(PROFILES[level])
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

export async function inspectPython(source: string, level: 'ragflow' | 'standard' = 'ragflow'): Promise<PolicyIssue[]> {
  return inspectPythonWith(await pythonParser(), source, level)
}

/**
 * The top-level modules Python code imports, from its parse tree: `import a.b` and `from a.b
 * import c` give `a`; relative imports give nothing. The engine routes data-science code to
 * preloaded runners with it (src/engine/preload.ts).
 */
export async function pythonImports(source: string): Promise<Set<string>> {
  const parser = await pythonParser()
  const tree = parser.parse(source.includes('\r') ? source.replace(/\r\n?/g, '\n') : source)
  const found = new Set<string>()
  if (!tree) return found
  try {
    for (const node of tree.rootNode.descendantsOfType(['import_statement', 'import_from_statement'])) {
      if (!node) continue
      const names = node.type === 'import_statement' ? node.childrenForFieldName('name') : [node.childForFieldName('module_name')]
      for (const child of names) {
        if (!child || (child.type !== 'dotted_name' && child.type !== 'aliased_import')) continue
        const top = dottedName(child).split('.', 1)[0]
        if (top) found.add(top)
      }
    }
  } finally {
    tree.delete()
  }
  return found
}
