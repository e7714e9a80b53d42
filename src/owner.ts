/**
 * Who owns a sandbox, and whether that owner still runs: the one rule behind every "leftover"
 * decision (engine start, `sandbox stop`, `sandbox clean`, for containers and runsc sandboxes,
 * and the users of a runsc rootfs export).
 *
 * An owner is recorded as its host name, pid, the kernel's boot id and the process's start
 * time (clock ticks since boot, from /proc). The host name is the owner's slot: a manager
 * container always has the same one (`sandbox-executor-manager`), so that a restarted manager
 * removes what its predecessor left (docs/scale-out.md). Within a host name, a pid alone is a
 * guess: after a reboot, or once the number is reused (in another pid namespace, such as the
 * next manager container's, it is another process from the start), it names someone else. The
 * boot id and start time make it a fact: an owner of an earlier boot is gone, and one whose pid
 * now runs with another start time is gone. Records without them (older versions, or where /proc
 * does not tell) are judged by the pid alone, as before.
 */
import {readFileSync} from 'node:fs'
import {hostname} from 'node:os'

import {isSameProcess, processStartTicks} from './process.js'

export interface OwnerIdentity {
  host: string
  pid: number
  /** the kernel's boot id (/proc/sys/kernel/random/boot_id) */
  boot?: string
  /** the process's start time, clock ticks since boot */
  startTicks?: number
}

/**
 * - self: this process
 * - live: another process of this host that still runs
 * - gone: a process of this host that has ended (or an earlier boot's)
 * - elsewhere: another host: its pid cannot be checked from here
 */
export type OwnerState = 'self' | 'live' | 'gone' | 'elsewhere'

let bootOfThisKernel: string | null | undefined

/** This kernel's boot id, or undefined where /proc does not tell. */
export function bootId(): string | undefined {
  if (bootOfThisKernel === undefined) {
    try {
      bootOfThisKernel = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null
    } catch {
      bootOfThisKernel = null
    }
  }
  return bootOfThisKernel ?? undefined
}

let startOfThisProcess: number | null | undefined

/** This process as an owner. */
export function ownIdentity(): OwnerIdentity {
  if (startOfThisProcess === undefined) startOfThisProcess = processStartTicks(process.pid) ?? null
  return {host: hostname(), pid: process.pid, boot: bootId(), startTicks: startOfThisProcess ?? undefined}
}

/** Whether `owner` is process `pid` of this host (its start time unknown): what another process of ours owns, e.g. the manager `sandbox stop` stopped. */
export const isOwnedByPid = (owner: OwnerIdentity, pid: number): boolean => ownerState(owner, {self: {host: hostname(), pid, boot: bootId()}}) === 'self'

/** The state of a recorded owner, seen from `self` (default: this process). `alive`: whether that pid runs with that start time. */
export function ownerState(owner: OwnerIdentity, options: {self?: OwnerIdentity; alive?: (pid: number, startTicks?: number) => boolean} = {}): OwnerState {
  const self = options.self ?? ownIdentity()
  if (owner.host !== self.host) return 'elsewhere'
  if (owner.boot && self.boot && owner.boot !== self.boot) return 'gone'
  const sameStart = owner.startTicks === undefined || self.startTicks === undefined || owner.startTicks === self.startTicks
  if (owner.pid === self.pid && sameStart) return 'self'
  return (options.alive ?? isSameProcess)(owner.pid, owner.startTicks) ? 'live' : 'gone'
}
