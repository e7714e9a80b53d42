/**
 * Images from one engine to another without a registry: `docker save` on the source streamed
 * into `docker load` on the target (layers the target has are skipped by its load). This is
 * how the images reach the nodes of a swarm (`sandbox swarm images`).
 */
import Dockerode from 'dockerode'

import {configError, prerequisiteError} from '../errors.js'
import {docker, isDaemonDown} from './client.js'

/** A Docker client for an engine address: unix:///path or tcp://host:port. */
export function engineClient(address: string): Dockerode {
  if (address.startsWith('unix://')) return new Dockerode({socketPath: address.slice('unix://'.length)})
  const tcp = /^tcp:\/\/([^:/]+|\[[^\]]+\]):(\d+)\/?$/.exec(address)
  if (tcp) return new Dockerode({host: tcp[1].replace(/^\[|\]$/g, ''), port: Number(tcp[2])})
  throw configError(`Invalid engine address "${address}": use unix:///path/to/docker.sock or tcp://host:port`, 'ENGINE_ADDRESS')
}

export interface TransferResult {
  target: string
  images: string[]
  bytes: number
  seconds: number
}

/** Copy `images` from the current engine (DOCKER_HOST) to the engine at `target`. */
export async function copyImages(images: string[], target: string): Promise<TransferResult> {
  const started = performance.now()
  const to = engineClient(target)
  const from = docker()
  try {
    await to.ping()
  } catch (error) {
    throw prerequisiteError(`Cannot reach the Docker engine at ${target}`, 'DOCKER_UNREACHABLE', [], error)
  }
  for (const image of images) {
    try {
      await from.getImage(image).inspect()
    } catch (error) {
      if ((error as {statusCode?: number}).statusCode === 404) {
        throw prerequisiteError(`The image ${image} does not exist here: nothing was copied`, 'IMAGES_MISSING', ['build it first (`sandbox build`, `sandbox build --manager`)'])
      }
      if (isDaemonDown(error)) throw prerequisiteError('Cannot reach the local Docker engine', 'DOCKER_UNREACHABLE', [], error)
      throw error
    }
  }
  let bytes = 0
  // dockerode has getImages (GET /images/get?names=…) but its types do not
  const tar = await (from as unknown as {getImages(o: {names: string[]}): Promise<NodeJS.ReadableStream>}).getImages({names: images})
  tar.on('data', (c: Buffer) => (bytes += c.length))
  const answer = (await to.loadImage(tar, {quiet: true})) as NodeJS.ReadableStream
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = []
    answer.on('data', (c: Buffer) => chunks.push(c))
    answer.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    answer.on('error', reject)
  })
  const failed = /"error"\s*:\s*"([^"]+)"/.exec(text)
  if (failed) throw prerequisiteError(`Loading the images into ${target} failed: ${failed[1]}`, 'IMAGE_LOAD_FAILED')
  return {target, images, bytes, seconds: Math.round((performance.now() - started) / 100) / 10}
}
