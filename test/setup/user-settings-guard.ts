/**
 * Every test file: the user's own settings file must be as it was before the file ran. Tests use
 * private settings (--db, SANDBOX_DB_URL, SANDBOX_DATA_DIR); one that wrote the real file would
 * change what `sandbox run` does on this machine afterwards, and the file that did it fails here.
 */
import {createHash} from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'

import {afterAll, beforeAll, expect} from 'vitest'

import {defaultSettingsPath} from '../../src/settings/store.js'

const fingerprint = (file: string) => (existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : 'absent')

let file: string
let before: string

beforeAll(() => {
  file = defaultSettingsPath()
  before = fingerprint(file)
})

afterAll(() => {
  expect(fingerprint(file), `this test file wrote the user's own settings ${file}: use a private --db / SANDBOX_DB_URL / SANDBOX_DATA_DIR`).toBe(before)
})
