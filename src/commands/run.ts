import {existsSync, mkdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'

import {Args, Flags} from '@oclif/core'

import {buildArguments} from '../arguments.js'
import {BaseCommand} from '../base-command.js'
import {loadConfig, parseDuration} from '../config.js'
import {isSafeArtifactName} from '../engine/classify.js'
import {languageForFile, requireLanguage} from '../engine/languages.js'
import type {RunResult} from '../engine/result.js'
import {configError, ExitCode, SandboxError} from '../errors.js'
import {POLICY_FLAG_DESCRIPTION, POLICY_MODES} from '../policy/types.js'
import {runSelected} from '../providers/execute.js'

const MAX_CODE_BYTES = 1024 * 1024

export default class Run extends BaseCommand<typeof Run> {
  static args = {
    file: Args.string({description: 'file that defines main (Python: main(**args), Node.js: main(args))', required: true}),
  }

  static description = `Run a file through the sandbox and show stdout, stderr and main's return value.

The file must define main. Python calls main(**arguments); Node.js calls await main(arguments).
Each run gets a fresh gVisor container with no network, a read-only root, and time and memory limits.
Files the code writes to artifacts/ (png jpg svg pdf csv json html) come back as artifacts.
The code runs through a provider: --provider, else the active one set with \`sandbox configure\`,
else docker (this host's engine). Providers: docker, self_managed, aliyun_codeinterpreter, e2b, local.
local runs the code on this host WITHOUT a sandbox and needs --allow-unsandboxed or SANDBOX_ALLOW_LOCAL_PROVIDER=on.
Exit code: 0 success, 1 the code failed or hit a limit, 3 sandbox not ready, 4 bad provider settings,
5 refused by the code policy, 6 the remote provider failed.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> examples/hello.py --arg name=World', description: 'run a Python file with one argument'},
    {command: '<%= config.bin %> <%= command.id %> examples/hello.js --args-json \'{"name": "World"}\' --json', description: 'Node.js, arguments as JSON, RAGFlow-shaped JSON result'},
    {command: '<%= config.bin %> <%= command.id %> examples/chart.py --save-artifacts out/', description: 'save the chart the code writes to artifacts/'},
    {command: '<%= config.bin %> <%= command.id %> slow.py --timeout 1m30s --memory 512m', description: 'raise the limits for one run'},
    {command: '<%= config.bin %> <%= command.id %> examples/hello.py --provider self_managed', description: 'run through the executor manager configured with `sandbox configure self-managed`'},
  ]

  static flags = {
    arg: Flags.string({char: 'a', description: 'argument for main as name=value (JSON when it parses: count=3, flag=true); repeatable', multiple: true}),
    'args-json': Flags.string({description: 'all arguments as a JSON object, or @file.json'}),
    language: Flags.string({char: 'l', description: 'python or nodejs (alias javascript); default from the file extension'}),
    timeout: Flags.string({char: 't', description: 'wall-clock limit: 10, 10s, 2m, 1m30s (default SANDBOX_TIMEOUT or 10s)'}),
    memory: Flags.string({char: 'm', description: 'memory limit, e.g. 256m, 1g (default SANDBOX_MAX_MEMORY or 256m)'}),
    'save-artifacts': Flags.string({description: 'directory to write the returned artifacts into'}),
    policy: Flags.string({description: POLICY_FLAG_DESCRIPTION, options: [...POLICY_MODES]}),
    'allow-runc': Flags.boolean({description: 'run without gVisor when runsc is missing (WEAKER isolation, prints a warning)', default: false}),
    'allow-unsandboxed': Flags.boolean({
      description: 'allow the local provider, which runs the code on this host with NO sandbox (same as SANDBOX_ALLOW_LOCAL_PROVIDER=on)',
      default: false,
    }),
    'env-file': Flags.string({description: 'read settings from this .env file (default ./.env when present)'}),
    provider: Flags.string({
      char: 'p',
      description: 'docker, self_managed, aliyun_codeinterpreter, e2b or local (aliases: self-managed, aliyun); default: the active provider from `sandbox configure`, else docker',
    }),
    db: Flags.string({description: 'settings database URL to read the provider from (sqlite:///path.db, mysql://…, postgres://…); default SANDBOX_DB_URL or the local SQLite file'}),
  }

  async run(): Promise<RunResult> {
    const {file} = this.args
    const flags = this.flags
    const path = resolve(file)
    if (!existsSync(path) || !statSync(path).isFile()) {
      throw new SandboxError(`File not found: ${file}`, {code: 'FILE_NOT_FOUND', exit: ExitCode.USAGE})
    }
    const language = flags.language ? requireLanguage(flags.language) : languageForFile(file)
    if (statSync(path).size > MAX_CODE_BYTES) throw configError(`${file} is larger than ${MAX_CODE_BYTES} bytes`, 'CODE_TOO_LARGE')
    const code = readFileSync(path, 'utf8')
    const args = buildArguments(flags.arg, flags['args-json'])
    const config = loadConfig({
      envFile: flags['env-file'],
      overrides: {
        timeoutSeconds: flags.timeout === undefined ? undefined : parseDuration(flags.timeout, '--timeout'),
        memory: flags.memory,
        allowRunc: flags['allow-runc'] || undefined,
        codePolicy: flags.policy,
      },
    })

    const run = await runSelected({
      provider: flags.provider,
      db: flags.db,
      sandboxConfig: config,
      language,
      code,
      arguments: args,
      timeoutSeconds: flags.timeout === undefined ? undefined : config.timeoutSeconds,
      explicitMemory: flags.memory !== undefined,
      allowUnsandboxed: flags['allow-unsandboxed'],
      onEvent: (e) => {
        if (e.level === 'warn' || e.level === 'error') process.stderr.write(`${e.message}\n`)
        else if (flags.verbose) process.stderr.write(`${e.message}\n`)
      },
    })
    const {result} = run
    try {
      if (flags['save-artifacts'] && result.artifacts.length) {
        const dir = resolve(flags['save-artifacts'])
        mkdirSync(dir, {recursive: true})
        for (const a of result.artifacts) {
          const target = resolve(dir, a.name)
          // names are checked by the engine already; never write outside DIR whatever a provider returns
          if (!isSafeArtifactName(a.name) || dirname(target) !== dir) throw new SandboxError(`Refusing to save artifact ${JSON.stringify(a.name)}: not a plain file name`, {code: 'UNSAFE_ARTIFACT_NAME', exit: ExitCode.CODE_FAILED})
          writeFileSync(target, Buffer.from(a.content_b64, 'base64'), {flag: 'w', mode: 0o644})
        }
      }
      if (!this.jsonEnabled()) this.show(result, run.runtime, flags['save-artifacts'])
    } finally {
      await run.dispose()
    }
    process.exitCode = exitCodeFor(result, run.provider)
    return result
  }

  /**
   * --json output. oclif's logJson colours the text with a regular-expression tokenizer that
   * overflows the stack on a long string (a 10 MB result: "Maximum call stack size exceeded",
   * no JSON at all); a result is data, so it is written as plain JSON, the same text without
   * colour.
   */
  logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  }

  private show(result: RunResult, runtime: string | null, saveDir?: string): void {
    if (result.stdout) process.stdout.write(result.stdout.endsWith('\n') ? result.stdout : `${result.stdout}\n`)
    if (result.stderr) process.stderr.write(result.stderr.endsWith('\n') ? result.stderr : `${result.stderr}\n`)
    if (result.result?.present) this.log(`Result: ${JSON.stringify(result.result.value, null, 2)}`)
    for (const a of result.artifacts) {
      const where = saveDir ? ` → ${join(saveDir, a.name)}` : ''
      this.log(`Artifact: ${a.name} (${a.mime_type}, ${formatBytes(a.size)})${where}`)
    }
    if (result.artifacts.length && !saveDir) this.log('  (use --save-artifacts DIR to save them)')
    const parts = [
      result.status === 'success' ? '✓ success' : `✗ ${result.status}`,
      `exit ${result.exit_code}`,
      result.time_used_ms === null ? undefined : `${result.time_used_ms.toFixed(1)} ms`,
      result.memory_used_kb === null ? undefined : `${(result.memory_used_kb / 1024).toFixed(1)} MB`,
      result.status === 'program_runner_error' ? undefined : runtime ?? undefined,
      result.detail && result.status !== 'success' ? result.detail : undefined,
    ].filter(Boolean)
    this.logToStderr(parts.join(' · '))
  }
}

/** 0 success, 1 the code failed, 5 policy; no container / internal error: 3 on this host (docker, local), 6 from a remote provider */
export function exitCodeFor(result: RunResult, provider = 'docker'): number {
  if (result.status === 'success') return ExitCode.OK
  if (result.status !== 'program_runner_error') return ExitCode.CODE_FAILED
  if (result.exit_code === -999) return ExitCode.POLICY
  return provider === 'docker' || provider === 'local' ? ExitCode.PREREQUISITE : ExitCode.REMOTE
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`
  return `${(n / 1024 / 1024).toFixed(1)} MB`
}
