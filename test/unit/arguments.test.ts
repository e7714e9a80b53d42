import {describe, expect, it} from 'vitest'

import {buildArguments, parseArgPair} from '../../src/arguments.js'
import {languageForFile, normalizeLanguage} from '../../src/engine/languages.js'

describe('--arg parsing', () => {
  it('takes JSON when the value parses as JSON, text otherwise', () => {
    expect(parseArgPair('count=3')).toEqual(['count', 3])
    expect(parseArgPair('flag=true')).toEqual(['flag', true])
    expect(parseArgPair('nothing=null')).toEqual(['nothing', null])
    expect(parseArgPair('name=World')).toEqual(['name', 'World'])
    expect(parseArgPair('list=[1,"a"]')).toEqual(['list', [1, 'a']])
    expect(parseArgPair('eq=a=b')).toEqual(['eq', 'a=b'])
    expect(parseArgPair('empty=')).toEqual(['empty', ''])
  })

  it('rejects malformed pairs with exit code 2', () => {
    expect(() => parseArgPair('novalue')).toThrow(/Malformed --arg/)
    expect(() => parseArgPair('=x')).toThrow(/Malformed --arg/)
    expect(() => parseArgPair('bad-name=1')).toThrow(/not a valid argument name/)
    try {
      parseArgPair('x')
    } catch (error) {
      expect((error as {exit: number}).exit).toBe(2)
    }
  })

  it('--args-json first, --arg on top; non-objects rejected', () => {
    expect(buildArguments(['b=2'], '{"a": 1, "b": 1}')).toEqual({a: 1, b: 2})
    expect(() => buildArguments([], '[1]')).toThrow(/JSON object/)
    expect(() => buildArguments([], '{nope')).toThrow(/not valid JSON/)
  })
})

describe('languages', () => {
  it('normalises aliases and file extensions', () => {
    expect(normalizeLanguage('javascript')).toBe('nodejs')
    expect(normalizeLanguage('Python3')).toBe('python')
    expect(normalizeLanguage('ruby')).toBeUndefined()
    expect(languageForFile('a/b.py')).toBe('python')
    expect(languageForFile('x.mjs')).toBe('nodejs')
    expect(() => languageForFile('main.rb')).toThrow(/Supported: .py \(Python\), .js .mjs .cjs \(Node.js\)/)
  })
})
