import {Command, Errors, Flags, Interfaces} from '@oclif/core'

import {ExitCode, isSandboxError} from './errors.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/**
 * Every command: `--json`, `--verbose`, and stable exit codes that survive `--json`
 * (oclif alone exits 1 for every error in JSON mode).
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static baseFlags = {
    verbose: Flags.boolean({description: 'show detailed progress and logs', default: false, helpGroup: 'GLOBAL'}),
  }

  static enableJsonFlag = true

  protected flags!: BaseFlags<T>
  protected args!: BaseArgs<T>

  public async init(): Promise<void> {
    await super.init()
    const {args, flags} = await this.parse({
      args: this.ctor.args,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      flags: this.ctor.flags,
      strict: this.ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as BaseArgs<T>
  }

  /** progress line on stderr; silent in --json mode */
  protected progress(message: string): void {
    if (!this.jsonEnabled()) process.stderr.write(`${message}\n`)
  }

  protected async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (isSandboxError(err)) {
      const wrapped = new Errors.CLIError(err.message, {code: err.code, exit: err.exit, suggestions: err.suggestions})
      process.exitCode = err.exit
      return super.catch(wrapped)
    }
    process.exitCode = err.oclif?.exit ?? err.exitCode ?? ExitCode.CODE_FAILED
    return super.catch(err)
  }

  /** oclif's JSON error shape keeps `code`, `suggestions` and `oclif.exit`; make sure the process exits with it. */
  protected toErrorJson(err: unknown): unknown {
    const base = super.toErrorJson(err) as {error: Record<string, unknown>}
    const e = err as {code?: string; oclif?: {exit?: number}; suggestions?: string[]; message?: string}
    return {
      error: {
        ...base.error,
        code: e.code,
        exit: e.oclif?.exit ?? process.exitCode ?? 1,
        message: e.message,
        suggestions: e.suggestions ?? [],
      },
    }
  }
}
