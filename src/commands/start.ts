import {isAbsolute, resolve} from 'node:path'

import {Flags} from '@oclif/core'

import {assertAdminConfig} from '../admin/config.js'
import {BaseCommand, ValueFlags} from '../base-command.js'
import {loadConfig, parseDuration, type SandboxConfig} from '../config.js'
import {configError} from '../errors.js'
import {RUNC_WARNING} from '../engine/runtime.js'
import {POLICY_FLAG_DESCRIPTION, POLICY_MODES} from '../policy/types.js'
import {exposureWarnings} from '../server/auth.js'
import {createLogger, parseLogLevel} from '../server/logger.js'
import {checkManagerConfig, runManager} from '../server/manager.js'
import {managerFiles} from '../server/state.js'
import type {StartResult} from '../supervisor/host.js'
import {startMode} from '../supervisor/hosts.js'
import {launchFromStart, recordLaunch} from '../supervisor/launch.js'
import {alreadyRunning, startManager} from '../supervisor/manage.js'

/** Flags shared by `start` and `restart`. */
export const managerFlags = {
  host: Flags.string({description: 'address to listen on (default SANDBOX_EXECUTOR_MANAGER_HOST or 127.0.0.1); other than loopback, set SANDBOX_API_TOKEN'}),
  port: Flags.integer({char: 'p', description: 'port to listen on (default SANDBOX_EXECUTOR_MANAGER_PORT or 9385)', min: 1, max: 65_535}),
  'pool-size': Flags.integer({description: 'warm containers kept per language (default SANDBOX_EXECUTOR_MANAGER_POOL_SIZE or 2)', min: 1, max: 64}),
  timeout: ValueFlags.duration({char: 't', description: 'wall-clock limit per run: 10, 10s, 2m, 1m30s (default SANDBOX_TIMEOUT or 10s)'}),
  memory: ValueFlags.memory({char: 'm', description: 'memory limit per run, e.g. 256m, 1g (default SANDBOX_MAX_MEMORY or 256m)'}),
  'env-file': Flags.string({description: 'read settings from this .env file (default ./.env when present)'}),
  'allow-runc': Flags.boolean({description: 'run without gVisor when runsc is missing (WEAKER isolation, loud warning)', allowNo: true}),
  backend: ValueFlags.backend(),
  policy: Flags.string({description: POLICY_FLAG_DESCRIPTION, options: [...POLICY_MODES]}),
  'max-concurrent': Flags.integer({
    description:
      'admission cap: sandbox containers alive at once, warm ones included; more runs queue (default SANDBOX_MAX_CONCURRENT_RUNS or min(4 x cores, half the memory / --memory))',
    min: 1,
    max: 1024,
  }),
  'allow-policy-override': Flags.boolean({
    description: 'let holders of the API token choose the code policy per request ("policy" in POST /run, used by `sandbox test --endpoint`); refused without SANDBOX_API_TOKEN',
    allowNo: true,
  }),
  'result-in-stdout': Flags.boolean({
    description:
      "also print main's return value on stdout as RAGFlow's old runners did (Python print(result), Node console.log), for RAGFlow releases that parse stdout (default SANDBOX_RESULT_IN_STDOUT or off)",
    allowNo: true,
  }),
  admin: Flags.boolean({
    description: "serve RAGFlow's sandbox admin API (/api/v1/admin/sandbox/...) and the settings page (/admin/); needs SANDBOX_API_TOKEN (default SANDBOX_ADMIN_API or off)",
    allowNo: true,
  }),
  wait: Flags.integer({description: 'seconds to wait for the manager to become healthy', default: 90, min: 1}),
  docker: Flags.boolean({description: 'run the manager as the container sandbox-executor-manager (image from `sandbox build --manager`)', default: false}),
  network: Flags.string({description: "with --docker: Docker network to join, e.g. docker_ragflow (RAGFlow's compose network)", dependsOn: ['docker']}),
  image: Flags.string({description: 'with --docker: manager image (default SANDBOX_EXECUTOR_MANAGER_IMAGE or sandbox-executor-manager:latest)', dependsOn: ['docker']}),
}

type ManagerFlagValues = {
  host?: string
  port?: number
  'pool-size'?: number
  timeout?: string
  memory?: string
  'env-file'?: string
  'allow-runc'?: boolean
  backend?: string
  'max-concurrent'?: number
  'allow-policy-override'?: boolean
  'result-in-stdout'?: boolean
  admin?: boolean
  policy?: string
  wait: number
  docker: boolean
  network?: string
  image?: string
  verbose: boolean
}

export function configFromFlags(flags: ManagerFlagValues): SandboxConfig {
  const config = loadConfig({
    envFile: flags['env-file'],
    overrides: {
      host: flags.host,
      port: flags.port,
      poolSize: flags['pool-size'],
      timeoutSeconds: flags.timeout === undefined ? undefined : parseDuration(flags.timeout, '--timeout'),
      memory: flags.memory,
      allowRunc: flags['allow-runc'],
      backend: flags.backend,
      codePolicy: flags.policy,
      maxConcurrentRuns: flags['max-concurrent'],
      allowPolicyOverride: flags['allow-policy-override'],
      resultInStdout: flags['result-in-stdout'],
      adminApi: flags.admin,
    },
  })
  if (!config.host.trim()) throw configError('--host must not be empty', 'INVALID_HOST')
  // the manager container makes its sandboxes through Docker: the host's own choice gives way
  if (flags.docker && config.backend === 'runsc' && config.backendChosenBy === 'host') return configFromFlags({...flags, backend: 'docker'})
  if (flags.docker && config.backend === 'runsc')
    throw configError('The runsc backend runs on the host only: the manager container (--docker) makes its sandboxes through Docker', 'RUNSC_IN_CONTAINER', [
      'start the manager on the host with --backend runsc, or use --docker with the docker backend',
    ])
  assertAdminConfig(config)
  return config
}

/**
 * Flags as the environment variables of the background manager process (it reads .env and
 * the environment like this command does; these override both, as flags do).
 */
export function settingsFromFlags(flags: ManagerFlagValues): Record<string, string> {
  const out: Record<string, string> = {}
  const set = (name: string, value: string | number | boolean | undefined) => {
    if (value !== undefined) out[name] = String(value)
  }
  set('SANDBOX_EXECUTOR_MANAGER_HOST', flags.host)
  set('SANDBOX_EXECUTOR_MANAGER_PORT', flags.port)
  set('SANDBOX_EXECUTOR_MANAGER_POOL_SIZE', flags['pool-size'])
  set('SANDBOX_TIMEOUT', flags.timeout)
  set('SANDBOX_MAX_MEMORY', flags.memory)
  if (flags['env-file']) set('SANDBOX_ENV_FILE', isAbsolute(flags['env-file']) ? flags['env-file'] : resolve(flags['env-file']))
  set('SANDBOX_CODE_POLICY', flags.policy)
  set('SANDBOX_MAX_CONCURRENT_RUNS', flags['max-concurrent'])
  set('SANDBOX_ALLOW_POLICY_OVERRIDE', flags['allow-policy-override'])
  set('SANDBOX_RESULT_IN_STDOUT', flags['result-in-stdout'])
  set('SANDBOX_ADMIN_API', flags.admin)
  set('SANDBOX_ALLOW_RUNC', flags['allow-runc'])
  set('SANDBOX_BACKEND', flags.backend)
  if (flags.verbose) set('SANDBOX_LOG_LEVEL', 'debug')
  return out
}

export type StartOutput = StartResult & {foreground?: boolean}

export default class Start extends BaseCommand<typeof Start> {
  static description = `start the executor manager: RAGFlow's HTTP API (POST /run, GET /healthz) plus GET /metrics

By default the manager runs in the background (node dist/server/main.js, detached): pid and log file go to the state directory
($SANDBOX_STATE_DIR, or ~/.local/state/sandbox), start waits until GET /healthz answers ok and
prints the endpoint, or fails with the last lines of the log (exit code 3). Already running with
what you asked for: says so (exit code 0); on another port or with other settings: an error (exit
code 4; one state directory holds one manager). The settings are recorded for \`sandbox restart\`.
--foreground runs it in this process (for systemd and containers; logs are JSON lines on stdout,
SIGTERM or Ctrl-C stops it gracefully). --docker runs it as the container sandbox-executor-manager.

Settings come from .env and SANDBOX_* variables; flags override them. With SANDBOX_API_TOKEN set,
/run, /metrics and /status need "Authorization: Bearer <token>"; /healthz stays open. At most
--max-concurrent sandbox containers exist at once; further runs wait (SANDBOX_QUEUE_TIMEOUT).`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'start on 127.0.0.1:9385 in the background'},
    {command: '<%= config.bin %> <%= command.id %> --port 9400 --pool-size 4 --timeout 30s', description: 'another port, a bigger pool, longer runs'},
    {command: 'SANDBOX_API_TOKEN=s3cret <%= config.bin %> <%= command.id %> --host 0.0.0.0', description: 'listen on every address, with a token'},
    {command: '<%= config.bin %> <%= command.id %> --foreground', description: 'in the foreground (systemd, containers)'},
    {command: '<%= config.bin %> <%= command.id %> --docker --network docker_ragflow', description: "as a container on RAGFlow's network"},
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'endpoint, pid and start time as JSON'},
  ]

  static flags = {
    foreground: Flags.boolean({description: 'run in this process until SIGTERM/SIGINT instead of in the background', default: false, exclusive: ['docker']}),
    ...managerFlags,
  }

  async run(): Promise<StartOutput> {
    const {flags} = this
    const config = configFromFlags(flags)
    checkManagerConfig(config)
    const launch = launchFromStart(settingsFromFlags(flags), process.env, config.envFile)
    const human = !this.jsonEnabled()
    const loud = (line: string) => process.stderr.write(`${line}\n`)
    const mode = startMode(flags.docker)

    if (flags.foreground) {
      const already = await alreadyRunning(mode, launch, config)
      if (already) {
        if (human) this.log(`The manager is already running at ${already.endpoint}${already.pid ? ` (pid ${already.pid})` : ''}`)
        return already
      }
      for (const w of exposureWarnings(config.host, config.apiToken)) loud(w)
      const logger = createLogger({level: flags.verbose ? 'debug' : parseLogLevel(process.env.SANDBOX_LOG_LEVEL)})
      const manager = await runManager({config, logger, launch, ownProcess: true})
      recordLaunch(managerFiles(), {mode, launch, config})
      process.stderr.write(`manager ready at ${manager.endpoint} (pid ${process.pid}); Ctrl-C or SIGTERM stops it\n`)
      await manager.done
      const engineStatus = manager.engine.status()
      return {
        already: false,
        mode,
        pid: process.pid,
        endpoint: manager.endpoint,
        logFile: '-',
        where: `pid ${process.pid}`,
        startedInMs: manager.readyAfterMs,
        warnings: manager.warnings,
        runtime: engineStatus.runtime,
        backend: engineStatus.backend,
        staleRemoved: false,
        foreground: true,
      }
    }

    const result = await startManager(mode, {
      config,
      launch,
      image: flags.image ?? process.env.SANDBOX_EXECUTOR_MANAGER_IMAGE,
      network: flags.network,
      waitMs: flags.wait * 1000,
      onProgress: (m) => {
        if (flags.verbose || flags.docker) this.progress(m)
      },
    })
    if (human) {
      if (result.already) {
        this.log(`The manager is already running at ${result.endpoint}${result.pid ? ` (pid ${result.pid})` : ''}`)
      } else {
        const took = result.startedInMs === null ? '' : ` in ${(result.startedInMs / 1000).toFixed(1)} s`
        this.log(`Manager ready at ${result.endpoint} (${result.where}, runtime ${result.runtime ?? '?'}, backend ${result.backend ?? '?'})${took}`)
        this.log(`  try:  curl -s ${result.endpoint}/healthz`)
        this.log(`  logs: sandbox logs -f    status: sandbox status    stop: sandbox stop`)
      }
      for (const w of result.warnings) loud(w)
      if (result.runtime === 'runc') loud(RUNC_WARNING)
    }
    return result
  }
}
