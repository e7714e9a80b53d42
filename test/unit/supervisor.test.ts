/**
 * The CLI's supervision of a manager, logic only: the host is chosen from the record, the
 * launch of the last start survives a stop (restart reuses it) and goes with clean, and one
 * rule says which containers clean removes.
 */
import {existsSync, mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import {LABELS} from '../../src/docker/containers.js'
import {managerFiles, managerState, recordedManager, removeStateFiles, writeState} from '../../src/server/state.js'
import {effectiveSettings} from '../../src/server/status.js'
import {orphanVerdict} from '../../src/supervisor/clean.js'
import {hostFor, hostOf} from '../../src/supervisor/hosts.js'
import {checkTokenKept, lastLaunch, recordLaunch} from '../../src/supervisor/launch.js'

const dir = mkdtempSync(join(tmpdir(), 'sandbox-supervisor-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))
const config = (env: NodeJS.ProcessEnv = {}) => loadConfig({envFile: '/dev/null', env})

describe('the host of a manager', () => {
  it('is chosen from the record: a container record without a pid is the container host, a pid is a process', () => {
    const files = managerFiles(mkdtempSync(join(dir, 'host-')))
    expect(recordedManager(files)).toEqual({state: 'none'})
    expect(hostOf(recordedManager(files)).mode).toBe('process')
    const settings = effectiveSettings(config())
    writeState(managerState({mode: 'docker', containerName: 'sandbox-executor-manager', address: {host: '127.0.0.1', port: 1}, settings, warnings: []}), files)
    const rec = recordedManager(files)
    expect(rec.state).toBe('elsewhere')
    expect(hostOf(rec)).toBe(hostFor('docker'))
    // a process record whose pid file is gone is stale, on the process host
    writeState({...managerState({mode: 'process', address: {host: '127.0.0.1', port: 1}, settings, warnings: []}), pid: 999_999_999}, files)
    expect(recordedManager(files).state).toBe('stale')
    expect(hostOf(recordedManager(files))).toBe(hostFor('process'))
  })
})

describe('the recorded launch', () => {
  it('survives stop (restart reuses it, with the host it ran on) and goes with clean; mode 0600; never the token', () => {
    const files = managerFiles(mkdtempSync(join(dir, 'launch-')))
    const cfg = config({SANDBOX_API_TOKEN: 's3cret-token', SANDBOX_EXECUTOR_MANAGER_PORT: '9426'})
    const launch = {flags: {SANDBOX_EXECUTOR_MANAGER_PORT: '9426'}, environment: {SANDBOX_TIMEOUT: '30s'}}
    recordLaunch(files, {mode: 'docker', launch, config: cfg, network: 'docker_ragflow', image: 'img:1'})
    expect(statSync(files.launchFile).mode & 0o777).toBe(0o600)
    expect(JSON.stringify(lastLaunch(files, undefined))).not.toContain('s3cret-token')
    // what stop does to the state files
    removeStateFiles(files)
    const last = lastLaunch(files, undefined)!
    expect(last).toMatchObject({mode: 'docker', launch, network: 'docker_ragflow', image: 'img:1', tokenRequired: true, settings: {port: 9426}})
    // a manager that had a token is not brought back without one
    expect(() => checkTokenKept(last, config())).toThrow(/API token/)
    expect(() => checkTokenKept(last, cfg)).not.toThrow()
    // clean removes it
    expect(removeStateFiles(files, {all: true})).toContain(files.launchFile)
    expect(existsSync(files.launchFile)).toBe(false)
    expect(lastLaunch(files, undefined)).toBeUndefined()
  })

  it("falls back to the running manager's record, and ignores an unreadable file", () => {
    const files = managerFiles(mkdtempSync(join(dir, 'fallback-')))
    writeFileSync(files.launchFile, '{not json')
    const launch = {flags: {SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: '3'}, environment: {}}
    const state = managerState({mode: 'process', pid: process.pid, address: {host: '127.0.0.1', port: 2}, settings: effectiveSettings(config()), launch, warnings: []})
    expect(lastLaunch(files, state)).toMatchObject({mode: 'process', launch, tokenRequired: false})
    expect(lastLaunch(files, undefined)).toBeUndefined()
  })
})

describe('the orphan rule of clean', () => {
  const c = (labels: Record<string, string>, state = 'running') => ({labels: {[LABELS.managed]: 'true', ...labels}, state})
  const alive = (pid: number) => pid === 4242
  const here = {self: {host: 'h1', pid: 1000, boot: 'boot-a'}, alive}

  it('keeps containers of a live sandbox process of this host and running ones with no owner; removes the rest', () => {
    expect(orphanVerdict(c({[LABELS.ownerHost]: 'h1', [LABELS.ownerPid]: '4242'}), here)).toMatchObject({ownerPid: '4242', reason: expect.stringContaining('--all')})
    expect(orphanVerdict(c({}), here)).toMatchObject({ownerPid: '?'})
    // gone owner, our own pid, another host, an unparsable or empty pid, an exited container without owner
    expect(orphanVerdict(c({[LABELS.ownerHost]: 'h1', [LABELS.ownerPid]: '4343'}), here)).toBeNull()
    expect(orphanVerdict(c({[LABELS.ownerHost]: 'h1', [LABELS.ownerPid]: '1000'}), {...here, alive: () => true})).toBeNull()
    expect(orphanVerdict(c({[LABELS.ownerHost]: 'h2', [LABELS.ownerPid]: '4242'}), here)).toBeNull()
    expect(orphanVerdict(c({[LABELS.ownerHost]: 'h1', [LABELS.ownerPid]: ''}, 'exited'), {...here, alive: () => true})).toBeNull()
    expect(orphanVerdict(c({[LABELS.ownerHost]: 'h1', [LABELS.ownerPid]: 'x'}, 'exited'), here)).toBeNull()
    expect(orphanVerdict(c({}, 'exited'), here)).toBeNull()
  })

  it('a pid keeps nothing once it names another process: another start time, or an earlier boot', () => {
    const owner = {[LABELS.ownerHost]: 'h1', [LABELS.ownerPid]: '4242', [LABELS.ownerBoot]: 'boot-a'}
    const startedAt = (pid: number, ticks?: number) => pid === 4242 && (ticks === undefined || ticks === 700)
    expect(orphanVerdict(c({...owner, [LABELS.ownerStart]: '700'}), {...here, alive: startedAt})).toMatchObject({ownerPid: '4242'})
    expect(orphanVerdict(c({...owner, [LABELS.ownerStart]: '650'}), {...here, alive: startedAt})).toBeNull()
    expect(orphanVerdict(c({...owner, [LABELS.ownerBoot]: 'boot-0', [LABELS.ownerStart]: '700'}), {...here, alive: startedAt})).toBeNull()
  })

  it('with all, every container of ours goes', () => {
    expect(orphanVerdict(c({[LABELS.ownerHost]: 'h1', [LABELS.ownerPid]: '4242'}), {...here, all: true})).toBeNull()
    expect(orphanVerdict(c({}), {...here, all: true})).toBeNull()
  })
})
