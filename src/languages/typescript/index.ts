/**
 * TypeScript: transpiled to JavaScript on the host (transpile.ts), then run by the Node.js
 * runner in the Node.js image: `main(args)` as in JavaScript. The policy reads, and remote
 * providers run, the JavaScript that comes out.
 */
import {nodejsRuntime} from '../nodejs/index.js'
import type {LanguageSpec} from '../types.js'
import {transpileTypeScript} from './transpile.js'

export const typescript: LanguageSpec = {
  id: 'typescript',
  label: 'TypeScript',
  aliases: ['typescript', 'ts'],
  extensions: ['.ts', '.mts', '.cts'],
  runtime: nodejsRuntime,
  prepare: transpileTypeScript,
  policy: 'nodejs',
  wrapper: 'javascript',
  warmUpCode: 'export const main = (): number => 1\n',
  aliyunLanguage: 'javascript',
  legacyStdout: 'console.log',
}
