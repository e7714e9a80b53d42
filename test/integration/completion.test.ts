/** Shell completion (oclif's autocomplete plugin), driven through a real bash. */
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

const cache = mkdtempSync(join(tmpdir(), 'sandbox-completion-'))
const env = {...process.env, XDG_CACHE_HOME: cache, NO_COLOR: '1'}

/** what bash offers for `line` (the cursor at its end) with the generated completion loaded */
function complete(line: string): string[] {
  const script = `
source "$XDG_CACHE_HOME/sandbox/autocomplete/bash_setup"
read -ra COMP_WORDS <<< "$LINE"
[[ "$LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); COMP_LINE="$LINE"; COMP_POINT=\${#LINE}
fn=$(complete -p sandbox | sed -E 's/.*-F ([^ ]+).*/\\1/')
"$fn"
printf '%s\\n' "\${COMPREPLY[@]}"`
  return execFileSync('bash', ['-c', script], {encoding: 'utf8', env: {...env, LINE: line}})
    .split('\n')
    .filter(Boolean)
}

describe('shell completion', () => {
  beforeAll(() => {
    execFileSync(process.execPath, ['bin/run.js', 'autocomplete', '--refresh-cache'], {env, stdio: 'pipe'})
  })

  it('bash completes command names', () => {
    expect(complete('sandbox st').sort()).toEqual(['start', 'status', 'stop'])
  })

  it("bash completes a command's flags", () => {
    expect(complete('sandbox run --ti')).toEqual(['--timeout'])
  })

  it('bash completes topic subcommands', () => {
    expect(complete('sandbox configure ')).toEqual(expect.arrayContaining(['show', 'use', 'self-managed']))
  })

  it('writes a zsh completion function naming every command', () => {
    const zsh = readFileSync(join(cache, 'sandbox', 'autocomplete', 'functions', 'zsh', '_sandbox'), 'utf8')
    for (const id of ['run', 'start', 'stop', 'status', 'configure', 'test', 'setup', 'build']) expect(zsh).toContain(id)
  })
})
