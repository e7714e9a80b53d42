/** Facts about processes on this host, for tests that check a run left nothing behind. */
import {existsSync} from 'node:fs'

import {isZombie} from '../../src/process.js'

/** A process is gone when /proc has no entry for it, or only a zombie waiting for its parent. */
export const gone = (pid: number): boolean => !existsSync(`/proc/${pid}`) || isZombie(pid)
