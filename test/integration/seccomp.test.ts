/**
 * seccomp/default.json under runc (gVisor implements syscalls itself and ignores OCI
 * seccomp profiles, so runc is where the profile matters). Real Python and Node programs
 * must survive it; the syscalls a sandbox never needs must fail with EPERM.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import {buildImages} from '../../src/docker/images.js'
import {runProbe} from '../../src/docker/probe.js'
import {loadSeccompProfile} from '../../src/docker/seccomp.js'

const work = mkdtempSync(join(tmpdir(), 'sandbox-seccomp-it-'))
const envFile = join(work, '.env')
writeFileSync(envFile, '')
const config = loadConfig({envFile, env: {}})
afterAll(() => rmSync(work, {recursive: true, force: true}))

const withProfile = [`seccomp=${loadSeccompProfile()}`]
const unconfined = ['seccomp=unconfined']

const runc = (image: string, cmd: string[], securityOpt: string[]) =>
  runProbe({image, cmd, runtime: 'runc', network: 'none', memory: 512 * 1024 ** 2, securityOpt, timeoutMs: 120_000})

/** syscall numbers: x86_64 and aarch64 */
const NR: Record<string, [number, number]> = {
  mount: [165, 40],
  umount2: [166, 39],
  ptrace: [101, 117],
  kexec_load: [246, 104],
  kexec_file_load: [320, 294],
  bpf: [321, 280],
  keyctl: [250, 219],
  add_key: [248, 217],
  request_key: [249, 218],
  unshare: [272, 97],
  setns: [308, 268],
  pivot_root: [155, 41],
  chroot: [161, 51],
  init_module: [175, 105],
  finit_module: [313, 273],
  delete_module: [176, 106],
  reboot: [169, 142],
  swapon: [167, 224],
  swapoff: [168, 225],
  perf_event_open: [298, 241],
  userfaultfd: [323, 282],
  open_by_handle_at: [304, 265],
  name_to_handle_at: [303, 264],
  io_uring_setup: [425, 425],
  io_uring_enter: [426, 426],
  io_uring_register: [427, 427],
  process_vm_readv: [310, 270],
  personality: [135, 92],
  clone: [56, 220],
  getpid: [39, 172],
}

/**
 * Calls each syscall through libc's syscall() with the given arguments and prints
 * {name: errno or "ok"} as JSON. A clone child (if one were ever created) exits at once.
 */
function syscallProbe(calls: Record<string, number[]>): string {
  const arch = process.arch === 'arm64' ? 1 : 0
  const table = Object.fromEntries(Object.entries(calls).map(([label, args]) => [label, [NR[label.replace(/:.*$/, '')][arch], ...args]]))
  return `
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
out = {}
for label, (nr, *args) in ${JSON.stringify(table)}.items():
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    if ret == 0 and label.startswith('clone'):
        os._exit(0)
    out[label] = ctypes.get_errno() if ret == -1 else 'ok'
print(json.dumps(out))
`
}

const CLONE_NEWUSER = 0x10000000
const CLONE_NEWNS = 0x20000
const SIGCHLD = 17
const ADDR_NO_RANDOMIZE = 0x0040000

describe('seccomp profile under runc', () => {
  beforeAll(async () => {
    await buildImages({config})
  })

  it('a real Python program (numpy, pandas, matplotlib PNG, threads, subprocess) survives it', async () => {
    const code = `
import os, subprocess, threading, json
import numpy as np, pandas as pd, matplotlib, requests
import matplotlib.pyplot as plt
df = pd.DataFrame({'x': np.arange(100), 'y': np.random.default_rng(1).normal(size=100)})
m = (np.ones((200, 200)) @ np.ones((200, 200))).sum()
plt.figure(); df.plot(x='x', y='y'); plt.title('图表'); plt.savefig('/tmp/chart.png')
t = threading.Thread(target=lambda: None); t.start(); t.join()
child = subprocess.run(['python3', '-c', 'print(6 * 7)'], capture_output=True, text=True).stdout.strip()
print(json.dumps({'rows': len(df), 'm': float(m), 'png': os.path.getsize('/tmp/chart.png'), 'child': child}))
`
    const r = await runc(config.pythonImage, ['python3', '-c', code], withProfile)
    expect(r.exitCode, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as {child: string; m: number; png: number; rows: number}
    expect(out).toMatchObject({rows: 100, m: 8_000_000, child: '42'})
    expect(out.png).toBeGreaterThan(1000)
  })

  it('a real Node program (axios, fs, crypto, zlib, timers, worker, child process) survives it', async () => {
    const code = `
const fs = require('fs'), crypto = require('crypto'), zlib = require('zlib'), {execFileSync} = require('child_process')
const {Worker} = require('worker_threads')
const axios = require('axios')
fs.writeFileSync('/tmp/a.txt', 'hello')
const gz = zlib.gunzipSync(zlib.gzipSync(fs.readFileSync('/tmp/a.txt'))).toString()
const hash = crypto.createHash('sha256').update(gz).digest('hex').slice(0, 8)
const child = execFileSync('node', ['-e', 'process.stdout.write(String(6 * 7))']).toString()
const w = new Worker('require("worker_threads").parentPort.postMessage(21 * 2)', {eval: true})
w.on('message', (v) => setTimeout(() => console.log(JSON.stringify({gz, hash, child, worker: v, axios: typeof axios.get})), 10))
`
    const r = await runc(config.nodejsImage, ['node', '-e', code], withProfile)
    expect(r.exitCode, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({gz: 'hello', hash: '2cf24dba', child: '42', worker: 42, axios: 'function'})
  })

  it('denies the syscalls a sandbox never needs with EPERM', async () => {
    const denied: Record<string, number[]> = {
      mount: [0, 0, 0, 0, 0],
      umount2: [0, 0],
      'ptrace:traceme': [0, 0, 0, 0],
      kexec_load: [0, 0, 0, 0],
      kexec_file_load: [0, 0, 0, 0, 0],
      bpf: [0, 0, 0],
      keyctl: [0, 0, 0, 0, 0],
      add_key: [0, 0, 0, 0, 0],
      request_key: [0, 0, 0, 0],
      'unshare:newns': [CLONE_NEWNS],
      'unshare:newuser': [CLONE_NEWUSER],
      setns: [0, 0],
      pivot_root: [0, 0],
      chroot: [0],
      init_module: [0, 0, 0],
      finit_module: [0, 0, 0],
      delete_module: [0, 0],
      reboot: [0, 0, 0, 0],
      swapon: [0, 0],
      swapoff: [0],
      perf_event_open: [0, 0, -1, -1, 0],
      userfaultfd: [0],
      open_by_handle_at: [0, 0, 0],
      name_to_handle_at: [0, 0, 0, 0, 0],
      io_uring_setup: [1, 0],
      io_uring_enter: [0, 0, 0, 0, 0, 0],
      io_uring_register: [0, 0, 0, 0],
      process_vm_readv: [1, 0, 0, 0, 0, 0],
      'personality:no-aslr': [ADDR_NO_RANDOMIZE],
      'clone:newuser': [CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0],
    }
    const r = await runc(config.pythonImage, ['python3', '-c', syscallProbe({...denied, getpid: []})], withProfile)
    expect(r.exitCode, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as Record<string, number | string>
    expect(out.getpid).toBe('ok')
    const EPERM = 1
    expect(Object.fromEntries(Object.keys(denied).map((k) => [k, out[k]]))).toEqual(Object.fromEntries(Object.keys(denied).map((k) => [k, EPERM])))
  })

  it('those EPERMs come from the profile: without it ptrace, unshare and personality succeed', async () => {
    const calls = {'ptrace:traceme': [0, 0, 0, 0], 'personality:no-aslr': [ADDR_NO_RANDOMIZE], 'unshare:newuser': [CLONE_NEWUSER]}
    const base = await runc(config.pythonImage, ['python3', '-c', syscallProbe(calls)], unconfined)
    expect(base.exitCode, base.stderr).toBe(0)
    expect(JSON.parse(base.stdout)).toEqual({'ptrace:traceme': 'ok', 'personality:no-aslr': 'ok', 'unshare:newuser': 'ok'})
    const confined = await runc(config.pythonImage, ['python3', '-c', syscallProbe(calls)], withProfile)
    expect(JSON.parse(confined.stdout)).toEqual({'ptrace:traceme': 1, 'personality:no-aslr': 1, 'unshare:newuser': 1})
  })
})
