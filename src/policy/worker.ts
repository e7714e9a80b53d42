/**
 * A policy worker thread: loads the parsers once, then inspects one program per message.
 * Started by pool.ts; it answers {id, issues} or {id, error}, and {ready} once the Python
 * parser is loaded. It never prints.
 */
import {readlinkSync} from 'node:fs'
import {parentPort} from 'node:worker_threads'

import {isSandboxError} from '../errors.js'
import {analyse, type InspectedLevel} from './analyse.js'
import {pythonParser} from './python.js'
import type {PolicyLanguage} from './types.js'

export interface WorkerJob {
  id: number
  code: string
  language: PolicyLanguage
  level: InspectedLevel
}

export type WorkerReply =
  | {ready: true; tid?: number}
  | {ready: false; error: {message: string; code?: string; suggestions?: string[]}}
  | {id: number; issues: Array<{line: number; message: string; hint?: string}>}
  | {id: number; error: {message: string; code?: string; suggestions?: string[]}}

const port = parentPort
if (!port) throw new Error('src/policy/worker is a worker thread entry, not a module to import')

const describeError = (error: unknown) =>
  isSandboxError(error) ? {message: error.message, code: error.code, suggestions: error.suggestions} : {message: error instanceof Error ? error.message : String(error)}

port.on('message', (job: WorkerJob) => {
  analyse(job.code, job.language, job.level).then(
    (issues) => port.postMessage({id: job.id, issues} satisfies WorkerReply),
    (error: unknown) => port.postMessage({id: job.id, error: describeError(error)} satisfies WorkerReply),
  )
})

/** This thread's id in the kernel (Linux), so that the pool can measure its CPU time from outside. */
function threadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop())
    return Number.isInteger(tid) && tid > 0 ? tid : undefined
  } catch {
    return undefined
  }
}

pythonParser().then(
  () => port.postMessage({ready: true, tid: threadId()} satisfies WorkerReply),
  (error: unknown) => port.postMessage({ready: false, error: describeError(error)} satisfies WorkerReply),
)
