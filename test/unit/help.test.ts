/**
 * Every command of the toolkit documents itself: a description, a description for every
 * flag and argument, at least one example, and `--help` that renders them. Commands are
 * enumerated by oclif (Config.load + config.commands) and cross-checked against the files
 * in src/commands, so a new command cannot slip through without help.
 */
import {readdirSync} from 'node:fs'
import {join, relative} from 'node:path'

import {type Command, Config} from '@oclif/core'
import {beforeAll, describe, expect, it} from 'vitest'

import SandboxHelp, {unwrap} from '../../src/help.js'

let config: Config

/** command ids from the files under src/commands: configure/aliyun.ts → configure:aliyun */
function commandIdsFromSources(): string[] {
  const root = join(process.cwd(), 'src', 'commands')
  const out: string[] = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, {withFileTypes: true})) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(relative(root, path).replace(/\.ts$/, '').split('/').join(':'))
    }
  }
  walk(root)
  return out.sort()
}

/** the toolkit's own commands (not @oclif/plugin-help's `help`) */
const own = () => config.commands.filter((c) => c.pluginName === config.pjson.name).sort((a, b) => a.id.localeCompare(b.id))

/** the commands every user meets; the list in the README and the docs */
const EXPECTED = [
  'build',
  'clean',
  'configure',
  'configure:aliyun',
  'configure:docker',
  'configure:e2b',
  'configure:self-managed',
  'configure:show',
  'configure:ssh',
  'configure:tenki',
  'configure:ucloud-agent-sandbox',
  'configure:use',
  'logs',
  'restart',
  'run',
  'setup',
  'start',
  'status',
  'stop',
  'swarm:deploy',
  'swarm:images',
  'swarm:label',
  'swarm:remove',
  'swarm:status',
  'swarm:update',
  'test',
]

/** our Help (package.json oclif.helpClass) with its text renderer exposed (formatCommand is protected) */
class RenderHelp extends SandboxHelp {
  commandText(command: Command.Loadable): string {
    return this.formatCommand(command)
  }
}

const text = (v: unknown) => (typeof v === 'string' ? v.trim() : '')

/**
 * The command class from its TypeScript source. oclif's own loader imports dist/ when an
 * oclif.manifest.json is present, which may be older than src/; the source is what ships next.
 */
async function sourceClass(id: string): Promise<Command.Class> {
  const mod = (await import(join(process.cwd(), 'src', 'commands', `${id.split(':').join('/')}.ts`))) as {default: Command.Class}
  return mod.default
}

beforeAll(async () => {
  config = await Config.load({root: process.cwd()})
})

describe('command help', () => {
  it('oclif finds every command file, and every command users are told about', () => {
    const ids = own().map((c) => c.id)
    expect(ids).toEqual(commandIdsFromSources())
    for (const id of EXPECTED) expect(ids).toContain(id)
  })

  it('the configure topic has a description', () => {
    const topic = config.topics.find((t) => t.name === 'configure')
    expect(text(topic?.description)).not.toBe('')
  })

  it('every command has a description, a summary line and at least one example', async () => {
    const problems: string[] = []
    for (const loadable of own()) {
      const cmd = await sourceClass(loadable.id)
      const description = text(cmd.description)
      if (description.length < 20) problems.push(`${loadable.id}: description missing or too short (${JSON.stringify(description)})`)
      const examples = cmd.examples ?? []
      if (examples.length === 0) problems.push(`${loadable.id}: no example`)
      for (const example of examples) {
        const command = typeof example === 'string' ? example : example.command
        if (!/<%= config\.bin %>|\bsandbox\b/.test(command)) problems.push(`${loadable.id}: example does not run sandbox: ${command}`)
        if (typeof example !== 'string' && !text(example.description)) problems.push(`${loadable.id}: example without a description: ${command}`)
      }
    }
    expect(problems).toEqual([])
  })

  it('every flag and every argument has a description', async () => {
    const problems: string[] = []
    for (const loadable of own()) {
      const cmd = await sourceClass(loadable.id)
      // what oclif parses: the command's flags plus the shared base flags (--verbose) and --json
      const flags = {...(cmd.baseFlags ?? {}), ...(cmd.flags ?? {})}
      for (const [name, flag] of Object.entries(flags)) {
        if (text((flag as {description?: string}).description).length < 5) problems.push(`${loadable.id}: --${name} has no description`)
      }
      for (const [name, arg] of Object.entries(cmd.args ?? {})) {
        if (text((arg as {description?: string}).description).length < 5) problems.push(`${loadable.id}: argument ${name} has no description`)
      }
      // the loaded (manifest-style) view that `--help` uses agrees
      for (const [name, flag] of Object.entries(loadable.flags)) {
        if (text(flag.description).length < 5) problems.push(`${loadable.id}: --${name} has no description in the command list`)
      }
      expect(loadable.flags.json, `${loadable.id} supports --json`).toBeDefined()
    }
    expect(problems).toEqual([])
  })

  it('--help renders the description, every flag and the examples', async () => {
    const help = new RenderHelp(config, {stripAnsi: true, maxWidth: 200})
    for (const loadable of own()) {
      // what `sandbox <command> --help` prints
      const rendered = help.commandText(loadable)
      expect(rendered, loadable.id).toContain('EXAMPLES')
      expect(rendered, loadable.id).toContain('DESCRIPTION')
      for (const name of Object.keys(loadable.flags)) {
        const flag = loadable.flags[name]
        if (flag.hidden) continue
        expect(rendered, `${loadable.id} --${name}`).toContain(`--${name}`)
      }
      const bin = `${config.bin} ${loadable.id.split(':').join(' ')}`
      expect(rendered, `${loadable.id}: examples use the command's own name`).toContain(bin)
    }
  })

  it('--help is what package.json configures: our Help class', () => {
    expect(config.pjson.oclif.helpClass).toBe('./dist/help')
  })

  it('no line break inside a sentence: with room enough, every paragraph of every description is one line', () => {
    const help = new RenderHelp(config, {stripAnsi: true, maxWidth: 100_000})
    const problems: string[] = []
    for (const loadable of own()) {
      const rendered = help.commandText(loadable)
      const description = rendered.split('\nDESCRIPTION\n')[1]?.split('\nEXAMPLES\n')[0] ?? ''
      const lines = description.split('\n').map((l) => l.replace(/^ {2}/, ''))
      for (let i = 0; i + 1 < lines.length; i++) {
        const [a, b] = [lines[i], lines[i + 1]]
        if (a.trim() && b.trim() && !/:\s*$/.test(a) && !/^\s|^([-*•]|\d+[.)])\s/.test(b))
          problems.push(`${loadable.id}: ${JSON.stringify(a.slice(-30))} ⏎ ${JSON.stringify(b.slice(0, 30))}`)
      }
      for (const [name, flag] of Object.entries(loadable.flags)) {
        if (flag.description && unwrap(flag.description).includes('\n')) problems.push(`${loadable.id} --${name}: line break in its description`)
      }
    }
    expect(problems).toEqual([])
  })

  it('unwrap joins the lines of a paragraph and keeps paragraphs, lists and indented lines', () => {
    expect(unwrap('One sentence that goes\non here.\nAnother.\n\nNext paragraph:\n- item one\n- item two\n  indented')).toBe(
      'One sentence that goes on here. Another.\n\nNext paragraph:\n- item one\n- item two\n  indented',
    )
  })

  it('one long name per short flag across all commands (-t is always --timeout)', async () => {
    const names = new Map<string, Set<string>>()
    for (const loadable of own()) {
      for (const [name, flag] of Object.entries(loadable.flags)) {
        if (!flag.char) continue
        names.set(flag.char, (names.get(flag.char) ?? new Set()).add(name))
      }
    }
    const clashes = [...names].filter(([, n]) => n.size > 1).map(([c, n]) => `-${c}: ${[...n].join(', ')}`)
    expect(clashes).toEqual([])
    expect([...(names.get('t') ?? [])]).toEqual(['timeout'])
  })
})
