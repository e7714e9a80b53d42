/** The facts of a plain run that exited 0, for classify() tests to change one at a time. */
import type {ClassifyInput} from '../../src/engine/classify.js'

export const CLASSIFY_BASE: ClassifyInput = {
  stdout: '',
  stderr: '',
  control: undefined,
  markerResult: undefined,
  exitCode: 0,
  oomKilled: false,
  timedOut: false,
  outputOverflow: false,
  wallMs: 12,
  timeoutSeconds: 10,
  memoryBytes: 256 * 1024 * 1024,
  maxOutputBytes: 1024,
  memoryKb: 9000,
}
