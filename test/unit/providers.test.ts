/**
 * Providers without a Docker daemon: registry, RAGFlow's schemas and validation messages,
 * config precedence, masking, the remote code wrapper (run with this host's python3/node),
 * result parsing, the ACS3 signature (checked by the stand-in's independent verifier), and
 * the self-managed HTTP client against loopback servers (retries, no retry after sending,
 * bearer token, policy before sending).
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import {isSandboxError, type SandboxError} from '../../src/errors.js'
import {
  aliyunDefinition,
  ARTIFACTS_MARKER,
  coerceField,
  ERROR_MARKER,
  dockerDefinition,
  e2bDefinition,
  extractWrapperOutput,
  fieldHints,
  findProvider,
  listProviders,
  maskConfig,
  mentionedFields,
  parseResults,
  PROBE_CODE,
  ragflowSchema,
  remoteResult,
  requireProvider,
  resolveConfig,
  runWithProvider,
  selfManagedDefinition,
  storableConfig,
  validationErrors,
  wrapCode,
} from '../../src/providers/index.js'
import {configNumbers, LIMIT_DEFAULTS, limitField, RemoteInstances, workspaceDir} from '../../src/providers/remote-limits.js'
import {sshDefinition, tenkiDefinition, ucloudDefinition} from '../../src/providers/index.js'
import {authorization, canonicalQuery, canonicalRequest, percentEncode, signedHeaders} from '../../src/providers/aliyun-signature.js'
import {LANGUAGES, type Language} from '../../src/engine/languages.js'
import {encodeResultMarker, RESULT_MARKER, type RunResult} from '../../src/engine/result.js'
import {verifyAcs3} from '../helpers/standins/aliyun.js'
import {closedPort} from '../helpers/ports.js'

const sandboxConfig = loadConfig({env: {}, envFile: undefined})

describe('registry', () => {
  it("is keyed by RAGFlow's ids plus docker, and finds aliases", () => {
    expect(listProviders().map((p) => p.id)).toEqual(['docker', 'self_managed', 'aliyun_codeinterpreter', 'e2b', 'local', 'ssh', 'tenki', 'ucloud_agent_sandbox'])
    expect(findProvider('aliyun')?.id).toBe('aliyun_codeinterpreter')
    expect(findProvider('self-managed')?.id).toBe('self_managed')
    expect(findProvider('SELF_MANAGED')?.id).toBe('self_managed')
    expect(findProvider('E2B')?.id).toBe('e2b')
    // RAGFlow's local is its own provider, never an alias of docker
    expect(findProvider('local')?.id).toBe('local')
    expect(findProvider('ssh')?.id).toBe('ssh')
    expect(findProvider('ucloud')?.id).toBe('ucloud_agent_sandbox')
    expect(findProvider('ucloud-agent-sandbox')?.id).toBe('ucloud_agent_sandbox')
    expect(findProvider('tenki')?.id).toBe('tenki')
    expect(findProvider('nonesuch')).toBeUndefined()
  })

  it('names the known providers for an unknown one (exit 4)', () => {
    let error: SandboxError | undefined
    try {
      requireProvider('nonesuch')
    } catch (e) {
      error = e as SandboxError
    }
    expect(error?.code).toBe('UNKNOWN_PROVIDER')
    expect(error?.exit).toBe(4)
    expect(error?.suggestions.join(' ')).toContain('aliyun_codeinterpreter')
  })

  it("describes each provider with RAGFlow's schema keys", () => {
    for (const p of listProviders()) {
      for (const [name, spec] of Object.entries(p.schema)) {
        expect(['string', 'integer', 'boolean', 'json'], `${p.id}.${name}`).toContain(spec.type)
        expect(spec.label, `${p.id}.${name}`).toBeTruthy()
      }
    }
    // RAGFlow HEAD's self_managed schema (plus our max_retries and api_token)
    const sm = ragflowSchema(selfManagedDefinition.schema)
    expect(sm.endpoint).toMatchObject({
      type: 'string',
      required: true,
      default: 'http://sandbox-executor-manager:9385',
      label: 'Executor Manager Endpoint',
      scope: 'runtime',
      readonly: false,
    })
    expect(sm.timeout).toMatchObject({type: 'integer', default: 30, min: 5, max: 300, scope: 'runtime', readonly: false})
    expect(sm.max_retries).toMatchObject({type: 'integer', default: 3, min: 0, max: 10})
    expect(sm.pool_size).toBeUndefined()
    expect(sm.executor_manager_pool_size).toMatchObject({type: 'integer', min: 1, max: 100, label: 'Container Pool Size', scope: 'deployment', readonly: true})
    expect(sm.executor_manager_pool_size).not.toHaveProperty('legacy')
    const deployment = Object.entries(sm).filter(([, s]) => s.scope === 'deployment')
    expect(deployment.map(([k]) => k)).toEqual([
      'executor_manager_image',
      'executor_manager_pool_size',
      'base_python_image',
      'base_nodejs_image',
      'executor_manager_port',
      'enable_seccomp',
      'max_memory',
      'sandbox_timeout',
    ])
    expect(deployment.every(([, s]) => s.readonly === true && s.required === false)).toBe(true)
    expect(sm.executor_manager_port).toMatchObject({type: 'integer', default: 9385, min: 1, max: 65535})
    expect(sm.enable_seccomp).toMatchObject({type: 'boolean', default: false})
    expect(sm.api_token).toMatchObject({secret: true})
    // Aliyun
    const al = ragflowSchema(aliyunDefinition.schema)
    expect(
      Object.entries(al)
        .filter(([, s]) => s.required)
        .map(([k]) => k),
    ).toEqual(['access_key_id', 'access_key_secret', 'account_id'])
    expect(al.access_key_id).toMatchObject({placeholder: 'LTAI5t...', secret: false})
    expect(al.access_key_secret).toMatchObject({secret: true})
    expect(al.region).toMatchObject({default: 'cn-hangzhou', options: ['cn-hangzhou', 'cn-beijing', 'cn-shanghai', 'cn-shenzhen', 'cn-guangzhou']})
    expect(al.timeout).toMatchObject({default: 30, min: 1, max: 30})
    expect(al.template_name).toMatchObject({placeholder: 'my-interpreter'})
    // E2B
    const e = ragflowSchema(e2bDefinition.schema)
    expect(e.api_key).toMatchObject({type: 'string', required: true, secret: true})
    expect(e.region).toMatchObject({default: 'us'})
    expect(e.timeout).toMatchObject({default: 30, min: 5, max: 300})
    // our keys (env, partial, advanced) are not part of RAGFlow's schema view
    expect(JSON.stringify(al)).not.toContain('AGENTRUN_')
  })
})

describe("RAGFlow's validation messages", () => {
  const aliyun = {access_key_id: 'LTAI5tABCDEFGHIJ', access_key_secret: 'secret-value-123', account_id: '1234567890', region: 'cn-hangzhou', timeout: 30}

  it('aliyun_codeinterpreter', () => {
    const v = aliyunDefinition.validate
    expect(v(aliyun)).toBeNull()
    expect(v({...aliyun, access_key_id: 'AKIA123'})).toBe("Invalid AccessKey ID format (should start with 'LTAI')")
    // temporary credentials: an STS. key needs its token; a permanent key takes none
    expect(v({...aliyun, access_key_id: 'STS.NTabcdef0123456789', security_token: 'CAIS-token'})).toBeNull()
    expect(v({...aliyun, access_key_id: 'STS.NTabcdef0123456789'})).toMatch(
      /^A temporary AccessKey ID \(starting with 'STS\.'\) needs its security token: set --security-token or AGENTRUN_SECURITY_TOKEN/,
    )
    expect(v({...aliyun, access_key_id: 'STS.NTabcdef0123456789', security_token: '  '})).toMatch(/needs its security token/)
    expect(v({...aliyun, security_token: 'CAIS-token'})).toMatch(/^A security token is only used with a temporary AccessKey ID/)
    expect(v({...aliyun, access_key_id: 'sts.lowercase', security_token: 'CAIS-token'})).toBe("Invalid AccessKey ID format (should start with 'LTAI')")
    // the interactive configure asks the (advanced) security_token once a message is about it
    const sts = validationErrors(aliyunDefinition, {...aliyun, access_key_id: 'STS.NTabcdef0123456789'})
    expect(mentionedFields(aliyunDefinition, sts)).toEqual(['access_key_id', 'security_token'])
    expect(fieldHints(aliyunDefinition, sts).join('\n')).toContain('--security-token or AGENTRUN_SECURITY_TOKEN or ALIBABA_CLOUD_SECURITY_TOKEN')
    expect(v({...aliyun, account_id: ''})).toBe('Account ID is required')
    expect(v({...aliyun, region: 'us-west-1'})).toBe('Invalid region. Must be one of: cn-hangzhou, cn-beijing, cn-shanghai, cn-shenzhen, cn-guangzhou')
    expect(v({...aliyun, timeout: 60})).toBe('Timeout must be between 1 and 30 seconds')
    expect(v({...aliyun, timeout: 0})).toBe('Timeout must be between 1 and 30 seconds')
  })

  it('self_managed', () => {
    const v = selfManagedDefinition.validate
    expect(v({endpoint: 'http://localhost:9385', timeout: 30, max_retries: 3, pool_size: 10})).toBeNull()
    expect(v({endpoint: 'localhost:9385'})).toBe('Invalid endpoint format: localhost:9385. Must start with http:// or https://')
    expect(v({endpoint: 'http://x', pool_size: 0})).toBe('Pool size must be greater than 0')
    expect(v({endpoint: 'http://x', executor_manager_pool_size: 0})).toBe('Pool size must be greater than 0')
    expect(v({endpoint: 'http://x', timeout: 601})).toBe('Timeout must be between 1 and 600 seconds')
    expect(v({endpoint: 'http://x', max_retries: 11})).toBe('Max retries must be between 0 and 10')
  })

  it('generic schema checks come first, as in SandboxMgr.set_config', () => {
    expect(validationErrors(aliyunDefinition, {...aliyun, access_key_secret: undefined})).toEqual(["Required field 'access_key_secret' is missing"])
    expect(validationErrors(aliyunDefinition, {...aliyun, timeout: 60})).toEqual(["Field 'timeout' must be <= 30"])
    expect(validationErrors(selfManagedDefinition, {endpoint: 'http://x', timeout: 2})).toEqual(["Field 'timeout' must be >= 5"])
    expect(validationErrors(aliyunDefinition, {...aliyun, region: 'mars-1'})).toEqual([
      'Provider validation failed: Invalid region. Must be one of: cn-hangzhou, cn-beijing, cn-shanghai, cn-shenzhen, cn-guangzhou',
    ])
    expect(validationErrors(dockerDefinition, {memory: '12x'})[0]).toMatch(/^Provider validation failed: Invalid memory "12x"/)
    expect(() => coerceField('timeout', aliyunDefinition.schema.timeout, 'soon')).toThrow("Field 'timeout' must be an integer")
  })
})

describe('config precedence and masking', () => {
  it('explicit > environment (AGENTRUN_*) > stored > default, schema order, only schema keys', () => {
    const env = {AGENTRUN_ACCESS_KEY_ID: 'LTAIenv', AGENTRUN_ACCESS_KEY_SECRET: 'env-secret', AGENTRUN_REGION: 'cn-beijing', AGENTRUN_TIMEOUT: '20'}
    const {config, origin, envNames} = resolveConfig(aliyunDefinition.schema, {
      explicit: {region: 'cn-shenzhen'},
      stored: {access_key_id: 'LTAIstored', account_id: 'stored-account', region: 'cn-shanghai', foreign_key: 'x'},
      env,
    })
    expect(config).toEqual({access_key_id: 'LTAIenv', access_key_secret: 'env-secret', account_id: 'stored-account', region: 'cn-shenzhen', timeout: 20})
    expect(Object.keys(config)).toEqual(['access_key_id', 'access_key_secret', 'account_id', 'region', 'timeout'])
    expect(origin).toEqual({access_key_id: 'env', access_key_secret: 'env', account_id: 'stored', region: 'explicit', timeout: 'env'})
    expect(envNames).toEqual({access_key_id: 'AGENTRUN_ACCESS_KEY_ID', access_key_secret: 'AGENTRUN_ACCESS_KEY_SECRET', timeout: 'AGENTRUN_TIMEOUT'})
    // the deployment fields' defaults are what `sandbox start` runs when nothing is set
    expect(resolveConfig(selfManagedDefinition.schema, {env: {}}).config).toEqual({
      endpoint: 'http://sandbox-executor-manager:9385',
      timeout: 30,
      max_retries: 3,
      executor_manager_image: 'sandbox-executor-manager:latest',
      executor_manager_pool_size: sandboxConfig.poolSize,
      base_python_image: sandboxConfig.pythonImage,
      base_nodejs_image: sandboxConfig.nodejsImage,
      executor_manager_port: sandboxConfig.port,
      enable_seccomp: sandboxConfig.enableSeccomp,
      max_memory: sandboxConfig.memory,
      sandbox_timeout: `${sandboxConfig.timeoutSeconds}s`,
    })
  })

  it("self_managed reads older rows: SEED's pool_size is HEAD's executor_manager_pool_size; deployment fields come from the environment and are never stored", () => {
    const seedRow = {endpoint: 'http://localhost:9385', timeout: 30, max_retries: 3, pool_size: 10}
    const {config, origin} = resolveConfig(selfManagedDefinition.schema, {stored: seedRow, env: {SANDBOX_BASE_PYTHON_IMAGE: 'py:test'}})
    expect(config).toMatchObject({endpoint: 'http://localhost:9385', executor_manager_pool_size: 10, base_python_image: 'py:test'})
    expect(config).not.toHaveProperty('pool_size')
    expect(origin).toMatchObject({executor_manager_pool_size: 'stored', base_python_image: 'env', max_memory: 'default'})
    expect(validationErrors(selfManagedDefinition, config)).toEqual([])
    // the environment beats an older row here too
    expect(resolveConfig(selfManagedDefinition.schema, {stored: seedRow, env: {SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: '4'}}).config.executor_manager_pool_size).toBe(4)
    // a HEAD row (RAGFlow's admin page) is read as it is
    expect(resolveConfig(selfManagedDefinition.schema, {stored: {endpoint: 'http://m:9385', executor_manager_pool_size: 5}, env: {}}).config.executor_manager_pool_size).toBe(5)
    expect(storableConfig(selfManagedDefinition.schema, config)).toEqual({endpoint: 'http://localhost:9385', timeout: 30, max_retries: 3})
  })

  it('the same order for every provider and field; empty variables count as not set; the first listed variable wins', () => {
    const cases: Array<[typeof aliyunDefinition, string, string, unknown, unknown]> = [
      [e2bDefinition, 'api_key', 'E2B_API_KEY', 'e2b_stored', 'e2b_env'],
      [e2bDefinition, 'timeout', 'E2B_TIMEOUT', 60, '90'],
      [e2bDefinition, 'domain', 'E2B_DOMAIN', 'stored.example', 'env.example'],
      [selfManagedDefinition, 'endpoint', 'SANDBOX_EXECUTOR_MANAGER_URL', 'http://stored:9385', 'http://env:9385'],
      [selfManagedDefinition, 'api_token', 'SANDBOX_API_TOKEN', 'stored-token', 'env-token'],
      [aliyunDefinition, 'security_token', 'AGENTRUN_SECURITY_TOKEN', 'stored-sts', 'env-sts'],
      [aliyunDefinition, 'account_id', 'FC_ACCOUNT_ID', 'stored-account', 'env-account'],
    ]
    for (const [definition, field, variable, stored, fromEnv] of cases) {
      const spec = definition.schema[field]
      const expected = spec.type === 'integer' ? Number(fromEnv) : fromEnv
      expect(resolveConfig(definition.schema, {stored: {[field]: stored}, env: {[variable]: String(fromEnv)}}).config[field], `${definition.id}.${field}`).toEqual(expected)
      expect(resolveConfig(definition.schema, {stored: {[field]: stored}, env: {[variable]: ''}}).config[field], `${field} empty env`).toEqual(stored)
      const flag = spec.type === 'integer' ? 120 : 'from-flag'
      expect(resolveConfig(definition.schema, {explicit: {[field]: flag}, stored: {[field]: stored}, env: {[variable]: String(fromEnv)}}).config[field]).toEqual(flag)
    }
    expect(resolveConfig(aliyunDefinition.schema, {env: {AGENTRUN_ACCOUNT_ID: 'first', FC_ACCOUNT_ID: 'second'}}).config.account_id).toBe('first')
  })

  it('a variable that does not have the field type is an error that names it (exit 4)', () => {
    let error: SandboxError | undefined
    try {
      resolveConfig(aliyunDefinition.schema, {stored: {timeout: 20}, env: {AGENTRUN_TIMEOUT: 'soon'}})
    } catch (e) {
      error = e as SandboxError
    }
    expect(error?.exit).toBe(4)
    expect(error?.message).toBe("Field 'timeout' must be an integer (from the environment variable AGENTRUN_TIMEOUT)")
  })

  it('masks secrets and half-masks the AccessKey ID', () => {
    const secret = 'Sup3rSecretValue-xyz987'
    const masked = maskConfig(aliyunDefinition.schema, {access_key_id: 'LTAI5tABCDEFGHIJ', access_key_secret: secret, account_id: '12345', unknown_token: 'tok-123456789'})
    expect(masked.access_key_secret).toBe('****z987')
    expect(masked.access_key_id).toBe('LTAI****GHIJ')
    expect(masked.account_id).toBe('12345')
    expect(masked.unknown_token).toBe('****')
    expect(JSON.stringify(masked)).not.toContain(secret)
    expect(maskConfig(e2bDefinition.schema, {api_key: 'short'}).api_key).toBe('****')
  })
})

function runScript(language: Language, script: string): {stdout: string; stderr: string; status: number | null} {
  const dir = mkdtempSync(join(tmpdir(), 'wrapper-'))
  try {
    // as a remote provider runs it: the descriptor's file name and interpreter (this process's node for node)
    const run = LANGUAGES[language].runtime.script
    const file = join(dir, run.fileName)
    writeFileSync(file, script)
    const r = spawnSync(run.interpreter === 'node' ? process.execPath : run.interpreter, [file], {cwd: dir, encoding: 'utf8', timeout: 30_000})
    return {stdout: r.stdout, stderr: r.stderr, status: r.status}
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

describe('remote wrapper', () => {
  const args = {name: 'Wörld "quoted"', flag: true, nothing: null, n: 3, list: [1, {a: false}]}

  it('TypeScript: the remote script is the JavaScript that runs, in the JavaScript wrapper (main.js, node)', () => {
    expect(LANGUAGES.typescript.runtime.script).toMatchObject({fileName: 'main.js', interpreter: 'node'})
    const code = 'interface A {name: string}\nexport function main({name}: A): {hi: string} {\n  return {hi: name}\n}\n'
    const script = wrapCode('typescript', code, {name: 'ts'})
    expect(script).not.toContain('interface A')
    const out = runScript('typescript', script)
    const r = remoteResult({stdout: out.stdout, stderr: out.stderr, exitCode: out.status!, timedOut: false, timeoutSeconds: 10, wallMs: 1})
    expect(r).toMatchObject({status: 'success', result: {present: true, value: {hi: 'ts'}, type: 'json'}})
    const bad = runScript('typescript', wrapCode('typescript', 'export function main( {\n'))
    expect(remoteResult({stdout: bad.stdout, stderr: bad.stderr, exitCode: bad.status!, timedOut: false, timeoutSeconds: 10, wallMs: 1})).toMatchObject({status: 'program_error'})
    expect(bad.stderr).toContain('TypeScript syntax error: main.ts:2:1')
  })

  it('Python: main(**args) with true/false/null data, marker printed, stdout kept', () => {
    const code = 'def main(name, flag, nothing, n, list):\n    print("hi", name)\n    return {"name": name, "flag": flag, "nothing": nothing, "n": n + 1, "list": list}\n'
    const script = wrapCode('python', code, args)
    expect(script).not.toContain('"flag": true') // arguments are data, not source
    const out = runScript('python', script)
    expect(out.status, out.stderr).toBe(0)
    const r = remoteResult({stdout: out.stdout, stderr: out.stderr, exitCode: out.status!, timedOut: false, timeoutSeconds: 10, wallMs: 1})
    expect(r.status).toBe('success')
    expect(r.stdout).toBe('hi Wörld "quoted"\n')
    expect(r.result).toEqual({present: true, value: {...args, n: 4}, type: 'json'})
  })

  it('Node.js: module.exports = {main}, async main, artifacts collected', () => {
    const code =
      "const fs = require('fs')\nasync function main({name}) {\n  fs.mkdirSync('artifacts', {recursive: true})\n  fs.writeFileSync('artifacts/out.csv', 'a,b\\n1,2\\n')\n  fs.writeFileSync('artifacts/skip.exe', 'x')\n  console.log('hello ' + name)\n  return {ok: true}\n}\nmodule.exports = {main}\n"
    const out = runScript('nodejs', wrapCode('nodejs', code, {name: 'js'}))
    expect(out.status, out.stderr).toBe(0)
    const r = remoteResult({stdout: out.stdout, stderr: out.stderr, exitCode: 0, timedOut: false, timeoutSeconds: 10, wallMs: 1})
    expect(r.stdout).toBe('hello js\n')
    expect(r.result?.value).toEqual({ok: true})
    expect(r.artifacts).toEqual([{name: 'out.csv', mime_type: 'text/csv', size: 8, content_b64: Buffer.from('a,b\n1,2\n').toString('base64')}])
  })

  it('Node.js: a top-level function main that returns nothing succeeds with null (as the engine, as RAGFlow answers)', () => {
    const out = runScript('nodejs', wrapCode('nodejs', 'function main() {\n  console.log("x")\n}\n'))
    expect(out.status, out.stderr).toBe(0)
    const r = remoteResult({stdout: out.stdout, stderr: out.stderr, exitCode: out.status!, timedOut: false, timeoutSeconds: 10, wallMs: 1})
    expect(r).toMatchObject({status: 'success', stdout: 'x\n', result: {present: true, value: null, type: 'json'}})
  })

  it('the wrapper records the exception type: the type decides, not the words in the message', async () => {
    const CLOSED = String(await closedPort())
    const cases: Array<[Language, string, Partial<RunResult>]> = [
      [
        'python',
        'def main():\n    raise ValueError("Permission denied for user bob")\n',
        {status: 'program_error', unauthorized_access_type: null, detail: 'ValueError: Permission denied for user bob'},
      ],
      ['python', 'def main():\n    raise PermissionError(13, "Permission denied", "/x")\n', {status: 'unauthorized_access', unauthorized_access_type: 'file_access'}],
      [
        'python',
        'import socket\ndef main():\n    socket.create_connection(("127.0.0.1", ' + CLOSED + '), timeout=2)\n',
        {status: 'unauthorized_access', unauthorized_access_type: 'network_access', detail: 'Network access is not allowed in the sandbox'},
      ],
      ['python', 'import sys\ndef main():\n    sys.exit(0)\n', {status: 'success', exit_code: 0}],
      ['python', 'import sys\ndef main():\n    sys.exit(3)\n', {status: 'program_error', exit_code: 3}],
      [
        'nodejs',
        "const net = require('net')\nasync function main() {\n  await new Promise((_, reject) => net.connect(" + CLOSED + ", '127.0.0.1').on('error', reject))\n}\n",
        {status: 'unauthorized_access', unauthorized_access_type: 'network_access'},
      ],
      ['nodejs', "function main() {\n  throw new Error('EACCES: Permission denied (only words)')\n}\n", {status: 'program_error', unauthorized_access_type: null}],
      [
        'nodejs',
        "async function main() {\n  console.error('Error: connect ECONNREFUSED 127.0.0.1')\n  return 1\n}\n",
        {status: 'success', result: {present: true, value: 1, type: 'json'}},
      ],
    ]
    for (const [language, code, want] of cases) {
      const out = runScript(language, wrapCode(language, code))
      const r = remoteResult({stdout: out.stdout, stderr: out.stderr, exitCode: out.status!, timedOut: false, timeoutSeconds: 10, wallMs: 1})
      expect(r, code).toMatchObject(want)
      expect(r.stdout).not.toContain(ERROR_MARKER)
    }
  })

  it('the error record line is removed from stdout; the last valid one wins; a malformed one stays', () => {
    const rec = (type: string) => ERROR_MARKER + Buffer.from(JSON.stringify({type, message: 'm'})).toString('base64')
    const out = extractWrapperOutput(`a\n${rec('Forged')}\npartial${rec('OSError:ECONNREFUSED')}\n${ERROR_MARKER}%%%\n`)
    expect(out.stdout).toBe(`a\npartial${ERROR_MARKER}%%%\n`)
    expect(out.error).toEqual({type: 'OSError:ECONNREFUSED', message: 'm'})
    // a record never turns a completed run into a failure
    expect(remoteResult({stdout: `${rec('PermissionError:EACCES')}\n`, stderr: '', exitCode: 0, timedOut: false, timeoutSeconds: 1, wallMs: 1}).status).toBe('success')
  })

  it('Python: an exception is a program error with the traceback', () => {
    const out = runScript('python', wrapCode('python', 'def main():\n    return 1 / 0\n'))
    const r = remoteResult({stdout: out.stdout, stderr: out.stderr, exitCode: out.status!, timedOut: false, timeoutSeconds: 10, wallMs: 1})
    expect(r.status).toBe('program_error')
    expect(r.exit_code).toBe(1)
    expect(r.detail).toBe('ZeroDivisionError: division by zero')
    expect(r.result).toBeNull()
  })

  it('extracts a marker that follows output without a newline; the last valid one wins', () => {
    const m1 = encodeResultMarker(1)
    const m2 = encodeResultMarker({two: 2})
    const arts = ARTIFACTS_MARKER + Buffer.from(JSON.stringify([{name: 'a.png', size: 1, content_b64: 'AA=='}])).toString('base64')
    const out = extractWrapperOutput(`line\n${m1}\npartial${arts}\n${m2}\n${RESULT_MARKER}not-base64!\n`)
    expect(out.stdout).toBe(`line\npartial${RESULT_MARKER}not-base64!\n`)
    expect(out.result?.value).toEqual({two: 2})
    expect(out.artifacts).toEqual([{name: 'a.png', mime_type: 'image/png', size: 1, content_b64: 'AA=='}])
    expect(extractWrapperOutput('plain\n')).toEqual({stdout: 'plain\n', result: undefined, artifacts: [], rejected: []})
  })

  it('drops reported artifacts with unsafe names or types (user code can print the marker too)', () => {
    const forged =
      ARTIFACTS_MARKER +
      Buffer.from(
        JSON.stringify([
          {name: '../evil.png', size: 1, content_b64: 'AA=='},
          {name: 'x.exe', size: 1, content_b64: 'AA=='},
          {name: 'ok.svg', size: 1, content_b64: 'AA=='},
        ]),
      ).toString('base64')
    const r = remoteResult({stdout: `${forged}\n${encodeResultMarker(null)}\n`, stderr: '', exitCode: 0, timedOut: false, timeoutSeconds: 1, wallMs: 1})
    expect(r.artifacts.map((a) => a.name)).toEqual(['ok.svg'])
    expect(r.stderr).toContain('rejected')
  })

  it('a timeout is resource_limit_exceeded -124', () => {
    const r = remoteResult({stdout: 'so far\n', stderr: '', exitCode: -1, timedOut: true, timeoutSeconds: 5, wallMs: 5000})
    expect(r).toMatchObject({status: 'resource_limit_exceeded', exit_code: -124, resource_limit_type: 'time', stderr: 'Execution timeout'})
  })
})

describe('Aliyun execute results (RAGFlow test cases)', () => {
  it('stdout + result + endOfExecution ok', () => {
    expect(
      parseResults([
        {type: 'stdout', text: 'Hello, World!'},
        {type: 'result', text: 'None'},
        {type: 'endOfExecution', status: 'ok'},
      ]),
    ).toEqual({
      stdout: 'Hello, World!',
      stderr: '',
      exitCode: 0,
      timedOut: false,
    })
  })

  it('stderr + error + endOfExecution error → non-zero exit, stderr kept', () => {
    const r = parseResults([
      {type: 'stderr', text: 'warning\n'},
      {type: 'error', name: 'NameError', value: "name 'x' is not defined", traceback: ['Traceback (most recent call last):', "NameError: name 'x' is not defined"]},
      {type: 'endOfExecution', status: 'error'},
    ])
    expect(r.exitCode).not.toBe(0)
    expect(r.stderr).toBe("warning\nTraceback (most recent call last):\nNameError: name 'x' is not defined")
  })

  it('stderr alone (a warning) is not a failure; a timeout status is a timeout', () => {
    expect(
      parseResults([
        {type: 'stderr', text: 'DeprecationWarning'},
        {type: 'endOfExecution', status: 'ok'},
      ]).exitCode,
    ).toBe(0)
    expect(parseResults([{type: 'endOfExecution', status: 'timeout'}]).timedOut).toBe(true)
  })
})

describe('ACS3-HMAC-SHA256', () => {
  it('percent-encodes as RFC 3986 and sorts the query', () => {
    expect(percentEncode("a b*c~d!'()")).toBe('a%20b%2Ac~d%21%27%28%29')
    expect(canonicalQuery({b: '2', a: 'x y', c: undefined})).toBe('a=x%20y&b=2')
  })

  it('builds the canonical request with signed headers host, content-type and x-acs-*', () => {
    const {text, signed} = canonicalRequest({
      method: 'post',
      path: '/2025-09-10/templates',
      query: {},
      headers: {host: 'agentrun.cn-hangzhou.aliyuncs.com', 'x-acs-action': 'CreateTemplate', 'Content-Type': 'application/json', accept: 'application/json'},
      body: '{}',
    })
    expect(signed).toBe('content-type;host;x-acs-action')
    expect(text.split('\n')).toEqual([
      'POST',
      '/2025-09-10/templates',
      '',
      'content-type:application/json',
      'host:agentrun.cn-hangzhou.aliyuncs.com',
      'x-acs-action:CreateTemplate',
      '',
      'content-type;host;x-acs-action',
      '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    ])
    const auth = authorization({method: 'POST', path: '/', headers: {host: 'h'}, body: '', accessKeyId: 'LTAIx', accessKeySecret: 's'})
    expect(auth).toMatch(/^ACS3-HMAC-SHA256 Credential=LTAIx,SignedHeaders=host,Signature=[0-9a-f]{64}$/)
  })

  it('is accepted by an independent verifier, and rejected with another secret or a changed body', () => {
    const url = new URL('http://127.0.0.1:1/2025-09-10/agents/accessToken')
    url.search = canonicalQuery({resourceId: '01ABC', resourceType: 'sandbox', odd: 'a b/c'})
    const body = '{"templateName":"ragflow-python-default"}'
    const headers = signedHeaders({method: 'GET', url, action: 'GetAccessToken', version: '2025-09-10', body, accessKeyId: 'LTAIkey', accessKeySecret: 'sec'})
    const request = {method: 'GET', url: url.pathname + url.search, headers}
    expect(verifyAcs3(request, Buffer.from(body), 'LTAIkey', 'sec')).toBeUndefined()
    expect(verifyAcs3(request, Buffer.from(body), 'LTAIkey', 'other')).toBe('SignatureDoesNotMatch')
    expect(verifyAcs3(request, Buffer.from(`${body} `), 'LTAIkey', 'sec')).toBe('ContentSha256Mismatch')
    expect(verifyAcs3(request, Buffer.from(body), 'LTAIother', 'sec')).toBe('InvalidAccessKeyId.NotFound')
    expect(request.headers['x-acs-security-token']).toBeUndefined()
    expect(verifyAcs3(request, Buffer.from(body), 'LTAIkey', 'sec', 'CAIS-token')).toBe('InvalidSecurityToken.Missing')
  })

  it('STS credentials: x-acs-security-token and x-acs-accesskey-id are sent and signed, as the official SDKs do', () => {
    const url = new URL('http://127.0.0.1:1/2025-09-10/templates')
    const body = '{"templateName":"t"}'
    const sign = (token: string) =>
      signedHeaders({method: 'POST', url, action: 'CreateTemplate', version: '2025-09-10', body, accessKeyId: 'STS.NTkey', accessKeySecret: 'sec', securityToken: token})
    const headers = sign('CAIS-token/+=')
    expect(headers['x-acs-security-token']).toBe('CAIS-token/+=')
    expect(headers['x-acs-accesskey-id']).toBe('STS.NTkey')
    expect(headers.authorization).toMatch(
      /SignedHeaders=content-type;host;x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,/,
    )
    const request = {method: 'POST', url: url.pathname, headers}
    expect(verifyAcs3(request, Buffer.from(body), 'STS.NTkey', 'sec', 'CAIS-token/+=')).toBeUndefined()
    expect(verifyAcs3(request, Buffer.from(body), 'STS.NTkey', 'sec', 'other-token')).toBe('InvalidSecurityToken.Mismatch')
    expect(verifyAcs3(request, Buffer.from(body), 'STS.NTkey', 'sec')).toBe('InvalidSecurityToken.Unexpected')
    // the token is covered by the signature: a changed token with the old signature fails
    expect(verifyAcs3({...request, headers: {...headers, 'x-acs-security-token': 'other-token'}}, Buffer.from(body), 'STS.NTkey', 'sec', 'other-token')).toBe(
      'SignatureDoesNotMatch',
    )
  })

  it('an Aliyun provider with STS credentials passes the health check of a stand-in that requires the token', async () => {
    const {startAliyunStandIn} = await import('../helpers/standins/aliyun.js')
    const standIn = await startAliyunStandIn({securityToken: 'CAIS-sts-token-0123456789'})
    try {
      const config = {
        access_key_id: standIn.accessKeyId,
        access_key_secret: standIn.accessKeySecret,
        account_id: standIn.accountId,
        security_token: 'CAIS-sts-token-0123456789',
        control_endpoint: standIn.controlEndpoint,
        data_endpoint: standIn.dataEndpoint,
      }
      expect(standIn.accessKeyId.startsWith('STS.')).toBe(true)
      expect(validationErrors(aliyunDefinition, config)).toEqual([])
      const good = aliyunDefinition.create(config, {sandboxConfig})
      expect(await good.healthCheck()).toMatchObject({healthy: true})
      const wrong = aliyunDefinition.create({...config, security_token: 'CAIS-expired'}, {sandboxConfig})
      expect((await wrong.healthCheck()).healthy).toBe(false)
      expect(standIn.rejected).toEqual(['ListTemplates: InvalidSecurityToken.Mismatch'])
    } finally {
      await standIn.close()
    }
  })
})

// ---------------------------------------------------------------- self_managed over loopback

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void
const servers: Server[] = []

async function serve(handler: Handler): Promise<{url: string; requests: Array<{headers: IncomingMessage['headers']; body: string}>}> {
  const requests: Array<{headers: IncomingMessage['headers']; body: string}> = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      requests.push({headers: req.headers, body})
      handler(req, res, body)
    })
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests}
}

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise<void>((r) => s.close(() => r()))
  }
})

const okAnswer = {
  status: 'success',
  stdout: 'hi\n',
  stderr: '',
  exit_code: 0,
  detail: null,
  time_used_ms: 12.5,
  memory_used_kb: null,
  resource_limit_type: null,
  unauthorized_access_type: null,
  runtime_error_type: null,
  result: {present: true, value: {a: 1}, type: 'json'},
  artifacts: [],
}

function manager(config: Record<string, unknown>) {
  return selfManagedDefinition.create({timeout: 30, max_retries: 3, ...config}, {sandboxConfig, retryBaseDelayMs: 5})
}

async function runOn(config: Record<string, unknown>, code = 'def main():\n    return {"a": 1}\n') {
  return runWithProvider(manager(config), {code, language: 'python', arguments: {x: true}, timeoutSeconds: 10, policy: 'on'})
}

async function failure(p: Promise<unknown>): Promise<SandboxError> {
  try {
    await p
  } catch (error) {
    if (isSandboxError(error)) return error
    throw error
  }
  throw new Error('expected a SandboxError')
}

describe('what the remote providers (ssh, tenki, ucloud_agent_sandbox) share', () => {
  const remotes = [sshDefinition, tenkiDefinition, ucloudDefinition]
  const valid = {ssh: {host: '127.0.0.1', username: 'u', password: 'p'}, tenki: {api_key: 'tk_x'}, ucloud_agent_sandbox: {api_key: 'k'}} as const
  const request = (timeoutSeconds: number) => ({code: 'x', language: 'python' as const, timeoutSeconds})

  it("RAGFlow's limit fields: the same label, default and range in every remote schema; the provider's own description and variables", () => {
    for (const key of Object.keys(LIMIT_DEFAULTS) as Array<keyof typeof LIMIT_DEFAULTS>) {
      for (const definition of remotes) {
        const {description: _d, env: _e, label: _l, ...field} = definition.schema[key]
        const {description: _sd, env: _se, label: _sl, ...shared} = limitField(key)
        expect(field, `${definition.id}.${key}`).toEqual(shared)
        expect(field.default).toBe(LIMIT_DEFAULTS[key])
      }
    }
    expect(limitField('timeout', {label: 'Execution Timeout (seconds)', env: ['X']})).toEqual({
      type: 'integer',
      required: false,
      label: 'Execution Timeout (seconds)',
      default: 30,
      min: 1,
      max: 600,
      env: ['X'],
    })
    expect(sshDefinition.schema.timeout.env).toEqual(['SSH_TIMEOUT'])
    expect(ucloudDefinition.schema.timeout.label).toBe('Execution Timeout (seconds)')
  })

  it('config numbers: absent or empty is the default, anything else is converted', () => {
    expect(configNumbers({timeout: '', max_artifacts: '5', port: 2222}, {timeout: 30, max_artifacts: 20, port: 22, other: 1})).toEqual({
      timeout: 30,
      max_artifacts: 5,
      port: 2222,
      other: 1,
    })
  })

  it('the workspace is <home>/ragflow-codeexec-<32 hex>, a new one each time', () => {
    const dir = workspaceDir('/home/user')
    expect(dir).toMatch(/^\/home\/user\/ragflow-codeexec-[0-9a-f]{32}$/)
    expect(workspaceDir('/home/user')).not.toBe(dir)
  })

  it('instances: an unknown one or a non-positive timeout is refused before the run; take forgets; close destroys what is left', async () => {
    const live = new RemoteInstances<{dir: string}>('tenki', 'Tenki sandbox', 'TENKI_NO_INSTANCE')
    const instance = (instanceId: string) => ({instanceId, provider: 'tenki' as const, status: 'running', metadata: {}})
    expect(() => live.forRun(instance('a'), request(5))).toThrow(expect.objectContaining({message: 'Unknown Tenki sandbox instance: a', code: 'TENKI_NO_INSTANCE', exit: 6}))
    live.add('a', {dir: '/w/a'})
    live.add('b', {dir: '/w/b'})
    expect(live.forRun(instance('a'), request(5))).toEqual({dir: '/w/a'})
    for (const t of [0, -1, Number.NaN]) expect(() => live.forRun(instance('a'), request(t))).toThrow(expect.objectContaining({code: 'INVALID_TIMEOUT', exit: 4}))
    expect(live.take('a')).toEqual({dir: '/w/a'})
    expect(live.take('a')).toBeUndefined()
    const destroyed: unknown[] = []
    await live.closeAll(async (i) => (destroyed.push(i), true))
    expect(destroyed).toEqual([instance('b')])
  })

  it('each remote provider refuses a bad config when created, and an unknown instance or a bad timeout before it reaches the remote side', async () => {
    for (const definition of remotes) {
      expect(() => definition.create({...valid[definition.id as keyof typeof valid], timeout: 'x'}, {sandboxConfig})).toThrow(
        expect.objectContaining({message: `Invalid ${definition.name} configuration: timeout must be an integer`, code: 'INVALID_PROVIDER_CONFIG', exit: 4}),
      )
      const provider = definition.create(valid[definition.id as keyof typeof valid], {sandboxConfig})
      const unknown = {instanceId: 'nope', provider: definition.id, status: 'running', metadata: {}}
      await expect(provider.executeCode(unknown, request(5))).rejects.toMatchObject({code: expect.stringMatching(/_NO_INSTANCE$/), exit: 6})
      expect(await provider.destroyInstance(unknown)).toBe(true)
      await provider.close()
    }
  })
})

describe('self_managed client', () => {
  it("POSTs RAGFlow's request with the bearer token and maps the answer", async () => {
    const m = await serve((_req, res) => res.writeHead(200, {'Content-Type': 'application/json'}).end(JSON.stringify(okAnswer)))
    const run = await runOn({endpoint: m.url, api_token: 'tok-abc'})
    expect(run.result).toEqual(okAnswer)
    expect(m.requests).toHaveLength(1)
    expect(m.requests[0].headers.authorization).toBe('Bearer tok-abc')
    const body = JSON.parse(m.requests[0].body)
    expect(body).toEqual({code_b64: Buffer.from('def main():\n    return {"a": 1}\n').toString('base64'), language: 'python', arguments: {x: true}})
  })

  it('retries 502/503/504 answers, then succeeds', async () => {
    let n = 0
    const m = await serve((_req, res) => {
      n++
      if (n <= 2) res.writeHead(n === 1 ? 503 : 502).end('not ready')
      else res.writeHead(200, {'Content-Type': 'application/json'}).end(JSON.stringify(okAnswer))
    })
    const run = await runOn({endpoint: m.url})
    expect(run.result.status).toBe('success')
    expect(m.requests).toHaveLength(3)
  })

  it('gives up after max_retries on 503 with MANAGER_ERROR (exit 6)', async () => {
    const m = await serve((_req, res) => res.writeHead(503).end('starting'))
    const error = await failure(runOn({endpoint: m.url, max_retries: 2}))
    expect(m.requests).toHaveLength(3)
    expect(error.code).toBe('MANAGER_ERROR')
    expect(error.exit).toBe(6)
    expect(error.message).toContain('HTTP 503: starting (after 3 attempts)')
  })

  it('does not retry a 500 (the manager failed while handling the request)', async () => {
    const m = await serve((_req, res) => res.writeHead(500).end('boom'))
    const error = await failure(runOn({endpoint: m.url}))
    expect(m.requests).toHaveLength(1)
    expect(error.message).toBe('HTTP 500: boom')
  })

  it('never retries once the request was sent and the connection broke', async () => {
    const m = await serve((req) => req.socket.destroy())
    const error = await failure(runOn({endpoint: m.url, max_retries: 5}))
    expect(m.requests).toHaveLength(1)
    expect(error.code).toBe('MANAGER_CONNECTION_LOST')
    expect(error.exit).toBe(6)
  })

  it('never retries a broken response either (headers sent, body cut)', async () => {
    const m = await serve((_req, res) => {
      res.writeHead(200, {'Content-Type': 'application/json', 'Content-Length': '1000'})
      res.write('{"status":')
      setImmediate(() => res.socket?.destroy())
    })
    const error = await failure(runOn({endpoint: m.url, max_retries: 5}))
    expect(m.requests).toHaveLength(1)
    expect(error.code).toBe('MANAGER_CONNECTION_LOST')
  })

  it('retries connection refused max_retries times, then MANAGER_UNREACHABLE (exit 6)', async () => {
    const port = await closedPort()
    const error = await failure(runOn({endpoint: `http://127.0.0.1:${port}`, max_retries: 2}))
    expect(error.code).toBe('MANAGER_UNREACHABLE')
    expect(error.exit).toBe(6)
    expect(error.message).toContain('ECONNREFUSED after 3 attempts')
    expect(error.suggestions.join('\n')).toContain('sandbox start')
  })

  it('401 → MANAGER_UNAUTHORIZED with a token hint', async () => {
    const m = await serve((_req, res) => res.writeHead(401).end('{"error":"unauthorized"}'))
    const error = await failure(runOn({endpoint: m.url}))
    expect(error.code).toBe('MANAGER_UNAUTHORIZED')
    expect(error.suggestions.join(' ')).toContain('--api-token')
  })

  it('applies the code policy before sending anything (-999 "Code is unsafe")', async () => {
    const m = await serve((_req, res) => res.writeHead(200).end(JSON.stringify(okAnswer)))
    const run = await runOn({endpoint: m.url}, 'import os\n\ndef main():\n    return os.getcwd()\n')
    expect(run.result).toMatchObject({status: 'program_runner_error', exit_code: -999, detail: 'Code is unsafe'})
    expect(run.result.stderr).toContain('Line 1: Import: os')
    expect(m.requests).toHaveLength(0)
  })

  it('health check: GET /healthz', async () => {
    const m = await serve((req, res) => res.writeHead(req.url === '/healthz' ? 200 : 404).end('{"status":"ok"}'))
    expect((await manager({endpoint: m.url}).healthCheck()).healthy).toBe(true)
    const port = await closedPort()
    expect((await manager({endpoint: `http://127.0.0.1:${port}`}).healthCheck()).healthy).toBe(false)
  })
})

describe('probe', () => {
  it("is RAGFlow's HEAD test program: a main() that prints TEST_PASSED and returns a value", () => {
    expect(PROBE_CODE).toContain('def main()')
    expect(PROBE_CODE).toContain('print("TEST_PASSED")')
    expect(PROBE_CODE).toContain('return {"ok": True, "provider_test": "TEST_PASSED"}')
  })
})
