import {describe, expect, it} from 'vitest'

import {coreModuleName, tokenScan} from '../../src/policy/javascript.js'
import {inspectCode} from '../../src/policy/index.js'

const issues = async (code: string) => (await inspectCode(code, 'nodejs')).issues.map(({line, message}) => ({line, message}))
const messages = async (code: string) => (await issues(code)).map((issue) => issue.message)

describe('javascript policy: what RAGFlow blocks stays blocked, with its messages', () => {
  it.each(['child_process', 'fs', 'worker_threads'])("require('%s')", async (module) => {
    expect(await issues(`const x = 1\nconst m = require('${module}')`)).toEqual([{line: 2, message: `Require: ${module}`}])
    expect(await messages(`require("${module}")`)).toEqual([`Require: ${module}`])
  })

  it('eval, Function, new Function, process.binding', async () => {
    expect(await messages("eval('1')")).toEqual(['Call: eval'])
    expect(await messages("Function('return 1')()")).toEqual(['Call: Function'])
    expect(await messages("new Function('return 1')()")).toEqual(['Call: Function'])
    expect(await messages("process.binding('spawn_sync')")).toEqual(['Call: process.binding'])
    expect(await messages('process.dlopen(module, "x.node")')).toEqual(['Reference: module', 'Call: process.dlopen'])
  })
})

describe('javascript policy: the ways around a regex are closed', () => {
  it.each([
    ['template literal', 'require(`child_process`)', ['Require: child_process']],
    ['node: prefix', "require('node:child_process')", ['Require: node:child_process']],
    ['node: prefix in a template', 'require(`node:fs`)', ['Require: node:fs']],
    ['subpath', "require('fs/promises')", ['Require: fs/promises']],
    ['node: prefix and subpath', "require('node:fs/promises')", ['Require: node:fs/promises']],
    ['string escapes', "require('\\x66s')", ['Require: fs']],
    ['concatenation of constants', "require('child' + '_process')", ['Require: child_process']],
    ['spaces and comments', "require ( /* x */ 'fs' )", ['Require: fs']],
    ['static import', "import fs from 'fs'", ['Import: fs']],
    ['namespace import with node: prefix', "import * as cp from 'node:child_process'", ['Import: node:child_process']],
    ['side-effect import', "import 'worker_threads'", ['Import: worker_threads']],
    ['re-export', "export * from 'fs'", ['Import: fs']],
    ['named re-export', "export { readFileSync } from 'node:fs'", ['Import: node:fs']],
    ['dynamic import', "await import('fs')", ['Import: fs']],
    ['dynamic import, node: prefix', "const cp = await import('node:child_process')", ['Import: node:child_process']],
    ['dynamic import, template literal', 'import(`child_process`)', ['Import: child_process']],
    ['dynamic import, computed name', 'import(`./x-${n}.js`)', ['Import: (dynamic)']],
    ['require of a computed name', "const m = 'fs'\nrequire(m)", ['Require: (dynamic)']],
    ['require aliased', "const r = require\nr('fs')", ['Reference: require']],
    ['require.call', "require.call(null, 'fs')", ['Require: (indirect call)']],
    ['module.require', "module.require('child_process')", ['Require: child_process']],
    ['require.main.require', "require.main.require('fs')", ['Require: fs']],
    ['process.getBuiltinModule (Node 22+)', "process.getBuiltinModule('child_process')", ['Require: child_process']],
    [
      'other ways to run code or a process',
      "require('vm'); require('cluster'); require('repl'); require('inspector'); require('module')",
      ['Require: vm', 'Require: cluster', 'Require: repl', 'Require: inspector', 'Require: module'],
    ],
    ['eval unicode-escaped', "\\u0065val('1')", ['Call: eval']],
    ['indirect eval', "(0, eval)('1')", ['Reference: eval']],
    ['globalThis.eval', "globalThis.eval('1')", ['Call: eval']],
    ['computed global eval', "globalThis['ev' + 'al']('1')", ['Call: eval']],
    ['eval as a value', 'const e = eval', ['Reference: eval']],
    ['globalThis.process.mainModule', "globalThis.process.mainModule.require('child_process')", ['Attribute Access: globalThis.process.mainModule', 'Require: child_process']],
    ['process.mainModule', 'const m = process.mainModule', ['Attribute Access: process.mainModule']],
    ['process.binding as a value', 'const b = process.binding', ['Attribute Access: process.binding']],
    ['process["binding"]', "process['binding']('fs')", ['Call: process.binding']],
    ['process[computed]', "const k = 'binding'\nprocess[k]('fs')", ['Attribute Access: process[(dynamic)]']],
    ['destructured binding', 'const { binding } = process', ['Attribute Access: process.binding']],
    ['destructured mainModule', 'const { mainModule } = process', ['Attribute Access: process.mainModule']],
    ['_linkedBinding', "process._linkedBinding('x')", ['Call: process._linkedBinding']],
    ['module.constructor._load', "module.constructor._load('child_process')", ['Attribute Access: module.constructor', 'Attribute Access: module.constructor._load']],
    ['constructor.constructor', "this.constructor.constructor('return process')()", ['Attribute Access: this.constructor', 'Call: this.constructor.constructor']],
    ['function literal constructor', "(() => {}).constructor('return process')()", ['Call: () => {}.constructor']],
    [
      'AsyncFunction via getPrototypeOf',
      "Object.getPrototypeOf(async function () {}).constructor('return process')",
      ['Call: Object.getPrototypeOf(async function () {}).constructor'],
    ],
    ['AsyncFunction kept in a variable', "const AF = (async () => {}).constructor\nnew AF('return 1')", ['Attribute Access: async () => {}.constructor']],
    ['Function.prototype.constructor', "Function.prototype.constructor('return 1')", ['Call: Function.prototype.constructor']],
    ['constructor called with a code string', "new obj.constructor('return process')", ['Call: obj.constructor']],
    ['Reflect.construct(Function)', "Reflect.construct(Function, ['return process'])", ['Reference: Function']],
    ['Reflect.construct(x.constructor)', "Reflect.construct(f.constructor, ['return process'])", ['Attribute Access: f.constructor']],
    ['Function.call', "Function.call(null, 'return 1')", ['Reference: Function']],
  ])('%s', async (_name, code, expected) => {
    const result = await inspectCode(code, 'nodejs')
    expect(result.safe).toBe(false)
    expect(result.issues.map((issue) => issue.message)).toEqual(expected)
  })
})

describe('javascript policy: script and module goals are both inspected', () => {
  // The runner runs code as CommonJS when it compiles as a script, else as an ES module.
  it('an HTML-like comment hides code from a module parse but not from CommonJS', async () => {
    // node runs line 3 of this file as CommonJS; a module parse sees it inside a block comment
    const code = "var a = 1, b = 1\na <!--b /*\nrequire('child_process').execSync('id')\n--> */"
    expect(await issues(code)).toEqual([{line: 3, message: 'Require: child_process'}])
  })

  it('`await /re/` is a regex in a module but a division in a CommonJS script', async () => {
    const code = "var abc = 1, x = 1, g = 1\nawait /abc; require('fs'); x/g"
    expect(await issues(code)).toEqual([{line: 2, message: 'Require: fs'}])
  })

  it('code valid only as a module, or only as a script, is inspected', async () => {
    expect(await messages("const m = await import('fs')")).toEqual(['Import: fs'])
    expect(await messages("with (obj) { eval('1') }")).toEqual(['Call: eval'])
  })
})

describe('javascript policy: no false positives', () => {
  it.each([
    ['axios', "const axios = require('axios')"],
    ['https and http (the sandbox has no network; the policy does not care)', "const https = require('https')\nconst http = require('node:http')"],
    [
      'harmless core modules',
      "const os = require('os')\nconst path = require('node:path')\nconst crypto = require('crypto')\nconst { URL } = require('url')\nconst util = require('util')",
    ],
    ['CommonJS export', 'async function main(args) {\n  return { ok: true }\n}\nmodule.exports = { main }'],
    ['ESM export', 'export async function main() {}'],
    ['ESM default export and imports', "import axios from 'axios'\nimport { createHash } from 'node:crypto'\nexport default async function main() { return 1 }"],
    [
      'eval and child_process in comments and strings',
      "// eval(x); require('child_process')\n/* new Function('x') */\nconst s = 'eval child_process require(\"fs\")'\nconst t = `eval(${1})`",
    ],
    ['a string that is exactly eval', "const word = 'eval'\nconst mod = 'child_process'"],
    ['object keys and properties named like globals', 'const o = { eval: 1, require: 2, Function: 3 }\no.eval\no.require\nmodel.eval()\nconst { eval: e2 } = o'],
    ['instanceof Function and typeof checks', "if (x instanceof Function || typeof x === 'function' || x === Function) {}\nconst r = typeof require !== 'undefined'"],
    ['Function.prototype', 'const call = Function.prototype.call'],
    [
      'constructor name, comparisons and argument-less cloning',
      'const n = x.constructor.name\nconst y = new x.constructor(8)\nclass A extends B { clone() { return new this.constructor() } }\nif (a.constructor === Object || b.constructor !== Array) {}\nFoo.prototype.constructor = Foo',
    ],
    ['a global looked up with a computed key', 'const fn = globalThis[name]\nconst v = global[key]'],
    ['require.resolve', "require.resolve('axios')"],
    ['top-level await and return', 'await main()\nreturn 1'],
    ['hashbang', '#!/usr/bin/env node\nconsole.log(1)'],
    ['sloppy-mode script (with)', 'with (Math) { console.log(PI) }'],
    ['process.env and argv', 'const key = process.env.KEY\nconst args = process.argv.slice(2)\nprocess.stdout.write("x")'],
    ['2 + 2 and repeat', "const x = 2 + 2\nconst y = 1024 * 1024\nconst z = 'a'.repeat(10)"],
  ])('%s', async (_name, code) => {
    expect(await inspectCode(code, 'nodejs')).toEqual({safe: true, issues: []})
  })
})

describe('javascript policy: code that does not parse', () => {
  it.each([
    ['unbalanced braces', 'function main() { return 1 }}}'],
    ['missing paren', 'function main( {\n  return 1\n}'],
    ['comment mentioning require after a syntax error', "function main() { return 1 }}\n// require('fs') eval(1)"],
    ['string mentioning eval after a syntax error', "let x = = 1\nconst s = 'eval(1) child_process'"],
  ])('%s: not refused (Node reports the SyntaxError)', async (_name, code) => {
    expect(await inspectCode(code, 'nodejs')).toEqual({safe: true, issues: []})
  })

  it.each([
    ['unclosed require', "const fs = require('fs'\nfunction main() {}", [{line: 1, message: 'Require: fs'}]],
    ['require inside a broken function', "function main( {\n  require('child_process')\n}", [{line: 2, message: 'Require: child_process'}]],
    ['import before a syntax error', "import x from 'vm'\nfoo(", [{line: 1, message: 'Import: vm'}]],
    ['eval after a syntax error', "let x = = 1; eval('2')", [{line: 1, message: 'Call: eval'}]],
    ['process.binding after a syntax error', "}\nprocess.binding('fs')", [{line: 2, message: 'Call: process.binding'}]],
    ['constructor escape after a syntax error', "}\nx.constructor.constructor('return 1')()", [{line: 2, message: 'Call: constructor'}]],
    ['after an unterminated template the rest is scanned as text', "const s = `unterminated\nrequire('fs')", [{line: 2, message: 'Require: fs'}]],
  ])('%s: forbidden parts are still refused (token scan)', async (_name, code, expected) => {
    expect(await issues(code)).toEqual(expected)
  })

  it('the token scan knows strings, templates and comments', () => {
    expect(tokenScan('\'require("fs")\' // eval(1)\n`${x} child_process` }')).toEqual([])
    expect(tokenScan('} require(`node:fs`)')).toEqual([{line: 1, message: 'Require: node:fs'}])
  })
})

describe('javascript policy: module names', () => {
  it('normalises node: prefixes and subpaths', () => {
    expect(coreModuleName('node:fs/promises')).toBe('fs')
    expect(coreModuleName('fs')).toBe('fs')
    expect(coreModuleName('child_process')).toBe('child_process')
    expect(coreModuleName('@scope/pkg/sub')).toBe('@scope')
  })
})
