import {describe, expect, it} from 'vitest'

import {inspectCode} from '../../src/policy/index.js'

const issues = async (code: string) => (await inspectCode(code, 'python')).issues.map(({line, message}) => ({line, message}))
const messages = async (code: string) => (await issues(code)).map((issue) => issue.message)

describe('python policy: what RAGFlow blocks stays blocked', () => {
  it.each(['os', 'subprocess', 'sys', 'shutil', 'socket', 'ctypes', 'pickle', 'threading', 'multiprocessing', 'asyncio', 'builtins', 'ftplib', 'telnetlib'])(
    'import %s / from %s import … / %s.attr',
    async (module) => {
      expect(await messages(`import ${module}`)).toEqual([`Import: ${module}`])
      expect(await messages(`import ${module} as m`)).toEqual([`Import: ${module}`])
      expect(await messages(`from ${module} import thing`)).toEqual([`From Import: ${module}`])
      expect(await messages(`from ${module} import *`)).toEqual([`From Import: ${module}`])
      expect(await messages(`${module}.thing`)).toEqual([`Attribute Access: ${module}.thing`])
    },
  )

  it('compares the first dotted segment', async () => {
    expect(await messages('import os.path')).toEqual(['Import: os.path'])
    expect(await messages('from os.path import join')).toEqual(['From Import: os.path'])
    expect(await messages('import json, os')).toEqual(['Import: os'])
    expect(await messages('def main():\n    import subprocess')).toEqual(['Import: subprocess'])
  })

  it('http.client is really blocked (RAGFlow lists it but can never match it)', async () => {
    expect(await messages('import http.client')).toEqual(['Import: http.client'])
    expect(await messages('from http.client import HTTPConnection')).toEqual(['From Import: http.client'])
    expect(await messages('from http import client')).toEqual(['From Import: http.client'])
    expect(await messages('import http\nhttp.client.HTTPConnection')).toEqual(['Attribute Access: http.client'])
  })

  it.each(['eval', 'exec', 'open', '__import__', 'compile', 'getattr', 'setattr', 'globals', 'locals'])('call %s(…)', async (name) => {
    expect(await issues(`x = 1\n${name}('a')`)).toEqual([{line: 2, message: `Call: ${name}`}])
  })

  it('calls through builtins / __builtins__', async () => {
    expect(await messages("__builtins__.eval('1')")).toEqual(['Call: __builtins__.eval'])
    expect(await messages("import builtins\nbuiltins.exec('1')")).toEqual(['Import: builtins', 'Call: builtins.exec'])
    expect(await messages("__builtins__.open('/etc/passwd')")).toEqual(['Call: __builtins__.open'])
  })

  it('Python 2 exec statement', async () => {
    expect(await messages("exec 'import os'")).toEqual(['Call: exec'])
  })
})

describe("python policy: RAGFlow's known bypasses are closed", () => {
  it.each([
    ['random._os.system', "import random\nrandom._os.system('id')", ['Attribute Access: random._os']],
    ['tempfile._os', "import tempfile\ntempfile._os.popen('id')", ['Attribute Access: tempfile._os']],
    ['a public module attribute that is os', "import glob\nglob.os.system('id')", ['Attribute Access: glob.os']],
    ['_sys / _subprocess aliases', 'x._sys.modules\ny._subprocess.run', ['Attribute Access: x._sys', 'Attribute Access: y._subprocess']],
    ['from random import _os', 'from random import _os', ['From Import: random._os']],
    ['http.server.shutil.rmtree', "import http.server\nhttp.server.shutil.rmtree('/')", ['Attribute Access: http.server.shutil']],
    ['from http.server import shutil', 'from http.server import shutil', ['From Import: http.server.shutil']],
    ['__builtins__ subscript', "__builtins__['eval']('1')", ['Reference: __builtins__']],
    ['__builtins__ as a dict value', 'g = {"b": __builtins__}', ['Reference: __builtins__']],
    ['__import__', "__import__('os').system('id')", ['Call: __import__']],
    ['__import__ via a lambda', "f = lambda: __import__('os')", ['Call: __import__']],
    ['import importlib', "import importlib\nimportlib.import_module('os')", ['Import: importlib', 'Attribute Access: importlib.import_module']],
    ['from importlib import', 'from importlib import import_module', ['From Import: importlib']],
    ['importlib.util', 'import importlib.util', ['Import: importlib.util']],
    ['imp', 'import imp', ['Import: imp']],
    ['pathlib read', "from pathlib import Path\nPath('/etc/passwd').read_text()", ['From Import: pathlib', "Attribute Access: Path('/etc/passwd').read_text"]],
    [
      'pathlib write',
      "import pathlib\npathlib.Path('x').write_bytes(b'')",
      ['Import: pathlib', 'Attribute Access: pathlib.Path', "Attribute Access: pathlib.Path('x').write_bytes"],
    ],
    ['read_bytes on a Path from elsewhere', 'p = get_path()\np.read_bytes()', ['Attribute Access: p.read_bytes']],
    ['__subclasses__', '().__class__.__base__.__subclasses__()', ['Attribute Access: ().__class__.__base__.__subclasses__']],
    ['__globals__', 'def f(): pass\nf.__globals__', ['Attribute Access: f.__globals__']],
    ['__code__', 'def f(): pass\nf.__code__', ['Attribute Access: f.__code__']],
    ['__self__ of a builtin is the builtins module', 'print.__self__', ['Attribute Access: print.__self__']],
    [
      'frames from a traceback',
      'try:\n    1/0\nexcept Exception as e:\n    e.__traceback__.tb_frame.f_globals',
      ['Attribute Access: e.__traceback__.tb_frame', 'Attribute Access: e.__traceback__.tb_frame.f_globals'],
    ],
    ['frames from a generator', 'g = (i for i in [1])\ng.gi_frame.f_builtins', ['Attribute Access: g.gi_frame', 'Attribute Access: g.gi_frame.f_builtins']],
    ['__loader__', "__loader__.load_module('os')", ['Reference: __loader__']],
    ['vars()', 'vars()', ['Call: vars']],
    ['breakpoint()', 'breakpoint()', ['Call: breakpoint']],
    ['io.open', "import io\nio.open('/etc/passwd')", ['Attribute Access: io.open']],
    ['from io import open', 'from io import open', ['From Import: io.open']],
    ['codecs.open', "import codecs\ncodecs.open('/etc/passwd')", ['Attribute Access: codecs.open']],
    ['gc.get_objects', 'import gc\ngc.get_objects()', ['Attribute Access: gc.get_objects']],
    ['eval as a value', 'f = eval\nf("1")', ['Reference: eval']],
    ['eval through a list', "[eval][0]('1')", ['Reference: eval']],
    ['eval passed to map', "list(map(eval, ['1']))", ['Reference: eval']],
    ['eval in parentheses', "(eval)('1')", ['Reference: eval']],
    ['getattr as a default argument', 'def f(g=getattr):\n    return g', ['Reference: getattr']],
    ['eval inside an f-string', 'x = f"{eval(\'1\')}"', ['Call: eval']],
    ['NFKC: CPython reads 𝐞𝐯𝐚𝐥 as eval', "𝐞𝐯𝐚𝐥('1')", ['Call: eval']],
    ['NFKC: fullwidth ｏｓ in an import', 'import ｏｓ', ['Import: os']],
    ['a dunder name as a string', "getattr(f, '__globals__')", ['Call: getattr', 'String: __globals__']],
    ['str.format attribute access', "'{0.__init__.__globals__}'.format(x)", ['String: __globals__']],
    ['private interpreter modules', 'import _thread\nimport _posixsubprocess\nimport __main__', ['Import: _thread', 'Import: _posixsubprocess', 'Import: __main__']],
    ['code-executing stdlib modules', 'import runpy, code, pydoc, pkgutil, marshal', ['Import: runpy', 'Import: code', 'Import: pydoc', 'Import: pkgutil', 'Import: marshal']],
    // CPython reading this as a file runs `import os` and prints os.name: +AAo- is a newline in utf-7
    [
      'a coding cookie that re-reads the source (utf-7 hides code in a comment)',
      '# -*- coding: utf-7 -*-\n# harmless +AAo-import os+AAo-print(os.name)',
      ['Encoding Declaration: utf-7'],
    ],
    ['a lone CR ends a comment for CPython', '# harmless\rimport os', ['Import: os']],
    ['getattr as a dict lookup', "import random\nrandom.__dict__['_os'].system('id')", ['Attribute Access: random.__dict__', 'String: _os']],
    ['getattr as dict.get', "import logging\nlogging.__dict__.get('os')", ['Attribute Access: logging.__dict__']],
    ['a private module alias as a string', "import operator, random\noperator.attrgetter('_os')(random)", ['Attribute Path: _os', 'String: _os']],
    ['inspect (getattr_static, frames)', "import inspect\ninspect.getattr_static(x, 'y')", ['Import: inspect']],
    ['logging.config resolves factories by name', 'import logging.config\nfrom logging import config', ['Import: logging.config', 'From Import: logging.config']],
    ['unittest.mock returns originals by name', 'from unittest import mock\nimport unittest.mock', ['From Import: unittest.mock', 'Import: unittest.mock']],
    ['numpy.ctypeslib loads libraries', "import numpy as np\nnp.ctypeslib.load_library('libc', '/lib')", ['Attribute Access: np.ctypeslib']],
    ['types.CodeType', 'import types\ntypes.CodeType(0, 0)', ['Attribute Access: types.CodeType']],
  ])('%s', async (_name, code, expected) => {
    const result = await inspectCode(code, 'python')
    expect(result.safe).toBe(false)
    expect(result.issues.map((issue) => issue.message)).toEqual(expected)
  })
})

describe("python policy: RAGFlow's false positives are gone", () => {
  it.each([
    ['2 + 2', '2 + 2'],
    ['1024 * 1024', 'x = 1024 * 1024'],
    ["'a' * 10", "s = 'a' * 10"],
    ['string concatenation alone', 'name = "os." + "system"\nprint(name)'],
    ['re.compile', "import re\npattern = re.compile(r'x')"],
    ['df.rename', 'df = df.rename(columns={})'],
    ['list.remove', 'lst = [1, 2]\nlst.remove(1)'],
    ['dict.get', "d = {}\nd.get('k')"],
    ['json.loads', "import json\njson.loads('{}')"],
    ['numpy', 'import numpy as np\nnp.array([1, 2]).sum()'],
    ['pandas', "import pandas\npandas.DataFrame({'a': [1]}).to_csv('artifacts/x.csv')"],
    ['matplotlib artifacts', "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.savefig('artifacts/chart.png')"],
    ['requests', "import requests\nrequests.get('https://example.com', timeout=1)"],
    [
      'common standard library',
      'import math, random, datetime, re, json, base64, collections, itertools, functools, typing, dataclasses, decimal, statistics, hashlib, uuid, time',
    ],
    [
      'from-imports of the standard library',
      'from collections import defaultdict, Counter\nfrom typing import Any\nfrom datetime import datetime, timedelta\nfrom io import StringIO, BytesIO',
    ],
    ['__future__', 'from __future__ import annotations'],
    ['async main', 'async def main():\n    return 1'],
    ['async main with await', 'import json\n\nasync def helper():\n    return 1\n\nasync def main(**kwargs):\n    value = await helper()\n    return {"v": value}'],
    ['eval and os in comments and strings', '# eval(x) and import os here\nx = \'eval child_process os.system __import__\'\ny = """\nimport os\nos.system(\'id\')\n"""'],
    ['a docstring mentioning eval', 'def main():\n    """Never call eval() or os.system() here."""\n    return 1'],
    ['pandas/torch eval methods', "df.eval('a + b')\nmodel.eval()\npd.eval('1 + 2')"],
    ['open as an attribute or keyword', 'img = Image.open(buf)\nrow = dict(open=1, close=2)\nprice = bar.open'],
    ['ordinary dunders', 'print(type(x).__name__, x.__class__.__name__, obj.__dict__, __name__)\nsuper().__init__()'],
    ['attributes named like modules that are not distinctive', 'self.code = 200\nresp.code\nprofile.name\nself._trace = []\nconn.socket'],
    ['variables that shadow nothing dangerous', 'eval_function = 1\nopen_price = 2\ncompiled = 3\nmy_vars = 4'],
    ['user functions with RAGFlow-flagged names', 'def remove(x):\n    return x\n\ndef rename(a):\n    return a\n\nremove(1)\nrename(2)'],
    ['io.StringIO', "import io\nbuf = io.StringIO('x')"],
    [
      '__dict__ for serialisation, logging, types',
      "d = obj.__dict__\nv = obj.__dict__['name']\nimport logging\nlogging.basicConfig(level=logging.INFO)\nimport types\nns = types.SimpleNamespace(a=1)\ncol = df['os']",
    ],
    ['a utf-8 coding cookie', '# -*- coding: utf-8 -*-\nx = 1'],
    ['a cookie below the first two lines is not a cookie', 'x = 1\ny = 2\n# coding: utf-7'],
    ['relative imports', 'from . import os'],
    ['match statements', 'match cmd:\n    case {"a": value}:\n        pass'],
    [
      'lambda, comprehension, decorator',
      '@decorator\ndef f(x: int = 1, *args, **kwargs) -> dict:\n    return {k: v for k, v in kwargs.items()}\n\ng = lambda y: [i * 2 for i in range(y)]',
    ],
  ])('%s', async (_name, code) => {
    expect(await inspectCode(code, 'python')).toEqual({safe: true, issues: []})
  })
})

describe('python policy: code that does not parse', () => {
  it.each([
    ['unclosed parenthesis', 'def main(:\n    return 1'],
    ['unbalanced brace', "def main():\n    return {'a': 1}}"],
    ['missing colon', 'if x\n    y = 1'],
    ['unterminated string', "x = 'abc\ny = 2"],
    ['invalid indentation', 'def main():\nreturn 1'],
  ])('%s: not refused (Python reports the SyntaxError with its line)', async (_name, code) => {
    expect(await inspectCode(code, 'python')).toEqual({safe: true, issues: []})
  })

  it.each([
    ['import after a broken line', 'x = = 1\nimport os', [{line: 2, message: 'Import: os'}]],
    ['import inside a broken function', 'def f(\n  import subprocess\n', [{line: 2, message: 'Import: subprocess'}]],
    ['from-import after a missing colon', 'if x\n    from os import path\n', [{line: 2, message: 'From Import: os'}]],
    ['import inside an unclosed tuple', 'x = (1,\nimport socket as s', [{line: 2, message: 'Import: socket'}]],
    ['eval call after a broken class header', "class A(\n    eval('1')", [{line: 2, message: 'Call: eval'}]],
    ['attribute access in a broken loop', "for in range(3):\n    os.system('x')", [{line: 2, message: 'Attribute Access: os.system'}]],
  ])('%s: forbidden parts are still refused', async (_name, code, expected) => {
    expect(await issues(code)).toEqual(expected)
  })
})

describe('python policy: RAGFlow parity decisions', () => {
  it('bare open stays blocked (RAGFlow parity); write artifacts with library writers', async () => {
    expect(await messages("with open('artifacts/out.txt', 'w') as f:\n    f.write('x')")).toEqual(['Call: open'])
  })

  it('shadowing a dangerous builtin and then using it is refused as a reference', async () => {
    expect(await messages('def f(open=None):\n    return open')).toEqual(['Reference: open'])
  })

  it('assigning to a dangerous name alone is fine (RAGFlow refuses it)', async () => {
    expect(await inspectCode('open = 5', 'python')).toEqual({safe: true, issues: []})
  })
})
