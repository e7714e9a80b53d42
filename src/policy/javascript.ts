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
import {fullAncestor, simple} from 'acorn-walk'

import {hint, type HintKind} from './hints.js'
import {
  JAVASCRIPT_RULES,
  JS_DANGEROUS_PROCESS_PROPERTIES,
  JS_DANGEROUS_PROPERTIES,
  JS_ESCAPE_PROPERTIES,
  JS_GLOBAL_OBJECTS,
  JS_MODULE_OBJECTS,
  type JavaScriptRules,
} from './rules.js'
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

type N = AnyNode

type Level = 'ragflow' | 'standard'

/** Which hint a forbidden core module gets. */
function moduleKind(module: string): HintKind {
  switch (coreModuleName(module)) {
    case 'child_process':
    case 'cluster': {
      return 'process'
    }
    case 'fs': {
      return 'fs'
    }
    case 'worker_threads':
    case 'vm':
    case 'repl':
    case 'inspector': {
      return 'worker'
    }
    case 'wasi':
    case 'sqlite': {
      return 'native'
    }
    case 'net':
    case 'dgram': {
      return 'socket'
    }
    default: {
      return 'escape'
    }
  }
}

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

const COMPARISONS: ReadonlySet<string> = new Set(['===', '!==', '==', '!=', 'instanceof'])

/** Identifiers the identifier rule looks at (besides aliases); any other name costs one lookup. */
const SPECIAL_NAMES: ReadonlySet<string> = new Set(['process', 'module', 'globalThis', 'global', 'window', 'self', 'eval', 'Function', 'require'])

/** Property names that, as strings handed to Reflect/Object, reach what the member rules refuse. */
const REFLECTED_PROPERTIES: ReadonlySet<string> = new Set(['constructor', 'require', 'process', 'eval', 'Function', 'binding', ...JS_DANGEROUS_PROPERTIES, ...JS_ESCAPE_PROPERTIES])
const REFLECTORS: ReadonlySet<string> = new Set(['get', 'getOwnPropertyDescriptor', 'getOwnPropertyDescriptors', 'apply', 'construct'])

/** `x.constructor` is harmless here: its name, a comparison, an assignment to it, `typeof`, or `new` with no code-carrying argument. */
function harmlessConstructorUse(member: N, parent: N | undefined): boolean {
  if (!parent) return false
  switch (parent.type) {
    case 'MemberExpression': {
      return parent.object === member && propertyName(parent) === 'name'
    }
    case 'BinaryExpression': {
      return COMPARISONS.has(parent.operator)
    }
    case 'AssignmentExpression': {
      return parent.left === member
    }
    case 'UnaryExpression': {
      return parent.operator === 'typeof'
    }
    case 'NewExpression': {
      // Function(…) compiles its arguments as code; numbers, booleans and null cannot carry any
      return (
        parent.callee === member &&
        (parent.arguments as N[]).every((argument) => argument.type === 'Literal' && typeof argument.value !== 'string' && !(argument as {regex?: unknown}).regex)
      )
    }
    default: {
      return false
    }
  }
}

/** `c ? a : b`, `a || b`, `(x, a)`: the value may be any of the branches. */
function eitherBranch(node: N, test: (n: N) => boolean, depth = 0): boolean {
  if (test(node)) return true
  if (depth > 20) return false
  if (node.type === 'ConditionalExpression') return eitherBranch(node.consequent as N, test, depth + 1) || eitherBranch(node.alternate as N, test, depth + 1)
  if (node.type === 'LogicalExpression') return eitherBranch(node.left as N, test, depth + 1) || eitherBranch(node.right as N, test, depth + 1)
  if (node.type === 'ParenthesizedExpression') return eitherBranch(node.expression as N, test, depth + 1)
  return false
}

/**
 * What holds the value of `node`: its parent, or, through the branches of `?:` and `||`/`&&`
 * (`typeof globalThis !== 'undefined' ? globalThis : global`), the expression around those.
 * The test of a `?:` is not a branch: it is a use of its own.
 */
function valueHolder(node: N, ancestors: N[]): N | undefined {
  let child = node
  for (let index = ancestors.length - 2; index >= 0; index--) {
    const parent = ancestors[index]
    const branch = (parent.type === 'ConditionalExpression' && parent.test !== child) || parent.type === 'LogicalExpression' || parent.type === 'ParenthesizedExpression'
    if (!branch) return parent
    child = parent
  }
  return undefined
}

/** Names the program binds to process, the global object or module: `const p = process`, `g = globalThis`. */
interface Aliases {
  process: Set<string>
  global: Set<string>
  module: Set<string>
  /** names the program declares itself (a user function called `process` is not Node's) */
  declared: Set<string>
}

class JavaScriptInspector {
  readonly issues: PolicyIssue[] = []
  private readonly aliases: Aliases = {process: new Set(), global: new Set(), module: new Set(), declared: new Set()}
  private readonly level: Level

  constructor(
    private readonly code: string,
    private readonly rules: JavaScriptRules,
  ) {
    this.level = rules.level
  }

  add(node: AcornNode, message: string, kind?: HintKind, subject?: string): void {
    this.issues.push({line: node.loc?.start.line ?? 1, message, ...(kind ? {hint: hint(kind, this.level, subject)} : {})})
  }

  describe(node: AcornNode): string {
    const text = this.code.slice(node.start, node.end).replace(/\s+/g, ' ')
    return text.length > 60 ? text.slice(0, 57) + '...' : text
  }

  private isForbiddenModule(specifier: string): boolean {
    return this.rules.forbiddenModules.has(coreModuleName(specifier))
  }

  /** A global name the program has not redeclared. */
  private isGlobalName(node: N, name: string): boolean {
    return isIdentifier(node, name) && !this.aliases.declared.has(name)
  }

  isGlobalObject(node: N): boolean {
    const target = unwrap(node)
    if (target.type === 'Identifier') {
      return this.aliases.global.has(target.name) || (JS_GLOBAL_OBJECTS.has(target.name) && !this.aliases.declared.has(target.name))
    }
    const name = propertyName(target)
    return name !== null && JS_GLOBAL_OBJECTS.has(name) && target.type === 'MemberExpression' && this.isGlobalObject(target.object as N)
  }

  isProcess(node: N): boolean {
    const target = unwrap(node)
    if (target.type === 'Identifier') return this.aliases.process.has(target.name) || this.isGlobalName(target, 'process')
    if (target.type === 'MemberExpression') return propertyName(target) === 'process' && this.isGlobalObject(target.object as N)
    if (target.type === 'CallExpression' && isIdentifier(unwrap(target.callee as N), 'require')) {
      const specifier = staticString(target.arguments[0] as N)
      return specifier !== undefined && coreModuleName(specifier) === 'process'
    }
    return false
  }

  /** `module`, an alias of it, `require.main`, `x.mainModule`: objects whose `.require` is Node's require. */
  isModuleLike(node: N): boolean {
    const target = unwrap(node)
    if (target.type === 'Identifier') return this.aliases.module.has(target.name) || (JS_MODULE_OBJECTS.has(target.name) && !this.aliases.declared.has(target.name))
    if (target.type !== 'MemberExpression') return false
    const name = propertyName(target)
    if (name === 'main' && isIdentifier(unwrap(target.object as N), 'require')) return true
    if (name === 'mainModule') return true
    if (name === 'module' && this.isGlobalObject(target.object as N)) return true
    // module.parent, module.children[0], require.cache[x]: more modules
    return this.isModuleLike(target.object as N)
  }

  /** An expression whose `.constructor` is Function: a function/class literal, `Object.getPrototypeOf(<function>)`, `Function.prototype`. */
  private isFunctionLike(node: N): boolean {
    const target = unwrap(node)
    if (target.type === 'FunctionExpression' || target.type === 'ArrowFunctionExpression' || target.type === 'ClassExpression') return true
    if (target.type === 'CallExpression' && target.callee.type === 'MemberExpression' && propertyName(target.callee) === 'getPrototypeOf') {
      const argument = target.arguments[0] as N | undefined
      return argument !== undefined && this.isFunctionLike(argument)
    }
    if (target.type === 'MemberExpression') {
      const name = propertyName(target)
      if (name === '__proto__') return this.isFunctionLike(target.object as N)
      if (name === 'prototype') return isIdentifier(unwrap(target.object as N), 'Function')
    }
    return false
  }

  /**
   * Aliases first (`const p = process`, `let g; g = globalThis`, `const m = module`), so that
   * every use of the alias is judged like the original; then the names the program declares.
   */
  collectAliases(programs: Program[]): void {
    const pairs: Array<[string, N]> = []
    // nothing to alias or shadow in code that never names process, module or the global object
    // (identifiers may be spelled with \u escapes: `\u0070rocess` is process)
    if (!/\b(?:process|module|globalThis|global|window|self|require)\b|\\u/.test(this.code)) return
    for (const program of programs) {
      simple(program, {
        VariableDeclarator: (node) => {
          if (node.id.type === 'Identifier') {
            this.aliases.declared.add(node.id.name)
            if (node.init) pairs.push([node.id.name, node.init as N])
          }
        },
        AssignmentExpression: (node) => {
          if (node.left.type === 'Identifier' && node.operator === '=') pairs.push([node.left.name, node.right as N])
        },
        FunctionDeclaration: (node) => {
          if (node.id) this.aliases.declared.add(node.id.name)
          for (const param of node.params) if (param.type === 'Identifier') this.aliases.declared.add(param.name)
        },
        FunctionExpression: (node) => {
          for (const param of node.params) if (param.type === 'Identifier') this.aliases.declared.add(param.name)
        },
        ArrowFunctionExpression: (node) => {
          for (const param of node.params) if (param.type === 'Identifier') this.aliases.declared.add(param.name)
        },
        ClassDeclaration: (node) => {
          if (node.id) this.aliases.declared.add(node.id.name)
        },
      })
    }
    for (let round = 0; round < 4; round++) {
      let grew = false
      for (const [name, value] of pairs) {
        for (const [set, test] of [
          [this.aliases.process, (n: N) => this.isProcess(n)],
          [this.aliases.global, (n: N) => this.isGlobalObject(n)],
          [this.aliases.module, (n: N) => this.isModuleLike(n)],
        ] as const) {
          if (!set.has(name) && eitherBranch(value, test)) {
            set.add(name)
            grew = true
          }
        }
      }
      if (!grew) break
    }
  }

  walk(program: Program): void {
    fullAncestor<unknown>(program, (node, _state, ancestors, type) => {
      this.visit(node, ancestors, type)
    })
  }

  private visit(node: N, ancestors: N[], type: string): void {
    const parent = ancestors.length > 1 ? ancestors[ancestors.length - 2] : undefined
    switch (node.type) {
      case 'ImportDeclaration':
      case 'ExportAllDeclaration':
      case 'ExportNamedDeclaration': {
        const specifier = node.source ? staticString(node.source) : undefined
        if (specifier !== undefined && this.isForbiddenModule(specifier)) this.add(node, `Import: ${specifier}`, moduleKind(specifier), specifier)
        break
      }
      case 'ImportExpression': {
        const specifier = staticString(node.source as N)
        if (specifier === undefined) this.add(node, 'Import: (dynamic)', 'dynamic')
        else if (this.isForbiddenModule(specifier)) this.add(node, `Import: ${specifier}`, moduleKind(specifier), specifier)
        break
      }
      case 'CallExpression':
      case 'NewExpression': {
        this.call(node)
        break
      }
      case 'Identifier': {
        if (type === 'Identifier') this.identifier(node, valueHolder(node, ancestors))
        break
      }
      case 'MemberExpression': {
        // `a?.b` is MemberExpression inside ChainExpression: judge it by what holds the chain
        const holder = parent?.type === 'ChainExpression' ? ancestors.at(-3) : parent
        this.member(node, parent?.type === 'ChainExpression' ? parent : node, holder)
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
    if (specifier === undefined) this.add(call, 'Require: (dynamic)', 'dynamic')
    else if (this.isForbiddenModule(specifier)) this.add(call, `Require: ${specifier}`, moduleKind(specifier), specifier)
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
      this.add(node, `Require: (indirect ${name})`, 'escape')
    } else if (name !== null && JS_DANGEROUS_PROCESS_PROPERTIES.has(name) && this.isProcess(object)) {
      this.add(node, `Call: process.${name}`, name === 'execve' ? 'process' : 'native')
    } else if ((name === 'eval' || name === 'Function') && this.isGlobalObject(object)) {
      this.add(node, `Call: ${name}`, 'code')
    } else if (name !== null && REFLECTORS.has(name) && (isIdentifier(object, 'Reflect') || isIdentifier(object, 'Object'))) {
      // Reflect.get(f, 'constructor'), Object.getOwnPropertyDescriptor(module, 'require')
      for (const argument of args) {
        const key = staticString(argument)
        if (key !== undefined && REFLECTED_PROPERTIES.has(key)) this.add(node, `Attribute Access: ${this.describe(callee)}(…, '${key}')`, 'escape')
      }
    }
  }

  /** `process`, `module`, `globalThis` and their aliases may be read from, not handed around: `f(process)` gives `process.binding` to code the policy cannot follow. */
  private handedAround(node: N & {type: 'Identifier'}, parent: N | undefined): boolean {
    if (!parent) return false
    switch (parent.type) {
      case 'MemberExpression': {
        return parent.object !== node
      }
      case 'UnaryExpression': {
        return !['typeof', '!', 'void'].includes(parent.operator)
      }
      case 'BinaryExpression': {
        return !COMPARISONS.has(parent.operator)
      }
      // a truth test: `if (process)`, `process ? a : b`, `while (process && …)`
      case 'IfStatement':
      case 'WhileStatement':
      case 'DoWhileStatement':
      case 'ForStatement':
      case 'ConditionalExpression': {
        return false
      }
      case 'VariableDeclarator': {
        return false // an alias: its uses are judged like the original's; destructuring is checked
      }
      case 'AssignmentExpression': {
        return !(parent.right === node && (parent.left.type === 'Identifier' || parent.left.type === 'ObjectPattern'))
      }
      case 'ExpressionStatement': {
        return false
      }
      default: {
        return true
      }
    }
  }

  private identifier(node: N & {type: 'Identifier'}, parent: N | undefined): void {
    const {name} = node
    if (!SPECIAL_NAMES.has(name) && !this.aliases.process.has(name) && !this.aliases.module.has(name) && !this.aliases.global.has(name)) return
    const special = this.isProcess(node)
      ? 'process'
      : this.isModuleLike(node)
        ? 'module'
        : this.isGlobalObject(node) && (name === 'globalThis' || name === 'global' || this.aliases.global.has(name))
          ? 'the global object'
          : undefined
    if (special !== undefined) {
      if (this.handedAround(node, parent)) this.add(node, `Reference: ${name}`, 'escape')
      return
    }
    if (name !== 'eval' && name !== 'Function' && name !== 'require') return
    if (parent?.type === 'UnaryExpression' && parent.operator === 'typeof') return
    const isCallee = (parent?.type === 'CallExpression' || parent?.type === 'NewExpression') && unwrap(parent.callee as N) === node
    if (name === 'require') {
      if (isCallee) return // the call rule checks the module
      if (parent?.type === 'MemberExpression' && parent.object === node) return // require.resolve, require.call(…) in the call rule
      this.add(node, 'Reference: require', 'escape')
      return
    }
    if (name === 'Function' && parent?.type === 'BinaryExpression' && COMPARISONS.has(parent.operator)) return
    if (name === 'Function' && parent?.type === 'MemberExpression' && parent.object === node && propertyName(parent) === 'prototype') return
    this.add(node, isCallee ? `Call: ${name}` : `Reference: ${name}`, 'code')
  }

  /** Callees the call rule reports (acorn-walk visits children first, so the member is seen before its call). */
  private coveredByCall(name: string, object: N): boolean {
    return (
      name === 'getBuiltinModule' ||
      (JS_DANGEROUS_PROCESS_PROPERTIES.has(name) && this.isProcess(object)) ||
      ((name === 'eval' || name === 'Function') && this.isGlobalObject(object)) ||
      (isIdentifier(object, 'require') && (name === 'call' || name === 'apply' || name === 'bind'))
    )
  }

  /** `outer` is the member, or the ChainExpression around it; `parent` is what holds that. */
  private member(node: N & {type: 'MemberExpression'}, outer: N, parent: N | undefined): void {
    const name = propertyName(node)
    const object = unwrap(node.object as N)
    const isCallee = (parent?.type === 'CallExpression' || parent?.type === 'NewExpression') && unwrap(parent.callee as N) === outer
    if (isCallee && name !== null && this.coveredByCall(name, object)) return
    if (name === null) {
      // process[key] reaches process.binding; globalThis[key] is an ordinary lookup and stays allowed
      if (this.isProcess(object)) this.add(node, `Attribute Access: ${this.describe(object)}[(dynamic)]`, 'dynamic')
      return
    }
    if (JS_DANGEROUS_PROPERTIES.has(name) || (JS_DANGEROUS_PROCESS_PROPERTIES.has(name) && this.isProcess(object))) {
      this.add(node, `Attribute Access: ${this.describe(object)}.${name}`, 'native')
      return
    }
    if ((name === 'eval' || name === 'Function') && this.isGlobalObject(object)) {
      this.add(node, `Reference: ${name}`, 'code')
      return
    }
    if (JS_ESCAPE_PROPERTIES.has(name)) {
      this.add(node, `Attribute Access: ${this.describe(object)}.${name}`, 'escape')
      return
    }
    if (isIdentifier(object, 'require') && (name === 'call' || name === 'apply' || name === 'bind')) {
      this.add(node, `Require: (indirect ${name})`, 'escape')
      return
    }
    if (name === 'require' && !isCallee && this.isModuleLike(object) && !(parent?.type === 'AssignmentExpression' && parent.left === outer)) {
      // module.require.call(module, 'child_process'), [...].map(module.require)
      this.add(node, `Reference: ${this.describe(object)}.require`, 'escape')
      return
    }
    if (name === 'constructor' && !harmlessConstructorUse(outer, parent)) {
      // any function's constructor is Function; only its name, comparisons and argument-less `new` are provably harmless
      this.add(node, `${isCallee ? 'Call' : 'Attribute Access'}: ${this.describe(object)}.constructor`, 'code')
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
        if (source && this.isProcess(source)) this.add(property, `Attribute Access: ${this.describe(source)}[(dynamic)]`, 'dynamic')
        continue
      }
      if (JS_DANGEROUS_PROPERTIES.has(key) || (source && JS_DANGEROUS_PROCESS_PROPERTIES.has(key) && this.isProcess(source))) {
        this.add(property, `Attribute Access: ${source ? this.describe(source) : '{…}'}.${key}`, 'native')
      } else if (key === 'constructor' || JS_ESCAPE_PROPERTIES.has(key)) {
        this.add(property, `Attribute Access: ${source ? this.describe(source) : '{…}'}.${key}`, key === 'constructor' ? 'code' : 'escape')
      } else if (source && this.isGlobalObject(source) && (key === 'eval' || key === 'Function')) {
        this.add(property, `Reference: ${key}`, 'code')
      } else if (source && key === 'require' && this.isModuleLike(source)) {
        this.add(property, `Reference: ${this.describe(source)}.require`, 'escape')
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
type Forbidden = (specifier: string) => boolean
const FALLBACK_PATTERNS: Array<[RegExp, (match: RegExpExecArray, isForbiddenModule: Forbidden) => string | undefined]> = [
  [new RegExp(String.raw`\b(?:require|getBuiltinModule)\s*\(\s*` + QUOTED, 'g'), (m, isForbiddenModule) => (isForbiddenModule(m[2]) ? `Require: ${m[2]}` : undefined)],
  [new RegExp(String.raw`\b(?:from|import)\s*\(?\s*` + QUOTED, 'g'), (m, isForbiddenModule) => (isForbiddenModule(m[2]) ? `Import: ${m[2]}` : undefined)],
  [/\beval\s*\(/g, () => 'Call: eval'],
  [/\bFunction\s*\(/g, () => 'Call: Function'],
  [/\bprocess\s*\.\s*(binding|dlopen|_linkedBinding)\s*\(/g, (m) => `Call: process.${m[1]}`],
  [/\.\s*(mainModule|_linkedBinding|_load)\b/g, (m) => `Attribute Access: ${m[1]}`],
]

function regexScan(code: string, offset: number, firstLine: number, issues: PolicyIssue[], isForbiddenModule: Forbidden): void {
  const text = code.slice(offset)
  for (const [pattern, message] of FALLBACK_PATTERNS) {
    pattern.lastIndex = 0
    for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
      const issue = message(match, isForbiddenModule)
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
export function tokenScan(code: string, level: Level = 'ragflow'): PolicyIssue[] {
  const forbidden = JAVASCRIPT_RULES[level].forbiddenModules
  const isForbiddenModule = (specifier: string): boolean => forbidden.has(coreModuleName(specifier))
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
      ((label(tokens[index + 2]) === '.' && isName(tokens[index + 3], 'constructor')) || (label(tokens[index + 2]) === '(' && stringAt(tokens, index + 3) !== undefined))
    ) {
      at(next, 'Call: constructor')
    }
  }
  if (failedAt >= 0) {
    const firstLine = 1 + countLines(code, failedAt)
    const lineStart = code.lastIndexOf('\n', failedAt - 1) + 1
    regexScan(code, lineStart, firstLine, issues, isForbiddenModule)
  }
  return issues
}

export function inspectJavaScript(code: string, level: Level = 'ragflow'): PolicyIssue[] {
  const programs = parsePrograms(code)
  if (programs.length > 0) {
    const inspector = new JavaScriptInspector(code, JAVASCRIPT_RULES[level])
    try {
      inspector.collectAliases(programs)
      for (const program of programs) inspector.walk(program)
      return inspector.issues // duplicates across goals are dropped by the caller
    } catch (error) {
      if (!(error instanceof RangeError)) throw error // stack overflow on absurd nesting: scan tokens instead
    }
  }
  return tokenScan(code, level)
}
