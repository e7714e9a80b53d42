/**
 * Outcome classification from facts (issue 10 item 1): limits the host enforced, whether the
 * program completed, the runner's record of the exception type, exit status and signal.
 * stderr text only labels a run that failed without any record.
 */
import {describe, expect, it} from 'vitest'

import {classify, decideOutcome, labelFromErrorRecord, parseErrorType, type ClassifyInput, type OutcomeFacts} from '../../src/engine/classify.js'
import type {ControlFrame} from '../../src/engine/output.js'
import {EXIT, type RunResult} from '../../src/engine/result.js'
import {CLASSIFY_BASE} from '../helpers/classify.js'

const base: ClassifyInput = CLASSIFY_BASE

const frame = (over: Partial<ControlFrame>): ControlFrame => ({ok: false, result: null, error: null, error_type: null, exit_code: 1, artifacts: [], notes: [], ...over})
const returned = (value: unknown) => frame({ok: true, result: {present: true, value, type: 'json'}, exit_code: 0})
const raised = (type: string | null, message: string, exit_code = 1) => frame({error_type: type, error: message, exit_code})

/** what a program might print on stderr: none of it may change a decision that has a record */
const NOISE = [
  '',
  "PermissionError: [Errno 13] Permission denied: '/etc/shadow'\n",
  'Error: connect ECONNREFUSED 127.0.0.1:80\nError: getaddrinfo EAI_AGAIN example.com\n',
  'MemoryError\nFATAL ERROR: JavaScript heap out of memory\n',
  'PermissionError: [Errno 1] Operation not permitted\nOSError: [Errno 30] Read-only file system\n',
]

describe('a run that completed is success, whatever it printed', () => {
  const completed: Array<[string, ControlFrame]> = [
    ['main returned a value', returned({data: 'hello'})],
    ['main returned None / undefined (null)', returned(null)],
    ['sys.exit(0) / SystemExit(0) / sys.exit() inside main', frame({ok: true, result: null, error_type: 'SystemExit', exit_code: 0})],
    ['process.exit(0) inside main', frame({ok: true, result: null, exit_code: 0})],
    ['a frame that is not ok but records exit status 0', frame({ok: false, error: 'SystemExit(0)', error_type: 'SystemExit', exit_code: 0})],
  ]
  for (const [what, control] of completed) {
    for (const stderr of NOISE) {
      it(`${what}; stderr ${JSON.stringify(stderr.slice(0, 40))}`, () => {
        const r = classify({...base, stderr, control, exitCode: 0})
        expect(r).toMatchObject({status: 'success', exit_code: 0, detail: null, resource_limit_type: null, unauthorized_access_type: null, runtime_error_type: null})
        expect(r.stderr).toBe(stderr)
      })
    }
  }

  it('RAGFlow cases 9/10 shape: a Node main that catches its network error, console.errors it and returns', () => {
    const r = classify({...base, stderr: 'Error: getaddrinfo EAI_AGAIN example.com\n', control: returned(null)})
    expect(r).toMatchObject({status: 'success', exit_code: 0, result: {present: true, value: null}})
  })

  it('sys.exit(0) keeps a result marker the program printed, and gives null without one', () => {
    const marker = {present: true, value: 7, type: 'json' as const}
    expect(classify({...base, control: frame({ok: true, result: null, exit_code: 0}), markerResult: marker}).result).toEqual(marker)
    expect(classify({...base, control: frame({ok: true, result: null, exit_code: 0})}).result).toBeNull()
  })
})

describe('the runner-recorded exception type decides, not the words in stderr or the message', () => {
  type Want = Partial<Pick<RunResult, 'status' | 'resource_limit_type' | 'unauthorized_access_type' | 'detail' | 'exit_code' | 'runtime_error_type'>>
  const memory: Want = {status: 'resource_limit_exceeded', resource_limit_type: 'memory', unauthorized_access_type: null, detail: 'Memory limit exceeded'}
  const network: Want = {status: 'unauthorized_access', unauthorized_access_type: 'network_access', detail: 'Network access is not allowed in the sandbox'}
  const file: Want = {status: 'unauthorized_access', unauthorized_access_type: 'file_access', detail: 'File access is not allowed'}
  const syscall: Want = {status: 'unauthorized_access', unauthorized_access_type: 'disallowed_syscall', detail: 'Operation not permitted in the sandbox'}
  const program = (detail: string): Want => ({status: 'program_error', runtime_error_type: 'nonzero_exit', unauthorized_access_type: null, resource_limit_type: null, detail})
  const table: Array<[string | null, string, Want]> = [
    // Python
    ['ValueError', 'ValueError: Permission denied for user bob', program('ValueError: Permission denied for user bob')],
    ['ValueError', 'ValueError: Network is unreachable, said the config', program('ValueError: Network is unreachable, said the config')],
    ['RuntimeError', 'RuntimeError: MemoryError in the data', program('RuntimeError: MemoryError in the data')],
    ['PermissionError:EACCES', "PermissionError: [Errno 13] Permission denied: '/etc/shadow'", file],
    ['PermissionError', 'PermissionError: no', file],
    ['OSError:EROFS', 'OSError: [Errno 30] Read-only file system', file],
    ['PermissionError:EPERM', 'PermissionError: [Errno 1] Operation not permitted', syscall],
    ['ConnectionRefusedError:ECONNREFUSED', 'ConnectionError: HTTPConnectionPool(...): Max retries exceeded', network],
    ['ConnectionRefusedError', 'ConnectionRefusedError: made up', network],
    ['OSError:ENETUNREACH', 'OSError: [Errno 101] Network is unreachable', network],
    ['OSError:EHOSTUNREACH', 'OSError: [Errno 113] No route to host', network],
    ['gaierror:EAI_AGAIN', 'gaierror: [Errno -3] Temporary failure in name resolution', network],
    ['gaierror:EAI_NONAME', 'gaierror: [Errno -2] Name or service not known', network],
    ['gaierror', 'gaierror: odd', network],
    ['herror', 'herror: [Errno 1] Unknown host', network],
    ['MemoryError', 'MemoryError: ', memory],
    ['OSError:ENOMEM', 'OSError: [Errno 12] Cannot allocate memory', memory],
    ['FileNotFoundError:ENOENT', "FileNotFoundError: [Errno 2] No such file or directory: 'x.csv'", program("FileNotFoundError: [Errno 2] No such file or directory: 'x.csv'")],
    ['KeyError', "KeyError: 'EACCES'", program("KeyError: 'EACCES'")],
    ['SystemExit', 'SystemExit(3)', {...program('SystemExit(3)'), exit_code: 3}],
    // Node.js
    ['Error:ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:80', network],
    ['AxiosError:ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:80', network],
    ['TypeError:ECONNREFUSED', 'fetch failed', network],
    ['Error:ENETUNREACH', 'connect ENETUNREACH 10.0.0.1:80', network],
    ['Error:EAI_AGAIN', 'getaddrinfo EAI_AGAIN example.com', network],
    ['Error:ENOTFOUND', 'getaddrinfo ENOTFOUND example.com', network],
    ['Error:EACCES', "EACCES: permission denied, open '/etc/shadow'", file],
    ['Error:EROFS', "EROFS: read-only file system, open '/usr/x'", file],
    ['Error:EPERM', 'EPERM: operation not permitted, chmod', syscall],
    ['Error', 'EACCES: permission denied (only the words)', program('EACCES: permission denied (only the words)')],
    ['Error:ERR_MEMORY_ALLOCATION_FAILED', 'Memory allocation failed', memory],
    ['RangeError', 'Array buffer allocation failed', memory],
    ['RangeError', 'Invalid array length', program('Invalid array length')],
    ['Error:ERR_INVALID_ARG_TYPE', 'The "path" argument must be of type string', program('The "path" argument must be of type string')],
    ['ProcessExit', 'the program ended the process with exit status 4', {...program('the program ended the process with exit status 4'), exit_code: 4}],
    [null, 'plain', program('plain')],
  ]
  for (const [type, message, want] of table) {
    const exit = typeof want.exit_code === 'number' ? want.exit_code : 1
    it(`${type ?? '(no type)'}: ${message.slice(0, 50)}`, () => {
      for (const stderr of NOISE) {
        const r = classify({...base, exitCode: exit, stderr, control: raised(type, message, exit)})
        expect(r, `stderr ${JSON.stringify(stderr)}`).toMatchObject({exit_code: exit, ...want})
        expect(r.stderr).toBe(stderr)
        expect(r.result).toBeNull()
      }
    })
  }

  it('a recorded failure keeps the recorded exit status', () => {
    expect(classify({...base, exitCode: 1, control: raised('ValueError', 'x', 5)}).exit_code).toBe(5)
    expect(classify({...base, exitCode: 1, control: frame({error: 'x'})}).exit_code).toBe(1)
  })
})

describe('limits enforced by the host come first', () => {
  it('timeout beats everything, even a success frame', () => {
    for (const control of [undefined, returned(1), raised('MemoryError', 'm')]) {
      const r = classify({...base, timedOut: true, oomKilled: true, outputOverflow: true, exitCode: 137, control})
      expect(r).toMatchObject({status: 'resource_limit_exceeded', exit_code: EXIT.TIMEOUT, resource_limit_type: 'time'})
    }
  })

  it('an output flood stopped by the host is the output limit (-25), even when the OOM flag is also up', () => {
    for (const oomKilled of [false, true]) {
      const r = classify({...base, outputOverflow: true, oomKilled, exitCode: 137, stderr: 'x'.repeat(1024)})
      expect(r).toMatchObject({status: 'resource_limit_exceeded', exit_code: EXIT.OUTPUT_LIMIT, resource_limit_type: 'output', detail: 'Output limit exceeded'})
    }
  })

  it('the OOM flag is the memory limit (-137)', () => {
    const r = classify({...base, oomKilled: true, exitCode: 137})
    expect(r).toMatchObject({status: 'resource_limit_exceeded', exit_code: EXIT.OUT_OF_MEMORY, resource_limit_type: 'memory'})
    expect(r.stderr).toContain('Memory limit exceeded (killed by OOM)')
  })

  it('an output cap names itself in the detail and the stderr note', () => {
    const r = classify({
      ...base,
      outputOverflow: true,
      exitCode: 137,
      outputLimitDetail: 'Output limit exceeded: 11 artifacts, over the limit of 10',
      outputLimitNote: '[11 artifacts, over the limit of 10]',
    })
    expect(r).toMatchObject({exit_code: EXIT.OUTPUT_LIMIT, resource_limit_type: 'output', detail: 'Output limit exceeded: 11 artifacts, over the limit of 10'})
    expect(r.stderr).toBe('[11 artifacts, over the limit of 10]')
  })
})

describe('time and memory are the host’s measurements, never the runner’s', () => {
  it('time is the host’s wall clock and memory the cgroup’s peak (null when unreadable), whatever the outcome', () => {
    for (const control of [returned(1), raised('ValueError', 'x'), undefined]) {
      expect(classify({...base, control, exitCode: control ? 0 : 3, wallMs: 12.3456, memoryKb: 4321})).toMatchObject({time_used_ms: 12.346, memory_used_kb: 4321})
      expect(classify({...base, control, exitCode: control ? 0 : 3, memoryKb: null}).memory_used_kb).toBeNull()
    }
  })

  it('killed at the memory limit: the measured peak when the cgroup was read, else the limit', () => {
    expect(classify({...base, oomKilled: true, exitCode: 137, memoryKb: 250_000}).memory_used_kb).toBe(250_000)
    expect(classify({...base, oomKilled: true, exitCode: 137, memoryKb: null}).memory_used_kb).toBe(262_144)
  })

  it('a timeout reports the wall clock in whole milliseconds', () => {
    expect(classify({...base, timedOut: true, exitCode: 137, wallMs: 10_000.7}).time_used_ms).toBe(10_001)
  })
})

describe('a returned number JSON cannot carry', () => {
  it('is a program error naming it, never a silent null; big finite numbers and other values pass', () => {
    for (const value of [JSON.parse('1e400'), {big: JSON.parse('-1e309'), ok: 1}, [1, [2, [JSON.parse('1e999')]]]]) {
      const r = classify({...base, exitCode: 0, control: returned(value)})
      expect(r).toMatchObject({status: 'program_error', exit_code: 1, result: null, detail: expect.stringContaining('too large for JSON')})
    }
    const fine = {max: Number.MAX_VALUE, big: 2 ** 63, list: Array.from({length: 200_000}, (_, k) => k)}
    expect(classify({...base, exitCode: 0, control: returned(fine)})).toMatchObject({status: 'success', result: {present: true, value: fine}})
  })
})

describe('no runner record: exit status and signal decide, stderr only refines a failure', () => {
  it('exit 0 without a frame (os._exit(0)) is success with the printed marker', () => {
    const marker = {present: true, value: 'm', type: 'json' as const}
    expect(classify({...base, exitCode: 0, stderr: 'Permission denied\n', markerResult: marker})).toMatchObject({status: 'success', exit_code: 0, result: marker})
  })

  it('137 without the OOM flag is SIGKILL, not memory', () => {
    const r = classify({...base, exitCode: 137})
    expect(r).toMatchObject({status: 'runtime_error', runtime_error_type: 'signalled', exit_code: 137, detail: 'killed by signal 9 (SIGKILL)'})
  })

  it('other signals are runtime_error signalled; V8 heap exhaustion (abort) is the memory limit', () => {
    expect(classify({...base, exitCode: 139})).toMatchObject({status: 'runtime_error', runtime_error_type: 'signalled', detail: 'killed by signal 11 (SIGSEGV)'})
    expect(classify({...base, exitCode: 134, stderr: 'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory\n'})).toMatchObject({
      status: 'resource_limit_exceeded',
      resource_limit_type: 'memory',
      exit_code: 134,
    })
    // a signal is not relabelled by other words
    expect(classify({...base, exitCode: 139, stderr: 'Permission denied\n'})).toMatchObject({status: 'runtime_error', unauthorized_access_type: null})
  })

  it("a nonzero exit is labelled with RAGFlow's stderr reading, and says that no result came", () => {
    const r = classify({...base, exitCode: 3, stderr: "PermissionError: [Errno 13] Permission denied: '/x'\n"})
    expect(r).toMatchObject({status: 'unauthorized_access', unauthorized_access_type: 'file_access', exit_code: 3})
    expect(r.stderr).toContain('The program ended without a result (exit code 3)')
    expect(classify({...base, exitCode: 3})).toMatchObject({status: 'program_error', exit_code: 3, runtime_error_type: 'nonzero_exit'})
  })
})

describe('remote facts (no OOM flag, the wrapper’s record)', () => {
  const remote: OutcomeFacts = {
    stderr: '',
    exitCode: 0,
    completed: false,
    record: undefined,
    oomKilled: undefined,
    timedOut: false,
    outputOverflow: false,
    timeoutSeconds: 10,
    maxOutputBytes: 0,
  }
  it('exit 137 without a record reads as the memory limit, as RAGFlow reads it', () => {
    expect(decideOutcome({...remote, exitCode: 137})).toMatchObject({status: 'resource_limit_exceeded', exit_code: EXIT.OUT_OF_MEMORY})
  })
  it('a record beats stderr; exit 0 is success whatever stderr says', () => {
    expect(decideOutcome({...remote, exitCode: 1, stderr: 'Permission denied', record: {type: 'ValueError', message: 'ValueError: Permission denied'}})).toMatchObject({
      status: 'program_error',
    })
    expect(decideOutcome({...remote, exitCode: 0, completed: true, stderr: 'ECONNREFUSED'})).toMatchObject({status: 'success'})
    expect(decideOutcome({...remote, exitCode: 1, stderr: 'socket.gaierror: [Errno -3] Temporary failure in name resolution'})).toMatchObject({
      status: 'unauthorized_access',
      unauthorized_access_type: 'network_access',
    })
  })
})

describe('error record parsing', () => {
  it('splits Name:CODE', () => {
    expect(parseErrorType('PermissionError:EACCES')).toEqual({name: 'PermissionError', code: 'EACCES'})
    expect(parseErrorType('MemoryError')).toEqual({name: 'MemoryError', code: null})
    expect(parseErrorType(null)).toEqual({name: null, code: null})
    expect(parseErrorType('')).toEqual({name: null, code: null})
  })
  it('an unknown or missing type is an ordinary program error', () => {
    expect(labelFromErrorRecord({type: null, message: 'Permission denied'})).toBeUndefined()
    expect(labelFromErrorRecord({type: 'Whatever:ESOMETHING', message: null})).toBeUndefined()
  })
})
