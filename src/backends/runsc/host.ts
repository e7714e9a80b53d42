/**
 * Whether this host can drive gVisor directly (the runsc backend): the binary, root, cgroup v1.
 * Light on purpose (no Docker client): config loading asks it to choose the default backend.
 */
import {findProgram} from '../../exec.js'
import {cgroupProblem} from './cgroup.js'

/** The runsc binary on PATH, or undefined. */
export const findRunsc = (path?: string): string | undefined => findProgram('runsc', path)

/** What this host lacks for the runsc backend (binary, root, cgroups), as prerequisite errors' text; empty when ready. */
export function runscProblems(): Array<{code: string; message: string; suggestions: string[]}> {
  const problems: Array<{code: string; message: string; suggestions: string[]}> = []
  if (!findRunsc()) problems.push({code: 'RUNSC_MISSING', message: 'runsc (gVisor) is not installed or not on PATH', suggestions: ['install it: apt-get install runsc']})
  if (process.getuid?.() !== 0)
    problems.push({
      code: 'RUNSC_NEEDS_ROOT',
      message: 'the runsc backend runs sandboxes as root (runsc makes their cgroups and namespaces)',
      suggestions: ['run the manager as root, or use SANDBOX_BACKEND=docker'],
    })
  const cgroups = cgroupProblem()
  if (cgroups)
    problems.push({code: 'CGROUPS_UNUSABLE', message: `cgroups are not usable by the runsc backend: ${cgroups}`, suggestions: ['use SANDBOX_BACKEND=docker on this host']})
  return problems
}

/** The runsc backend can run here: nothing of runscProblems() is missing. */
export const runscUsable = (): boolean => runscProblems().length === 0
