/**
 * Debian packages a test needs (database servers, sshd, chromium, docker-compose): installed with
 * apt-get when missing, since CI starts on a fresh machine. A package that cannot be installed
 * fails the test with apt's own words; nothing is skipped.
 */
import {findProgram, runProgram} from '../../src/exec.js'

/** the path of a program on PATH (sbin included), or undefined */
export const which = (name: string): string | undefined => findProgram(name)

let aptUpdated = false

/** apt-get install, running apt-get update first only when the install fails. */
export async function aptInstall(packages: string[]): Promise<void> {
  const env = {DEBIAN_FRONTEND: 'noninteractive'}
  const install = () => runProgram('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '-q', '--no-install-recommends', ...packages], {env})
  let r = await install()
  if (r.code !== 0 && !aptUpdated) {
    aptUpdated = true
    const update = await runProgram('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update', '-q'], {env})
    if (update.code !== 0) throw new Error(`apt-get update failed (exit ${update.code}):\n${update.stderr.slice(-4000)}`)
    r = await install()
  }
  if (r.code !== 0) throw new Error(`apt-get install ${packages.join(' ')} failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`)
}

/** `program` on PATH, installing `pkg` first when it is missing */
export async function requireProgram(program: string, pkg: string): Promise<string> {
  let path = which(program)
  if (!path) {
    await aptInstall([pkg])
    path = which(program)
  }
  if (!path) throw new Error(`${program} is still missing after apt-get install ${pkg}`)
  return path
}
