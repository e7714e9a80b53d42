/**
 * `sandbox <unknown>`: a usage error (exit 2) that names the nearest command, in the same shape
 * as every other error (text, or JSON with --json). Never runs the suggestion by itself.
 */
import {Errors, type Hook, type Interfaces, toConfiguredId} from '@oclif/core'

import {renderError, type ErrorReport} from '../base-command.js'
import {ExitCode} from '../errors.js'
import {closest} from '../suggest.js'

/** Print the unknown command's error (text, or JSON when argv has --json) and exit 2. */
export function refuseUnknownCommand(config: Interfaces.Config, id: string, args: string[]): never {
  const ids = config.commands.filter((c) => !c.hidden).flatMap((c) => [c.id, ...c.aliases])
  // oclif joins the words it was given into the id ("rnu x" → rnu:x): the unknown part is the
  // first word, or the second one under a known topic ("configure aws")
  const words = id.split(':')
  const depth = words.length > 1 && config.findTopic(words[0]) ? 2 : 1
  const unknown = words.slice(0, depth).join(':')
  const level = ids.filter((id) => id.split(':').length === depth && (depth === 1 || id.startsWith(`${words[0]}:`)))
  const typed = toConfiguredId(unknown, config)
  const last = (id: string) => id.split(':')[depth - 1]
  const word = closest(words[depth - 1], level.map(last))
  const near = word === undefined ? undefined : level.find((id) => last(id) === word)
  const report: ErrorReport = {
    code: 'UNKNOWN_COMMAND',
    message: `${typed} is not a ${config.bin} command${near ? `: did you mean \`${config.bin} ${toConfiguredId(near, config)}\`?` : ''}`,
    suggestions: [`\`${config.bin} --help\` lists every command`],
    exit: ExitCode.USAGE,
  }
  const argv = [id, ...args]
  const dashdash = argv.indexOf('--')
  const json = argv.includes('--json') && (dashdash < 0 || argv.indexOf('--json') < dashdash)
  if (json) process.stdout.write(`${JSON.stringify({error: report}, null, 2)}\n`)
  else process.stderr.write(renderError(report))
  throw new Errors.ExitError(ExitCode.USAGE)
}

const hook: Hook<'command_not_found'> = async function (opts) {
  refuseUnknownCommand(opts.config, opts.id, opts.argv ?? [])
}

export default hook
