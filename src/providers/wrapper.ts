/**
 * Code wrappers for providers that run a plain script (Aliyun's code interpreter, E2B):
 * the user's code, then a block that creates artifacts/ (as the engine's runner does), calls
 * main with the arguments, prints the structured
 * result marker (RAGFlow's `__RAGFLOW_RESULT__:` + base64 JSON) and the files the code wrote
 * to artifacts/ (our `__SANDBOX_ARTIFACTS__:` line).
 *
 * Arguments travel as DATA: base64 of their JSON, decoded at runtime. They are never spliced
 * into source as JSON text (RAGFlow's Python wrapper breaks on true/false/null that way).
 */
import {readFileSync} from 'node:fs'

import {LANGUAGES, runnableCode, RUNTIMES, type Language, type RuntimeId, type WrapperKind} from '../engine/languages.js'
import {checkArtifacts, type ErrorRecord} from '../engine/classify.js'
import {MIME_TYPES, RESULT_MARKER, type Artifact, type StructuredResult} from '../engine/result.js'
import {packagePath} from '../paths.js'

export const ARTIFACTS_MARKER = '__SANDBOX_ARTIFACTS__:'
/** the wrapper's record of the exception that ended main: base64 JSON {type, message} */
export const ERROR_MARKER = '__SANDBOX_ERROR__:'

const errorRecordSources = new Map<RuntimeId, string>()

/**
 * The runner's own "error record" function (the block between its `error record: begin/end`
 * comments), so that a remote run records exception types exactly as the engine's runner does.
 */
export function errorRecordSource(runtime: RuntimeId): string {
  let source = errorRecordSources.get(runtime)
  if (source === undefined) {
    const file = packagePath('templates', 'runners', RUNTIMES[runtime].runner.file)
    const text = readFileSync(file, 'utf8')
    const match = /^.*--- error record: begin.*\n([\s\S]*?)^.*--- error record: end ---.*$/m.exec(text)
    if (!match) throw new Error(`${file} lacks its error record block`)
    source = match[1]
    errorRecordSources.set(runtime, source)
  }
  return source
}

/** The same limits the engine applies, plus a total cap because everything travels in stdout. */
export const REMOTE_ARTIFACT_LIMITS = {maxFiles: 10, maxFileBytes: 10 * 1024 * 1024, maxTotalBytes: 20 * 1024 * 1024}

const ALLOWED = Object.keys(MIME_TYPES)

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64')

const WRAPPERS: Record<WrapperKind, (code: string, argsB64: string, collect: boolean) => string> = {
  python: wrapPython,
  javascript: wrapJavaScript,
}

/**
 * The script to run remotely for `code` (which defines main) with `args`: the code that
 * actually runs (TypeScript: its JavaScript) in the wrapper its language's descriptor names.
 * Run it with the descriptor's `runtime.script` interpreter and file name.
 */
export function wrapCode(language: Language, code: string, args: Record<string, unknown> = {}, options: {collectArtifacts?: boolean} = {}): string {
  const argsB64 = b64(JSON.stringify(args ?? {}))
  // the local provider reads artifacts/ from the host itself: the script then only creates it
  const collect = options.collectArtifacts !== false
  return WRAPPERS[LANGUAGES[language].wrapper](runnableCode(language, code), argsB64, collect)
}

function wrapPython(code: string, argsB64: string, collect: boolean): string {
  const allowed = JSON.stringify(ALLOWED)
  const {maxFiles, maxFileBytes, maxTotalBytes} = REMOTE_ARTIFACT_LIMITS
  return `${code}


${errorRecordSource('python')}

if __name__ == "__main__":
    def __sandbox_run_main():
        import base64 as _b64, json as _json, os as _os, sys as _sys
        _args = _json.loads(_b64.b64decode("${argsB64}").decode("utf-8"))
        try:
            _os.makedirs("artifacts", exist_ok=True)
        except OSError:
            pass
        _fn = globals().get("main")
        if not callable(_fn):
            raise NameError("main() must be defined.")
        _value = _fn(**_args)
        if hasattr(_value, "__await__"):
            import asyncio as _asyncio

            async def _wait(v):
                return await v

            _value = _asyncio.run(_wait(_value))
        try:
            _text = _json.dumps({"present": True, "value": _value, "type": "json"}, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as _exc:
            raise TypeError("main() returned a non-JSON-serializable value: %s" % _exc) from None
        _found, _total = [], 0
        try:
            _names = sorted(_os.listdir("artifacts")) if ${collect ? 'True' : 'False'} and _os.path.isdir("artifacts") else []
        except OSError:
            _names = []
        for _name in _names:
            _path = _os.path.join("artifacts", _name)
            _ext = _name.rsplit(".", 1)[-1].lower() if "." in _name else ""
            if _name.startswith(".") or _ext not in ${allowed} or _os.path.islink(_path) or not _os.path.isfile(_path):
                continue
            _size = _os.path.getsize(_path)
            if _size == 0 or _size > ${maxFileBytes} or _total + _size > ${maxTotalBytes} or len(_found) >= ${maxFiles}:
                continue
            with open(_path, "rb") as _fh:
                _data = _fh.read()
            _total += len(_data)
            _found.append({"name": _name, "size": len(_data), "content_b64": _b64.b64encode(_data).decode("ascii")})
        _sys.stdout.flush()
        if _found:
            print("${ARTIFACTS_MARKER}" + _b64.b64encode(_json.dumps(_found).encode("utf-8")).decode("ascii"), flush=True)
        print("${RESULT_MARKER}" + _b64.b64encode(_text.encode("utf-8")).decode("ascii"), flush=True)

    def __sandbox_record(_type, _message):
        import base64 as _b64, json as _json
        try:
            _line = _json.dumps({"type": _type, "message": _message[:4000]}, ensure_ascii=False)
            print("${ERROR_MARKER}" + _b64.b64encode(_line.encode("utf-8")).decode("ascii"), flush=True)
        except BaseException:
            pass

    try:
        __sandbox_run_main()
    except SystemExit as _exc:
        if _exc.code is not None and not (isinstance(_exc.code, int) and _exc.code & 0xFF == 0):
            __sandbox_record("SystemExit", "SystemExit(%r)" % (_exc.code,))
        raise
    except BaseException as _exc:
        try:
            _type = _sandbox_error_type(_exc)
        except BaseException:
            _type = type(_exc).__name__
        try:
            _message = "%s: %s" % (type(_exc).__name__, _exc)
        except BaseException:
            _message = type(_exc).__name__
        __sandbox_record(_type, _message)
        raise
`
}

function wrapJavaScript(code: string, argsB64: string, collect: boolean): string {
  const allowed = JSON.stringify(ALLOWED)
  const {maxFiles, maxFileBytes, maxTotalBytes} = REMOTE_ARTIFACT_LIMITS
  // The user's code runs in a function with its own `module`/`exports`, so both a top-level
  // `function main` and `module.exports = {main}` work in a plain script and in a notebook
  // kernel. The prefix shares the first line with the user's code: line numbers stay the same.
  return `const __sandbox_main = (function () { const module = {exports: {}}; let exports = module.exports; ${code}
;return typeof main === 'function' ? main : module.exports && typeof module.exports.main === 'function' ? module.exports.main : typeof module.exports === 'function' ? module.exports : undefined
})();
${errorRecordSource('nodejs')}
(async () => {
  const decode = (s) => typeof Buffer !== 'undefined' ? Buffer.from(s, 'base64').toString('utf8') : new TextDecoder().decode(Uint8Array.from(atob(s), (c) => c.charCodeAt(0)))
  const encode = (s) => {
    if (typeof Buffer !== 'undefined') return Buffer.from(s, 'utf8').toString('base64')
    const bytes = new TextEncoder().encode(s)
    let bin = ''
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000))
    return btoa(bin)
  }
  try {
  const args = JSON.parse(decode('${argsB64}'))
  if (typeof require === 'function') {
    try {
      require('fs').mkdirSync('artifacts', {recursive: true})
    } catch {}
  }
  if (typeof __sandbox_main !== 'function') throw new Error('main() must be defined or exported.')
  let value = await Promise.resolve(__sandbox_main(args))
  // a main that returns nothing succeeds with null, as under the engine's runner
  if (value === undefined) value = null
  const valueJson = JSON.stringify(value)
  if (valueJson === undefined) throw new Error('main() returned a non-JSON-serializable value.')
  const found = []
  if (typeof require === 'function') {
    try {
      const fs = require('fs')
      const path = require('path')
      let total = 0
      const names = ${collect} && fs.existsSync('artifacts') ? fs.readdirSync('artifacts').sort() : []
      for (const name of names) {
        const full = path.join('artifacts', name)
        const ext = name.includes('.') ? name.split('.').pop().toLowerCase() : ''
        const st = fs.lstatSync(full)
        if (name.startsWith('.') || !${allowed}.includes(ext) || st.isSymbolicLink() || !st.isFile()) continue
        if (st.size === 0 || st.size > ${maxFileBytes} || total + st.size > ${maxTotalBytes} || found.length >= ${maxFiles}) continue
        const data = fs.readFileSync(full)
        total += data.length
        found.push({name, size: data.length, content_b64: data.toString('base64')})
      }
    } catch (error) {
      console.error('artifacts not collected: ' + (error && error.message ? error.message : error))
    }
  }
  if (found.length) console.log('${ARTIFACTS_MARKER}' + encode(JSON.stringify(found)))
  console.log('${RESULT_MARKER}' + encode('{"present":true,"value":' + valueJson + ',"type":"json"}'))
  } catch (error) {
    // the record of what ended main, then the error itself (stderr, exit status 1)
    try {
      let message
      try { message = String(error && typeof error === 'object' && 'message' in error ? error.message : error).slice(0, 4000) } catch { message = 'unprintable error' }
      console.log('${ERROR_MARKER}' + encode(JSON.stringify({type: sandboxErrorType(error), message})))
    } catch {}
    throw error
  }
})()
`
}

export interface ExtractedOutput {
  stdout: string
  result: StructuredResult | undefined
  artifacts: Artifact[]
  /** notes about reported artifacts that were dropped (bad name, type or size) */
  rejected: string[]
  /** the wrapper's record of the exception that ended main, when it printed one */
  error?: ErrorRecord
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/

function decodeJson(payload: string): unknown {
  if (!payload || !B64.test(payload) || payload.length % 4 !== 0) return undefined
  try {
    return JSON.parse(Buffer.from(payload, 'base64').toString('utf8'))
  } catch {
    return undefined
  }
}

/**
 * Remove the wrapper's marker lines from stdout and decode them (the last valid one of each
 * kind wins). A marker may follow output that did not end with a newline ("partial__RAGFLOW…"):
 * the text before it stays in stdout, as the engine's runner would leave it.
 */
export function extractWrapperOutput(stdout: string): ExtractedOutput {
  let result: StructuredResult | undefined
  let artifacts: Artifact[] = []
  let rejected: string[] = []
  let error: ErrorRecord | undefined
  if (!stdout.includes(RESULT_MARKER) && !stdout.includes(ARTIFACTS_MARKER) && !stdout.includes(ERROR_MARKER)) return {stdout, result, artifacts, rejected}
  const pieces = stdout.split(/(?<=\n)/)
  const kept: string[] = []
  for (const piece of pieces) {
    const line = piece.endsWith('\n') ? piece.slice(0, -1) : piece
    const marker = [RESULT_MARKER, ARTIFACTS_MARKER, ERROR_MARKER]
      .map((m) => ({m, at: line.lastIndexOf(m)}))
      .filter((x) => x.at >= 0)
      .sort((a, b) => b.at - a.at)[0]
    if (marker) {
      const decoded = decodeJson(line.slice(marker.at + marker.m.length).trim())
      if (decoded !== undefined) {
        if (marker.m === RESULT_MARKER && decoded !== null && typeof decoded === 'object' && !Array.isArray(decoded)) {
          const r = decoded as Partial<StructuredResult>
          result = {present: r.present !== false, value: r.value ?? null, type: 'json'}
        } else if (marker.m === ARTIFACTS_MARKER && Array.isArray(decoded)) {
          // checked like the engine checks its runner's report: plain names, allowed types, sizes
          const checked = checkArtifacts(decoded)
          artifacts = checked.artifacts
          rejected = checked.rejected
        } else if (marker.m === ERROR_MARKER && decoded !== null && typeof decoded === 'object' && !Array.isArray(decoded)) {
          const e = decoded as {type?: unknown; message?: unknown}
          error = {type: typeof e.type === 'string' ? e.type.slice(0, 200) : null, message: typeof e.message === 'string' ? e.message.slice(0, 4000) : null}
        }
        // text before the marker on the same line is the user's (no newline of its own)
        if (marker.at > 0) kept.push(line.slice(0, marker.at))
        continue
      }
    }
    kept.push(piece)
  }
  return {stdout: kept.join(''), result, artifacts, rejected, ...(error ? {error} : {})}
}
