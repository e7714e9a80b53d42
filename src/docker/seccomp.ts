/**
 * The seccomp profile shipped in seccomp/default.json. Docker applies it when containers
 * run under runc; gVisor implements syscalls in its own kernel and ignores it.
 */
import {readFileSync} from 'node:fs'

import {configError, errorMessage} from '../errors.js'
import {packagePath} from '../paths.js'

export interface SeccompRule {
  names: string[]
  action: string
  errnoRet?: number
  args?: {index: number; value: number; valueTwo?: number; op: string}[]
  includes?: {arches?: string[]; caps?: string[]}
  comment?: string
}

export interface SeccompProfile {
  defaultAction: string
  defaultErrnoRet?: number
  archMap?: {architecture: string; subArchitectures: string[] | null}[]
  syscalls: SeccompRule[]
}

/** Absolute path of the profile inside the installed package. */
export function seccompProfilePath(): string {
  return packagePath('seccomp', 'default.json')
}

let cached: string | undefined

/**
 * The profile as compact JSON text, for HostConfig.SecurityOpt `seccomp=<json>`
 * (the daemon takes the profile's content, not a path).
 */
export function loadSeccompProfile(): string {
  if (cached) return cached
  const file = seccompProfilePath()
  let profile: SeccompProfile
  try {
    profile = JSON.parse(readFileSync(file, 'utf8')) as SeccompProfile
  } catch (error) {
    throw configError(`Cannot read the seccomp profile ${file}: ${errorMessage(error)}`, 'SECCOMP_PROFILE_INVALID', ['reinstall the package'], error)
  }
  if (profile.defaultAction !== 'SCMP_ACT_ERRNO' || !Array.isArray(profile.syscalls)) {
    throw configError(`The seccomp profile ${file} must deny by default (SCMP_ACT_ERRNO) and list syscalls`, 'SECCOMP_PROFILE_INVALID')
  }
  // comments are for people; the daemon gets only what it needs
  const {defaultAction, defaultErrnoRet, archMap, syscalls} = profile
  cached = JSON.stringify({defaultAction, defaultErrnoRet, archMap, syscalls: syscalls.map(({comment: _c, ...rule}) => rule)})
  return cached
}

/** Syscall names the profile allows unconditionally (for tests and `sandbox test`). */
export function allowedSyscalls(profile: SeccompProfile = JSON.parse(loadSeccompProfile()) as SeccompProfile): Set<string> {
  const out = new Set<string>()
  for (const rule of profile.syscalls) if (rule.action === 'SCMP_ACT_ALLOW' && !rule.args?.length && !rule.includes) for (const n of rule.names) out.add(n)
  return out
}
