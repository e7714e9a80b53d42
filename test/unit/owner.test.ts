import {describe, expect, it} from 'vitest'

import {bootId, isOwnedByPid, ownerState, ownIdentity} from '../../src/owner.js'
import {processStartTicks} from '../../src/process.js'

describe('owner state: a pid names the owner only with its boot and start time', () => {
  const self = {host: 'h1', pid: 1000, boot: 'boot-a', startTicks: 500}
  // pid 4242 runs, started at tick 700
  const alive = (pid: number, startTicks?: number) => pid === 4242 && (startTicks === undefined || startTicks === 700)

  it('an owner of this boot: its pid and start time decide', () => {
    expect(ownerState({host: 'h1', pid: 4242, boot: 'boot-a', startTicks: 700}, {self, alive})).toBe('live')
    expect(ownerState({host: 'h1', pid: 4343, boot: 'boot-a', startTicks: 700}, {self, alive})).toBe('gone')
    expect(ownerState({host: 'h1', pid: 1000, boot: 'boot-a', startTicks: 500}, {self, alive})).toBe('self')
    // the pid is reused: another process runs with it now (for our own pid, this process)
    expect(ownerState({host: 'h1', pid: 4242, boot: 'boot-a', startTicks: 690}, {self, alive})).toBe('gone')
    expect(ownerState({host: 'h1', pid: 1000, boot: 'boot-a', startTicks: 20}, {self, alive})).toBe('gone')
  })

  it('an owner of an earlier boot is gone, whatever runs with its pid now', () => {
    expect(ownerState({host: 'h1', pid: 4242, boot: 'boot-0', startTicks: 700}, {self, alive})).toBe('gone')
    expect(ownerState({host: 'h1', pid: 1000, boot: 'boot-0', startTicks: 500}, {self, alive})).toBe('gone')
  })

  it('another host is elsewhere; records without boot or start time (older versions) are judged by the pid', () => {
    expect(ownerState({host: 'h2', pid: 4242, boot: 'boot-a', startTicks: 700}, {self, alive})).toBe('elsewhere')
    expect(ownerState({host: 'h1', pid: 4242}, {self, alive})).toBe('live')
    expect(ownerState({host: 'h1', pid: 4343}, {self, alive})).toBe('gone')
    expect(ownerState({host: 'h1', pid: 1000}, {self, alive})).toBe('self')
  })

  it('this process, from /proc: its boot id and start time, and itself as self', () => {
    expect(bootId()).toMatch(/^[0-9a-f-]{36}$/)
    expect(ownIdentity()).toMatchObject({pid: process.pid, boot: bootId(), startTicks: processStartTicks(process.pid)})
    expect(ownerState(ownIdentity())).toBe('self')
    // another process of this host as the one asking (its start time not known): what it owns is "self"
    expect(isOwnedByPid({...ownIdentity(), pid: 4242, startTicks: 1}, 4242)).toBe(true)
    expect(isOwnedByPid({...ownIdentity(), pid: 4242, startTicks: 1}, 4243)).toBe(false)
    expect(ownerState({...ownIdentity(), startTicks: (ownIdentity().startTicks ?? 0) + 1})).toBe('gone')
  })
})
