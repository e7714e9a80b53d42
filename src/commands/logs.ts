import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {formatLogLine} from '../server/logger.js'
import {followManagerLogs, managerLogs} from '../supervisor/manage.js'

export interface LogsResult {
  source: string
  lines: unknown[]
}

export default class Logs extends BaseCommand<typeof Logs> {
  static description = `show the executor manager's log

The manager logs one JSON object per line (start, readiness, every request with its status and
duration, pool problems, shutdown). User code, arguments and outputs are never logged.
Shown as readable lines; --raw prints the JSON lines as stored; --json returns them parsed.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'the last 50 lines'},
    {command: '<%= config.bin %> <%= command.id %> -f', description: 'follow new lines until Ctrl-C'},
    {command: '<%= config.bin %> <%= command.id %> -n 200 --raw', description: 'the last 200 lines as JSON lines'},
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'the last lines, parsed, as one JSON document'},
  ]

  static flags = {
    follow: Flags.boolean({char: 'f', description: 'keep printing new lines until interrupted', default: false, exclusive: ['json']}),
    lines: Flags.integer({char: 'n', description: 'how many of the last lines to show', default: 50, min: 0}),
    raw: Flags.boolean({description: 'print the stored JSON lines unchanged', default: false}),
  }

  async run(): Promise<LogsResult> {
    const {flags} = this
    const show = (line: string) => this.log(flags.raw ? line : formatLogLine(line))
    const {source, lines} = await managerLogs(flags.lines)
    if (this.jsonEnabled()) return {source, lines: lines.map(parseLine)}
    if (!lines.length && !flags.follow) this.progress(`no log yet (${source}); start the manager with \`sandbox start\``)
    for (const l of lines) show(l)
    if (flags.follow) {
      const controller = new AbortController()
      const onSignal = () => controller.abort()
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      await followManagerLogs(show, controller.signal)
    }
    return {source, lines: []}
  }
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line)
  } catch {
    return line
  }
}
