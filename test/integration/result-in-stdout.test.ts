/**
 * Older RAGFlow releases read main's value from stdout: a real manager (real gVisor sandboxes)
 * started with SANDBOX_RESULT_IN_STDOUT=on answers a Python main returning {"a": 1} with stdout
 * that RAGFlow's old code component parses back to {"a": 1}; Node prints console.log's text.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import type {RunningManager} from '../../src/server/manager.js'
import {postRun, runBody, startManager} from '../helpers/manager.js'
import {ragflowParse} from '../helpers/ragflow-stdout.js'

let manager: RunningManager

beforeAll(async () => {
  // the environment as the manager would read it (the suite's image tags), plus the setting
  const config = loadConfig({env: {...process.env, SANDBOX_RESULT_IN_STDOUT: 'on'}, envFile: undefined})
  expect(config.resultInStdout).toBe(true)
  manager = await startManager(config)
}, 300_000)

afterAll(async () => {
  await manager?.stop('test done')
})

const run = async (language: string, code: string, args: object = {}): Promise<Record<string, unknown>> => (await postRun(manager.port, runBody(code, language, args))).json()

describe('SANDBOX_RESULT_IN_STDOUT=on', () => {
  it('Python main returning {"a": 1}: stdout is {\'a\': 1}, which RAGFlow\'s old parsing reads back as {"a": 1}', async () => {
    const answer = await run('python', 'def main():\n    return {"a": 1}\n')
    expect(answer.status).toBe('success')
    expect(answer.stdout).toBe("{'a': 1}\n")
    expect(ragflowParse(answer.stdout as string)).toEqual({a: 1})
    // the structured result is unchanged for current releases
    expect(answer.result).toEqual({present: true, value: {a: 1}, type: 'json'})
  })

  it('the printed line follows what main printed; a failed run gets none', async () => {
    const answer = await run('python', 'def main(x):\n    print("working")\n    return [x, None, True]\n', {x: 'y'})
    expect(answer.stdout).toBe("working\n['y', None, True]\n")
    const failed = await run('python', 'def main():\n    raise ValueError("no")\n')
    expect(failed.status).toBe('program_error')
    expect(failed.stdout).toBe('')
  })

  it('Node main: console.log of the value', async () => {
    const answer = await run('nodejs', 'async function main(args) { return {a: args.a} }\nmodule.exports = {main}\n', {a: 1})
    expect(answer.status).toBe('success')
    expect(answer.stdout).toBe('{ a: 1 }\n')
  })
})
