/**
 * Outcomes decided from facts, under real gVisor (issue 10 item 1): the runners record the
 * exception type, the engine decides from that record, the exit status, the OOM flag and
 * the limits it enforced. What a program prints on stderr never makes a completed run a
 * failure, and words in an error message never make a program error an access violation.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import {Engine} from '../../src/engine/engine.js'
import {EXIT, type RunResult} from '../../src/engine/result.js'
import {closedPort} from '../helpers/ports.js'

const config = loadConfig({env: {...process.env, SANDBOX_TIMEOUT: '20s'}, envFile: '/dev/null'})
let engine: Engine
let port = 0

beforeAll(async () => {
  port = await closedPort()
  engine = new Engine({config, poolSize: 2})
  await engine.start()
}, 120_000)

afterAll(async () => {
  await engine?.stop()
})

const py = (code: string) => engine.run({language: 'python', code})
const js = (code: string) => engine.run({language: 'nodejs', code})

const NETWORK = {status: 'unauthorized_access', unauthorized_access_type: 'network_access', detail: 'Network access is not allowed in the sandbox'} as const
const FILE = {status: 'unauthorized_access', unauthorized_access_type: 'file_access'} as const

describe('Python: the recorded exception type decides', () => {
  it('sys.exit(0), sys.exit(), raise SystemExit(0) are success with result null (RAGFlow answers success); sys.exit(2) is exit 2', async () => {
    for (const call of ['sys.exit(0)', 'sys.exit()', 'raise SystemExit(0)', 'sys.exit(False)']) {
      const r = await py(`import sys\ndef main():\n    print("before")\n    ${call}\n    return "never"\n`)
      expect(r, call).toMatchObject({status: 'success', exit_code: 0, stdout: 'before\n', stderr: '', result: null})
    }
    expect(await py('import sys\ndef main():\n    sys.exit(2)\n')).toMatchObject({status: 'program_error', exit_code: 2, runtime_error_type: 'nonzero_exit'})
    const msg = await py('import sys\ndef main():\n    sys.exit("giving up")\n')
    expect(msg).toMatchObject({status: 'program_error', exit_code: 1})
    expect(msg.stderr).toContain('giving up')
  })

  it('a ValueError that mentions "Permission denied" is a program_error; a real PermissionError is file_access', async () => {
    const words = await py('def main():\n    raise ValueError("Permission denied for user bob")\n')
    expect(words).toMatchObject({status: 'program_error', unauthorized_access_type: null, detail: 'ValueError: Permission denied for user bob'})
    expect(await py('def main():\n    return open("/etc/shadow").read()\n')).toMatchObject(FILE)
    expect(await py('def main():\n    open("/usr/lib/x.txt", "w").write("x")\n')).toMatchObject(FILE)
  })

  it('a refused requests.get to 127.0.0.1 (wrapped by requests) is network_access, as the docs promise', async () => {
    const r = await py(`import requests\ndef main():\n    return requests.get("http://127.0.0.1:${port}/", timeout=5).text\n`)
    expect(r).toMatchObject(NETWORK)
    expect(r.stderr).toContain('requests.exceptions.ConnectionError')
    expect(await py(`import socket\ndef main():\n    socket.getaddrinfo("example.com", 443)\n`)).toMatchObject(NETWORK)
  })

  it('a run that completed is success whatever it wrote to stderr', async () => {
    const r = await py(
      'import sys\ndef main():\n    print("PermissionError: [Errno 13] Permission denied", file=sys.stderr)\n    print("MemoryError ECONNREFUSED", file=sys.stderr)\n    return 1\n',
    )
    expect(r).toMatchObject({status: 'success', exit_code: 0, result: {value: 1}})
  })

  it('a caught-and-wrapped OSError keeps its root type (raise ... from); MemoryError is the memory limit', async () => {
    const r = await py('def main():\n    try:\n        open("/etc/shadow")\n    except OSError as e:\n        raise RuntimeError("cannot read the config") from e\n')
    expect(r).toMatchObject(FILE)
    expect(await py('def main():\n    raise MemoryError()\n')).toMatchObject({status: 'resource_limit_exceeded', resource_limit_type: 'memory', exit_code: 1})
  })

  it('SIGKILL without the OOM flag is a signal, not memory', async () => {
    const r = await py('import os\ndef main():\n    os.kill(os.getpid(), 9)\n')
    expect(r).toMatchObject({status: 'runtime_error', runtime_error_type: 'signalled', exit_code: 137, resource_limit_type: null})
  })
})

describe('Node.js: the recorded error name and code decide', () => {
  it("RAGFlow case 10's shape: main catches its network error, console.errors it, returns nothing → success, result null", async () => {
    const r = await js(
      `const axios = require('axios')\nasync function main() {\n  try {\n    await axios.get('http://127.0.0.1:${port}/', {timeout: 5000})\n  } catch (error) {\n    console.error('Error:', error.message)\n  }\n}\nmodule.exports = {main}\n`,
    )
    expect(r).toMatchObject({status: 'success', exit_code: 0, result: {present: true, value: null, type: 'json'}})
    expect(r.stderr).toContain('ECONNREFUSED')
  })

  it('an uncaught refused connection (axios, fetch, net) is network_access; EACCES is file_access; words alone are a program_error', async () => {
    expect(await js(`const axios = require('axios')\nasync function main() {\n  return (await axios.get('http://127.0.0.1:${port}/')).status\n}\n`)).toMatchObject(NETWORK)
    expect(await js(`async function main() {\n  return (await fetch('http://127.0.0.1:${port}/')).status\n}\n`)).toMatchObject(NETWORK)
    // thrown from a callback, outside main's promise
    expect(await js(`const net = require('net')\nfunction main() {\n  return new Promise(() => net.connect(${port}, '127.0.0.1'))\n}\n`)).toMatchObject(NETWORK)
    expect(await js("const fs = require('fs')\nfunction main() {\n  return fs.readFileSync('/etc/shadow', 'utf8')\n}\n")).toMatchObject(FILE)
    expect(await js("function main() {\n  throw new Error('EACCES: permission denied (only words)')\n}\n")).toMatchObject({status: 'program_error', unauthorized_access_type: null})
  })

  it('process.exitCode = 0 and process.exit(0) are success; process.exit(3) and process.exitCode = 4 are that exit status', async () => {
    expect(await js('function main() {\n  process.exitCode = 0\n  return "ok"\n}\n')).toMatchObject({status: 'success', exit_code: 0, result: {value: 'ok'}})
    const exited = await js("const fs = require('fs')\nfunction main() {\n  fs.writeFileSync('artifacts/out.csv', 'a\\n1\\n')\n  console.log('bye')\n  process.exit(0)\n}\n")
    expect(exited).toMatchObject({status: 'success', exit_code: 0, stdout: 'bye\n', result: null})
    expect(exited.artifacts.map((a) => a.name)).toEqual(['out.csv'])
    expect(await js('function main() {\n  process.exit(3)\n}\n')).toMatchObject({status: 'program_error', exit_code: 3})
    expect(await js('function main() {\n  process.exitCode = 4\n  return 1\n}\n')).toMatchObject({status: 'program_error', exit_code: 4, result: null})
  })

  it('flooding stderr or stdout in a loop hits the output limit (-25), not memory', async () => {
    for (const write of ["console.error('x'.repeat(1000))", "process.stdout.write('y'.repeat(1000))"]) {
      const r: RunResult = await js(`function main() {\n  for (;;) ${write}\n}\n`)
      expect(r, write).toMatchObject({status: 'resource_limit_exceeded', exit_code: EXIT.OUTPUT_LIMIT, resource_limit_type: 'output'})
    }
  })
})

describe('one-shot runs (the container removes itself, so the inspect flag is gone)', () => {
  const oneShot = async (code: string) => {
    const [{oneShotExecutor}, {runOnExecutor}] = await Promise.all([import('../../src/executors/local.js'), import('../../src/providers/execute.js')])
    const run = await runOnExecutor(oneShotExecutor({config}), 'docker', {language: 'python', code, timeoutSeconds: config.timeoutSeconds, policy: 'off'})
    await run.dispose()
    return run.result
  }

  it("the program's own SIGKILL is a signal, and a memory bomb is -137: told apart by the daemon's oom event", async () => {
    expect(await oneShot('import os, signal\ndef main():\n    os.kill(os.getpid(), signal.SIGKILL)\n')).toMatchObject({
      status: 'runtime_error',
      runtime_error_type: 'signalled',
      exit_code: 137,
    })
    expect(await oneShot('def main():\n    x = []\n    while True:\n        x.append(bytearray(16 * 1024 * 1024))\n')).toMatchObject({
      status: 'resource_limit_exceeded',
      resource_limit_type: 'memory',
      exit_code: EXIT.OUT_OF_MEMORY,
    })
  })
})
