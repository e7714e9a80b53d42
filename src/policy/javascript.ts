/**
 * JavaScript analyser: acorn (as a CommonJS script and as an ES module) + acorn-walk.
 *
 * When acorn cannot parse the code (a syntax error, or nesting deep enough to exhaust the
 * stack), we do not give up and do not refuse: a token scan (acorn's tokenizer, which knows
 * strings, templates, regexes and comments) looks for the same forbidden require/import
 * shapes and calls, and whatever the tokenizer could not read is scanned with RAGFlow-style
 * patterns. Code that is merely broken therefore still reaches Node, which reports the
 * SyntaxError; a parser discrepancy cannot be used to skip the policy.
 */
import {parse, tokenizer, type AnyNode, type Node as AcornNode, type Options, type Program, type Token as AcornToken} from 'acorn'
import {fullAncestor} from 'acorn-walk'

import {JS_DANGEROUS_PROCESS_PROPERTIES, JS_DANGEROUS_PROPERTIES, JS_FORBIDDEN_MODULES, JS_GLOBAL_OBJECTS} from './rules.js'
import type {PolicyIssue} from './types.js'

const BASE_OPTIONS: Options = {
  ecmaVersion: 'latest',
  allowReturnOutsideFunction: true,
  allowHashBang: true,
  locations: true,
}

/**
 * How the runner executes the code: as a CommonJS script (sloppy mode, `return` allowed by
 * the module wrapper, `await` an ordinary identifier at top level) when it compiles as one,
 * else as an ES module. The two goals do not tokenise alike: HTML-like comments (`<!--`,
 * `-->`) exist only in scripts, and `await /re/` is a regex in a module but a division in a
 * sloppy script. Either difference can put code that runs in one goal inside a comment or a
 * regex of the other, so every goal that parses is inspected and the findings are merged.
 */
const GOALS: Options[] = [
  {...BASE_OPTIONS, sourceType: 'script', allowAwaitOutsideFunction: false},
  {...BASE_OPTIONS, sourceType: 'module', allowAwaitOutsideFunction: true},
]

/** `node:fs/promises` -> `fs`. */
export function coreModuleName(specifier: string): string {
  const bare = specifier.startsWith('node:') ? specifier.slice(5) : specifier
  return bare.split('/', 1)[0]
}

const isForbiddenModule = (specifier: string): boolean => JS_FORBIDDEN_MODULES.has(coreModuleName(specifier))

type N = AnyNode

/** The value of a string that is known before running: literals, plain templates, and `+` of those. */
function staticString(node: N | null | undefined): string | undefined {
  if (!node) return undefined
  switch (node.type) {
    case 'Literal': {
      return typeof node.value === 'string' ? node.value : undefined
    }
    case 'TemplateLiteral': {
      if (node.expressions.length > 0) return undefined
      return node.quasis[0]?.value.cooked ?? undefined
    }
    case 'BinaryExpression': {
      if (node.operator !== '+') return undefined
      const left = staticString(node.left as N)
      const right = left === undefined ? undefined : staticString(node.right)
      return left === undefined || right === undefined ? undefined : left + right
    }
    default: {
      return undefined
    }
  }
}

/** `(0, x)` and `a?.b` are the same callee as `x` and `a.b`. */
function unwrap(node: N): N {
  let current = node
  for (;;) {
    if (current.type === 'SequenceExpression' && current.expressions.length > 0) current = current.expressions.at(-1) as N
    else if (current.type === 'ChainExpression' || current.type === 'ParenthesizedExpression') current = current.expression as N
    else return current
  }
}

/** Property name of `a.b` / `a['b']`; null when computed at run time. */
function propertyName(node: N): string | null {
  if (node.type !== 'MemberExpression') return null
  if (!node.computed) return node.property.type === 'Identifier' ? node.property.name : null
  return staticString(node.property as N) ?? null
}

const isIdentifier = (node: N, name: string): boolean => node.type === 'Identifier' && node.name === name

function isGlobalObject(node: N): boolean {
  const target = unwrap(node)
  if (target.type === 'Identifier') return JS_GLOBAL_OBJECTS.has(target.name)
  const name = propertyName(target)
  return name !== null && JS_GLOBAL_OBJECTS.has(name) && target.type === 'MemberExpression' && isGlobalObject(target.object as N)
}

function isProcess(node: N): boolean {
  const target = unwrap(node)
  if (isIdentifier(target, 'process')) return true
  if (target.type === 'MemberExpression') return propertyName(target) === 'process' && isGlobalObject(target.object as N)
  if (target.type === 'CallExpression' && isIdentifier(unwrap(target.callee as N), 'require')) {
    const specifier = staticString(target.arguments[0] as N)
    return specifier !== undefined && coreModuleName(specifier) === 'process'
  }
  return false
}

/**
 * An expression whose `.constructor` is Function (or AsyncFunction, GeneratorFunction):
 * a function/class literal, `Object.getPrototypeOf(<function literal>)`, `<function literal>.__proto__`,
 * `Function.prototype`.
 */
function isFunctionLike(node: N): boolean {
  const target = unwrap(node)
  if (target.type === 'FunctionExpression' || target.type === 'ArrowFunctionExpression' || target.type === 'ClassExpression') return true
  if (target.type === 'CallExpression' && target.callee.type === 'MemberExpression' && propertyName(target.callee) === 'getPrototypeOf') {
    const argument = target.arguments[0] as N | undefined
    return argument !== undefined && isFunctionLike(argument)
  }
  if (target.type === 'MemberExpression') {
    const name = propertyName(target)
    if (name === '__proto__') return isFunctionLike(target.object as N)
    if (name === 'prototype') return isIdentifier(unwrap(target.object as N), 'Function')
  }
  return false
}

/** `x.constructor` reached from something whose constructor is Function, or `.constructor.constructor`. */
function isFunctionConstructor(member: N & {type: 'MemberExpression'}): boolean {
  const object = unwrap(member.object as N)
  return isFunctionLike(object) || propertyName(object) === 'constructor' || isIdentifier(object, 'module')
}

const COMPARISONS: ReadonlySet<string> = new Set(['===', '!==', '==', '!=', 'instanceof'])

class JavaScriptInspector {
  readonly issues: PolicyIssue[] = []
  constructor(private readonly code: string) {}

  add(node: AcornNode, message: string): void {
    this.issues.push({line: node.loc?.start.line ?? 1, message})
  }

  describe(node: AcornNode): string {
    const text = this.code.slice(node.start, node.end).replace(/\s+/g, ' ')
    return text.length > 60 ? text.slice(0, 57) + '...' : text
  }

  walk(program: Program): void {
    fullAncestor<unknown>(program, (node, _state, ancestors, type) => {
      this.visit(node, ancestors.length > 1 ? ancestors[ancestors.length - 2] : undefined, type)
    })
  }

  private visit(node: N, parent: N | undefined, type: string): void {
    switch (node.type) {
      case 'ImportDeclaration':
      case 'ExportAllDeclaration':
      case 'ExportNamedDeclaration': {
        const specifier = node.source ? staticString(node.source) : undefined
        if (specifier !== undefined && isForbiddenModule(specifier)) this.add(node, `Import: ${specifier}`)
        break
      }
      case 'ImportExpression': {
        const specifier = staticString(node.source as N)
        if (specifier === undefined) this.add(node, 'Import: (dynamic)')
        else if (isForbiddenModule(specifier)) this.add(node, `Import: ${specifier}`)
        break
      }
      case 'CallExpression':
      case 'NewExpression': {
        this.call(node)
        break
      }
      case 'Identifier': {
        if (type === 'Identifier') this.identifier(node, parent)
        break
      }
      case 'MemberExpression': {
        this.member(node, parent)
        break
      }
      case 'ObjectPattern': {
        this.destructuring(node, parent)
        break
      }
    }
  }

  private requireArgument(call: N, argument: N | undefined): void {
    if (!argument) return
    const specifier = staticString(argument)
    if (specifier === undefined) this.add(call, 'Require: (dynamic)')
    else if (isForbiddenModule(specifier)) this.add(call, `Require: ${specifier}`)
  }

  private call(node: N & {type: 'CallExpression' | 'NewExpression'}): void {
    const callee = unwrap(node.callee as N)
    const args = node.arguments as N[]
    if (isIdentifier(callee, 'require')) {
      this.requireArgument(node, args[0])
      return
    }
    if (callee.type !== 'MemberExpression') return
    const name = propertyName(callee)
    const object = unwrap(callee.object as N)
    if (name === 'require' || name === 'getBuiltinModule') {
      // module.require, process.mainModule.require, require.main.require, process.getBuiltinModule
      this.requireArgument(node, args[0])
    } else if (isIdentifier(object, 'require') && (name === 'call' || name === 'apply' || name === 'bind')) {
      this.add(node, `Require: (indirect ${name})`)
    } else if (name !== null && JS_DANGEROUS_PROCESS_PROPERTIES.has(name) && isProcess(object)) {
      this.add(node, `Call: process.${name}`)
    } else if ((name === 'eval' || name === 'Function') && isGlobalObject(object)) {
      this.add(node, `Call: ${name}`)
    } else if (name === 'constructor' && this.constructorCallEscapes(node, callee)) {
      this.add(node, `Call: ${this.describe(callee)}`)
    }
    // Reflect.construct(Function, …) is a reference to Function; Reflect.construct(x.constructor, …) is caught by the member rule
  }

  /**
   * Calling `x.constructor`: refused when it is known to be Function, when called without
   * `new` (Function is the usual reason), or when given a code string. `new obj.constructor(n)`
   * (the cloning idiom) stays fine.
   */
  private constructorCallEscapes(node: N & {type: 'CallExpression' | 'NewExpression'}, callee: N & {type: 'MemberExpression'}): boolean {
    if (isFunctionConstructor(callee) || node.type === 'CallExpression') return true
    return (node.arguments as N[]).some((argument) => staticString(argument) !== undefined || argument.type === 'TemplateLiteral')
  }

  private identifier(node: N & {type: 'Identifier'}, parent: N | undefined): void {
    const {name} = node
    if (name !== 'eval' && name !== 'Function' && name !== 'require') return
    if (parent?.type === 'UnaryExpression' && parent.operator === 'typeof') return
    const isCallee = (parent?.type === 'CallExpression' || parent?.type === 'NewExpression') && unwrap(parent.callee as N) === node
    if (name === 'require') {
      if (isCallee) return // the call rule checks the module
      if (parent?.type === 'MemberExpression' && parent.object === node) return // require.resolve, require.call(…) in the call rule
      this.add(node, 'Reference: require')
      return
    }
    if (name === 'Function' && parent?.type === 'BinaryExpression' && COMPARISONS.has(parent.operator)) return
    if (name === 'Function' && parent?.type === 'MemberExpression' && parent.object === node && propertyName(parent) === 'prototype') return
    this.add(node, isCallee ? `Call: ${name}` : `Reference: ${name}`)
  }

  /** Callees the call rule reports (acorn-walk visits children first, so the member is seen before its call). */
  private coveredByCall(name: string, object: N): boolean {
    return (
      name === 'constructor' ||
      name === 'getBuiltinModule' ||
      (JS_DANGEROUS_PROCESS_PROPERTIES.has(name) && isProcess(object)) ||
      ((name === 'eval' || name === 'Function') && isGlobalObject(object)) ||
      (isIdentifier(object, 'require') && (name === 'call' || name === 'apply' || name === 'bind'))
    )
  }

  private member(node: N & {type: 'MemberExpression'}, parent: N | undefined): void {
    const name = propertyName(node)
    const object = unwrap(node.object as N)
    const isCallee = (parent?.type === 'CallExpression' || parent?.type === 'NewExpression') && unwrap(parent.callee as N) === node
    if (isCallee && name !== null && this.coveredByCall(name, object)) return
    if (name === null) {
      if (isGlobalObject(object) || isProcess(object)) this.add(node, `Attribute Access: ${this.describe(object)}[(dynamic)]`)
      return
    }
    if (JS_DANGEROUS_PROPERTIES.has(name) || (JS_DANGEROUS_PROCESS_PROPERTIES.has(name) && isProcess(object))) {
      this.add(node, `Attribute Access: ${this.describe(object)}.${name}`)
      return
    }
    if ((name === 'eval' || name === 'Function') && isGlobalObject(object)) {
      this.add(node, `Reference: ${name}`)
      return
    }
    if (isIdentifier(object, 'require') && (name === 'call' || name === 'apply' || name === 'bind')) {
      this.add(node, `Require: (indirect ${name})`)
      return
    }
    if (name === 'constructor') {
      const reflected =
        parent?.type === 'CallExpression' &&
        parent.arguments[0] === node &&
        parent.callee.type === 'MemberExpression' &&
        isIdentifier(unwrap(parent.callee.object as N), 'Reflect') &&
        ['construct', 'apply'].includes(propertyName(parent.callee) ?? '')
      if (isFunctionConstructor(node) || reflected) this.add(node, `Attribute Access: ${this.describe(object)}.constructor`)
    }
  }

  private destructuring(node: N & {type: 'ObjectPattern'}, parent: N | undefined): void {
    let source: N | undefined
    if (parent?.type === 'VariableDeclarator' && parent.id === node) source = (parent.init as N | null) ?? undefined
    else if (parent?.type === 'AssignmentExpression' && parent.left === node) source = parent.right as N
    for (const property of node.properties) {
      if (property.type !== 'Property') continue
      const key = property.computed ? staticString(property.key as N) : property.key.type === 'Identifier' ? property.key.name : staticString(property.key as N)
      if (key === undefined) {
        if (source && (isProcess(source) || isGlobalObject(source))) this.add(property, `Attribute Access: ${this.describe(source)}[(dynamic)]`)
        continue
      }
      if (JS_DANGEROUS_PROPERTIES.has(key) || (source && JS_DANGEROUS_PROCESS_PROPERTIES.has(key) && isProcess(source))) {
        this.add(property, `Attribute Access: ${source ? this.describe(source) : '{…}'}.${key}`)
      } else if (source && isGlobalObject(source) && (key === 'eval' || key === 'Function')) {
        this.add(property, `Reference: ${key}`)
      }
    }
  }
}

function parsePrograms(code: string): Program[] {
  const programs: Program[] = []
  for (const options of GOALS) {
    try {
      programs.push(parse(code, options))
    } catch {
      // not valid in this goal (or a stack overflow on absurd nesting)
    }
  }
  return programs
}

// ---------------------------------------------------------------- tolerant fallback

const QUOTED = String.raw`(['"\x60])([^'"\x60\n]{1,200})\1`
const FALLBACK_PATTERNS: Array<[RegExp, (match: RegExpExecArray) => string | undefined]> = [
  [new RegExp(String.raw`\b(?:require|getBuiltinModule)\s*\(\s*` + QUOTED, 'g'), (m) => (isForbiddenModule(m[2]) ? `Require: ${m[2]}` : undefined)],
  [new RegExp(String.raw`\b(?:from|import)\s*\(?\s*` + QUOTED, 'g'), (m) => (isForbiddenModule(m[2]) ? `Import: ${m[2]}` : undefined)],
  [/\beval\s*\(/g, () => 'Call: eval'],
  [/\bFunction\s*\(/g, () => 'Call: Function'],
  [/\bprocess\s*\.\s*(binding|dlopen|_linkedBinding)\s*\(/g, (m) => `Call: process.${m[1]}`],
  [/\.\s*(mainModule|_linkedBinding|_load)\b/g, (m) => `Attribute Access: ${m[1]}`],
]

function regexScan(code: string, offset: number, firstLine: number, issues: PolicyIssue[]): void {
  const text = code.slice(offset)
  for (const [pattern, message] of FALLBACK_PATTERNS) {
    pattern.lastIndex = 0
    for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
      const issue = message(match)
      if (issue) issues.push({line: firstLine + countLines(text, match.index), message: issue})
    }
  }
}

function countLines(text: string, end: number): number {
  let lines = 0
  for (let index = text.indexOf('\n'); index !== -1 && index < end; index = text.indexOf('\n', index + 1)) lines++
  return lines
}

/** acorn's Token type omits `value`, which the tokenizer does set. */
type Token = AcornToken & {value?: unknown}

const label = (token: Token | undefined): string => token?.type.label ?? ''
const isName = (token: Token | undefined, ...names: string[]): boolean => label(token) === 'name' && names.includes(token?.value as string)

/** Value of a string token, or of a template with no substitutions (`` ` ``, template, `` ` ``). */
function stringAt(tokens: Token[], index: number): string | undefined {
  const token = tokens[index]
  if (label(token) === 'string') return token.value as string
  if (label(token) === '`' && label(tokens[index + 1]) === 'template' && label(tokens[index + 2]) === '`') return tokens[index + 1].value as string
  return undefined
}

/** Token-level scan for code acorn cannot parse. */
export function tokenScan(code: string): PolicyIssue[] {
  const issues: PolicyIssue[] = []
  const tokens: Token[] = []
  let failedAt = -1
  try {
    for (const token of tokenizer(code, GOALS[0])) tokens.push(token)
  } catch (error) {
    const pos = (error as {pos?: number}).pos
    failedAt = typeof pos === 'number' ? pos : (tokens.at(-1)?.end ?? 0)
  }
  const at = (token: Token, message: string) => issues.push({line: token.loc?.start.line ?? 1, message})
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index]
    const next = tokens[index + 1]
    const kind = label(token)
    if (isName(token, 'require', 'getBuiltinModule') && label(next) === '(') {
      const specifier = stringAt(tokens, index + 2)
      if (specifier !== undefined && isForbiddenModule(specifier)) at(token, `Require: ${specifier}`)
    } else if (kind === 'import' || isName(token, 'from')) {
      const specifier = stringAt(tokens, label(next) === '(' ? index + 2 : index + 1)
      if (specifier !== undefined && isForbiddenModule(specifier)) at(token, `Import: ${specifier}`)
    } else if (isName(token, 'eval', 'Function') && label(next) === '(') {
      at(token, `Call: ${token.value as string}`)
    } else if (isName(token, 'process') && label(next) === '.' && isName(tokens[index + 2], ...JS_DANGEROUS_PROCESS_PROPERTIES)) {
      at(token, `Call: process.${tokens[index + 2].value as string}`)
    } else if (kind === '.' && isName(next, ...JS_DANGEROUS_PROPERTIES)) {
      at(next, `Attribute Access: ${next.value as string}`)
    } else if (
      kind === '.' &&
      isName(next, 'constructor') &&
      ((label(tokens[index + 2]) === '.' && isName(tokens[index + 3], 'constructor')) ||
        (label(tokens[index + 2]) === '(' && stringAt(tokens, index + 3) !== undefined))
    ) {
      at(next, 'Call: constructor')
    }
  }
  if (failedAt >= 0) {
    const firstLine = 1 + countLines(code, failedAt)
    const lineStart = code.lastIndexOf('\n', failedAt - 1) + 1
    regexScan(code, lineStart, firstLine, issues)
  }
  return issues
}

export function inspectJavaScript(code: string): PolicyIssue[] {
  const programs = parsePrograms(code)
  if (programs.length > 0) {
    const inspector = new JavaScriptInspector(code)
    try {
      for (const program of programs) inspector.walk(program)
      return inspector.issues // duplicates across goals are dropped by the caller
    } catch (error) {
      if (!(error instanceof RangeError)) throw error // stack overflow on absurd nesting: scan tokens instead
    }
  }
  return tokenScan(code)
}
