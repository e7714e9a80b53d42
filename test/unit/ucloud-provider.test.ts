/** ucloud_agent_sandbox: RAGFlow's schema, defaults and validation messages; the domain derived from the region. */
import {describe, expect, it} from 'vitest'

import {loadConfig} from '../../src/config.js'
import {ragflowSchema, ucloudDefinition, validationErrors} from '../../src/providers/index.js'

const sandboxConfig = loadConfig({env: {}, envFile: undefined})

describe('ucloud_agent_sandbox definition', () => {
  it("RAGFlow's schema: fields, defaults, ranges", () => {
    const schema = ragflowSchema(ucloudDefinition.schema)
    expect(Object.keys(schema).slice(0, 12)).toEqual([
      'api_key',
      'region',
      'domain',
      'api_url',
      'template',
      'allow_internet_access',
      'insecure_http',
      'timeout',
      'sandbox_timeout',
      'max_output_bytes',
      'max_artifacts',
      'max_artifact_bytes',
    ])
    expect(schema.api_key).toMatchObject({required: true, secret: true})
    expect(schema.region.default).toBe('cn-wlcb')
    expect(schema.template.default).toBe('base')
    expect(schema.allow_internet_access.default).toBe(false)
    expect(schema.timeout).toMatchObject({default: 30, min: 1, max: 600})
    expect(schema.sandbox_timeout).toMatchObject({default: 300, min: 60, max: 86400})
  })

  it("RAGFlow's validation messages", () => {
    expect(ucloudDefinition.validate({})).toBe('UCloud Agent Sandbox API key is required')
    expect(ucloudDefinition.validate({api_key: 'k', template: ' '})).toBe('template is required')
    expect(ucloudDefinition.validate({api_key: 'k', max_artifacts: -1})).toBe('max_artifacts must be greater than or equal to 0')
    expect(ucloudDefinition.validate({api_key: 'k', sandbox_timeout: 0})).toBe('sandbox_timeout must be greater than 0')
    expect(validationErrors(ucloudDefinition, {api_key: 'k', timeout: 601})).toEqual(["Field 'timeout' must be <= 600"])
    expect(ucloudDefinition.validate({api_key: 'k', api_url: 'ftp://x'})).toBe('Invalid api_url: ftp://x. Must start with http:// or https://')
    // http cannot reach each sandbox through the SDK without a fixed sandbox URL: refused, not silently https
    expect(ucloudDefinition.validate({api_key: 'k', insecure_http: true})).toMatch(/^insecure_http needs sandbox_url/)
    expect(ucloudDefinition.validate({api_key: 'k'})).toBeNull()
  })

  it('the domain is <region>.sandbox.ucloudai.com unless domain overrides it', () => {
    expect(ucloudDefinition.create({api_key: 'k'}, {sandboxConfig}).runtimeLabel()).toBe('UCloud Agent Sandbox cn-wlcb.sandbox.ucloudai.com')
    expect(ucloudDefinition.create({api_key: 'k', region: 'us-ca'}, {sandboxConfig}).runtimeLabel()).toBe('UCloud Agent Sandbox us-ca.sandbox.ucloudai.com')
    expect(ucloudDefinition.create({api_key: 'k', region: 'us-ca', domain: 'sbx.example.com'}, {sandboxConfig}).runtimeLabel()).toBe('UCloud Agent Sandbox sbx.example.com')
  })
})
