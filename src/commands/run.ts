import {existsSync, readFileSync, statSync} from 'node:fs'
import {resolve} from 'node:path'

import {Args, Flags} from '@oclif/core'

import {buildArguments} from '../arguments.js'
import {saveArtifacts, type SavedArtifact} from '../artifacts.js'
import {BaseCommand, ValueFlags} from '../base-command.js'
import {loadConfig, parseDuration} from '../config.js'
import {languageForFile, requireLanguage} from '../engine/languages.js'
import {EXIT, type RunResult} from '../engine/result.js'
import {ExitCode, SandboxError} from '../errors.js'
import {POLICY_FLAG_DESCRIPTION, POLICY_MODES} from '../policy/types.js'
import {runSelected, runVia} from '../providers/execute.js'
import {checkCodeSize} from '../run/request.js'
import {printable} from '../text.js'
import {Style, style} from '../style.js'

export default class Run extends BaseCommand<typeof Run> {
  static args = {
    file: Args.string({description: 'file that defines main (Python: main(**args), Node.js: main(args))', required: true}),
  }

  static description = `Run a file through the sandbox and show stdout, stderr and main's return value.

The file must define main. Python calls main(**arguments); Node.js calls await main(arguments).
Each run gets a fresh gVisor container with no network, a read-only root, and time and memory limits.
Output is shown as the code prints it (with the docker provider; other providers deliver it at the end), then a summary line with the runner's time and the wall time of the whole command.
Files the code writes to artifacts/ (png jpg svg pdf csv json html) come back as artifacts. --save-artifacts DIR writes them into DIR, but never replaces a file: when a name is taken, nothing is saved.
The code runs through a provider: --provider, else the active one set with \`sandbox configure\`, else docker (this host's engine). Providers: docker, self_managed, aliyun_codeinterpreter, e2b, local, ssh, tenki, ucloud_agent_sandbox.
--via-manager (or SANDBOX_RUN_VIA=manager) hands a docker-provider run to the executor manager already running on this host (\`sandbox start\`): its warm pool skips the container start, which is most of a cold run's time.
local runs the code on this host WITHOUT a sandbox and needs --allow-unsandboxed or SANDBOX_ALLOW_LOCAL_PROVIDER=on.
Ctrl-C (or SIGTERM) stops the run and removes its container.
Exit code: 0 success, 1 the code failed or hit a limit, 2 usage error, 3 sandbox not ready, 4 bad provider settings, 5 refused by the code policy, 6 the remote provider failed, 130/143 stopped by SIGINT/SIGTERM.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> examples/hello.py --arg name=World', description: 'run a Python file with one argument'},
    {
      command: '<%= config.bin %> <%= command.id %> examples/hello.js --args-json \'{"name": "World"}\' --json',
      description: 'Node.js, arguments as JSON, RAGFlow-shaped JSON result',
    },
    {command: '<%= config.bin %> <%= command.id %> examples/chart.py --save-artifacts out/', description: 'save the chart the code writes to artifacts/'},
    {command: '<%= config.bin %> <%= command.id %> slow.py --timeout 1m30s --memory 512m', description: 'raise the limits for one run'},
    {
      command: '<%= config.bin %> <%= command.id %> examples/hello.py --provider self_managed',
      description: 'run through the executor manager configured with `sandbox configure self-managed`',
    },
  ]

  static flags = {
    arg: ValueFlags.argument({char: 'a', description: 'argument for main as name=value (JSON when it parses: count=3, flag=true); repeatable', multiple: true}),
    'args-json': ValueFlags.jsonObject({description: 'all arguments as a JSON object, or @file.json'}),
    language: ValueFlags.language({char: 'l', description: 'python, nodejs (alias javascript) or typescript (alias ts); default from the file extension'}),
    timeout: ValueFlags.duration({char: 't', description: 'wall-clock limit: 10, 10s, 2m, 1m30s (default SANDBOX_TIMEOUT or 10s)'}),
    memory: ValueFlags.memory({char: 'm', description: 'memory limit, e.g. 256m, 1g (default SANDBOX_MAX_MEMORY or 256m)'}),
    'save-artifacts': Flags.string({description: 'directory to write the returned artifacts into (existing files are never replaced)'}),
    policy: Flags.string({description: POLICY_FLAG_DESCRIPTION, options: [...POLICY_MODES]}),
    'allow-runc': Flags.boolean({description: 'run without gVisor when runsc is missing (WEAKER isolation, prints a warning)', default: false}),
    backend: ValueFlags.backend(),
    'allow-unsandboxed': Flags.boolean({
      description: 'allow the local provider, which runs the code on this host with NO sandbox (same as SANDBOX_ALLOW_LOCAL_PROVIDER=on)',
      default: false,
    }),
    'env-file': Flags.string({description: 'read settings from this .env file (default ./.env when present)'}),
    provider: ValueFlags.provider({
      description:
        'docker, self_managed, aliyun_codeinterpreter, e2b, local, ssh, tenki or ucloud_agent_sandbox (aliases: self-managed, aliyun, ucloud); default: the active provider from `sandbox configure`, else docker',
    }),
    'via-manager': Flags.boolean({
      description:
        "run through the executor manager already running on this host (`sandbox start`): its warm pool answers without a new container (same as SANDBOX_RUN_VIA=manager); the manager's limits and code policy apply, output comes at the end",
      default: false,
    }),
    db: ValueFlags.dbUrl({
      description: 'settings database URL to read the provider from (sqlite:///path.db, mysql://…, postgres://…); default SANDBOX_DB_URL or the local SQLite file',
    }),
  }

  async run(): Promise<RunResult> {
    const {file} = this.args
    const flags = this.flags
    const json = this.jsonEnabled()
    const path = resolve(file)
    if (!existsSync(path) || !statSync(path).isFile()) {
      throw new SandboxError(`File not found: ${file}`, {code: 'FILE_NOT_FOUND', exit: ExitCode.USAGE})
    }
    const language = flags.language ? requireLanguage(flags.language) : languageForFile(file)
    // the run pipeline checks the same limit again: nothing larger is read
    checkCodeSize(statSync(path).size)
    const code = readFileSync(path, 'utf8')
    const args = buildArguments(flags.arg, flags['args-json'])
    // flags > environment > default here; the stored docker (or local) row fills what came from a default (src/run/settings.ts)
    const config = loadConfig({
      envFile: flags['env-file'],
      overrides: {
        timeoutSeconds: flags.timeout === undefined ? undefined : parseDuration(flags.timeout, '--timeout'),
        memory: flags.memory,
        allowRunc: flags['allow-runc'] || undefined,
        codePolicy: flags.policy,
        backend: flags.backend,
      },
    })

    const echo = json ? undefined : new Echo()
    const interrupt = onInterrupt((signal) => this.progress(`${signal === 'SIGINT' ? 'Ctrl-C' : signal}: stopping the run and removing its container…`))
    try {
      const started = performance.now()
      const run = await runSelected({
        provider: flags.provider,
        db: flags.db,
        sandboxConfig: config,
        language,
        code,
        arguments: args,
        allowUnsandboxed: flags['allow-unsandboxed'],
        via: runVia(flags['via-manager']),
        onEvent: (e) => {
          if (e.level === 'warn' || e.level === 'error') process.stderr.write(`${e.message}\n`)
          else if (flags.verbose) process.stderr.write(`${e.message}\n`)
        },
        onOutput: echo?.write,
        signal: interrupt.signal,
      })
      const wallMs = performance.now() - started
      const {result} = run
      let saved: SavedArtifact[] | undefined
      let saveError: unknown
      try {
        if (interrupt.signal.aborted) throw interrupt.signal.reason
        if (flags['save-artifacts'] && result.artifacts.length) {
          try {
            saved = saveArtifacts(flags['save-artifacts'], result.artifacts)
          } catch (error) {
            saveError = error
          }
        }
        if (!json) this.show(result, {runtime: run.runtime, streamed: run.streamed, echo, saved, saveDir: flags['save-artifacts'], wallMs})
      } finally {
        await run.dispose()
      }
      if (interrupt.signal.aborted) throw interrupt.signal.reason
      if (saveError) throw saveError
      process.exitCode = exitCodeFor(result, run.runsOnHost)
      return result
    } finally {
      interrupt.dispose()
    }
  }

  private show(result: RunResult, o: {runtime: string | null; streamed: boolean; echo?: Echo; saved?: SavedArtifact[]; saveDir?: string; wallMs: number}): void {
    if (o.streamed) o.echo?.endLines()
    else {
      if (result.stdout) process.stdout.write(result.stdout.endsWith('\n') ? result.stdout : `${result.stdout}\n`)
      if (result.stderr) process.stderr.write(result.stderr.endsWith('\n') ? result.stderr : `${result.stderr}\n`)
    }
    if (result.result?.present) this.log(`Result: ${JSON.stringify(result.result.value, null, 2)}`)
    for (const a of result.artifacts) {
      const to = o.saved?.find((s) => s.name === a.name)
      this.log(`Artifact: ${printable(a.name)} (${printable(a.mime_type)}, ${formatBytes(a.size)})${to ? ` → ${printable(to.path)}` : ''}`)
    }
    if (result.artifacts.length && !o.saveDir) this.log('  (use --save-artifacts DIR to save them)')
    this.logToStderr(summaryLine(result, o.runtime, o.wallMs, style('stderr')))
  }
}

/** "✓ success · exit 0 · 12.3 ms run · 0.61 s wall · 17.9 MB · gVisor" */
export function summaryLine(result: RunResult, runtime: string | null, wallMs: number, look: Style = new Style(false)): string {
  return [
    result.status === 'success' ? look.paint('ok', '✓ success') : look.paint('fail', `✗ ${result.status}`),
    `exit ${result.exit_code}`,
    result.time_used_ms === null ? undefined : `${result.time_used_ms.toFixed(1)} ms run`,
    `${(wallMs / 1000).toFixed(2)} s wall`,
    result.memory_used_kb === null ? undefined : `${(result.memory_used_kb / 1024).toFixed(1)} MB`,
    result.status === 'program_runner_error' ? undefined : (runtime ?? undefined),
    result.detail && result.status !== 'success' ? result.detail : undefined,
  ]
    .filter(Boolean)
    .join(' · ')
}

/** The user's output, written through as it arrives. */
class Echo {
  private readonly last: Record<'stdout' | 'stderr', number | undefined> = {stdout: undefined, stderr: undefined}

  readonly write = (stream: 'stdout' | 'stderr', chunk: Buffer): void => {
    if (chunk.length === 0) return
    process[stream].write(chunk)
    this.last[stream] = chunk[chunk.length - 1]
  }

  /** end an unterminated last line, so that what follows starts on its own line */
  endLines(): void {
    for (const stream of ['stdout', 'stderr'] as const) if (this.last[stream] !== undefined && this.last[stream] !== 10) process[stream].write('\n')
  }
}

/**
 * SIGINT/SIGTERM while a run is in flight: abort it (the run stops and removes its container),
 * then the command fails with 130/143. A second signal leaves at once.
 */
function onInterrupt(notify: (signal: NodeJS.Signals) => void): {signal: AbortSignal; dispose: () => void} {
  const controller = new AbortController()
  const handler = (signal: NodeJS.Signals) => {
    const exit = signal === 'SIGINT' ? ExitCode.INTERRUPTED : ExitCode.TERMINATED
    if (controller.signal.aborted) process.exit(exit)
    notify(signal)
    controller.abort(new SandboxError(`Stopped by ${signal}: the run was cut short and its container removed`, {code: 'INTERRUPTED', exit}))
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', handler)
      process.off('SIGTERM', handler)
    },
  }
}

/**
 * 0 success, 1 the code failed (a report forged or garbled by the code included), 5 policy;
 * no container / internal error: 3 from a provider that runs on this host (docker, local), 6 from a remote one
 */
export function exitCodeFor(result: RunResult, runsOnHost: boolean): number {
  if (result.status === 'success') return ExitCode.OK
  if (result.status !== 'program_runner_error') return ExitCode.CODE_FAILED
  if (result.exit_code === -999) return ExitCode.POLICY
  // only code inside the sandbox can make the runner's report malformed: nothing here is broken
  if (result.exit_code === EXIT.MALFORMED_REPORT) return ExitCode.CODE_FAILED
  return runsOnHost ? ExitCode.PREREQUISITE : ExitCode.REMOTE
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`
  return `${(n / 1024 / 1024).toFixed(1)} MB`
}
