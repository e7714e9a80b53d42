/**
 * The package's programmatic API (`import {Sandbox} from 'gvisor-sandbox'`): docs/sdk.md.
 */
export {Sandbox, type ConnectOptions, type LocalSandboxOptions, type SandboxRunRequest} from './sdk.js'
export type {RunResult, RunStatus, Artifact} from './engine/result.js'
export {SandboxError, ExitCode} from './errors.js'
export {ManagerError} from './executors/manager-client.js'
export {LANGUAGE_IDS, type Language} from './languages/index.js'
export {POLICY_MODES, type PolicyMode} from './policy/types.js'
