/**
 * The security / conformance suite behind `sandbox test`.
 *
 *   const target = await startEngineTarget({config})          // or connectEndpoint({url, token})
 *   const report = await runSuite({target, canary, onEvent})  // SuiteReport
 *   await target.close()
 */
export {allCases} from './cases/index.js'
export {ARTIFACT_LIMITS, unsafeArtifact} from './cases/artifacts.js'
export {code, dedent} from './expect.js'
export {prepareHost, startListener} from './fixtures.js'
export {CANARY_NAME, ensureCanary, policyFor, runSuite, selectCases, type RunSuiteOptions} from './runner.js'
export {
  connectEndpoint,
  detectPolicySupport,
  endpointUrls,
  parseRunResponse,
  startEngineTarget,
  startProviderTarget,
  targetFromRunner,
  type EndpointTargetOptions,
  type EngineTargetOptions,
  type ProviderTargetOptions,
  type SimpleRunner,
} from './targets.js'
export type * from './types.js'
