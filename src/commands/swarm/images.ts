import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {copyImages, type TransferResult} from '../../docker/transfer.js'
import {MANAGER_IMAGE} from '../../docker/manager-container.js'

const DEFAULT_IMAGES = [MANAGER_IMAGE, 'sandbox-base-python:latest', 'sandbox-base-nodejs:latest']

export default class SwarmImages extends BaseCommand<typeof SwarmImages> {
  static description = `copy the images a node needs from this engine to another node's engine (no registry)

Streams \`docker save\` of the images here into \`docker load\` on the target engine (layers it
already has are skipped). Run it once per node that joins, and again after \`sandbox build\`.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> --to tcp://10.0.0.6:2375', description: 'the manager and base images to a node'},
    {command: '<%= config.bin %> <%= command.id %> --to unix:///run/node2/docker.sock --image sandbox-base-python:latest', description: 'one image'},
  ]

  static flags = {
    to: Flags.string({description: 'target engine: unix:///path/to/docker.sock or tcp://host:port', required: true, multiple: true}),
    image: Flags.string({description: `image to copy (repeatable; default: ${DEFAULT_IMAGES.join(', ')})`, multiple: true}),
  }

  async run(): Promise<TransferResult[]> {
    const images = this.flags.image?.length ? this.flags.image : DEFAULT_IMAGES
    const results: TransferResult[] = []
    for (const target of this.flags.to) {
      this.progress(`copying ${images.join(', ')} to ${target}`)
      const r = await copyImages(images, target)
      results.push(r)
      if (!this.jsonEnabled()) this.log(`Copied ${r.images.length} image(s) to ${r.target}: ${(r.bytes / 1024 / 1024).toFixed(0)} MB in ${r.seconds} s`)
    }
    return results
  }
}
