import {existsSync, readFileSync} from 'node:fs'

import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {loadConfig} from '../config.js'
import {buildImages, type BuildResult, IMAGE_LANGUAGES, type ImageLanguage, parseRequirements} from '../docker/images.js'
import {buildManagerImage, MANAGER_IMAGE, type ManagerImageResult} from '../docker/manager-image.js'
import {configError} from '../errors.js'

export interface BuildOutput {
  images: BuildResult[]
  /** with --manager: the executor manager image */
  manager?: ManagerImageResult
}

const uniq = (xs: string[]) => [...new Set(xs)]

export default class Build extends BaseCommand<typeof Build> {
  static description = `Build the Python and Node.js base images (SANDBOX_BASE_PYTHON_IMAGE, SANDBOX_BASE_NODEJS_IMAGE).

Python image: python3 with numpy, pandas, requests and matplotlib (Agg backend, CJK font).
Node.js image: node with axios. Both run code as uid 65534 in /workspace.

Sources: --offline builds from Debian packages on a root filesystem made with debootstrap
(no container registry needed; needs root and a Debian mirror); --online starts from the official
python/node slim images and uses pip/npm. By default the online source is used only when its base
image is present or pullable within seconds.

Images are labelled with a hash of their inputs: an unchanged rebuild does nothing (use --force).
Extra packages: flags below, or SANDBOX_EXTRA_PYTHON_PACKAGES / SANDBOX_EXTRA_DEBIAN_PACKAGES /
SANDBOX_EXTRA_NPM_PACKAGES in .env (only settings in .env are kept by later setup runs).
Debian packages named python3-* go to the Python image, node-* to the Node.js image, others to both.

--manager also builds the executor manager image (SANDBOX_EXECUTOR_MANAGER_IMAGE, default
sandbox-executor-manager:latest): this toolkit, compiled, on the Node.js base image, offline. Run it with
\`sandbox start --docker [--network docker_ragflow]\`, or point RAGFlow's compose file at it.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'build both images (or report them up to date)'},
    {command: '<%= config.bin %> <%= command.id %> --language python --offline --verbose', description: 'build the Python image from Debian packages with the full log'},
    {command: '<%= config.bin %> <%= command.id %> --debian-package python3-scipy --npm-package lodash', description: 'add a Debian Python module and an npm package'},
    {command: '<%= config.bin %> <%= command.id %> --online --requirements requirements.txt', description: 'online build with extra pip packages'},
    {command: '<%= config.bin %> <%= command.id %> --force --json', description: 'rebuild without the layer cache, results as JSON'},
    {command: '<%= config.bin %> <%= command.id %> --manager', description: 'base images (when needed) and the executor manager image'},
  ]

  static flags = {
    language: Flags.string({char: 'l', description: 'build only this image', options: [...IMAGE_LANGUAGES]}),
    offline: Flags.boolean({description: 'build from Debian packages (debootstrap root filesystem, apt); no registry needed', exclusive: ['online']}),
    online: Flags.boolean({description: 'build from the official python/node slim images with pip/npm', exclusive: ['offline']}),
    force: Flags.boolean({
      description:
        'rebuild even when the image is up to date, without the layer cache (the Debian root filesystem image is kept; remove sandbox-rootfs-bookworm images to remake it)',
      default: false,
    }),
    'python-package': Flags.string({description: 'extra pip package for the Python image, e.g. scipy>=1.11 (online builds); repeatable', multiple: true}),
    requirements: Flags.string({description: 'pip requirements file with extra packages for the Python image (online builds)'}),
    'debian-package': Flags.string({description: 'extra Debian package (apt), e.g. python3-scipy; repeatable', multiple: true}),
    'npm-package': Flags.string({description: 'extra npm package for the Node.js image, e.g. lodash@4; repeatable', multiple: true}),
    'debian-mirror': Flags.string({description: 'Debian mirror for offline builds (default: the host apt sources, else http://deb.debian.org/debian)'}),
    'env-file': Flags.string({description: 'read settings from this .env file (default ./.env when present)'}),
    manager: Flags.boolean({description: "also build the executor manager image (for `sandbox start --docker` and RAGFlow's SANDBOX_EXECUTOR_MANAGER_IMAGE)", default: false}),
  }

  async run(): Promise<BuildOutput> {
    const {flags} = this
    const config = loadConfig({envFile: flags['env-file']})
    let requirements: string[] = []
    if (flags.requirements) {
      if (!existsSync(flags.requirements)) throw configError(`Requirements file not found: ${flags.requirements}`, 'REQUIREMENTS_NOT_FOUND')
      requirements = parseRequirements(readFileSync(flags.requirements, 'utf8'), flags.requirements)
    }
    config.extraPythonPackages = uniq([...config.extraPythonPackages, ...(flags['python-package'] ?? []), ...requirements])
    config.extraDebianPackages = uniq([...config.extraDebianPackages, ...(flags['debian-package'] ?? [])])
    config.extraNpmPackages = uniq([...config.extraNpmPackages, ...(flags['npm-package'] ?? [])])

    const languages = flags.language ? [flags.language as ImageLanguage] : undefined
    const source = flags.offline ? 'offline' : flags.online ? 'online' : 'auto'
    const width = Math.max(60, (process.stderr.columns ?? 120) - 12)
    const images = await buildImages({
      config,
      languages,
      source,
      force: flags.force,
      debianMirror: flags['debian-mirror'],
      onProgress: (e) => {
        if (e.kind === 'log' && !flags.verbose) return
        const text = e.kind === 'log' ? `    ${e.message}` : e.message.length > width ? `${e.message.slice(0, width - 1)}…` : e.message
        this.progress(`[${e.language}] ${text}`)
      },
    })

    if (!this.jsonEnabled()) {
      for (const r of images) {
        const what = r.skipped ? 'up to date' : `built in ${r.seconds.toFixed(1)} s`
        const size = r.bytes === undefined ? '' : `, ${(r.bytes / 1e6).toFixed(0)} MB`
        this.log(`${r.image}  ${what}  (${r.source}${size}, inputs ${r.hash.slice(0, 12)})`)
      }
    }
    if (!flags.manager) return {images}
    const manager = await buildManagerImage({
      tag: process.env.SANDBOX_EXECUTOR_MANAGER_IMAGE ?? MANAGER_IMAGE,
      baseImage: config.nodejsImage,
      noCache: flags.force,
      onProgress: (e) => {
        if (e.kind === 'log' && !flags.verbose) return
        this.progress(`[manager] ${e.message}`)
      },
    })
    if (!this.jsonEnabled()) this.log(`${manager.image}  built in ${manager.seconds.toFixed(1)} s  (on ${manager.baseImage}, toolkit ${manager.version})`)
    return {images, manager}
  }
}
