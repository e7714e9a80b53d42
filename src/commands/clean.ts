import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {loadConfig} from '../config.js'
import {MANAGER_IMAGE} from '../docker/manager-container.js'
import {cleanEverything, type CleanResult} from '../supervisor/clean.js'

export default class Clean extends BaseCommand<typeof Clean> {
  static description = `remove every container and state file of ours (and with --images, our images)

Stops the manager (graceful), removes the manager container, every sandbox container whose owner
process is gone, the pid, state, launch and log files. Containers of other sandbox processes still running
on this host (e.g. a \`sandbox run\` in progress) are kept unless --all. The cgroups of runsc sandboxes
that no record names any more (empty, at least a minute old) are removed too. --images also removes the
base images, the manager image, every image labelled as built by this toolkit and the runsc
backend's exports of them (one a running process boots from is kept unless --all).`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'stop and remove containers and state files'},
    {command: '<%= config.bin %> <%= command.id %> --images', description: 'also remove the images (rebuild with `sandbox build`)'},
    {command: '<%= config.bin %> <%= command.id %> --all --json', description: 'also containers of running sandbox processes; report as JSON'},
  ]

  static flags = {
    images: Flags.boolean({description: 'also remove our images (base images, manager image)', default: false}),
    all: Flags.boolean({description: 'also remove containers of other sandbox processes that still run', default: false}),
    'env-file': Flags.string({description: 'read image names from this .env file (default ./.env when present)'}),
  }

  async run(): Promise<CleanResult> {
    const {flags} = this
    let images: string[] | false = false
    if (flags.images) {
      const config = loadConfig({envFile: flags['env-file']})
      images = [config.pythonImage, config.nodejsImage, process.env.SANDBOX_EXECUTOR_MANAGER_IMAGE ?? MANAGER_IMAGE]
    }
    const result = await cleanEverything({images, all: flags.all, onProgress: (m) => this.progress(m)})
    if (!this.jsonEnabled()) {
      if (result.stopped?.wasRunning) this.log('Stopped the manager')
      this.log(`Removed ${result.containersRemoved} container(s)`)
      for (const k of result.containersKept) this.log(`  kept ${k.id}: ${k.reason} (pid ${k.ownerPid})`)
      if (result.cgroupsRemoved) this.log(`Removed the cgroups of ${result.cgroupsRemoved} runsc sandbox(es) that nothing recorded any more`)
      this.log(result.filesRemoved.length ? `Removed ${result.filesRemoved.join(', ')}` : 'No state files to remove')
      if (result.images) {
        this.log(`Removed ${result.images.removed.length} image(s)${result.images.removed.length ? `: ${result.images.removed.join(', ')}` : ''}`)
        for (const f of result.images.failed) this.warn(`could not remove ${f.image}: ${f.error}`)
      }
      if (result.rootfs) {
        const kept = result.rootfs.kept ? `; kept ${result.rootfs.kept} a running sandbox process boots from (use --all)` : ''
        this.log(`Removed ${result.rootfs.removed} exported root filesystem(s) of the runsc backend${kept}`)
      }
      for (const w of result.warnings) this.warn(w)
    }
    return result
  }
}
