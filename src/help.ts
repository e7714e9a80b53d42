/**
 * `--help`: oclif's help, with the descriptions' source line breaks removed inside paragraphs,
 * so that sentences are wrapped to the terminal, never broken mid-sentence at the width the
 * source happened to use. Paragraphs (blank lines), list items and indented lines stay.
 */
import {type Command, Help} from '@oclif/core'

import {refuseUnknownCommand} from './hooks/command-not-found.js'

const LIST_ITEM = /^\s*([-*•]|\d+[.)])\s/

/** Join the lines of each paragraph; keep blank lines, list items, indented lines and lines after a colon. */
export function unwrap(text: string): string {
  const out: string[] = []
  for (const line of text.split('\n')) {
    const prev = out.at(-1)
    const joins = prev !== undefined && prev.trim() !== '' && line.trim() !== '' && !/^\s/.test(line) && !LIST_ITEM.test(line) && !/:\s*$/.test(prev)
    if (joins) out[out.length - 1] = `${prev.trimEnd()} ${line.trim()}`
    else out.push(line)
  }
  return out.join('\n')
}

export default class SandboxHelp extends Help {
  /** `sandbox <unknown> --help` is the same usage error as `sandbox <unknown>` (exit 2, the nearest command) */
  async showHelp(argv: string[]): Promise<void> {
    const unknown = this.unknownSubject(argv)
    if (unknown !== undefined) refuseUnknownCommand(this.config, unknown, argv)
    return super.showHelp(argv)
  }

  /**
   * The id help was asked for when no command or topic has it, else undefined. Words join into
   * the id as oclif joins them: while they name a command or topic, up to a command that takes
   * arguments (`run main.py --help` is run's help).
   */
  private unknownSubject(argv: string[]): string | undefined {
    const known = (id: string) => this.config.findCommand(id) ?? this.config.findTopic(id)
    const takesArgs = (id: string) => {
      const command = this.config.findCommand(id)
      return Boolean(command && (command.strict === false || Object.keys(command.args ?? {}).length > 0))
    }
    let id = ''
    for (const arg of argv) {
      if (arg === '--help' || (arg === 'help' && id === '')) continue
      if (arg.startsWith('-')) break
      const next = id ? `${id}:${arg}` : arg
      if (known(next)) id = next
      else if (id && takesArgs(id)) break
      else return next
    }
    return undefined
  }

  protected formatCommand(command: Command.Loadable): string {
    const flags = Object.fromEntries(Object.entries(command.flags).map(([name, flag]) => [name, {...flag, description: flag.description && unwrap(flag.description)}]))
    return super.formatCommand({...command, description: command.description && unwrap(command.description), flags} as Command.Loadable)
  }
}
