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

describe('bin/run.js as installed (started by its #! line)', () => {
  it('leaves --env-file to the CLI: Node 20 would take it as its own option and exit 9', () => {
    let failure: {status: number; stderr: string} | undefined
    try {
      execFileSync('./bin/run.js', ['run', 'examples/hello.py', '--env-file', '/nonexistent/sandbox.env'], {encoding: 'utf8', stdio: 'pipe'})
    } catch (error) {
      failure = error as {status: number; stderr: string}
    }
    expect(failure?.stderr).toContain('The env file /nonexistent/sandbox.env does not exist')
    expect(failure?.status).toBe(4)
  })
})
