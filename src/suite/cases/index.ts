/** Every case of the suite, in report order. */
import type {SuiteCase} from '../types.js'
import {artifactCases} from './artifacts.js'
import {gvisorCases} from './gvisor.js'
import {hostCases} from './host.js'
import {isolationCases} from './isolation.js'
import {networkCases} from './network.js'
import {policyCases} from './policy.js'
import {positiveCases} from './positive.js'
import {protocolCases} from './protocol.js'
import {ragflowCases} from './ragflow.js'
import {resourceCases} from './resources.js'

export function allCases(): SuiteCase[] {
  return [...ragflowCases, ...resourceCases, ...hostCases, ...networkCases, ...isolationCases, ...gvisorCases, ...artifactCases, ...protocolCases, ...policyCases, ...positiveCases]
}
