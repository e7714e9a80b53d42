/**
 * The CLI's own logic, without a daemon: error shapes and exit codes of parse errors, "did you
 * mean", the streaming tap, saving artifacts without replacing files, printing untrusted names.
 * (The real command line, end to end, is test/integration/cli.test.ts.)
 */
import {lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Config} from '@oclif/core'
import {afterEach, beforeAll, describe, expect, it} from 'vitest'

import {saveArtifacts} from '../../src/artifacts.js'
import type {ProviderConfigureCommand} from '../../src/commands/configure.js'
import ConfigureDocker from '../../src/commands/configure/docker.js'
import ConfigureE2b from '../../src/commands/configure/e2b.js'
import {renderError, snakeCaseKeys} from '../../src/base-command.js'
import {checkArtifacts, isSafeArtifactName} from '../../src/engine/classify.js'
import {frameLimits} from '../../src/engine/frame.js'
import {OutputCollector} from '../../src/engine/output.js'
import type {Artifact} from '../../src/engine/result.js'
import {closest, editDistance} from '../../src/suggest.js'
import {printable, quote} from '../../src/text.js'

const artifact = (name: string, content = 'data'): Artifact => ({name, mime_type: 'text/csv', size: content.length, content_b64: Buffer.from(content).toString('base64')})

describe('did you mean', () => {
  it('finds the nearest name for typos, swaps and prefixes, and nothing for unrelated words', () => {
    expect(editDistance('stpo', 'stop')).toBe(1)
    expect(closest('tiemout', ['timeout', 'memory', 'arg'])).toBe('timeout')
    expect(closest('rnu', ['run', 'start', 'stop', 'status'])).toBe('run')
    expect(closest('confgure', ['configure', 'clean'])).toBe('configure')
    expect(closest('save', ['save-artifacts', 'json'])).toBe('save-artifacts')
    expect(closest('xyzzy', ['run', 'start', 'stop'])).toBeUndefined()
    expect(closest('aws', ['aliyun', 'e2b', 'docker'])).toBeUndefined()
  })
})

describe('errors in one shape', () => {
  it('text: message, code, one suggestion inline or several as a list', () => {
    expect(renderError({code: 'X', message: 'm', suggestions: [], exit: 2})).toBe('Error: m\nCode: X\n')
    expect(renderError({code: 'X', message: 'm', suggestions: ['a'], exit: 2})).toBe('Error: m\nCode: X\nTry this: a\n')
    expect(renderError({code: 'X', message: 'm', suggestions: ['a', 'b'], exit: 2})).toBe('Error: m\nCode: X\nTry this:\n  * a\n  * b\n')
  })

  let config: Config
  beforeAll(async () => {
    config = await Config.load({root: process.cwd()})
  })

  /** what a command (run unless named) reports (text is not printed here: only the report and the JSON) */
  async function parseFailure(argv: string[], command: string | typeof ProviderConfigureCommand = 'run') {
    const Command = typeof command === 'string' ? (await import(`../../src/commands/${command}.ts`)).default : command
    const cmd = new Command(argv, config) as unknown as {init(): Promise<void>; errorReport(e: unknown): unknown; toErrorJson(e: unknown): unknown}
    const error = await cmd.init().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error, argv.join(' ')).toBeDefined()
    return {report: cmd.errorReport(error) as {code: string; exit: number; message: string}, json: cmd.toErrorJson(error)}
  }

  it.each([
    [['x.py', '--arg', 'a'], 'INVALID_ARGUMENT', /Malformed --arg "a"/],
    [['x.py', '--timeout', 'abc'], 'INVALID_DURATION', /Invalid --timeout "abc"/],
    [['x.py', '--memory', '5x'], 'INVALID_MEMORY', /Invalid --memory "5x"/],
    [['x.py', '--policy', 'maybe'], 'INVALID_FLAG_VALUE', /--policy=maybe/],
    [['x.py', '--language', 'cobol'], 'UNKNOWN_LANGUAGE', /cobol/],
    [['x.py', '--args-json', '[1]'], 'INVALID_ARGUMENT', /JSON object/],
    [['x.py', '--tiemout', '3'], 'UNKNOWN_FLAG', /--tiemout: did you mean --timeout\?/],
    [['x.py', '--provider', 'nope'], 'UNKNOWN_PROVIDER', /Unknown sandbox provider "nope"/],
    [[], 'MISSING_ARGUMENT', /Missing argument FILE/],
    [['x.py', 'y.py'], 'UNEXPECTED_ARGUMENT', /Unexpected argument/],
  ])('run %j: usage error %s (exit 2) in the documented JSON shape', async (argv, code, message) => {
    const {report, json} = await parseFailure(argv)
    expect(report).toMatchObject({code, exit: 2})
    expect(report.message).toMatch(message)
    expect(report.message).not.toMatch(/See more help|Parsing --/)
    // exactly the documented fields: no oclif parse context, no stack
    expect(Object.keys((json as {error: object}).error)).toEqual(['code', 'message', 'suggestions', 'exit'])
    expect(JSON.stringify(json).length).toBeLessThan(2000)
  })

  it.each([
    ['status', ['--endpoint', 'notaurl'], 'ENDPOINT_INVALID', /Invalid endpoint URL "notaurl"/],
    ['status', ['--endpoint', 'ftp://127.0.0.1:9385'], 'ENDPOINT_INVALID', /only http and https/],
    ['test', ['--endpoint', 'notaurl'], 'ENDPOINT_INVALID', /Invalid endpoint URL "notaurl"/],
    ['test', ['--provider', 'nope'], 'UNKNOWN_PROVIDER', /Unknown sandbox provider "nope"/],
  ])('%s %j: a malformed value is a usage error %s (exit 2) in every command, not only run', async (command, argv, code, message) => {
    const {report, json} = await parseFailure(argv, command)
    expect(report).toMatchObject({code, exit: 2})
    expect(report.message).toMatch(message)
    expect(Object.keys((json as {error: object}).error)).toEqual(['code', 'message', 'suggestions', 'exit'])
  })

  it.each([
    ['docker', ConfigureDocker, ['--timeout', 'abc'], 'INVALID_FLAG_VALUE', /^Invalid --timeout "abc": must be an integer$/],
    ['docker', ConfigureDocker, ['--memory', '5x'], 'INVALID_MEMORY', /^Invalid --memory "5x": use a size like 256m/],
    ['e2b', ConfigureE2b, ['--timeout', '1.5'], 'INVALID_FLAG_VALUE', /^Invalid --timeout "1.5": must be an integer$/],
  ])('configure %s %j: a flag value of the wrong type or format is a usage error %s (exit 2) naming the flag', async (_id, command, argv, code, message) => {
    const {report} = await parseFailure(argv, command)
    expect(report).toMatchObject({code, exit: 2})
    expect(report.message).toMatch(message)
  })
})

describe('--json field names: one case (snake_case) for every command', () => {
  it('converts our keys, at any depth, and leaves data that is not ours alone', () => {
    const out = snakeCaseKeys({
      wasRunning: true,
      containersKept: [{ownerPid: '1', reason: 'alive'}],
      byStatus: {success: 1, program_error: 2},
      exit_code: 0,
      SANDBOX_TIMEOUT: '10s',
      'io.sandbox.owner': 'x',
      result: {present: true, type: 'json', value: {camelCase: {deepKey: 1}}},
      config: {accessKeyId: 'stored as given'},
    })
    expect(out).toEqual({
      was_running: true,
      containers_kept: [{owner_pid: '1', reason: 'alive'}],
      by_status: {success: 1, program_error: 2},
      exit_code: 0,
      SANDBOX_TIMEOUT: '10s',
      'io.sandbox.owner': 'x',
      result: {present: true, type: 'json', value: {camelCase: {deepKey: 1}}},
      config: {accessKeyId: 'stored as given'},
    })
  })
})

describe('streaming tap (OutputCollector onOutput)', () => {
  // the runner's frames may start anywhere in a line: no newline of the runner's precedes them
  const frame = (nonce: string) =>
    `__SANDBOX_CONTROL_${nonce}__:${Buffer.from(JSON.stringify({ok: true, result: null, error: null, error_type: null, exit_code: 0, artifacts: [], notes: []})).toString('base64')}\n`
  const end = (nonce: string) => `__SANDBOX_END_${nonce}__\n`
  const collector = (maxOutputBytes: number, onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) => void) =>
    new OutputCollector({nonce: 'n', maxOutputBytes, limits: frameLimits(), onOutput})

  it.each(['hello\nworld\n', 'no newline', '', '\n\n', 'a\n\nb'])('streams exactly the bytes the result keeps: %j', (text) => {
    const seen = {stdout: '', stderr: ''}
    const c = collector(1000, (stream, chunk) => (seen[stream] += chunk.toString()))
    const out = Buffer.from(text + frame('n'))
    for (let i = 0; i < out.length; i += 2) c.stdout(out.subarray(i, i + 2))
    c.stderr(Buffer.from(text + end('n')))
    const final = c.finish()
    expect(seen.stdout).toBe(final.stdout)
    expect(seen.stderr).toBe(final.stderr)
    expect(final.stdout).toBe(text)
    expect(final.frame?.kind).toBe('ok')
  })

  it('streams nothing beyond the output cap, and never the frames', () => {
    let streamed = ''
    const c = collector(5, (_s, chunk) => (streamed += chunk.toString()))
    c.stdout(Buffer.from('0123456789\n' + frame('n')))
    expect(streamed).toBe('01234')
    expect(streamed).not.toContain('SANDBOX')
  })

  it("a trailing newline is the user's and is streamed as it arrives", () => {
    let streamed = ''
    const c = collector(1000, (_s, chunk) => (streamed += chunk.toString()))
    c.stdout(Buffer.from('partial\n'))
    expect(streamed).toBe('partial\n')
    c.finish()
    expect(streamed).toBe('partial\n')
  })
})

describe('artifact names from a sandbox', () => {
  it('control characters, separators and bidi controls are refused by the one check', () => {
    for (const bad of [
      'a\nb.png',
      'x\u001b[2J.csv',
      'del\u007f.csv',
      'c1\u0085.csv',
      'rlo\u202egnp.csv',
      'ls\u2028.csv',
      'tab\t.csv',
      '../x.csv',
      '.hidden.csv',
      'a/b.csv',
      'nul\0.csv',
    ]) {
      expect(isSafeArtifactName(bad), JSON.stringify(bad)).toBe(false)
    }
    for (const good of ['chart.png', 'data (1).csv', 'résumé.pdf', '图表.svg']) expect(isSafeArtifactName(good), good).toBe(true)
  })

  it('a refused name is reported escaped', () => {
    const {artifacts, rejected} = checkArtifacts([{name: 'x\u202e\u001b[2J\u0085.csv', size: 1, content_b64: 'eA=='}])
    expect(artifacts).toEqual([])
    expect(rejected).toEqual(['artifact "x\\u202e\\u001b[2J\\u0085.csv" rejected: invalid name or type'])
  })

  it('are printed escaped, never raw', () => {
    expect(printable('chart.png')).toBe('chart.png')
    expect(printable('a\nb\u001b[2J.png')).toBe('"a\\nb\\u001b[2J.png"')
    expect(quote('x\u0085\u202e')).toBe('"x\\u0085\\u202e"')
    expect(quote('x\u0085\u202e')).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/)
  })
})

describe('saveArtifacts', () => {
  let dir: string
  afterEach(() => rmSync(dir, {recursive: true, force: true}))
  const fresh = () => (dir = mkdtempSync(join(tmpdir(), 'sandbox-artifacts-')))

  it('writes new files into DIR (created when missing)', () => {
    fresh()
    const target = join(dir, 'out', 'sub')
    const saved = saveArtifacts(target, [artifact('a.csv', '1,2'), artifact('b.json', '{}')])
    expect(saved.map((s) => s.path)).toEqual([join(target, 'a.csv'), join(target, 'b.json')])
    expect(readFileSync(join(target, 'a.csv'), 'utf8')).toBe('1,2')
  })

  it('never replaces a file: an existing package.json stays untouched and nothing is written', () => {
    fresh()
    writeFileSync(join(dir, 'package.json'), '{"name": "mine"}')
    expect(() => saveArtifacts(dir, [artifact('a.csv'), artifact('package.json', '{"scripts": {"postinstall": "evil"}}')])).toThrow(
      expect.objectContaining({code: 'ARTIFACT_EXISTS', exit: 4}),
    )
    expect(readFileSync(join(dir, 'package.json'), 'utf8')).toBe('{"name": "mine"}')
    expect(readdirSync(dir)).toEqual(['package.json'])
  })

  it("does not follow a symbolic link that has the artifact's name", () => {
    fresh()
    const outside = join(dir, 'outside.csv')
    writeFileSync(outside, 'keep')
    mkdirSync(join(dir, 'out'))
    symlinkSync(outside, join(dir, 'out', 'x.csv'))
    expect(() => saveArtifacts(join(dir, 'out'), [artifact('x.csv', 'evil')])).toThrow(expect.objectContaining({code: 'ARTIFACT_EXISTS'}))
    expect(readFileSync(outside, 'utf8')).toBe('keep')
    expect(lstatSync(join(dir, 'out', 'x.csv')).isSymbolicLink()).toBe(true)
  })

  it('refuses unsafe or duplicate names before writing anything, and names them escaped', () => {
    fresh()
    for (const list of [[artifact('ok.csv'), artifact('bad\n\u001b[31m.csv')], [artifact('ok.csv'), artifact('ok.csv')], [artifact('../up.csv')]]) {
      let error: Error | undefined
      try {
        saveArtifacts(dir, list)
      } catch (e) {
        error = e as Error
      }
      expect(error).toMatchObject({code: 'UNSAFE_ARTIFACT_NAME'})
      expect(error!.message).not.toMatch(/[\u0000-\u001f]/)
      expect(readdirSync(dir)).toEqual([])
    }
  })
})
