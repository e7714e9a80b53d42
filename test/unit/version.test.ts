import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

const run = (bin: string, args: string[]) => execFileSync(process.execPath, [bin, ...args], {encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}})

describe('sandbox --version', () => {
  it('answers without oclif the same line oclif prints', () => {
    const fast = run('bin/run.js', ['--version'])
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'))
    expect(fast).toBe(`${pkg.name}/${pkg.version} ${process.platform}-${process.arch} node-${process.version}\n`)
    // bin/dev.js goes through oclif's own version flag
    expect(run('bin/dev.js', ['--version'])).toBe(fast)
  })

  it('leaves every other use of --version to oclif', () => {
    expect(() => run('bin/run.js', ['run', '--version'])).toThrow()
  })
})
