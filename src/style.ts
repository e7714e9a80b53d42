/**
 * Colour in what the CLI prints for people: the ✓ / ✗ / ! marks and warnings. --color / --no-color
 * decide; else off with NO_COLOR set (no-color.org), on with FORCE_COLOR, else on when the stream
 * is a terminal (chalk's detection: TERM=dumb and CI are off).
 * --json output is never coloured: it does not go through here.
 */
import {Chalk, supportsColor, supportsColorStderr, type ChalkInstance} from 'chalk'

export type Outcome = 'ok' | 'fail' | 'warn' | 'skip'

const SYMBOLS: Record<Outcome, string> = {ok: '✓', fail: '✗', warn: '!', skip: '-'}

export class Style {
  private readonly chalk: ChalkInstance

  constructor(readonly enabled: boolean) {
    this.chalk = new Chalk({level: enabled ? 1 : 0})
  }

  /** the mark of an outcome, coloured: ✓ green, ✗ red, ! yellow, - dim */
  mark(outcome: Outcome): string {
    return this.paint(outcome, SYMBOLS[outcome])
  }

  /** text in an outcome's colour */
  paint(outcome: Outcome, text: string): string {
    const c = this.chalk
    return outcome === 'ok' ? c.green(text) : outcome === 'fail' ? c.red(text) : outcome === 'warn' ? c.yellow(text) : c.dim(text)
  }

  /** a warning line: "Warning: …" in yellow */
  warning(text: string): string {
    return this.chalk.yellow(text)
  }
}

/** whether to colour the given stream, from the environment and the command line */
export function colourEnabled(stream: 'stdout' | 'stderr', env: NodeJS.ProcessEnv = process.env, argv: string[] = process.argv): boolean {
  // the command line wins over the environment
  const flag = argv.findLast((a) => a === '--color' || a === '--no-color')
  if (flag) return flag === '--color'
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  const support = stream === 'stdout' ? supportsColor : supportsColorStderr
  return Boolean(support && support.level > 0)
}

let styles: Record<'stdout' | 'stderr', Style> | undefined

/** the style of each output stream, decided once per process */
export function style(stream: 'stdout' | 'stderr' = 'stdout'): Style {
  styles ??= {stdout: new Style(colourEnabled('stdout')), stderr: new Style(colourEnabled('stderr'))}
  return styles[stream]
}
