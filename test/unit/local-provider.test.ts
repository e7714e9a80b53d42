/**
 * RAGFlow's local provider without running code: its schema and messages as RAGFlow's
 * local.py, the alias to docker gone, and the opt-in gate — a settings database whose
 * sandbox.provider_type is local is refused (exit 4) without the opt-in, never run on another
 * provider, and activating local without the opt-in writes nothing.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import type {SandboxError} from '../../src/errors.js'
import {
  activateProvider,
  dockerDefinition,
  findProvider,
  localDefinition,
  localProviderAllowed,
  ragflowSchema,
  resolveConfig,
  saveProviderConfig,
  selectProvider,
  validationErrors,
} from '../../src/providers/index.js'
import {openSettingsStore, readSandboxSettings, writeProviderSettings} from '../../src/settings/index.js'

const catchError = async (fn: () => unknown): Promise<SandboxError | undefined> => {
  try {
    await fn()
  } catch (error) {
    return error as SandboxError
  }
  return undefined
}

describe('local provider: schema and validation (RAGFlow local.py)', () => {
  it("has RAGFlow's id, fields, defaults and ranges", () => {
    expect(localDefinition.id).toBe('local')
    expect(findProvider('local')).toBe(localDefinition)
    expect(dockerDefinition.aliases).not.toContain('local')
    const schema = ragflowSchema(localDefinition.schema)
    expect(Object.keys(schema)).toEqual(['python_bin', 'node_bin', 'work_dir', 'timeout', 'max_memory_mb', 'max_output_bytes', 'max_artifacts', 'max_artifact_bytes'])
    expect(schema.python_bin).toMatchObject({type: 'string', required: false, default: 'python3', label: 'Python Binary'})
    expect(schema.node_bin).toMatchObject({type: 'string', default: 'node', label: 'Node.js Binary'})
    expect(schema.work_dir).toMatchObject({type: 'string', default: '/tmp/ragflow-codeexec', label: 'Working Directory'})
    expect(schema.timeout).toMatchObject({type: 'integer', default: 30, min: 1, max: 600, label: 'Timeout (seconds)'})
    expect(schema.max_memory_mb).toMatchObject({default: 512, min: 1, max: 65536})
    expect(schema.max_output_bytes).toMatchObject({default: 1048576, min: 1024, max: 10485760})
    expect(schema.max_artifacts).toMatchObject({default: 20, min: 0, max: 100})
    expect(schema.max_artifact_bytes).toMatchObject({default: 10485760, min: 1024, max: 104857600})
  })

  it("refuses bad values with RAGFlow's messages", () => {
    const {config} = resolveConfig(localDefinition.schema, {env: {}})
    expect(validationErrors(localDefinition, config)).toEqual([])
    expect(validationErrors(localDefinition, {...config, timeout: 0})).toEqual(["Field 'timeout' must be >= 1"])
    expect(validationErrors(localDefinition, {...config, timeout: 601})).toEqual(["Field 'timeout' must be <= 600"])
    expect(validationErrors(localDefinition, {...config, max_memory_mb: 'lots'})).toEqual(["Field 'max_memory_mb' must be an integer"])
    expect(validationErrors(localDefinition, {...config, max_artifacts: -1})).toEqual(["Field 'max_artifacts' must be >= 0"])
    // RAGFlow's _validate_limits messages, behind the schema's ranges
    expect(localDefinition.validate({...config, timeout: 0})).toBe('SANDBOX_LOCAL_TIMEOUT must be greater than 0.')
    expect(localDefinition.validate({...config, max_artifacts: -1})).toBe('SANDBOX_LOCAL_MAX_ARTIFACTS must be greater than or equal to 0.')
  })

  it('opt-in: the flag or SANDBOX_ALLOW_LOCAL_PROVIDER=on/1/true/yes, nothing else', () => {
    expect(localProviderAllowed({env: {}})).toBe(false)
    expect(localProviderAllowed({env: {SANDBOX_ALLOW_LOCAL_PROVIDER: 'off'}})).toBe(false)
    expect(localProviderAllowed({env: {SANDBOX_ALLOW_LOCAL_PROVIDER: 'local'}})).toBe(false)
    expect(localProviderAllowed({env: {SANDBOX_ALLOW_LOCAL_PROVIDER: 'on'}})).toBe(true)
    expect(localProviderAllowed({env: {SANDBOX_ALLOW_LOCAL_PROVIDER: 'TRUE'}})).toBe(true)
    expect(localProviderAllowed({env: {}, allowUnsandboxed: true})).toBe(true)
  })

  it('is never built without the opt-in (the gate in create)', async () => {
    const saved = process.env.SANDBOX_ALLOW_LOCAL_PROVIDER
    delete process.env.SANDBOX_ALLOW_LOCAL_PROVIDER
    try {
      const error = await catchError(() => localDefinition.create({}, {sandboxConfig: loadConfig({env: {}, envFile: undefined})}))
      expect(error?.code).toBe('LOCAL_PROVIDER_NOT_ALLOWED')
      expect(error?.exit).toBe(4)
      expect(localDefinition.create({}, {sandboxConfig: loadConfig({env: {}, envFile: undefined}), allowUnsandboxed: true}).id).toBe('local')
    } finally {
      if (saved !== undefined) process.env.SANDBOX_ALLOW_LOCAL_PROVIDER = saved
    }
  })
})

describe('local provider: selection from the settings database', () => {
  let dir: string
  let db: string
  let savedEnv: string | undefined
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'local-provider-'))
    db = `sqlite://${join(dir, 'settings.db')}`
    savedEnv = process.env.SANDBOX_ALLOW_LOCAL_PROVIDER
    delete process.env.SANDBOX_ALLOW_LOCAL_PROVIDER
    const store = await openSettingsStore(db)
    try {
      // a RAGFlow database: docker and self_managed rows that must never be used for local
      await writeProviderSettings(store, 'docker', {timeout: 5}, {activate: false})
      await writeProviderSettings(store, 'self_managed', {endpoint: 'http://127.0.0.1:9385', timeout: 30}, {activate: false})
      await writeProviderSettings(store, 'local', {timeout: 12, max_memory_mb: 256}, {activate: true})
    } finally {
      await store.close()
    }
  })
  afterEach(() => {
    if (savedEnv !== undefined) process.env.SANDBOX_ALLOW_LOCAL_PROVIDER = savedEnv
    rmSync(dir, {recursive: true, force: true})
  })

  it('provider_type=local without the opt-in is refused (exit 4), naming the row, not run on another provider', async () => {
    const error = await catchError(() => selectProvider({db, env: {}}))
    expect(error?.code).toBe('LOCAL_PROVIDER_NOT_ALLOWED')
    expect(error?.exit).toBe(4)
    expect(error?.message).toContain('sandbox.provider_type = local')
    expect(error?.suggestions.join('\n')).toContain('SANDBOX_ALLOW_LOCAL_PROVIDER=on')
  })

  it("provider_type=local with the opt-in is local with local's own row", async () => {
    const selection = await selectProvider({db, env: {SANDBOX_ALLOW_LOCAL_PROVIDER: 'on'}})
    expect(selection.definition.id).toBe('local')
    expect(selection.source).toBe('settings')
    expect(selection.config).toMatchObject({timeout: 12, max_memory_mb: 256, python_bin: 'python3', work_dir: '/tmp/ragflow-codeexec'})
    const flagged = await selectProvider({db, env: {}, allowUnsandboxed: true})
    expect(flagged.definition.id).toBe('local')
  })

  it('activating local without the opt-in writes nothing', async () => {
    const store = await openSettingsStore(db)
    try {
      await writeProviderSettings(store, 'docker', {timeout: 5}, {activate: true})
    } finally {
      await store.close()
    }
    const save = await catchError(() => saveProviderConfig({db, definition: localDefinition, config: {timeout: 3}, activate: true}))
    expect(save?.code).toBe('LOCAL_PROVIDER_NOT_ALLOWED')
    const use = await catchError(() => activateProvider(db, localDefinition))
    expect(use?.code).toBe('LOCAL_PROVIDER_NOT_ALLOWED')
    const check = await openSettingsStore(db)
    try {
      const settings = await readSandboxSettings(check)
      expect(settings.providerType).toBe('docker')
      expect(settings.configs.local).toMatchObject({timeout: 12})
    } finally {
      await check.close()
    }
    // storing its settings without activating it needs no opt-in
    await saveProviderConfig({db, definition: localDefinition, config: {timeout: 3}, activate: false})
  })
})
