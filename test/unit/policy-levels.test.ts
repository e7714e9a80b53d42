/**
 * The policy levels, table-driven both ways: what each level accepts (ordinary code that
 * RAGFlow's own rules accept, or that agents write every day) and what it refuses (RAGFlow's
 * rules, processes, native code, sockets, the escapes, and the bypass classes of issue 11.8).
 */
import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import {isSandboxError} from '../../src/errors.js'
import {formatPolicyIssues, inspectCode, type PolicyLanguage, type PolicyMode} from '../../src/policy/index.js'
import {decodePythonEscapes} from '../../src/policy/python.js'
import {isPolicyMode, POLICY_MODES, policyLevel} from '../../src/policy/types.js'
import {expectUnsafe} from '../../src/suite/expect.js'

const messages = async (code: string, language: PolicyLanguage, mode: PolicyMode) => (await inspectCode(code, language, mode)).issues.map((issue) => issue.message)

/** Idioms of data-science, web-scraping and agent code that RAGFlow's rules accept: ragflow must accept them too. */
const ragflowAcceptsPython: Array<[string, string]> = [
  ['a DataFrame column named os', "import pandas as pd\ndf = pd.DataFrame({'os': ['linux']})\ndf.os.value_counts()\ndf['os']"],
  ['a user agent parsed by user_agents', 'from user_agents import parse\nua = parse(s)\nprint(ua.os.family, ua.browser.family)'],
  ['a config attribute named sys', 'cfg.sys\nargs.os\nrow.socket\nself.threading = None'],
  ['vars of a namespace', 'import argparse\nns = argparse.Namespace(a=1)\nprint(vars(ns))\njson.dumps(o, default=vars)'],
  ['class introspection', 'print(cls.__mro__, cls.__bases__, type(x).__base__, x.__class__.__name__)'],
  ['json_normalize columns with dots', "import pandas as pd\ndf = pd.json_normalize(data)\ndf['os.family']\nname = 'os.version'"],
  ['platform.system()', 'import platform\nplatform.system()'],
  ['BeautifulSoup', "from bs4 import BeautifulSoup\nsoup = BeautifulSoup(html, 'html.parser')\nsoup.find('a').get('href')"],
  ['requests', 'import requests\nr = requests.get(url, timeout=5)\nr.raise_for_status()\nr.json()'],
  ['the __main__ guard', "if __name__ == '__main__':\n    main()"],
  ['instance __dict__', 'self.__dict__.update(kwargs)\nobj.__dict__.items()'],
  ['traceback formatting', 'import traceback\ntraceback.format_exc()\ntraceback.print_exc()\ntraceback.format_exception(type(e), e, e.__traceback__)'],
  ['functools.wraps', 'import functools\n@functools.wraps(f)\ndef g(): pass\ng.__wrapped__'],
  ['thread pools from concurrent.futures', 'import concurrent.futures\nwith concurrent.futures.ThreadPoolExecutor() as ex:\n    list(ex.map(f, xs))'],
  ['string.Formatter().format', "import string\nstring.Formatter().format('{0}', 1)"],
  ['prose mentioning internals', "x = 'eval child_process os.system __import__ __globals__'"],
  ['matplotlib to artifacts', "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nfig.savefig('artifacts/a.png')"],
  ['a variable named like a module, assigned', 'os = 1\nsys_info = {}'],
  ['the plugin registry: subclasses of a class defined here', 'class Base:\n    pass\n\nclass A(Base):\n    pass\n\nnames = [c.__name__ for c in Base.__subclasses__()]'],
]

/** What agents write every day: the standard level accepts it (ragflow refuses most of it, as RAGFlow does). */
const standardAcceptsPython: Array<[string, string]> = [
  ['open() inside the sandbox', "with open('artifacts/out.txt', 'w') as f:\n    f.write('x')\nprint(open('artifacts/out.txt').read())"],
  [
    'os.path, os.makedirs, os.environ.get, os.listdir',
    "import os\nos.makedirs('artifacts', exist_ok=True)\np = os.path.join('a', 'b')\nk = os.environ.get('KEY', '')\nfiles = os.listdir('.')\nos.path.exists(p)\nos.getenv('HOME')",
  ],
  ['from os import path, environ', "from os import path, environ\npath.join('a')\nenviron.get('X')"],
  ['import os.path', "import os.path\nos.path.basename('x')"],
  ['os.walk, os.stat, os.remove', "import os\nfor root, dirs, files in os.walk('.'):\n    pass\nsize = os.stat('x').st_size\nos.remove('x')"],
  ['sys.argv, sys.maxsize, sys.version, sys.stdout, sys.exit', "import sys\nprint(sys.argv, sys.maxsize, sys.version, sys.version_info.major)\nsys.stdout.write('x')\nsys.exit(0)"],
  ['threading', 'import threading\nt = threading.Thread(target=f)\nt.start()\nt.join()\nlock = threading.Lock()'],
  ['asyncio', 'import asyncio\n\nasync def main():\n    await asyncio.sleep(0)\n    await asyncio.gather(a(), b())\n\nasyncio.run(main())'],
  ['getattr with a default, setattr, hasattr', "getattr(obj, 'name', None)\ngetattr(args, key, default)\nsetattr(self, k, v)\nhasattr(x, 'shape')"],
  ['json and pathlib reads and writes', "import json, pathlib\np = pathlib.Path('artifacts') / 'x.json'\np.write_text(json.dumps({}))\npathlib.Path('a').read_text()"],
  ['Path.mkdir', "from pathlib import Path\nPath('x').mkdir(parents=True, exist_ok=True)"],
  ['shutil file operations', "import shutil\nshutil.copy('a', 'b')\nshutil.rmtree('d')"],
  ['io.open', "import io\nio.open('x')"],
  ['tempfile and glob', "import tempfile, glob\nd = tempfile.mkdtemp()\nglob.glob('*.csv')"],
  ['sys.path', "import sys\nsys.path.insert(0, '.')"],
  ...ragflowAcceptsPython,
]

/** Refused at both levels: processes, native code, sockets, strings of code, the escapes, and the bypass classes. */
const everyLevelRefusesPython: Array<[string, string, string[]]> = [
  ['subprocess', 'import subprocess', ['Import: subprocess']],
  ['from subprocess', 'from subprocess import Popen', ['From Import: subprocess']],
  ['pty', 'import pty', ['Import: pty']],
  ['multiprocessing', 'import multiprocessing', ['Import: multiprocessing']],
  ['ProcessPoolExecutor', 'from concurrent.futures import ProcessPoolExecutor', ['From Import: concurrent.futures.ProcessPoolExecutor']],
  ['ctypes', 'import ctypes', ['Import: ctypes']],
  ['cffi', 'import cffi', ['Import: cffi']],
  ['socket', 'import socket', ['Import: socket']],
  ['eval / exec / __import__ / compile', "eval('1')\nexec('1')\n__import__('os')\ncompile('1', 'x', 'eval')", ['Call: eval', 'Call: exec', 'Call: __import__', 'Call: compile']],
  ['globals() / locals() / vars()', 'globals()\nlocals()\nvars()', ['Call: globals', 'Call: locals', 'Call: vars']],
  [
    'importlib / pickle / marshal / inspect',
    'import importlib\nimport pickle\nimport marshal\nimport inspect',
    ['Import: importlib', 'Import: pickle', 'Import: marshal', 'Import: inspect'],
  ],
  ['__subclasses__', '().__class__.__base__.__subclasses__()', ['Attribute Access: ().__class__.__base__.__subclasses__']],
  ['__globals__ of a function', 'g = lambda: 0\ng.__globals__', ['Attribute Access: g.__globals__']],
  ['builtins through __self__', "print.__self__.open('/etc/passwd')", ['Attribute Access: print.__self__']],
  ['gc.get_objects', 'import gc\ngc.get_objects()', ['Attribute Access: gc.get_objects']],
  ['a private module alias', "import random\nrandom._os.system('id')", ['Attribute Access: random._os']],
  // 11.8: a module's __dict__, by subscript or through an alias
  ['a module __dict__ subscript', "import glob\nglob.__dict__['os'].system('id')", ['Attribute Access: glob.__dict__']],
  ['a module __dict__ through an alias', "import random\nd = random.__dict__\nd['_os'].system('id')", ['Attribute Access: random.__dict__', 'String: _os']],
  ['a module alias, then its __dict__', "import random as r\nm = r\nm.__dict__['_os']", ['Attribute Access: m.__dict__', 'String: _os']],
  ['vars of a module', "import glob\nvars(glob)['os'].system('id')", ['Call: vars(glob)']],
  ['a module through another module', "import glob\nglob.os.system('id')", ['Attribute Access: glob.os']],
  ['a module through an alias of another module', "import glob\nm = glob\nm.os.system('id')", ['Attribute Access: m.os']],
  ['from a module import a module', 'from glob import os as g', ['From Import: glob.os']],
  // 11.8: operator.attrgetter with a dotted path
  ['attrgetter with a dotted path through a module', "import operator, glob\noperator.attrgetter('os.system')(glob)('id')", ['Attribute Path: os.system']],
  [
    'attrgetter with a dotted path to an escape',
    "from operator import attrgetter\nattrgetter('__init__.__globals__')(f)",
    ['Attribute Path: __init__.__globals__', 'String: __globals__'],
  ],
  // 11.8: escaped identifiers in strings
  ['a hex-escaped private module alias', "import operator, random\noperator.attrgetter('\\x5fos')(random)", ['Attribute Path: _os', 'String: _os']],
  ['a hex-escaped dunder', "x = '\\x5f\\x5fglobals\\x5f\\x5f'", ['String: __globals__']],
  ['a unicode-escaped dunder', "x = '\\u005f\\u005fbuiltins\\u005f\\u005f'", ['String: __builtins__']],
  ['a named escape', "x = '\\N{LOW LINE}os'", ['String: _os']],
  ['implicit concatenation', "x = '_' 'os'", ['String: _os']],
  ['concatenation with +', "x = '__glo' + 'bals__'", ['String: __globals__']],
  ['an f-string of constants', 'x = f"_{\'os\'}"', ['String: _os']],
  // 11.8: string.Formatter().get_field
  ['Formatter.get_field through a module', "import string, glob\nstring.Formatter().get_field('0.os.system', [glob], {})[0]('id')", ['Attribute Path: 0.os.system']],
  ['Formatter.get_field to an escape', "import string\nstring.Formatter().get_field('0.__globals__', [f], {})", ['Attribute Path: 0.__globals__', 'String: __globals__']],
  ['a format field reading an escape', "'{0.__init__.__globals__}'.format(f)", ['String: __globals__']],
  // 11.8: traceback locals and frames
  [
    'traceback.walk_stack yields frames',
    'import traceback\nfor f, _ in traceback.walk_stack(None):\n    f.f_globals',
    ['Attribute Access: traceback.walk_stack', 'Attribute Access: f.f_globals'],
  ],
  [
    'traceback.walk_tb yields frames',
    'import traceback\nfor f, _ in traceback.walk_tb(e.__traceback__):\n    f.f_locals',
    ['Attribute Access: traceback.walk_tb', 'Attribute Access: f.f_locals'],
  ],
  ['traceback locals', 'import traceback\ntraceback.TracebackException.from_exception(e, capture_locals=True).stack[0].locals', ['Keyword: capture_locals']],
  ['a frame from a traceback', 'e.__traceback__.tb_frame.f_back', ['Attribute Access: e.__traceback__.tb_frame', 'Attribute Access: e.__traceback__.tb_frame.f_back']],
  ['a utf-7 coding cookie', '# -*- coding: utf-7 -*-\nx = 1', ['Encoding Declaration: utf-7']],
  [
    'subclasses of a class name that is rebound (a parameter)',
    'class Base:\n    pass\n\ndef f(Base):\n    return Base.__subclasses__()',
    ['Attribute Access: Base.__subclasses__'],
  ],
  ['subclasses of a class name that is rebound (a loop)', 'class Base:\n    pass\n\nfor Base in [object]:\n    Base.__subclasses__()', ['Attribute Access: Base.__subclasses__']],
  ['subclasses of a class name that is reassigned', 'class Base:\n    pass\n\nBase = object\nBase.__subclasses__()', ['Attribute Access: Base.__subclasses__']],
]

/** Refused by ragflow only (RAGFlow's rules and the bypasses of them that standard does not need). */
const ragflowOnlyRefusesPython: Array<[string, string, string[]]> = [
  ['import os (RAGFlow #11)', 'import os', ['Import: os']],
  ['sys', 'import sys\nsys.argv', ['Import: sys', 'Attribute Access: sys.argv']],
  ['open()', "open('x')", ['Call: open']],
  ['getattr', "getattr(obj, 'name', None)", ['Call: getattr']],
  ['threading and asyncio', 'import threading\nimport asyncio', ['Import: threading', 'Import: asyncio']],
  ['shutil (RAGFlow #14)', "import shutil\nshutil.rmtree('/x')", ['Import: shutil', 'Attribute Access: shutil.rmtree']],
  ['pathlib (RAGFlow #8472)', "from pathlib import Path\nPath('/etc/passwd').read_text()", ['From Import: pathlib', "Attribute Access: Path('/etc/passwd').read_text"]],
  ['io.open', "import io\nio.open('/etc/passwd')", ['Attribute Access: io.open']],
  ['http.server.shutil (RAGFlow #8472)', "import http.server\nhttp.server.shutil.rmtree('/')", ['Attribute Access: http.server.shutil']],
]

/** Refused by standard: the parts of os and sys that start processes or reach everything. */
const standardRefusesPython: Array<[string, string, string[]]> = [
  ['os.system', "import os\nos.system('id')", ['Attribute Access: os.system']],
  ['os.popen', "import os\nos.popen('id')", ['Attribute Access: os.popen']],
  ['os.exec*', "import os\nos.execv('/bin/sh', [])", ['Attribute Access: os.execv']],
  ['os.spawn*', "import os\nos.spawnl(0, '/bin/sh')", ['Attribute Access: os.spawnl']],
  ['os.fork', 'import os\nos.fork()', ['Attribute Access: os.fork']],
  ['from os import system', 'from os import system', ['From Import: os.system']],
  ['from os import *', 'from os import *', ['From Import: os.*']],
  ['os under another name', "import os as o\no.system('id')", ['Attribute Access: o.system']],
  ['os handed around as a value', "import os\nf = os\nf.system('id')", ['Reference: os']],
  ['getattr on os', "import os\ngetattr(os, 'system')('id')", ['Reference: os']],
  ['os.sys', 'import os\nos.sys.modules', ['Attribute Access: os.sys']],
  ['sys.modules', "import sys\nsys.modules['os']", ['Attribute Access: sys.modules']],
  ['sys._getframe', 'import sys\nsys._getframe()', ['Attribute Access: sys._getframe']],
  [
    'asyncio subprocesses',
    "import asyncio\nasyncio.create_subprocess_exec('id')\nasyncio.subprocess",
    ['Attribute Access: asyncio.create_subprocess_exec', 'Attribute Access: asyncio.subprocess'],
  ],
  ['asyncio raw connections', "import asyncio\nasyncio.open_connection('127.0.0.1', 80)", ['Attribute Access: asyncio.open_connection']],
  ['threading.settrace (frames)', 'import threading\nthreading.settrace(f)', ['Attribute Access: threading.settrace']],
  ['getattr on a module with a computed name', 'import random\ngetattr(random, name)', ['Call: getattr(random, <computed name>)']],
  ['getattr with an escape name', "getattr(f, '__globals__', None)", ["Call: getattr(f, '__globals__')", 'String: __globals__']],
  ['a module reached through shutil', "import shutil\nshutil.os.system('id')", ['Attribute Access: shutil.os']],
]

describe('policy levels: ragflow accepts what RAGFlow accepts', () => {
  it.each(ragflowAcceptsPython)('%s', async (_name, code) => {
    expect(await messages(code, 'python', 'ragflow')).toEqual([])
  })
})

describe('policy levels: standard accepts what agents write every day', () => {
  it.each(standardAcceptsPython)('%s', async (_name, code) => {
    expect(await messages(code, 'python', 'standard')).toEqual([])
  })
})

describe('policy levels: both levels refuse processes, native code, sockets, escapes and the bypass classes', () => {
  it.each(everyLevelRefusesPython)('%s', async (_name, code, expected) => {
    expect(await messages(code, 'python', 'ragflow')).toEqual(expected)
    expect(await messages(code, 'python', 'standard')).toEqual(expected)
  })
})

describe('policy levels: ragflow refuses RAGFlow rules that standard relaxes', () => {
  it.each(ragflowOnlyRefusesPython)('%s', async (_name, code, expected) => {
    expect(await messages(code, 'python', 'ragflow')).toEqual(expected)
    expect(await messages(code, 'python', 'standard')).toEqual([])
  })
})

describe('policy levels: standard keeps the dangerous parts of os and sys out', () => {
  it.each(standardRefusesPython)('%s', async (_name, code, expected) => {
    expect(await messages(code, 'python', 'standard')).toEqual(expected)
  })
})

const ragflowAcceptsJs: Array<[string, string]> = [
  ['a global looked up with a computed key', 'const fn = globalThis[key]\nconst v = global[name]'],
  ['class constructors and super', 'class A { constructor(x) { this.x = x } }\nclass B extends A { constructor() { super(1) } }'],
  ['constructor comparisons and names', 'const isObj = (v) => v !== null && v.constructor === Object\nconst n = x.constructor.name'],
  ['destructuring process.env', 'const {env} = process\nconsole.log(env.HOME, process.argv[2])\nprocess.exitCode = 0'],
  ['a user function called process', 'function process(x) { return x }\nitems.map(process)'],
  ['module.exports and the main guard', "if (typeof module !== 'undefined' && module.exports) module.exports = { main }\nif (require.main === module) main()"],
  ['Reflect.get in a proxy', 'const handler = { get(target, prop) { return Reflect.get(target, prop) } }'],
  [
    'fetch, axios, http(s), os, path, crypto',
    "const axios = require('axios')\nconst https = require('https')\nconst os = require('os')\nconst path = require('path')\nrequire('crypto').randomUUID()\nconst r = await fetch('https://x')",
  ],
  ['net and dgram (RAGFlow does not refuse them; the sandbox has no network)', "const net = require('net')"],
  [
    'the global object picked portably',
    "const root = typeof globalThis !== 'undefined' ? globalThis : global\nconst g2 = (typeof globalThis !== 'undefined' && globalThis) || global\nconsole.log(typeof root.fetch)",
  ],
  ['stack traces as text', 'console.log(err.stack)\nError.captureStackTrace(this, Foo)'],
  ['process tested for truth', "if (process && process.env) {}\nconst isNode = typeof process !== 'undefined' && !!process.versions"],
]

const everyLevelRefusesJs: Array<[string, string, string[]]> = [
  ['child_process', "require('child_process').execSync('id')", ['Require: child_process']],
  ['node:child_process as an import', "import {execSync} from 'node:child_process'", ['Import: node:child_process']],
  ['worker_threads', "require('worker_threads')", ['Require: worker_threads']],
  ['vm', "require('vm').runInThisContext('1')", ['Require: vm']],
  ['eval and Function', "eval('1')\nnew Function('return 1')", ['Call: eval', 'Call: Function']],
  [
    'process.binding / dlopen / execve',
    "process.binding('spawn_sync')\nprocess.dlopen(m, 'x.node')\nprocess.execve('/bin/sh')",
    ['Call: process.binding', 'Call: process.dlopen', 'Call: process.execve'],
  ],
  // 11.8: an alias of process
  ['an alias of process', "const p = process\np.binding('spawn_sync')", ['Call: process.binding']],
  ['an alias of globalThis.process, destructured', 'const p = globalThis.process\nconst {binding} = p', ['Attribute Access: p.binding']],
  ['an alias assigned later, computed key', "let q\nq = process\nq['binding']('fs')", ['Call: process.binding']],
  ['process handed to a function', 'f(process)', ['Reference: process']],
  ['process handed over through a branch', 'f(cond ? process : null)', ['Reference: process']],
  ['an alias through ||', "const p = x || process\np.binding('fs')", ['Call: process.binding']],
  ['an alias of the global object through ?:', "const g = typeof globalThis !== 'undefined' ? globalThis : global\ng.process.binding('x')", ['Call: process.binding']],
  ['an alias of the global object', "const g = globalThis\ng.process.binding('x')", ['Call: process.binding']],
  // 11.8: module.require.call, [...].map(module.require)
  ['module.require.call', "module.require.call(module, 'child_process')", ['Reference: module.require', 'Reference: module']],
  ['[...].map(module.require)', "['child_process'].map(module.require)", ['Reference: module.require']],
  ['require.main.require.apply', "require.main.require.apply(null, ['fs'])", ['Reference: require.main.require']],
  ['an alias of module', "const m = module\nm.require('child_process')", ['Require: child_process']],
  // 11.8: f.constructor with spread arguments, and the class
  ['new f.constructor(...spread)', "const f = () => {}\nnew f.constructor(...['return process'])()", ['Call: f.constructor']],
  ['a constructor kept in a variable', "const F = f.constructor\nF('return 1')", ['Attribute Access: f.constructor']],
  ['a constructor passed as an argument', 't.equal(a.constructor, Buffer)', ['Attribute Access: a.constructor']],
  ['new x.constructor(arg) with an argument that may be a string', 'new this.constructor(n)', ['Call: this.constructor']],
  ['Reflect.get(f, "constructor")', "Reflect.get(f, 'constructor')('return 1')", ["Attribute Access: Reflect.get(…, 'constructor')"]],
  ['destructured constructor', 'const {constructor: C} = f', ['Attribute Access: f.constructor']],
  [
    "V8's stack-trace API hands out the callers' functions",
    "Error.prepareStackTrace = (e, s) => s\nconst st = new Error().stack\nst[1].getFunction().arguments[1]('child_process')",
    ['Attribute Access: Error.prepareStackTrace', 'Attribute Access: st[1].getFunction'],
  ],
  ['f.caller and arguments.callee', 'function f() { return f.caller || arguments.callee }', ['Attribute Access: f.caller', 'Attribute Access: arguments.callee']],
  ['a destructured getThis', 'const {getThis} = site', ['Attribute Access: site.getThis']],
]

describe('policy levels (JavaScript)', () => {
  it.each(ragflowAcceptsJs)('ragflow accepts: %s', async (_name, code) => {
    expect(await messages(code, 'nodejs', 'ragflow')).toEqual([])
  })

  it.each(ragflowAcceptsJs.filter(([name]) => !name.startsWith('net')))('standard accepts: %s', async (_name, code) => {
    expect(await messages(code, 'nodejs', 'standard')).toEqual([])
  })

  it.each(everyLevelRefusesJs)('both levels refuse: %s', async (_name, code, expected) => {
    expect(await messages(code, 'nodejs', 'ragflow')).toEqual(expected)
    expect(await messages(code, 'nodejs', 'standard')).toEqual(expected)
  })

  it('fs: refused by ragflow (RAGFlow rule), allowed by standard', async () => {
    const code = "const fs = require('fs')\nfs.writeFileSync('artifacts/x.txt', 'x')\nconst {readFile} = require('node:fs/promises')"
    expect(await messages(code, 'nodejs', 'ragflow')).toEqual(['Require: fs', 'Require: node:fs/promises'])
    expect(await messages(code, 'nodejs', 'standard')).toEqual([])
  })

  it('raw sockets: refused by standard', async () => {
    expect(await messages("require('net').connect(80)\nrequire('dgram')", 'nodejs', 'standard')).toEqual(['Require: net', 'Require: dgram'])
  })
})

describe('policy levels: names, aliases and configuration', () => {
  it('on is ragflow; every mode is one list', () => {
    expect(POLICY_MODES).toEqual(['ragflow', 'standard', 'off', 'on'])
    expect(policyLevel('on')).toBe('ragflow')
    expect(isPolicyMode('standard')).toBe(true)
    expect(isPolicyMode('maybe')).toBe(false)
  })

  it("mode 'on' gives the ragflow verdict", async () => {
    for (const code of ['import os', "open('x')", 'df.os']) {
      expect(await inspectCode(code, 'python', 'on')).toEqual(await inspectCode(code, 'python', 'ragflow'))
    }
  })

  it('SANDBOX_CODE_POLICY accepts ragflow, standard, off and on (read as ragflow); anything else is a clear error', () => {
    const load = (value?: string) => loadConfig({env: value === undefined ? {} : {SANDBOX_CODE_POLICY: value}, envFile: '/dev/null'}).codePolicy
    expect(load()).toBe('ragflow')
    expect(load('on')).toBe('ragflow')
    expect(load('ragflow')).toBe('ragflow')
    expect(load('standard')).toBe('standard')
    expect(load('off')).toBe('off')
    const error = (() => {
      try {
        load('maybe')
      } catch (error_) {
        return error_
      }
    })()
    expect(isSandboxError(error) && error.code).toBe('INVALID_POLICY')
    expect(String((error as Error).message)).toMatch(/ragflow, standard, off, on/)
  })
})

describe('policy levels: every refusal names the rule and how to proceed', () => {
  it('open() under ragflow points at the library writers and at standard', async () => {
    const result = await inspectCode("with open('x', 'w') as f:\n    f.write('1')\nopen('y')", 'python', 'ragflow')
    expect(formatPolicyIssues(result.issues)).toBe(
      'Line 1: Call: open (open() is refused by the ragflow policy: write artifacts with df.to_csv/plt.savefig, or use --policy standard)\nLine 3: Call: open',
    )
  })

  it('import os under ragflow points at standard', async () => {
    const [issue] = (await inspectCode('import os', 'python')).issues
    expect(issue.hint).toMatch(/refused by the ragflow policy: use --policy standard for os.path/)
  })

  it('os.system under standard says processes are refused', async () => {
    const [issue] = (await inspectCode("import os\nos.system('id')", 'python', 'standard')).issues
    expect(issue.hint).toMatch(/^starting processes is refused by the standard policy/)
  })

  it('every finding of every case above carries a hint naming its level', async () => {
    for (const [, code] of [...everyLevelRefusesPython, ...standardRefusesPython]) {
      for (const issue of (await inspectCode(code, 'python', 'standard')).issues) expect(issue.hint, code).toMatch(/standard policy/)
    }
    for (const [, code] of everyLevelRefusesJs) {
      for (const issue of (await inspectCode(code, 'nodejs', 'ragflow')).issues) expect(issue.hint, code).toMatch(/ragflow policy/)
    }
  })

  it("keeps RAGFlow's answer shape: the suite's RAGFlow expectations still hold", async () => {
    const result = await inspectCode('\nimport os\n\ndef main():\n    pass\n', 'python')
    const stderr = formatPolicyIssues(result.issues)
    expect(stderr.startsWith('Line 2: Import: os (')).toBe(true)
    const verdict = expectUnsafe({status: 'program_runner_error', exit_code: -999, detail: 'Code is unsafe', stderr} as never, ['Line 2: Import: os'])
    expect(verdict.ok).toBe(true)
  })
})

describe('python string values', () => {
  it.each([
    [String.raw`\x5fos`, '_os'],
    [String.raw`\u005f\U0000005f`, '__'],
    [String.raw`\N{LOW LINE}\N{LATIN SMALL LETTER O}s`, '_os'],
    [String.raw`\137os`, '_os'],
    [String.raw`a\\b`, String.raw`a\b`],
    [
      String.raw`line\
next`,
      'linenext',
    ],
    [String.raw`\q`, String.raw`\q`],
  ])('%s', (raw, value) => {
    expect(decodePythonEscapes(raw)).toBe(value)
  })

  it('raw strings are not unescaped', async () => {
    expect(await messages(String.raw`x = r'\x5fos'`, 'python', 'ragflow')).toEqual([])
  })
})

describe('docs/policy.md', () => {
  it('the answer it quotes is what the policy prints for that code', async () => {
    const docs = readFileSync('docs/policy.md', 'utf8')
    const quoted = /## The answer[\s\S]*?```\n([\s\S]*?)```/.exec(docs)?.[1].trimEnd()
    const code = "import json\nimport shutil\n\ndef main():\n    shutil.rmtree('/x')\n\n    open('y')\n"
    expect(formatPolicyIssues((await inspectCode(code, 'python')).issues)).toBe(quoted)
  })
})

describe('bypass spellings that the fast paths must not skip', () => {
  it.each([
    ['python', "import operator\nimport numpy as np\noperator.attrgetter('ctypes' + 'lib')(np)", ['Attribute Path: ctypeslib', 'String: ctypeslib']],
    ['python', "x = '__glo' 'bals__'", ['String: __globals__']],
    ['nodejs', 'const p = \\u0070rocess\np.binding("fs")', ['Call: process.binding']],
  ] as const)('%s: %s', async (language, code, expected) => {
    expect(await messages(code, language, 'ragflow')).toEqual(expected)
    expect(await messages(code, language, 'standard')).toEqual(expected)
  })
})
