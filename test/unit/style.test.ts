import {describe, expect, it} from 'vitest'

import {checkLine} from '../../src/setup/index.js'
import {colourEnabled, Style} from '../../src/style.js'

const ESC = '\u001B['

describe('colour', () => {
  it('--color and --no-color decide, whatever the environment says', () => {
    expect(colourEnabled('stdout', {NO_COLOR: '1'}, ['node', 'sandbox', 'setup', '--color'])).toBe(true)
    expect(colourEnabled('stdout', {FORCE_COLOR: '1'}, ['node', 'sandbox', 'setup', '--no-color'])).toBe(false)
    expect(colourEnabled('stderr', {}, ['node', 'sandbox', '--color', '--no-color'])).toBe(false)
  })

  it('NO_COLOR turns it off', () => {
    expect(colourEnabled('stdout', {NO_COLOR: '1', FORCE_COLOR: '1'}, ['node', 'sandbox'])).toBe(false)
  })

  it('marks are coloured only when enabled, and the text stays the same', () => {
    const on = new Style(true)
    const off = new Style(false)
    expect(on.mark('ok')).toBe(`${ESC}32m✓${ESC}39m`)
    expect(on.mark('fail')).toBe(`${ESC}31m✗${ESC}39m`)
    expect(off.mark('ok')).toBe('✓')
    const check = {id: 'kernel' as const, title: 'Linux kernel', ok: false, detail: 'too old', fix: 'upgrade'} as unknown as Parameters<typeof checkLine>[0]
    expect(checkLine(check, 14, on).replaceAll(/\u001B\[\d+m/g, '')).toBe(checkLine(check, 14, off))
    expect(checkLine(check, 14, off)).toBe('✗ Linux kernel  too old — fix: upgrade')
  })
})
