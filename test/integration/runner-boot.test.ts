/**
 * The Python runner's boot is cheap (issue 15 item 2: every run boots a runner, under gVisor an
 * import of `re` alone costs ~30 ms of CPU) without changing what user code sees: the modules
 * a trivial job finds already imported, and everything `site`, `linecache` and `json` gave it
 * before (exit(), the site directories, source lines in tracebacks, warnings and inspect, the
 * same JSON errors). bench/runner.ts measures the cost itself.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import {Engine} from '../../src/engine/engine.js'

const config = loadConfig({env: {...process.env, SANDBOX_TIMEOUT: '30s'}})
let engine: Engine

beforeAll(async () => {
  engine = new Engine({config, languages: ['python'], poolSize: 2, preloadPoolSize: 0})
  await engine.start()
})

afterAll(async () => {
  await engine?.stop()
})

const py = (code: string) => engine.run({language: 'python', code})

describe('python runner boot', () => {
  it('a trivial job finds none of the costly modules imported: the runner did not import them before it was ready, nor for the job', async () => {
    const r = await py(
      'import sys\n\ndef main():\n    return [m for m in ("re", "json", "base64", "linecache", "tokenize", "traceback", "shutil", "importlib.util", "types") if m in sys.modules]\n',
    )
    expect(r.status, r.stderr).toBe('success')
    expect(r.result?.value).toEqual([])
  })

  it('what site gives stays: exit() and quit(), the site directories (numpy imports), sitecustomize ran', async () => {
    const r = await py(
      'import builtins, sys\n\ndef main():\n    import numpy\n    return {"exit": callable(exit) and callable(quit), "site": any(p.endswith(("dist-packages", "site-packages")) for p in sys.path), "help": hasattr(builtins, "help") and hasattr(builtins, "copyright"), "sitecustomize": "sitecustomize" in sys.modules}\n',
    )
    expect(r.status, r.stderr).toBe('success')
    expect(r.result?.value).toEqual({exit: true, site: true, help: true, sitecustomize: true})
    const ended = await py('def main():\n    exit(3)\n')
    expect(ended).toMatchObject({status: 'program_error', exit_code: 3})
  })

  it('source lines appear in tracebacks, warnings and inspect, as when linecache was filled up front', async () => {
    const r = await py(
      'import warnings, inspect\n\ndef helper():\n    return inspect.getsource(helper).splitlines()[0]\n\ndef main():\n    warnings.warn("careful here")\n    print(helper())\n    return 1 / 0\n',
    )
    expect(r.status).toBe('program_error')
    expect(r.stderr).toContain('UserWarning: careful here\n  warnings.warn("careful here")')
    expect(r.stdout).toBe('def helper():\n')
    expect(r.stderr).toMatch(/File "\/workspace\/main.py", line 9, in main\n\s+return 1 \/ 0\n/)
    expect(r.stderr).toContain('ZeroDivisionError: division by zero')
  })

  it('results and their errors are json’s: unicode, lone surrogates, big integers, NaN and sets refused with json’s words', async () => {
    const ok = await py('def main():\n    return {"s": "é\\u2028\\ud800", "n": 2 ** 70, "f": 1.5e300, "t": (1, [None, True]), 3: "key"}\n')
    expect(ok.status, ok.stderr).toBe('success')
    expect(ok.result?.value).toEqual({s: 'é\u2028\ud800', n: 2 ** 70, f: 1.5e300, t: [1, [null, true]], 3: 'key'})
    const nan = await py('def main():\n    return float("nan")\n')
    expect(nan.status).toBe('program_error')
    expect(nan.stderr).toContain('main() returned a value that is not JSON-serializable: Out of range float values are not JSON compliant')
    const set = await py('def main():\n    return {1, 2}\n')
    expect(set.stderr).toContain('Object of type set is not JSON serializable')
    const circular = await py('def main():\n    a = []\n    a.append(a)\n    return a\n')
    expect(circular.stderr).toContain('Circular reference detected')
  })
})
