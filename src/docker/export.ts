/**
 * An image's root filesystem and run configuration, for backends that run images without the
 * daemon (src/backends/runsc/): `docker export` of a created (never started) container, unpacked
 * by tar. Docker is only needed here, when a rootfs is exported; images are still built by Docker.
 */
import {spawn} from 'node:child_process'
import {rmSync} from 'node:fs'
import {join} from 'node:path'
import type {Readable} from 'node:stream'

import {withDaemon} from './client.js'

export interface ImageRunConfig {
  /** the image id (sha256:…) */
  id: string
  labels: Record<string, string>
  /** the image's Env (a container of it starts with these, then its own) */
  env: string[]
}

/** The image's id, labels and Env; undefined when the image does not exist. */
export async function imageRunConfig(name: string): Promise<ImageRunConfig | undefined> {
  return withDaemon(async (d) => {
    try {
      const info = await d.getImage(name).inspect()
      return {id: info.Id, labels: (info.Config?.Labels ?? {}) as Record<string, string>, env: info.Config?.Env ?? []}
    } catch (error) {
      if ((error as {statusCode?: number}).statusCode === 404) return undefined
      throw error
    }
  })
}

/** Unpack the file system of `image` (by id or name) into `dir` (which exists and is empty). */
export async function exportImageFilesystem(image: string, dir: string): Promise<void> {
  await withDaemon(async (d) => {
    const container = await d.createContainer({Image: image, Cmd: ['true'], NetworkDisabled: true, Labels: {'io.sandbox.managed': 'true', 'io.sandbox.role': 'export'}})
    try {
      const stream = (await container.export()) as unknown as Readable
      await new Promise<void>((resolve, reject) => {
        // --no-same-owner is not wanted: the files keep the image's owners (root), we are root
        const tar = spawn('tar', ['-x', '-f', '-', '-C', dir, '--numeric-owner'], {stdio: ['pipe', 'ignore', 'pipe']})
        let stderr = ''
        tar.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')))
        tar.on('error', reject)
        tar.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar failed (exit ${code}): ${stderr.trim().slice(0, 500)}`))))
        stream.on('error', (error) => {
          tar.kill('SIGKILL')
          reject(error)
        })
        stream.pipe(tar.stdin)
      })
      // Docker's marker of its own containers, from the container's init layer: not the image's
      rmSync(join(dir, '.dockerenv'), {force: true})
    } finally {
      await container.remove({force: true}).catch(() => {})
    }
  })
}
