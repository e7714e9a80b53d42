/**
 * Positive gVisor probe: the code must really run on gVisor's kernel (the Sentry), not on the
 * host's. gVisor reports its own kernel version and its boot messages ("Starting gVisor...")
 * through syslog(2); the host's release and /proc/version must not show through.
 */
import {code, expectValue} from '../expect.js'
import type {SuiteCase} from '../types.js'

export const gvisorCases: SuiteCase[] = [
  {
    id: 'gvisor-kernel-py',
    title: "Runs on gVisor: kernel log says gVisor, not the host's kernel (Python)",
    tags: ['gvisor', 'kernel'],
    language: 'python',
    code: code`
      import ctypes, os

      def main():
          libc = ctypes.CDLL(None, use_errno=True)
          buf = ctypes.create_string_buffer(65536)
          SYSLOG_ACTION_READ_ALL = 3
          n = libc.klogctl(SYSLOG_ACTION_READ_ALL, buf, len(buf))
          log = buf.raw[:n].decode(errors="replace") if n > 0 else "klogctl failed: " + os.strerror(ctypes.get_errno())
          with open("/proc/version") as f:
              version = f.read().strip()
          return {"release": os.uname().release, "version": version, "kernel_log": log[:2000]}
    `,
    expect: (r, ctx) =>
      expectValue(
        r,
        (v) => {
          if (v.release === ctx.host.kernelRelease) return `the host's kernel release ${ctx.host.kernelRelease} shows through`
          if (ctx.host.procVersion && v.version === ctx.host.procVersion) return "the host's /proc/version shows through"
          if (!String(v.kernel_log).includes('gVisor')) return `no gVisor boot message in the kernel log (release ${String(v.release)}): ${String(v.kernel_log).slice(0, 120)}`
          return true
        },
        'kernel log: "Starting gVisor..."',
      ),
  },
  {
    id: 'gvisor-kernel-node',
    title: "Runs on gVisor: the kernel release and version are not the host's (Node.js)",
    tags: ['gvisor', 'kernel'],
    language: 'nodejs',
    policy: 'any',
    code: code`
      const os = require('os')
      function main() {
        return {release: os.release(), version: os.version()}
      }
    `,
    expect: (r, ctx) =>
      expectValue(
        r,
        (v) => {
          if (v.release === ctx.host.kernelRelease) return `the host's kernel release ${ctx.host.kernelRelease} shows through`
          if (ctx.host.procVersion && ctx.host.procVersion.includes(String(v.version))) return `the host's kernel version shows through (${String(v.version)})`
          return true
        },
        "not the host's kernel",
      ),
  },
]
