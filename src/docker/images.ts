/**
 * Base images: Dockerfile generation from base-images/, input hashing and staleness,
 * and builds through the daemon (tar context + progress stream).
 *
 * Two sources for the bottom layer: `online` (official python/node slim images, pip/npm)
 * and `offline` (a debootstrapped Debian root filesystem, packages from apt). Images carry
 * labels with the toolkit version and a hash of everything that went into them; an image
 * whose label hash equals the hash of what would be built now is current, and building it
 * again is a no-op.
 */
import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {Readable} from 'node:stream'

import {pack} from 'tar-stream'

import type {SandboxConfig} from '../config.js'
import {configError, errorMessage, ExitCode, prerequisiteError, SandboxError} from '../errors.js'
import {imageOf, RUNTIME_IDS, RUNTIMES, type ImageExtras, type RuntimeId} from '../languages/index.js'
import {packagePath, TOOLKIT_VERSION} from '../paths.js'
import {withDaemon} from './client.js'
import {ensureRootfs, resolveMirrors, rootfsImageTag, type DebianMirrors} from './rootfs.js'

/** one base image per runtime (src/languages/: TypeScript runs in Node.js's) */
export type ImageLanguage = RuntimeId
export type ImageSource = 'online' | 'offline'
export const IMAGE_LANGUAGES: readonly ImageLanguage[] = RUNTIME_IDS

/** Bottom layer of online builds. */
export const ONLINE_BASE_IMAGES = Object.fromEntries(RUNTIME_IDS.map((id) => [id, RUNTIMES[id].image.onlineBase])) as Record<ImageLanguage, string>

/** npm installed into the offline build stage that adds extra npm packages (supports Node 18.17+). */
export const NPM_VERSION = '10.9.2'

export const IMAGE_LABELS = {
  toolkitVersion: 'io.sandbox.image.toolkit-version',
  hash: 'io.sandbox.image.input-hash',
  source: 'io.sandbox.image.source',
  language: 'io.sandbox.image.language',
  extras: 'io.sandbox.image.extras',
} as const

/** bump when the hash recipe itself changes */
const HASH_SCHEMA = 1
/** how long `auto` waits for a registry to start answering a pull */
const PULL_PROBE_MS = 5000

export interface ImageStatus {
  language: ImageLanguage
  image: string
  present: boolean
  current: boolean
  expectedHash: string
  labelHash?: string
  toolkitVersion?: string
  /** source recorded in the image (or the one the hash was computed for when absent) */
  source?: ImageSource
  /** human text when !present || !current */
  reason?: string
}

export type BuildEvent = {language: ImageLanguage; kind: 'step' | 'log' | 'done'; message: string}

export interface BuildImagesOptions {
  config: SandboxConfig
  languages?: ImageLanguage[]
  source?: 'auto' | 'online' | 'offline'
  force?: boolean
  onProgress?: (e: BuildEvent) => void
  /** Debian mirror for offline builds; default: the host's apt sources, else deb.debian.org */
  debianMirror?: string
}

export interface BuildResult {
  language: ImageLanguage
  image: string
  source: 'online' | 'offline'
  skipped: boolean
  hash: string
  seconds: number
  /** seconds spent creating the Debian root filesystem (offline, first build only) */
  rootfsSeconds?: number
  /** image size in bytes as the daemon reports it */
  bytes?: number
}

// ---------------------------------------------------------------------------------------
// Extra packages

export type {ImageExtras} from '../languages/index.js'

const DEBIAN_NAME = /^[a-z0-9][a-z0-9+.-]+(?:=[A-Za-z0-9.+~:_-]+|\/[a-z0-9.-]+)?$/
const NPM_SPEC = /^(?:@[a-z0-9~][a-z0-9._~-]*\/)?[a-z0-9~][a-z0-9._~-]*(?:@[A-Za-z0-9.^~<>=*|+_-]+)?$/
const PIP_SPEC =
  /^[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[A-Za-z0-9._,-]+\])?(?:\s*(?:===|==|!=|<=|>=|~=|<|>)\s*[A-Za-z0-9.*+!_-]+(?:\s*,\s*(?:===|==|!=|<=|>=|~=|<|>)\s*[A-Za-z0-9.*+!_-]+)*)?(?:\s*;[^\n]*)?$/

/** Which image a Debian package goes to: python3-* to Python, node-* to Node.js, others to every image. */
export function debianPackageTargets(name: string): ImageLanguage[] {
  const own = RUNTIME_IDS.filter((id) => RUNTIMES[id].image.debianPackages.test(name))
  return own.length > 0 ? own : [...RUNTIME_IDS]
}

function checked(kind: string, names: string[], re: RegExp, hint: string): string[] {
  const out = new Set<string>()
  for (const raw of names) {
    const name = raw.trim()
    if (!name) continue
    if (!re.test(name)) throw configError(`Invalid ${kind} package "${name}": ${hint}`, 'INVALID_PACKAGE_NAME')
    out.add(name)
  }
  return [...out].sort()
}

/** Validated, de-duplicated, sorted extras that apply to one image. */
export function extrasFor(language: ImageLanguage, config: Pick<SandboxConfig, 'extraDebianPackages' | 'extraNpmPackages' | 'extraPythonPackages'>): ImageExtras {
  const debian = checked('Debian', config.extraDebianPackages ?? [], DEBIAN_NAME, 'use a Debian package name such as python3-scipy (optionally =version)')
  const npm = checked('npm', config.extraNpmPackages ?? [], NPM_SPEC, 'use an npm package name such as lodash or @scope/name@^1.2.0')
  const python = checked('Python', config.extraPythonPackages ?? [], PIP_SPEC, 'use a requirement such as scipy or scipy>=1.11')
  const kind = RUNTIMES[language].image.packageKind
  return {
    python: kind === 'python' ? python : [],
    debian: debian.filter((n) => debianPackageTargets(n.replace(/[=/].*$/, '')).includes(language)),
    npm: kind === 'npm' ? npm : [],
  }
}

/**
 * Requirement lines of a pip requirements file (comments and blank lines dropped).
 * Options (-r, --index-url, ...) are refused: they would not survive in SANDBOX_EXTRA_PYTHON_PACKAGES.
 */
export function parseRequirements(text: string, file = 'requirements file'): string[] {
  const out: string[] = []
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim()
    if (!line) continue
    if (line.startsWith('-')) {
      throw configError(`${file}: "${line}" is a pip option; only requirement lines (name and version) are supported`, 'INVALID_REQUIREMENTS')
    }
    out.push(line)
  }
  return out
}

export const describeExtras = (e: ImageExtras): string => [...e.python.map((p) => `pip:${p}`), ...e.debian.map((p) => `deb:${p}`), ...e.npm.map((p) => `npm:${p}`)].join(' ')

// ---------------------------------------------------------------------------------------
// Dockerfile generation (pure)

export interface DockerfileParts {
  /** stages placed where `# @STAGES@` is (before the final stage) */
  stages?: string[]
  /** steps placed where `# @DEPS@` is (the dependency stage of online builds) */
  deps?: string[]
  /** root steps in the final stage, where `# @EXTRAS@` is */
  extras?: string[]
}

/** Replace `# @NAME@` marker lines with generated lines (a marker with nothing to insert disappears). */
export function renderDockerfile(template: string, parts: DockerfileParts): string {
  const fill: Record<string, string[]> = {STAGES: parts.stages ?? [], DEPS: parts.deps ?? [], EXTRAS: parts.extras ?? []}
  for (const [name, lines] of Object.entries(fill)) {
    const marker = new RegExp(`^# @${name}@[ \\t]*\\r?\\n`, 'm')
    if (!marker.test(template)) {
      if (lines.length > 0) throw new Error(`Dockerfile template has no "# @${name}@" marker`)
      continue
    }
    template = template.replace(marker, () => (lines.length > 0 ? lines.join('\n') + '\n' : ''))
  }
  return template
}

/** single-quote for /bin/sh */
export const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

const APT_INSTALL = (pkgs: string[]) =>
  ['RUN apt-get update \\', ` && apt-get install -y --no-install-recommends ${pkgs.map(shellQuote).join(' ')} \\`, ' && apt-get clean && rm -rf /var/lib/apt/lists/*'].join('\n')

const WITH_EXTRA_CA = 'if [ -s /tmp/sandbox/extra-ca.crt ]; then export NODE_EXTRA_CA_CERTS=/tmp/sandbox/extra-ca.crt; fi'

export interface GeneratedDockerfile {
  dockerfile: string
  /** context files the Dockerfile needs besides itself */
  files: string[]
  /** extras this source cannot install (offline builds and pip packages) */
  unsupported: string[]
}

/** The Dockerfile for one image from its template and the extras. */
export function generateDockerfile(language: ImageLanguage, source: ImageSource, template: string, extras: ImageExtras): GeneratedDockerfile {
  const parts: Required<DockerfileParts> = {stages: [], deps: [], extras: []}
  const files = new Set<string>()
  const unsupported: string[] = []
  const own = RUNTIMES[language].image.dockerfile(source, extras, {aptInstall: APT_INSTALL, shellQuote, withExtraCa: WITH_EXTRA_CA, npmVersion: NPM_VERSION})
  parts.stages.push(...own.stages)
  parts.deps.push(...own.deps)
  parts.extras.push(...own.extras)
  for (const file of own.files) files.add(file)
  unsupported.push(...own.unsupported)

  if (extras.debian.length > 0) parts.extras.push(APT_INSTALL(extras.debian))

  return {dockerfile: renderDockerfile(template, parts), files: [...files].sort(), unsupported}
}

// ---------------------------------------------------------------------------------------
// Plans and hashes (pure given the asset directory)

export interface ImagePlan {
  language: ImageLanguage
  image: string
  source: ImageSource
  baseImage: string
  dockerfile: string
  /** build context: Dockerfile plus the files it copies */
  files: Record<string, Buffer>
  buildargs: Record<string, string>
  extras: ImageExtras
  unsupported: string[]
  hash: string
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')

/** Files that are part of the context but not of the image's identity. */
const NOT_HASHED = new Set(['extra-ca.crt'])

export function inputHash(p: Pick<ImagePlan, 'baseImage' | 'buildargs' | 'dockerfile' | 'extras' | 'files' | 'language' | 'source'>): string {
  const files = Object.keys(p.files)
    .filter((n) => n !== 'Dockerfile' && !NOT_HASHED.has(n))
    .sort()
    .map((n) => [n, sha256(p.files[n])])
  const buildargs = Object.keys(p.buildargs)
    .sort()
    .map((k) => [k, p.buildargs[k]])
  return sha256(JSON.stringify({schema: HASH_SCHEMA, language: p.language, source: p.source, base: p.baseImage, buildargs, dockerfile: p.dockerfile, files, extras: p.extras}))
}

/**
 * Extra CA certificates of this host (TLS-intercepting proxies): given to the npm/pip steps
 * of build stages only, so that registries behind such a proxy work. Never in final images
 * and not part of the input hash.
 */
export function hostExtraCa(): Buffer {
  const parts: Buffer[] = []
  const seen = new Set<string>()
  const add = (file: string) => {
    try {
      const data = readFileSync(file)
      const key = sha256(data)
      if (!seen.has(key) && data.includes('BEGIN CERTIFICATE')) {
        seen.add(key)
        parts.push(data, Buffer.from('\n'))
      }
    } catch {
      // unreadable: skip
    }
  }
  if (process.env.NODE_EXTRA_CA_CERTS) add(process.env.NODE_EXTRA_CA_CERTS)
  const dir = '/usr/local/share/ca-certificates'
  if (existsSync(dir)) for (const name of readdirSync(dir).sort()) if (name.endsWith('.crt')) add(join(dir, name))
  return Buffer.concat(parts)
}

export interface PlanInput {
  language: ImageLanguage
  image: string
  source: ImageSource
  /** online: the official image; offline: the root filesystem tag */
  baseImage: string
  extras: ImageExtras
  /** default packagePath('base-images', language) */
  assetsDir?: string
  /** default hostExtraCa() */
  extraCa?: Buffer
}

export function planImage(input: PlanInput): ImagePlan {
  const dir = input.assetsDir ?? packagePath('base-images', input.language)
  const template = readFileSync(join(dir, `Dockerfile.${input.source}`), 'utf8')
  const gen = generateDockerfile(input.language, input.source, template, input.extras)
  const files: Record<string, Buffer> = {Dockerfile: Buffer.from(gen.dockerfile)}
  for (const name of gen.files) {
    if (name === 'extra-ca.crt') files[name] = input.extraCa ?? hostExtraCa()
    else if (name === 'extra-requirements.txt') files[name] = Buffer.from(input.extras.python.join('\n') + '\n')
    else files[name] = readFileSync(join(dir, name))
  }
  const buildargs = {BASE_IMAGE: input.baseImage}
  const plan = {
    language: input.language,
    image: input.image,
    source: input.source,
    baseImage: input.baseImage,
    dockerfile: gen.dockerfile,
    files,
    buildargs,
    extras: input.extras,
    unsupported: gen.unsupported,
  }
  return {...plan, hash: inputHash(plan)}
}

export const imageNameFor = (config: Pick<SandboxConfig, 'nodejsImage' | 'pythonImage'>, language: ImageLanguage) => imageOf(config, language)

/** Is an image with these labels what `plan` would build? Human reason when not. */
export function compareLabels(
  labels: Record<string, string> | undefined,
  plan: Pick<ImagePlan, 'extras' | 'hash' | 'image' | 'language' | 'source' | 'unsupported'>,
): {current: boolean; reason?: string} {
  const rebuild = `run \`sandbox build --language ${plan.language}\``
  if (plan.unsupported.length > 0) {
    return {current: false, reason: `extra Python packages (${plan.unsupported.join(', ')}) need an online build; ${rebuild} --online, or use Debian packages (python3-*)`}
  }
  const hash = labels?.[IMAGE_LABELS.hash]
  if (!hash) return {current: false, reason: `${plan.image} was not built by this toolkit (no ${IMAGE_LABELS.hash} label); ${rebuild}`}
  if (hash === plan.hash) return {current: true}
  const built = labels?.[IMAGE_LABELS.extras] ?? ''
  const wanted = describeExtras(plan.extras)
  if (built !== wanted) {
    return {current: false, reason: `${plan.image} was built with extra packages [${built || 'none'}] but [${wanted || 'none'}] are configured; ${rebuild}`}
  }
  const version = labels?.[IMAGE_LABELS.toolkitVersion]
  return {current: false, reason: `${plan.image} is stale: its inputs changed since it was built${version ? ` by toolkit ${version}` : ''}; ${rebuild}`}
}

// ---------------------------------------------------------------------------------------
// Build log parsing (pure)

/** The classic builder colours a step's stderr with ANSI escapes. */
export const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')

export interface BuildFailure {
  step?: string
  message: string
  /** interesting lines from the log (apt/pip/npm errors) */
  details: string[]
  /** packages the log says do not exist */
  missing: {manager: 'debian' | 'npm' | 'pip'; name: string}[]
}

/** What went wrong, from the error the daemon reported and the last log lines. */
export function analyseBuildFailure(error: string, log: string[], step?: string): BuildFailure {
  const details: string[] = []
  const missing: BuildFailure['missing'] = []
  const addMissing = (manager: 'debian' | 'npm' | 'pip', name: string) => {
    if (!missing.some((m) => m.manager === manager && m.name === name)) missing.push({manager, name})
  }
  for (const line of log) {
    const l = stripAnsi(line).trim()
    let m
    if ((m = /^E: Unable to locate package (\S+)/.exec(l))) addMissing('debian', m[1])
    else if ((m = /^E: (?:Package|Version) '([^']+)'.*(?:has no installation candidate|was not found)/.exec(l))) addMissing('debian', m[1].replace(/=.*$/, ''))
    else if ((m = /'((?:@[^/'\s]+\/)?[^@'\s]+)@[^']*' (?:is not in (?:this|the npm) registry|could not be found)/.exec(l))) addMissing('npm', m[1])
    else if ((m = /\b404 Not Found - GET \S+\/([^/\s]+)(?:\s|$)/i.exec(l))) addMissing('npm', decodeURIComponent(m[1]))
    else if ((m = /No matching distribution found for ([^\s;]+)/.exec(l))) addMissing('pip', m[1])
    if (/^E: |^ERROR: |^npm (?:ERR!|error) |^fetch-npm: |^manager image check/.test(l) && !details.includes(l)) details.push(l)
  }
  return {step, message: error.trim(), details: details.slice(-8), missing}
}

const MANAGER_NAMES = {debian: 'Debian', npm: 'npm', pip: 'Python (pip)'} as const

export function buildFailureError(image: string, f: BuildFailure): SandboxError {
  const suggestions = ['run again with --verbose for the full build log']
  let message: string
  if (f.missing.length > 0) {
    const names = f.missing.map((m) => `${MANAGER_NAMES[m.manager]} package "${m.name}"`).join(', ')
    message = `Building ${image} failed: ${names} does not exist`
    if (f.missing.some((m) => m.manager === 'debian')) suggestions.unshift('look the name up with `apt-cache search <word>` (bookworm, main)')
    if (f.missing.some((m) => m.manager === 'npm')) suggestions.unshift('look the name up with `npm view <name>`')
    if (f.missing.some((m) => m.manager === 'pip')) suggestions.unshift('check the name and version on PyPI')
    suggestions.push('remove it from the --*-package flags or SANDBOX_EXTRA_* settings')
  } else {
    message = `Building ${image} failed${f.step ? ` at ${f.step}` : ''}: ${f.message}`
  }
  if (f.details.length > 0) message += `\n  ${f.details.join('\n  ')}`
  return new SandboxError(message, {code: 'IMAGE_BUILD_FAILED', exit: ExitCode.PREREQUISITE, suggestions})
}

// ---------------------------------------------------------------------------------------
// Daemon side

interface ImageInfo {
  id: string
  labels: Record<string, string>
  size: number
}

export async function inspectImage(name: string): Promise<ImageInfo | undefined> {
  return withDaemon(async (d) => {
    try {
      const info = await d.getImage(name).inspect()
      return {id: info.Id, labels: (info.Config?.Labels ?? {}) as Record<string, string>, size: info.Size}
    } catch (error) {
      if ((error as {statusCode?: number}).statusCode === 404) return undefined
      throw error
    }
  })
}

/**
 * The plan for one image and source without touching the network (rootfs tag is computed, not
 * made), for its hash: the host's CA file is not part of the hash, so it is not read here.
 */
export function planFor(config: SandboxConfig, language: ImageLanguage, source: ImageSource, mirrors?: DebianMirrors): ImagePlan {
  const baseImage = source === 'online' ? ONLINE_BASE_IMAGES[language] : rootfsImageTag(mirrors ?? resolveMirrors())
  return planImage({language, image: imageNameFor(config, language), source, baseImage, extras: extrasFor(language, config), extraCa: Buffer.alloc(0)})
}

/** Present and current? Cheap: no network, no builds. */
export async function imageStatus(config: SandboxConfig, languages: ImageLanguage[] = [...IMAGE_LANGUAGES], options: {debianMirror?: string} = {}): Promise<ImageStatus[]> {
  const mirrors = resolveMirrors(options.debianMirror)
  const out: ImageStatus[] = []
  for (const language of languages) {
    const image = imageNameFor(config, language)
    const info = await inspectImage(image)
    const labelSource = info?.labels[IMAGE_LABELS.source]
    let source: ImageSource
    if (labelSource === 'online' || labelSource === 'offline') source = labelSource
    else source = (await inspectImage(ONLINE_BASE_IMAGES[language])) ? 'online' : 'offline'
    const plan = planFor(config, language, source, mirrors)
    const status: ImageStatus = {language, image, present: Boolean(info), current: false, expectedHash: plan.hash, source}
    if (!info) {
      status.reason = `${image} is not built; run \`sandbox build --language ${language}\``
    } else {
      status.labelHash = info.labels[IMAGE_LABELS.hash]
      status.toolkitVersion = info.labels[IMAGE_LABELS.toolkitVersion]
      const cmp = compareLabels(info.labels, plan)
      status.current = cmp.current
      if (cmp.reason) status.reason = cmp.reason
    }
    out.push(status)
  }
  return out
}

/** Pull an image; in probe mode give up when the registry does not answer within PULL_PROBE_MS. */
async function pullImage(name: string, probe: boolean, log: (line: string) => void): Promise<void> {
  await withDaemon(async (d) => {
    const stream = (await Promise.race([
      d.pull(name),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer from the registry in ${PULL_PROBE_MS / 1000} s`)), probe ? PULL_PROBE_MS : 120_000).unref()),
    ])) as NodeJS.ReadableStream
    await new Promise<void>((resolve, reject) => {
      let firstEvent = false
      const timer = probe
        ? setTimeout(() => {
            if (!firstEvent) {
              ;(stream as Readable).destroy?.()
              reject(new Error(`no progress from the registry in ${PULL_PROBE_MS / 1000} s`))
            }
          }, PULL_PROBE_MS)
        : undefined
      d.modem.followProgress(
        stream,
        (err: Error | null) => {
          if (timer) clearTimeout(timer)
          if (err) reject(err)
          else resolve()
        },
        (event: {error?: string; status?: string; id?: string; progress?: string}) => {
          firstEvent = true
          if (event.error) reject(new Error(event.error))
          else if (event.status && !event.progress) log(`${event.id ? `${event.id}: ` : ''}${event.status}`)
        },
      )
    })
  })
  if (!(await inspectImage(name))) throw new Error(`${name} is still missing after the pull`)
}

/** Tar stream of the build context. */
export function contextTar(files: Record<string, Buffer>): Readable {
  const p = pack()
  for (const name of Object.keys(files).sort()) p.entry({name, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0}, files[name])
  p.finalize()
  return p as unknown as Readable
}

interface BuildStreamEvent {
  stream?: string
  status?: string
  error?: string
  errorDetail?: {message?: string; code?: number}
  aux?: {ID?: string}
}

/** what a build's log says about where it was: its last lines and the step it was at */
export interface BuildLog {
  tail: string[]
  step?: string
}

/**
 * Send one build to the daemon and follow its stream: the log split into lines ("Step N/M : …"
 * lines are 'step' events, the rest 'log'), the last 300 kept. A failure the daemon reports
 * throws the analysed error (buildFailureError: the failed step, the apt/pip/npm lines, missing
 * packages); otherwise the log, for checks made after the build.
 */
export async function followBuild(
  image: string,
  context: NodeJS.ReadableStream,
  options: Record<string, unknown>,
  emit: (kind: 'step' | 'log', message: string) => void,
): Promise<BuildLog> {
  const log: BuildLog = {tail: []}
  let pending = ''
  const onLine = (line: string) => {
    const clean = stripAnsi(line).replace(/\s+$/, '')
    if (!clean.trim()) return
    log.tail.push(clean)
    if (log.tail.length > 300) log.tail.shift()
    const m = /^Step (\d+\/\d+) : (.*)$/.exec(clean)
    if (m) {
      log.step = `step ${m[1]} (${m[2].replace(/\s+/g, ' ').slice(0, 160)})`
      emit('step', `Step ${m[1]} : ${m[2].replace(/\s+/g, ' ')}`)
    } else emit('log', clean)
  }
  let failure: string | undefined
  try {
    await withDaemon(async (d) => {
      const stream = await d.buildImage(context, {t: image, ...options})
      await new Promise<void>((resolve, reject) => {
        d.modem.followProgress(
          stream,
          (err: Error | null) => (err ? reject(err) : resolve()),
          (event: BuildStreamEvent) => {
            if (event.stream) {
              pending += event.stream
              let i
              while ((i = pending.search(/\r?\n/)) >= 0) {
                onLine(pending.slice(0, i))
                pending = pending.slice(i).replace(/^\r?\n/, '')
              }
            }
            if (event.status) onLine(event.status)
            if (event.error || event.errorDetail) failure ??= event.errorDetail?.message ?? event.error
          },
        )
      })
    })
  } catch (error) {
    if (error instanceof SandboxError) throw error
    failure ??= errorMessage(error)
  }
  if (pending.trim()) onLine(pending)
  if (failure !== undefined) throw buildFailureError(image, analyseBuildFailure(failure, log.tail, log.step))
  return log
}

async function runBuild(plan: ImagePlan, force: boolean, emit: (kind: BuildEvent['kind'], message: string) => void): Promise<ImageInfo> {
  const labels: Record<string, string> = {
    [IMAGE_LABELS.toolkitVersion]: TOOLKIT_VERSION,
    [IMAGE_LABELS.hash]: plan.hash,
    [IMAGE_LABELS.source]: plan.source,
    [IMAGE_LABELS.language]: plan.language,
    [IMAGE_LABELS.extras]: describeExtras(plan.extras),
  }
  const log = await followBuild(
    plan.image,
    contextTar(plan.files) as unknown as NodeJS.ReadableStream,
    {labels, buildargs: plan.buildargs, rm: true, forcerm: true, nocache: force, pull: false},
    emit,
  )
  const built = await inspectImage(plan.image)
  if (built?.labels[IMAGE_LABELS.hash] !== plan.hash)
    throw buildFailureError(
      plan.image,
      analyseBuildFailure('the daemon reported success, but the image is missing or has another input hash (built concurrently?)', log.tail, log.step),
    )
  return built
}

/**
 * Build the base images (or find them current). Sequential: the machine is small and the
 * images share the root filesystem.
 */
export async function buildImages(options: BuildImagesOptions): Promise<BuildResult[]> {
  const {config, force = false} = options
  const requested = options.source ?? 'auto'
  const languages = options.languages ?? [...IMAGE_LANGUAGES]
  const mirrors = resolveMirrors(options.debianMirror)
  const results: BuildResult[] = []

  for (const language of languages) {
    const emit = (kind: BuildEvent['kind'], message: string) => options.onProgress?.({language, kind, message})
    const started = Date.now()
    const image = imageNameFor(config, language)
    const extras = extrasFor(language, config)
    const existing = await inspectImage(image)

    // 1. Already current for the source it was built from (or the requested one)?
    const labelSource = existing?.labels[IMAGE_LABELS.source] as ImageSource | undefined
    if (!force && existing && (labelSource === 'online' || labelSource === 'offline') && (requested === 'auto' || requested === labelSource)) {
      const plan = planFor(config, language, labelSource, mirrors)
      if (compareLabels(existing.labels, plan).current) {
        emit('done', `${image} is up to date (${labelSource}, ${plan.hash.slice(0, 12)})`)
        results.push({language, image, source: labelSource, skipped: true, hash: plan.hash, seconds: (Date.now() - started) / 1000, bytes: existing.size})
        continue
      }
    }

    // 2. Pick the source.
    let source: ImageSource
    if (requested === 'offline') source = 'offline'
    else {
      const base = ONLINE_BASE_IMAGES[language]
      if (await inspectImage(base)) source = 'online'
      else {
        emit(
          'step',
          requested === 'auto' ? `Looking for the official image ${base} (online build); without a registry the image is built offline from Debian packages` : `Pulling ${base}`,
        )
        try {
          await pullImage(base, requested === 'auto', (line) => emit('log', line))
          source = 'online'
        } catch (error) {
          if (error instanceof SandboxError && error.code === 'DOCKER_UNREACHABLE') throw error
          if (requested === 'online') {
            throw prerequisiteError(`The online base image ${base} is not present and cannot be pulled: ${errorMessage(error)}`, 'BASE_IMAGE_UNAVAILABLE', [
              'build from Debian packages instead: `sandbox build --offline`',
              `or load the image first (docker load) so that \`docker image inspect ${base}\` finds it`,
            ])
          }
          // the daemon's own words (a DNS or HTTP error) are detail, not news: the offline build is the design
          emit('log', `pull of ${base} failed: ${errorMessage(error)}`)
          emit('step', `No registry reachable: building offline from Debian packages`)
          source = 'offline'
        }
      }
    }
    if (source === 'offline' && extras.python.length > 0) {
      const msg = `Extra Python packages (${extras.python.join(', ')}) are installed with pip, which only the online build has`
      const suggestions = [
        'use Debian packages instead: --debian-package python3-<name> (SANDBOX_EXTRA_DEBIAN_PACKAGES)',
        'or build online: `sandbox build --online` (needs python:3.11-slim-bookworm and PyPI)',
      ]
      throw requested === 'offline'
        ? configError(msg, 'PYTHON_PACKAGES_NEED_ONLINE', suggestions)
        : prerequisiteError(`${msg}, and ${ONLINE_BASE_IMAGES.python} is not available`, 'PYTHON_PACKAGES_NEED_ONLINE', suggestions)
    }

    // 3. Bottom layer.
    let rootfsSeconds: number | undefined
    let baseImage = ONLINE_BASE_IMAGES[language]
    if (source === 'offline') {
      const rootfs = await ensureRootfs(mirrors, {step: (m) => emit('step', m), log: (l) => emit('log', l)})
      baseImage = rootfs.image
      if (rootfs.created) {
        rootfsSeconds = rootfs.seconds
        emit('log', `root filesystem ${rootfs.image} created in ${rootfs.seconds.toFixed(1)} s`)
      }
    }

    // 4. Build unless the image is already exactly this.
    const plan = planImage({language, image, source, baseImage, extras})
    if (!force && existing && compareLabels(existing.labels, plan).current) {
      emit('done', `${image} is up to date (${source}, ${plan.hash.slice(0, 12)})`)
      results.push({language, image, source, skipped: true, hash: plan.hash, seconds: (Date.now() - started) / 1000, rootfsSeconds, bytes: existing.size})
      continue
    }
    emit('step', `Building ${image} (${source}${extras.debian.length + extras.npm.length + extras.python.length > 0 ? `, extras: ${describeExtras(extras)}` : ''})`)
    const built = await runBuild(plan, force, emit)
    const seconds = (Date.now() - started) / 1000
    emit('done', `${image} built (${source}) in ${seconds.toFixed(1)} s, ${(built.size / 1e6).toFixed(0)} MB`)
    results.push({language, image, source, skipped: false, hash: plan.hash, seconds, rootfsSeconds, bytes: built.size})
  }
  return results
}
