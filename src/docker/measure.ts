/**
 * Reference figures for `npm run bench`: the `docker exec` floor and the raw container
 * create/start/remove rate, measured with the same daemon and runtime as the engine.
 */
import {docker, withDaemon} from './client.js'
import {LABELS} from './containers.js'

const labels = {[LABELS.managed]: 'true', [LABELS.role]: 'bench'}

/** Latencies (ms) of `docker exec <c> <cmd>` in one warm container (create+start+wait of the exec). */
export async function measureExec(image: string, runtime: string, cmd: string[], runs: number): Promise<number[]> {
  return withDaemon(async (d) => {
    const c = await d.createContainer({Image: image, Cmd: ['sleep', 'infinity'], Labels: labels, User: '65534:65534', HostConfig: {Runtime: runtime, NetworkMode: 'none'}})
    await c.start()
    try {
      const times: number[] = []
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now()
        const exec = await c.exec({Cmd: cmd, AttachStdout: true, AttachStderr: true})
        const stream = await exec.start({hijack: true, stdin: false})
        await new Promise<void>((resolve) => {
          stream.on('end', resolve)
          stream.on('close', resolve)
          stream.resume()
        })
        await exec.inspect()
        times.push(performance.now() - t0)
      }
      return times
    } finally {
      await c.remove({force: true})
    }
  })
}

/** Containers per second created, started, waited for and removed, `concurrency` at a time, for `seconds`. */
export async function measureChurn(image: string, runtime: string, cmd: string[], seconds: number, concurrency: number): Promise<{count: number; perSecond: number}> {
  const d = docker()
  const deadline = performance.now() + seconds * 1000
  let count = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({length: concurrency}, async () => {
      while (performance.now() < deadline) {
        const c = await d.createContainer({Image: image, Cmd: cmd, Labels: labels, User: '65534:65534', HostConfig: {Runtime: runtime, NetworkMode: 'none'}})
        await c.start()
        await c.wait()
        await c.remove({force: true})
        count++
      }
    }),
  )
  const elapsed = (performance.now() - t0) / 1000
  return {count, perSecond: count / elapsed}
}
