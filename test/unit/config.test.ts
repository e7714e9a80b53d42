import {describe, expect, it} from 'vitest'

import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {formatDuration, loadConfig, parseDuration, parseEnvFile, parseMemory} from '../../src/config.js'
import {formatEnvLine, formatEnvValue, parseEnv} from '../../src/dotenv.js'
import {renderEnvTemplate} from '../../src/setup/env-file.js'

describe('config parsing', () => {
  it('durations: RAGFlow formats plus bare seconds (RAGFlow bug #9442)', () => {
    expect(parseDuration('10')).toBe(10)
    expect(parseDuration('60')).toBe(60)
    expect(parseDuration('90s')).toBe(90)
    expect(parseDuration('2m')).toBe(120)
    expect(parseDuration('1m30s')).toBe(90)
    expect(parseDuration(' 1M30S ')).toBe(90)
    for (const bad of ['0', '', 'abc', '1h', '-5', '0s']) expect(() => parseDuration(bad), bad).toThrow(/Invalid timeout/)
    expect(formatDuration(90)).toBe('1m30s')
    expect(formatDuration(10)).toBe('10s')
  })

  it('memory: positive integer + b/k/m/g', () => {
    expect(parseMemory('256m')).toBe(256 * 1024 * 1024)
    expect(parseMemory('1G')).toBe(1024 ** 3)
    for (const bad of ['0m', '256', '256mb', '1.5g', '1m']) expect(() => parseMemory(bad), bad).toThrow(/Invalid memory/)
    // the Node.js runner does not start in less than 32 MiB under gVisor (measured: 24m fails)
    for (const small of ['16m', '31m', '32767k']) expect(() => parseMemory(small), small).toThrow(/at least 32m is needed to start a runtime/)
    expect(parseMemory('32m')).toBe(32 * 1024 * 1024)
  })

  it('.env parsing: comments, quotes, export', () => {
    expect(parseEnvFile('# c\nA=1\nexport B="two words"\nC=3 # note\n\nbad line')).toEqual({A: '1', B: 'two words', C: '3'})
  })

  it('env overrides defaults, overrides win over env, bad values are clear errors', () => {
    const c = loadConfig({env: {SANDBOX_TIMEOUT: '60', SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: '4', SANDBOX_ENABLE_SECCOMP: 'yes'}, overrides: {poolSize: 7}})
    expect(c.timeoutSeconds).toBe(60)
    expect(c.poolSize).toBe(7)
    expect(c.enableSeccomp).toBe(true)
    expect(c.memoryBytes).toBe(256 * 1024 * 1024)
    expect(() => loadConfig({env: {SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: 'many'}})).toThrow(/SANDBOX_EXECUTOR_MANAGER_POOL_SIZE/)
    expect(() => loadConfig({env: {SANDBOX_MAX_MEMORY: '1.5g'}})).toThrow(/SANDBOX_MAX_MEMORY/)
    expect(() => loadConfig({envFile: '/nonexistent/.env', env: {}})).toThrow(/does not exist/)
  })
})

describe('package lists', async () => {
  const {parseList} = await import('../../src/config.js')
  it('split on spaces and commas, but not inside a version range', () => {
    expect(parseList('numpy, scipy  pandas>=2,<3 x==1')).toEqual(['numpy', 'scipy', 'pandas>=2,<3', 'x==1'])
    expect(parseList(undefined)).toEqual([])
  })
})

/**
 * `.env` rules: dotenv's documented cases (motdotla/dotenv tests/.env, tests/.env-multiline,
 * tests/test-parse.js, README "Comments" / "Multiline values") and the cases in Node's
 * util.parseEnv / --env-file documentation.
 */
describe('.env files follow dotenv', () => {
  const DOTENV_TEST_FILE = [
    'BASIC=basic',
    '',
    '# previous line intentionally left blank',
    'AFTER_LINE=after_line',
    'EMPTY=',
    "EMPTY_SINGLE_QUOTES=''",
    'EMPTY_DOUBLE_QUOTES=""',
    'EMPTY_BACKTICKS=``',
    "SINGLE_QUOTES='single_quotes'",
    "SINGLE_QUOTES_SPACED='    single quotes    '",
    'DOUBLE_QUOTES="double_quotes"',
    'DOUBLE_QUOTES_SPACED="    double quotes    "',
    'DOUBLE_QUOTES_INSIDE_SINGLE=\'double "quotes" work inside single quotes\'',
    'DOUBLE_QUOTES_WITH_NO_SPACE_BRACKET="{ port: $MONGOLAB_PORT}"',
    'SINGLE_QUOTES_INSIDE_DOUBLE="single \'quotes\' work inside double quotes"',
    "BACKTICKS_INSIDE_SINGLE='`backticks` work inside single quotes'",
    'BACKTICKS_INSIDE_DOUBLE="`backticks` work inside double quotes"',
    'BACKTICKS=`backticks`',
    'BACKTICKS_SPACED=`    backticks    `',
    'DOUBLE_QUOTES_INSIDE_BACKTICKS=`double "quotes" work inside backticks`',
    "SINGLE_QUOTES_INSIDE_BACKTICKS=`single 'quotes' work inside backticks`",
    'DOUBLE_AND_SINGLE_QUOTES_INSIDE_BACKTICKS=`double "quotes" and single \'quotes\' work inside backticks`',
    'EXPAND_NEWLINES="expand\\nnew\\nlines"',
    'DONT_EXPAND_UNQUOTED=dontexpand\\nnewlines',
    "DONT_EXPAND_SQUOTED='dontexpand\\nnewlines'",
    '# COMMENTS=work',
    'INLINE_COMMENTS=inline comments # work #very #well',
    "INLINE_COMMENTS_SINGLE_QUOTES='inline comments outside of #singlequotes' # work",
    'INLINE_COMMENTS_DOUBLE_QUOTES="inline comments outside of #doublequotes" # work',
    'INLINE_COMMENTS_BACKTICKS=`inline comments outside of #backticks` # work',
    'INLINE_COMMENTS_SPACE=inline comments start with a#number sign. no space required.',
    'EQUAL_SIGNS=equals==',
    'RETAIN_INNER_QUOTES={"foo": "bar"}',
    'RETAIN_INNER_QUOTES_AS_STRING=\'{"foo": "bar"}\'',
    'RETAIN_INNER_QUOTES_AS_BACKTICKS=`{"foo": "bar\'s"}`',
    'TRIM_SPACE_FROM_UNQUOTED=    some spaced out string',
    'SPACE_BEFORE_DOUBLE_QUOTES=   "space before double quotes"',
    'USERNAME=therealnerdybeast@example.tld',
    '    SPACED_KEY = parsed',
    'EDGE_CASE_INLINE_COMMENTS="VALUE1" # or "VALUE2" or "VALUE3"',
    'export EXPORT_EXAMPLE = ignore export',
    '',
  ].join('\n')

  it("reads dotenv's own test file as dotenv does", () => {
    expect(parseEnv(DOTENV_TEST_FILE)).toEqual({
      BASIC: 'basic',
      AFTER_LINE: 'after_line',
      EMPTY: '',
      EMPTY_SINGLE_QUOTES: '',
      EMPTY_DOUBLE_QUOTES: '',
      EMPTY_BACKTICKS: '',
      SINGLE_QUOTES: 'single_quotes',
      SINGLE_QUOTES_SPACED: '    single quotes    ',
      DOUBLE_QUOTES: 'double_quotes',
      DOUBLE_QUOTES_SPACED: '    double quotes    ',
      DOUBLE_QUOTES_INSIDE_SINGLE: 'double "quotes" work inside single quotes',
      DOUBLE_QUOTES_WITH_NO_SPACE_BRACKET: '{ port: $MONGOLAB_PORT}',
      SINGLE_QUOTES_INSIDE_DOUBLE: "single 'quotes' work inside double quotes",
      BACKTICKS_INSIDE_SINGLE: '`backticks` work inside single quotes',
      BACKTICKS_INSIDE_DOUBLE: '`backticks` work inside double quotes',
      BACKTICKS: 'backticks',
      BACKTICKS_SPACED: '    backticks    ',
      DOUBLE_QUOTES_INSIDE_BACKTICKS: 'double "quotes" work inside backticks',
      SINGLE_QUOTES_INSIDE_BACKTICKS: "single 'quotes' work inside backticks",
      DOUBLE_AND_SINGLE_QUOTES_INSIDE_BACKTICKS: 'double "quotes" and single \'quotes\' work inside backticks',
      EXPAND_NEWLINES: 'expand\nnew\nlines',
      DONT_EXPAND_UNQUOTED: 'dontexpand\\nnewlines',
      DONT_EXPAND_SQUOTED: 'dontexpand\\nnewlines',
      INLINE_COMMENTS: 'inline comments',
      INLINE_COMMENTS_SINGLE_QUOTES: 'inline comments outside of #singlequotes',
      INLINE_COMMENTS_DOUBLE_QUOTES: 'inline comments outside of #doublequotes',
      INLINE_COMMENTS_BACKTICKS: 'inline comments outside of #backticks',
      INLINE_COMMENTS_SPACE: 'inline comments start with a',
      EQUAL_SIGNS: 'equals==',
      RETAIN_INNER_QUOTES: '{"foo": "bar"}',
      RETAIN_INNER_QUOTES_AS_STRING: '{"foo": "bar"}',
      RETAIN_INNER_QUOTES_AS_BACKTICKS: '{"foo": "bar\'s"}',
      TRIM_SPACE_FROM_UNQUOTED: 'some spaced out string',
      SPACE_BEFORE_DOUBLE_QUOTES: 'space before double quotes',
      USERNAME: 'therealnerdybeast@example.tld',
      SPACED_KEY: 'parsed',
      EDGE_CASE_INLINE_COMMENTS: 'VALUE1',
      EXPORT_EXAMPLE: 'ignore export',
    })
    // the same quote inside a quoted value (Node's and dotenv's results agree)
    expect(parseEnv('KEY="hello "world" goodbye"\nK2="hello "world"" # a "comment"\nK3=\'hello "world" goodbye\'')).toEqual({
      KEY: 'hello "world" goodbye',
      K2: 'hello "world"',
      K3: 'hello "world" goodbye',
    })
  })

  it("multi-line values (dotenv's .env-multiline), in every quote style", () => {
    const pem = '-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnNl1tL3QjKp3DZWM0T3u\n-----END PUBLIC KEY-----'
    const text = [
      'MULTI_DOUBLE_QUOTED="THIS\nIS\nA\nMULTILINE\nSTRING"',
      '',
      "MULTI_SINGLE_QUOTED='THIS\nIS\nA\nMULTILINE\nSTRING'",
      '',
      'MULTI_BACKTICKED=`THIS\nIS\nA\n"MULTILINE\'S"\nSTRING`',
      `MULTI_PEM_DOUBLE_QUOTED="${pem}"`,
      'AFTER=after',
    ].join('\n')
    expect(parseEnv(text)).toEqual({
      MULTI_DOUBLE_QUOTED: 'THIS\nIS\nA\nMULTILINE\nSTRING',
      MULTI_SINGLE_QUOTED: 'THIS\nIS\nA\nMULTILINE\nSTRING',
      MULTI_BACKTICKED: 'THIS\nIS\nA\n"MULTILINE\'S"\nSTRING',
      MULTI_PEM_DOUBLE_QUOTED: pem,
      AFTER: 'after',
    })
    // README: a private key on one line with \n in double quotes
    expect(parseEnv('PRIVATE_KEY="-----BEGIN RSA PRIVATE KEY-----\\nKh9NV...\\n-----END RSA PRIVATE KEY-----\\n"').PRIVATE_KEY).toBe(
      '-----BEGIN RSA PRIVATE KEY-----\nKh9NV...\n-----END RSA PRIVATE KEY-----\n',
    )
  })

  it('line endings, export, later lines win, lines that are not assignments', () => {
    const expected = {SERVER: 'localhost', PASSWORD: 'password', DB: 'tests'}
    expect(parseEnv('SERVER=localhost\rPASSWORD=password\rDB=tests\r')).toEqual(expected)
    expect(parseEnv('SERVER=localhost\nPASSWORD=password\nDB=tests\n')).toEqual(expected)
    expect(parseEnv('SERVER=localhost\r\nPASSWORD=password\r\nDB=tests\r\n')).toEqual(expected)
    expect(parseEnv('export OPTION_A=2\nexport  OPTION_B="x y"\n  export OPTION_C=3\nexportD=4')).toEqual({OPTION_A: '2', OPTION_B: 'x y', OPTION_C: '3', exportD: '4'})
    expect(parseEnv('A=1\nA=2')).toEqual({A: '2'})
    expect(parseEnv('what is this\n  # indented comment\nB=2\n=novalue\n')).toEqual({B: '2'})
    expect(parseEnv('A=\nB=   \nC= # only a comment')).toEqual({A: '', B: '', C: ''})
  })

  it("the issue's case: a quoted token with an inline comment is read without its quotes", () => {
    expect(parseEnvFile('SANDBOX_API_TOKEN="s3cr3t" # token')).toEqual({SANDBOX_API_TOKEN: 's3cr3t'})
    expect(parseEnvFile("SANDBOX_API_TOKEN='s3cr3t' # token")).toEqual({SANDBOX_API_TOKEN: 's3cr3t'})
    expect(parseEnvFile('SANDBOX_API_TOKEN = "s3 cr#3t"   # token')).toEqual({SANDBOX_API_TOKEN: 's3 cr#3t'})
    // quotes that do not close on the value: ordinary characters
    expect(parseEnvFile('A="x"y\nB="unterminated\nC=3')).toEqual({A: '"x"y', B: '"unterminated', C: '3'})
    // an escaped quote does not end a double-quoted value; the backslash stays (dotenv)
    expect(parseEnvFile('A="say \\"hi\\""')).toEqual({A: 'say \\"hi\\"'})
  })

  it('loadConfig reads a .env file with these rules', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dotenv-'))
    try {
      const file = join(dir, '.env')
      writeFileSync(file, 'export SANDBOX_API_TOKEN="s3cr3t" # token\nSANDBOX_TIMEOUT=30s # per run\nSANDBOX_BASE_PYTHON_IMAGE=\'my-python:1\'\n')
      const config = loadConfig({envFile: file, env: {}})
      expect(config.apiToken).toBe('s3cr3t')
      expect(config.timeoutSeconds).toBe(30)
      expect(config.pythonImage).toBe('my-python:1')
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('the writer writes every value so that the reader reads it back identically', () => {
    const values = [
      '',
      'plain',
      '256m',
      'sandbox-base-python:latest',
      'http://user@host:9385/x?a=b&c',
      's3cr3t # not a comment',
      '#starts-with-hash',
      'two words',
      '  leading and trailing  ',
      'tab\tinside',
      "single ' quote",
      'double " quote',
      'back ` tick',
      'both \' and "',
      '\' " together `',
      'multi\nline',
      'literal \\n backslash-n',
      'ends with backslash \\',
      '"quoted"',
      "'quoted'",
      '`quoted`',
      'a=b',
      'ünïcødé ✓',
      'pandas>=2,<3 numpy',
      '\\',
      '"',
      "'",
      '#',
      ' ',
      'x #',
      '\r\n',
      'key=val # c\nNEXT=injected',
    ]
    for (const value of values) {
      const line = formatEnvLine('SANDBOX_VALUE', value)
      expect(parseEnv(`${line}\nAFTER=1\n`), JSON.stringify(value)).toEqual({SANDBOX_VALUE: value, AFTER: '1'})
    }
    expect(formatEnvValue('plain')).toBe('plain')
    expect(formatEnvValue('two words')).toBe("'two words'")
    expect(formatEnvValue('a\r\nb')).toBe('"a\\r\\nb"')
    expect(formatEnvValue('all \' " ` three\n')).toBe('"all \' " ` three\\n"')
    expect(() => formatEnvValue('all \' " ` \\n three\n')).toThrow(/cannot be written/)
    expect(() => formatEnvLine('BAD NAME', 'x')).toThrow(/Invalid .env variable name/)
    // the template renderer uses the same writer
    expect(parseEnv(renderEnvTemplate('A={{a}}\nB={{b}}\n', {a: 'x # y', b: "it's"}))).toEqual({A: 'x # y', B: "it's"})
  })
})
