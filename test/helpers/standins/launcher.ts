/**
 * The stand-ins' "remote machine": run a SCRIPT (what a SaaS sandbox receives — code that
 * calls main itself and prints the result marker) for real, in our own gVisor engine.
 *
 * The engine runs main-defining code, so the script is handed to a tiny launcher main that
 * writes it to a file and runs it with the container's interpreter as a child process
 * (`python3 script.py` / `node script.js`), returning its stdout, stderr and exit code.
 * The launcher uses the policy 'off' (a SaaS sandbox has no static policy of ours; the
 * provider under test already applied it to the user's code).
 */
import {loadConfig, type SandboxConfig} from '../../../src/config.js'
import type {Language} from '../../../src/engine/languages.js'
import {oneShotExecutor} from '../../../src/executors/local.js'
import {runOnExecutor} from '../../../src/providers/execute.js'

export interface ScriptOutcome {
  stdout: string
  stderr: string
  exitCode: number
  timedOut: boolean
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64')

function pythonLauncher(script: string, timeoutSeconds: number): string {
  return `import base64, os, subprocess, sys


def main():
    work = "/workspace/remote"
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "script.py")
    with open(path, "wb") as f:
        f.write(base64.b64decode("${b64(script)}"))
    try:
        p = subprocess.run([sys.executable, path], cwd=work, capture_output=True, timeout=${timeoutSeconds})
        return {"stdout": p.stdout.decode("utf-8", "replace"), "stderr": p.stderr.decode("utf-8", "replace"), "exit_code": p.returncode, "timed_out": False}
    except subprocess.TimeoutExpired as e:
        out = e.stdout or b""
        err = e.stderr or b""
        return {"stdout": out.decode("utf-8", "replace"), "stderr": err.decode("utf-8", "replace"), "exit_code": -1, "timed_out": True}
`
}

function nodeLauncher(script: string, timeoutSeconds: number): string {
  return `const {spawnSync} = require('child_process')
const fs = require('fs')
const path = require('path')

module.exports.main = function main() {
  const work = '/workspace/remote'
  fs.mkdirSync(work, {recursive: true})
  const file = path.join(work, 'script.js')
  fs.writeFileSync(file, Buffer.from('${b64(script)}', 'base64'))
  const r = spawnSync(process.execPath, [file], {cwd: work, timeout: ${timeoutSeconds * 1000}, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL'})
  const timedOut = !!(r.error && r.error.code === 'ETIMEDOUT')
  return {
    stdout: r.stdout ? r.stdout.toString('utf8') : '',
    stderr: r.stderr ? r.stderr.toString('utf8') : '',
    exit_code: timedOut ? -1 : r.status === null ? 128 + 9 : r.status,
    timed_out: timedOut,
  }
}
`
}

let config: SandboxConfig | undefined

/** Run `script` as a program in a fresh gVisor container; infrastructure failures throw, and so does an abort through `signal` (the container is killed). */
export async function runScript(language: Language, script: string, timeoutSeconds: number, signal?: AbortSignal): Promise<ScriptOutcome> {
  config ??= loadConfig({env: process.env})
  const code = language === 'python' ? pythonLauncher(script, timeoutSeconds) : nodeLauncher(script, timeoutSeconds)
  const run = await runOnExecutor(oneShotExecutor({config}), 'docker', {language, code, arguments: {}, timeoutSeconds: timeoutSeconds + 15, policy: 'off', signal})
  try {
    const {result} = run
    const value = result.result?.value as {stdout: string; stderr: string; exit_code: number; timed_out: boolean} | undefined
    if (result.status !== 'success' || !value) {
      throw new Error(`stand-in launcher failed: ${result.status} ${result.exit_code} ${result.detail ?? ''}\n${result.stderr}`)
    }
    return {stdout: value.stdout, stderr: value.stderr, exitCode: value.exit_code, timedOut: value.timed_out}
  } finally {
    await run.dispose()
  }
}
