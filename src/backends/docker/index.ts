/**
 * The Docker backend: runners are hardened containers (src/docker/containers.ts) under
 * gVisor's runsc runtime, made through the daemon; preflight asks the daemon for its
 * runtimes and checks the base images. dockerode stays in src/docker/.
 */
import {daemonInfo} from '../../docker/client.js'
import {findLeftovers, LABELS, listManagedContainers, removeContainers, startRunnerContainer, waitRemoved} from '../../docker/containers.js'
import {imageStatus, type ImageStatus} from '../../docker/images.js'
import {loadSeccompProfile} from '../../docker/seccomp.js'
import type {BackendFacts, PreflightRequest, Runner, RunnerBackend, RunnerRequest} from '../../engine/runner.js'
import {chooseRuntime, RUNC_WARNING} from '../../engine/runtime.js'
import {prerequisiteError} from '../../errors.js'

/** Throws the prerequisite error of images that are missing (or stale, unless allowed); the runsc backend boots the same images. */
export function requireImagesReady(statuses: ImageStatus[], allowStale = false): void {
  const missing = statuses.filter((s) => !s.present || (!s.current && !allowStale))
  if (!missing.length) return
  const what = missing.map((s) => `${s.image} (${s.language}): ${s.reason ?? (s.present ? 'stale' : 'missing')}`).join('; ')
  throw prerequisiteError(`Base images are not ready: ${what}`, missing.some((s) => !s.present) ? 'IMAGES_MISSING' : 'IMAGES_STALE', ['run `sandbox build`'])
}

export class DockerBackend implements RunnerBackend {
  readonly id = 'docker'
  private runtime: 'runsc' | 'runc' | undefined
  private seccompProfile: string | undefined

  async preflight(request: PreflightRequest): Promise<BackendFacts> {
    const {config} = request
    const [info, statuses] = await Promise.all([daemonInfo(), imageStatus(config, request.runtimes)])
    const runtime = (this.runtime = chooseRuntime(info.runtimes, {allowRunc: config.allowRunc, forced: request.isolation}))
    if (runtime === 'runc' || config.enableSeccomp) this.seccompProfile = loadSeccompProfile()
    requireImagesReady(statuses, request.allowStaleImages)
    return {isolation: runtime, warnings: runtime === 'runc' ? [RUNC_WARNING] : []}
  }

  createRunner(request: RunnerRequest): Promise<Runner> {
    if (!this.runtime) return Promise.reject(new Error('the docker backend has not been preflighted'))
    return startRunnerContainer({
      image: request.image,
      cmd: request.command,
      language: request.runtime,
      owner: request.owner,
      runtime: this.runtime,
      memoryBytes: request.memoryBytes,
      seccompProfile: this.seccompProfile,
      env: request.env,
      network: request.network,
      autoRemove: request.autoRemove,
      signal: request.signal,
    })
  }

  async removeLeftovers(options: {ownProcess?: boolean} = {}): Promise<number> {
    const leftovers = await findLeftovers(options)
    if (leftovers.length) await removeContainers(leftovers.map((c) => c.id))
    return leftovers.length
  }

  async removeOwned(owner: string, options: {autoRemove?: boolean} = {}): Promise<void> {
    const mine = await listManagedContainers({[LABELS.owner]: owner}).catch(() => [])
    // an exited auto-removed container is on its way out: wait until the daemon has removed it
    const leaving = mine.filter((c) => options.autoRemove && ['exited', 'dead', 'removing'].includes(c.state))
    const left = mine.filter((c) => !leaving.includes(c))
    await Promise.all([left.length ? removeContainers(left.map((c) => c.id)) : undefined, leaving.length ? waitRemoved(leaving.map((c) => c.id)) : undefined])
  }
}

export const createBackend = (): RunnerBackend => new DockerBackend()
