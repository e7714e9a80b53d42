/** Run an oclif command in this process as `bin/run.js` would, capturing what it printed. */
import type {Config} from '@oclif/core'
import {captureOutput} from '@oclif/test'

export type Runnable = {run: (argv: string[], config: Config) => Promise<unknown>}

export interface CliResult {
  /** the exit code: oclif's on an error, else process.exitCode (reset after) */
  exit: number
  /** stdout parsed as JSON ({} when it is not) */
  json: any
  stdout: string
  stderr: string
}

export async function runCommand(cmd: Runnable, argv: string[], config: Config): Promise<CliResult> {
  process.exitCode = undefined
  const out = await captureOutput(() => cmd.run(argv, config))
  const exit = out.error ? Number((out.error as {oclif?: {exit?: number}}).oclif?.exit ?? process.exitCode ?? 1) : Number(process.exitCode ?? 0)
  process.exitCode = undefined
  let json: any = {}
  try {
    json = JSON.parse(out.stdout)
  } catch {}
  return {exit, json, stdout: out.stdout, stderr: out.stderr}
}
