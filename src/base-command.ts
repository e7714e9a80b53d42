import {Command, Errors, Flags, Interfaces} from '@oclif/core'

import {buildArguments, parseArgPair} from './arguments.js'
import {AUTO_BACKEND, BACKEND_IDS} from './backends/index.js'
import {parseDuration, parseMemory} from './config.js'
import {requireLanguage} from './engine/languages.js'
import {ExitCode, isSandboxError, SandboxError} from './errors.js'
import {parseEndpointUrl} from './net.js'
import {parseDbUrl} from './settings/url.js'
import {closest} from './suggest.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/**
 * Flags whose values are checked while the command line is parsed, so that a malformed value
 * is a usage error (exit 2) whatever the flag, with the same message as the setting it mirrors.
 * The value stays the string the user typed; the command converts it where it is used.
 */
export const ValueFlags = {
  /** what makes the sandboxes: docker or runsc (SANDBOX_BACKEND) */
  backend: Flags.custom<string>({
    options: [...BACKEND_IDS, AUTO_BACKEND],
    description: `what makes the sandboxes: ${BACKEND_IDS.join(', ')} or ${AUTO_BACKEND} (default SANDBOX_BACKEND or ${AUTO_BACKEND}: runsc, gVisor without Docker, where the host allows it, else docker)`,
  }),
  /** a duration: 10, 10s, 2m, 1m30s */
  duration: Flags.custom<string>({
    async parse(input, _ctx, flag) {
      parseDuration(input, `--${flag.name}`)
      return input
    },
  }),
  /** a memory size: 256m, 1g */
  memory: Flags.custom<string>({
    async parse(input, _ctx, flag) {
      parseMemory(input, `--${flag.name}`)
      return input
    },
  }),
  /** a language name or alias: python, nodejs, javascript, typescript, ts */
  language: Flags.custom<string>({
    async parse(input) {
      requireLanguage(input)
      return input
    },
  }),
  /** one argument for main: name=value */
  argument: Flags.custom<string>({
    async parse(input) {
      parseArgPair(input)
      return input
    },
  }),
  /** a settings database URL: sqlite:///abs/path.db, mysql://…, postgres://… */
  dbUrl: Flags.custom<string>({
    async parse(input) {
      parseDbUrl(input)
      return input
    },
  }),
  /** the URL of a manager: http(s)://host:port */
  endpoint: Flags.custom<string>({
    async parse(input) {
      parseEndpointUrl(input)
      return input
    },
  }),
  /** a provider id or alias: docker, self_managed (self-managed), aliyun_codeinterpreter (aliyun), e2b */
  provider: Flags.custom<string>({
    async parse(input) {
      // loaded when the flag is given: the registry brings every provider's module
      const {requireProvider} = await import('./providers/registry.js')
      requireProvider(input)
      return input
    },
  }),
  /** a JSON object, or @file.json */
  jsonObject: Flags.custom<string>({
    async parse(input) {
      buildArguments([], input)
      return input
    },
  }),
}

/**
 * The error a failed command ends with once it has been printed: oclif prints nothing more
 * (skipOclifErrorHandling) and exits with `oclif.exit`; `code`, `message` and `suggestions`
 * are the report's.
 */
export class ReportedError extends Error {
  readonly skipOclifErrorHandling = true
  readonly code: string
  readonly suggestions: string[]
  readonly oclif: {exit: number}

  constructor(report: ErrorReport, cause?: unknown) {
    super(report.message, {cause})
    this.name = 'ReportedError'
    this.code = report.code
    this.suggestions = report.suggestions
    this.oclif = {exit: report.exit}
  }
}

/** What every failing command reports: the same fields with and without --json. */
export interface ErrorReport {
  /** stable machine-readable code, e.g. DOCKER_UNREACHABLE */
  code: string
  message: string
  suggestions: string[]
  exit: number
}

const PARSE_NOISE = [/^Parsing --\S+ \s*\n\t/, /\s*\nSee more help with --help\s*$/]
const clean = (message: string) => PARSE_NOISE.reduce((m, re) => m.replace(re, ''), message).trim()

/**
 * Every command: `--json`, `--verbose`, and stable exit codes that survive `--json`
 * (oclif alone exits 1 for every error in JSON mode). This class is the one place where
 * errors become exit codes and text: parse errors of every command are usage errors (2),
 * and every error is printed in one short shape (see README "Exit codes").
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static baseFlags = {
    verbose: Flags.boolean({description: 'show detailed progress and logs', default: false, helpGroup: 'GLOBAL'}),
    // read by src/style.ts (chalk looks at the command line itself); declared so oclif accepts it
    color: Flags.boolean({description: 'colour ✓/✗ marks and warnings (default: when printing to a terminal and NO_COLOR is unset)', allowNo: true, helpGroup: 'GLOBAL'}),
  }

  static enableJsonFlag = true

  protected flags!: BaseFlags<T>
  protected args!: BaseArgs<T>

  public async init(): Promise<void> {
    await super.init()
    try {
      const {args, flags} = await this.parse({
        args: this.ctor.args,
        baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
        enableJsonFlag: this.ctor.enableJsonFlag,
        flags: this.ctor.flags,
        strict: this.ctor.strict,
      })
      this.flags = flags as BaseFlags<T>
      this.args = args as BaseArgs<T>
    } catch (error) {
      throw this.usageError(error)
    }
  }

  /** progress line on stderr; silent in --json mode */
  protected progress(message: string): void {
    if (!this.jsonEnabled()) process.stderr.write(`${message}\n`)
  }

  /** Anything that went wrong while parsing the command line: a usage error with a short message. */
  protected usageError(error: unknown): SandboxError {
    const e = error as Error & {flags?: string[]; args?: Array<{name?: string; description?: string}>}
    const help = `see \`${this.config.bin} ${this.id?.split(':').join(' ') ?? ''} --help\``.replace(/ +--help/, ' --help')
    if (isSandboxError(e)) return new SandboxError(clean(e.message), {code: e.code, exit: ExitCode.USAGE, suggestions: e.suggestions, cause: e})
    switch (e?.constructor?.name) {
      case 'NonExistentFlagsError': {
        const known = Object.keys({...this.ctor.baseFlags, ...this.ctor.flags, ...(this.ctor.enableJsonFlag ? {json: true} : {})})
        const unknown = (e.flags ?? []).map((f) => f.split('=')[0])
        const hints = unknown.map((f) => closest(f.replace(/^-+/, ''), known)).filter((f): f is string => Boolean(f))
        const mean = hints.length ? `: did you mean ${hints.map((h) => `--${h}`).join(', ')}?` : ''
        return new SandboxError(`Unknown flag${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}${mean}`, {
          code: 'UNKNOWN_FLAG',
          exit: ExitCode.USAGE,
          suggestions: [`${help} for every flag`],
        })
      }
      case 'RequiredArgsError': {
        const missing = (e.args ?? []).map((a) => `${(a.name ?? 'argument').toUpperCase()}${a.description ? `: ${a.description}` : ''}`)
        return new SandboxError(`Missing argument ${missing.join('; ')}`, {code: 'MISSING_ARGUMENT', exit: ExitCode.USAGE, suggestions: [help]})
      }
      case 'UnexpectedArgsError':
        return new SandboxError(clean(e.message), {code: 'UNEXPECTED_ARGUMENT', exit: ExitCode.USAGE, suggestions: [help]})
      case 'FailedFlagValidationError':
      case 'ViolatedFlagConstraintError':
        return new SandboxError(
          clean(e.message)
            .replace(/^The following errors? occurred:\s*/, '')
            .replace(/\s*\n\s*/g, '; '),
          {code: 'INVALID_FLAGS', exit: ExitCode.USAGE, suggestions: [help]},
        )
      default:
        // FlagInvalidOptionError, ArgInvalidOptionError, and what oclif's own flag parsers throw (integers)
        return new SandboxError(clean(e?.message ?? String(error)), {code: 'INVALID_FLAG_VALUE', exit: ExitCode.USAGE, suggestions: [help]})
    }
  }

  /** The one shape of every error (text and --json). */
  protected errorReport(err: unknown): ErrorReport {
    if (isSandboxError(err)) return {code: err.code, message: err.message, suggestions: err.suggestions, exit: err.exit}
    const e = err as Error & {code?: unknown; oclif?: {exit?: number}; exitCode?: number; suggestions?: string[]}
    const exit = e?.oclif?.exit ?? e?.exitCode ?? ExitCode.CODE_FAILED
    return {
      code: typeof e?.code === 'string' && e.code ? e.code : 'ERROR',
      message: clean(e?.message ?? String(err)),
      suggestions: Array.isArray(e?.suggestions) ? e.suggestions : [],
      exit,
    }
  }

  protected async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    // `this.exit(n)`: not an error to print
    if (err instanceof Errors.ExitError || err instanceof ReportedError) {
      process.exitCode = err.oclif.exit
      throw err
    }
    const report = this.errorReport(err)
    process.exitCode = report.exit
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(err))
    } else {
      process.stderr.write(renderError(report, this.flags?.verbose || process.env.DEBUG ? (err.stack ?? '') : undefined))
    }
    // printed: oclif only has to exit with the code; a caller that runs the command class
    // (tests, scripts) still gets what failed
    throw new ReportedError(report, err)
  }

  /**
   * --json output of every command, as plain JSON. oclif's logJson colours the text with a
   * regular-expression tokenizer that overflows the stack on a long string (a 10 MB result:
   * "Maximum call stack size exceeded", no JSON at all); our output is data, so it is written
   * as the same text without colour.
   */
  logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  }

  /** --json output: one case for every field name of every command (snake_case, as RAGFlow's result fields). */
  protected toSuccessJson(result: unknown): unknown {
    return snakeCaseKeys(result)
  }

  /** `{"error": {"code", "message", "suggestions", "exit"}}` — nothing else (no parse context, no stack). */
  protected toErrorJson(err: unknown): unknown {
    const {code, message, suggestions, exit} = this.errorReport(err)
    return {error: {code, message, suggestions, exit}}
  }
}

const snake = (key: string) => (/^[a-z][a-zA-Z0-9]*$/.test(key) ? key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : key)

/**
 * The keys of our own output objects in snake_case (startedInMs → started_in_ms). Data that
 * is not ours keeps its keys: the value main() returned (a RAGFlow result {present, value,
 * type}) and provider settings (`config`).
 */
export function snakeCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => snakeCaseKeys(v))
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value) || value instanceof Date) return value
  const object = value as Record<string, unknown>
  const isResult = 'present' in object && object.type === 'json'
  return Object.fromEntries(Object.entries(object).map(([key, v]) => [snake(key), (isResult && key === 'value') || key === 'config' ? v : snakeCaseKeys(v)]))
}

/** The human form of an error: message, code, what to try (and the stack with --verbose). */
export function renderError(report: ErrorReport, stack?: string): string {
  const lines = [`Error: ${report.message}`, `Code: ${report.code}`]
  if (report.suggestions.length === 1) lines.push(`Try this: ${report.suggestions[0]}`)
  else if (report.suggestions.length > 1) lines.push('Try this:', ...report.suggestions.map((s) => `  * ${s}`))
  if (stack) lines.push('', stack)
  return `${lines.join('\n')}\n`
}
