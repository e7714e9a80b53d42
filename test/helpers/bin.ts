/** The real CLI (bin/dev.js) in a child process: its exit code and everything it printed. */
import {spawn} from 'node:child_process'
import {join} from 'node:path'

const ROOT = join(import.meta.dirname, '..', '..')

export interface BinResult {
  code: number | null
  stdout: string
  stderr: string
}

/** `sandbox ARGS` in `cwd`, with the environment plus `env` and colours off */
export function runBin(args: string[], cwd: string, env: Record<string, string> = {}): Promise<BinResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'dev.js'), ...args], {
      cwd,
      env: {...process.env, FORCE_COLOR: '0', ...env},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b) => (stdout += b))
    child.stderr.on('data', (b) => (stderr += b))
    child.on('error', reject)
    child.on('close', (code) => resolve({code, stdout, stderr}))
  })
}
