import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {isSandboxError} from '../../src/errors.js'
import {
  formatPolicyIssues,
  inspectCode,
  MAX_POLICY_ISSUES,
  setPolicyBudget,
  UNSAFE_CODE_DETAIL,
  warmUpPolicy,
  type PolicyBudget,
  type PolicyLanguage,
  type PolicyResult,
} from '../../src/policy/index.js'

/** RAGFlow's agent/sandbox/tests/sandbox_security_tests_full.py cases, code as sent (dedented, leading newline). */
const ragflow = {
  normalPython: '\ndef main():\n    return {"data": "hello, world"}\n            ',
  pandas: "\nimport pandas as pd\n\ndef main():\n    data = {'Name': ['Alice', 'Bob', 'Charlie'],\n            'Age': [25, 30, 35]}\n    df = pd.DataFrame(data)\n            ",
  nodeHttps: `
const https = require('https');

async function main(args) {
  return new Promise((resolve, reject) => {
    const req = https.get('https://example.com/', (res) => {
      let data = '';
      res.on('data', (chunk) => { data += chunk; });
      res.on('end', () => { clearTimeout(timeout); resolve(data); });
    });
    const timeout = setTimeout(() => { req.destroy(new Error('Request timeout after 10s')); }, 10000);
    req.on('error', (err) => { clearTimeout(timeout); reject(err); });
  });
}

module.exports = { main };
`,
  nodeAxios: `
const axios = require('axios');

async function main(args) {
  try {
    const response = await axios.get('https://example.com/', { timeout: 10000 });
    console.log('Body:', response.data);
  } catch (error) {
    console.error('Error:', error.message);
  }
}

module.exports = { main };
`,
  memory: "\ndef main():\n    x = ['a' * 1024 * 1024] * 300  # 300MB\n",
}

/** The verdict without the hints (RAGFlow's line and message are what these tests compare). */
const strip = (result: PolicyResult): PolicyResult => ({safe: result.safe, issues: result.issues.map(({line, message}) => ({line, message}))})
const run = async (code: string, language: PolicyLanguage = 'python') => strip(await inspectCode(code, language))

describe('policy: RAGFlow security suite, unsafe cases #11-#16 (line numbers shifted by the leading newline)', () => {
  it('#11 dangerous import', async () => {
    const result = await run('\nimport os\n\ndef main():\n    pass\n            ')
    expect(result).toEqual({safe: false, issues: [{line: 2, message: 'Import: os'}]})
    expect(formatPolicyIssues(result.issues)).toBe('Line 2: Import: os')
  })

  it('#12 dangerous import from subprocess', async () => {
    expect(await run('\nfrom subprocess import Popen\n\ndef main():\n    pass\n            ')).toEqual({
      safe: false,
      issues: [{line: 2, message: 'From Import: subprocess'}],
    })
  })

  it('#13 dangerous call', async () => {
    expect(await run('\ndef main():\n    eval(\'os.system("echo hello")\')\n            ')).toEqual({
      safe: false,
      issues: [{line: 3, message: 'Call: eval'}],
    })
  })

  it('#14 dangerous attribute access', async () => {
    const result = await run("\nimport shutil\n\ndef main():\n    shutil.rmtree('/some/path')\n            ")
    expect(result.issues).toEqual([
      {line: 2, message: 'Import: shutil'},
      {line: 5, message: 'Attribute Access: shutil.rmtree'},
    ])
    expect(formatPolicyIssues(result.issues)).toBe('Line 2: Import: shutil\nLine 5: Attribute Access: shutil.rmtree')
  })

  it('#15 concatenation leading to eval: refused for the eval, not for the concatenation', async () => {
    const result = await run('\ndef main():\n    dangerous_string = "os." + "system"\n    eval(dangerous_string + \'("echo hello")\')\n            ')
    expect(result).toEqual({safe: false, issues: [{line: 4, message: 'Call: eval'}]})
  })

  it('#16 user-defined eval_function: the name is fine, its eval call is not', async () => {
    const result = await run('\ndef eval_function():\n    eval(\'os.system("echo hello")\')\n\ndef main():\n    eval_function()\n            ')
    expect(result).toEqual({safe: false, issues: [{line: 3, message: 'Call: eval'}]})
  })
})

describe('policy: RAGFlow suite cases that must pass the policy', () => {
  it.each([
    ['#7 plain Python', ragflow.normalPython, 'python'],
    ['#8 pandas', ragflow.pandas, 'python'],
    ['#9 Node https (the network is blocked by the sandbox, not by the policy)', ragflow.nodeHttps, 'nodejs'],
    ['#10 Node axios', ragflow.nodeAxios, 'nodejs'],
    ['#17 memory exhaustion (RAGFlow blocks it as a constant binary operation; it must run and hit the memory limit)', ragflow.memory, 'python'],
  ] as const)('%s', async (_name, code, language) => {
    expect(await inspectCode(code, language)).toEqual({safe: true, issues: []})
  })
})

describe('policy: API', () => {
  it('warmUpPolicy loads the Python parser once; later calls reuse it', async () => {
    await warmUpPolicy()
    await warmUpPolicy()
    expect((await inspectCode('import os', 'python')).safe).toBe(false)
  })

  it('exports the RAGFlow detail text', () => {
    expect(UNSAFE_CODE_DETAIL).toBe('Code is unsafe')
  })

  it('formats issues as RAGFlow stderr lines', () => {
    expect(formatPolicyIssues([])).toBe('')
    expect(
      formatPolicyIssues([
        {line: 1, message: 'Import: os'},
        {line: 12, message: 'Call: eval'},
      ]),
    ).toBe('Line 1: Import: os\nLine 12: Call: eval')
  })

  it("mode 'off' lets everything pass without parsing", async () => {
    for (const [code, language] of [
      ['import os\nos.system("id")', 'python'],
      ['def broken(:', 'python'],
      ["require('child_process').execSync('id')", 'nodejs'],
      ['eval(', 'nodejs'],
    ] as const) {
      expect(await inspectCode(code, language, 'off')).toEqual({safe: true, issues: []})
    }
  })

  it("mode defaults to 'ragflow' (on is the same)", async () => {
    expect((await inspectCode('import os', 'python')).safe).toBe(false)
    expect((await inspectCode('import os', 'python', 'on')).safe).toBe(false)
  })

  it('javascript is accepted as an alias of nodejs', async () => {
    expect(strip(await inspectCode("require('fs')", 'javascript' as PolicyLanguage))).toEqual({safe: false, issues: [{line: 1, message: 'Require: fs'}]})
  })

  it('another language is a clear error, not a silent pass', async () => {
    const error = await inspectCode('puts 1', 'ruby' as PolicyLanguage).catch((error_: unknown) => error_)
    expect(isSandboxError(error) && error.code).toBe('POLICY_UNSUPPORTED_LANGUAGE')
  })

  it('empty code is safe', async () => {
    expect(await inspectCode('', 'python')).toEqual({safe: true, issues: []})
    expect(await inspectCode('', 'nodejs')).toEqual({safe: true, issues: []})
  })

  it('issues are sorted by line, duplicates dropped', async () => {
    const result = await run('eval(1); eval(1)\nimport os\nexec("x")')
    expect(result.issues).toEqual([
      {line: 1, message: 'Call: eval'},
      {line: 2, message: 'Import: os'},
      {line: 3, message: 'Call: exec'},
    ])
  })

  it(`more than ${MAX_POLICY_ISSUES} issues are capped with a summary line`, async () => {
    const result = await run('import os\n'.repeat(250))
    expect(result.safe).toBe(false)
    expect(result.issues).toHaveLength(MAX_POLICY_ISSUES + 1)
    expect(result.issues.at(-1)).toEqual({line: MAX_POLICY_ISSUES + 1, message: `${250 - MAX_POLICY_ISSUES} more issues not shown`})
  })
})

describe('policy: line numbers are 1-based lines of the user code', () => {
  it('python, including CRLF line endings and a lone CR (a line break for CPython)', async () => {
    expect((await run('x = 1\n\n\ny = eval("2")')).issues).toEqual([{line: 4, message: 'Call: eval'}])
    expect((await run('x = 1\r\n\r\nimport os\r\n')).issues).toEqual([{line: 3, message: 'Import: os'}])
    expect((await run('# comment\rimport os')).issues).toEqual([{line: 2, message: 'Import: os'}])
  })

  it('python: multi-line expressions report the line where the construct starts', async () => {
    const code = 'result = compute(\n    1,\n    2,\n)\nvalue = (\n    shutil\n    .rmtree\n)'
    expect((await run(code)).issues).toEqual([{line: 6, message: 'Attribute Access: shutil.rmtree'}])
  })

  it('javascript, including a hashbang and template literals spanning lines', async () => {
    expect((await run('#!/usr/bin/env node\nconst a = `x\ny`\n\nrequire("fs")', 'nodejs')).issues).toEqual([{line: 5, message: 'Require: fs'}])
  })
})

describe('policy: large inputs (in the policy workers, with the budget raised: these check verdicts, not the budget)', () => {
  let previous: PolicyBudget
  beforeAll(() => {
    previous = setPolicyBudget({maxBytes: 4 * 1024 * 1024, timeMs: 110_000})
  })
  afterAll(() => {
    setPolicyBudget(previous)
  })

  const pythonChunk = 'import json\n\ndef f(x):\n    return json.dumps({"x": x * 2, "s": "a" * 10})\n\n'
  const jsChunk = "function f(x) {\n  return JSON.stringify({ x: x * 2, s: 'a'.repeat(10) })\n}\n"

  it('1 MB of Python finishes', async () => {
    const code = pythonChunk.repeat(Math.ceil(1_048_576 / pythonChunk.length)) + 'import os\n'
    const result = await run(code)
    expect(result.issues).toEqual([{line: code.split('\n').length - 1, message: 'Import: os'}])
  })

  it('1 MB of JavaScript finishes', async () => {
    const code = jsChunk.repeat(Math.ceil(1_048_576 / jsChunk.length)) + "require('fs')\n"
    const result = await run(code, 'nodejs')
    expect(result.issues).toEqual([{line: code.split('\n').length - 1, message: 'Require: fs'}])
  })

  it('1 MB of garbage and absurd nesting finish in both languages', async () => {
    const garbage = Array.from({length: 1_048_576}, (_, index) => '([{"\'`#\\\n )]}:=.,;xyz'[(index * 7919) % 23]).join('')
    const nested = '('.repeat(100_000) + '1' + ')'.repeat(100_000)
    for (const code of [garbage, nested]) {
      for (const language of ['python', 'nodejs'] as const) {
        const result = await inspectCode(code, language)
        expect(typeof result.safe).toBe('boolean')
      }
    }
  })
})
