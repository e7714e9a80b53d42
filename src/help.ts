/**
 * `--help`: oclif's help, with the descriptions' source line breaks removed inside paragraphs,
 * so that sentences are wrapped to the terminal, never broken mid-sentence at the width the
 * source happened to use. Paragraphs (blank lines), list items and indented lines stay.
 */
import {type Command, Help} from '@oclif/core'

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
  protected formatCommand(command: Command.Loadable): string {
    const flags = Object.fromEntries(Object.entries(command.flags).map(([name, flag]) => [name, {...flag, description: flag.description && unwrap(flag.description)}]))
    return super.formatCommand({...command, description: command.description && unwrap(command.description), flags} as Command.Loadable)
  }
}
