import {cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {isAbsolute, join} from 'node:path'
import type {Readable} from 'node:stream'

import {extract} from 'tar-stream'
import {afterAll, describe, expect, it} from 'vitest'

import {
  analyseBuildFailure,
  buildFailureError,
  compareLabels,
  contextTar,
  debianPackageTargets,
  describeExtras,
  extrasFor,
  generateDockerfile,
  IMAGE_LABELS,
  type ImageExtras,
  type ImageLanguage,
  type ImageSource,
  parseRequirements,
  planImage,
  renderDockerfile,
} from '../../src/docker/images.js'
import {parseAptSources, rootfsImageTag, rootfsSourcesList} from '../../src/docker/rootfs.js'
import {allowedSyscalls, loadSeccompProfile, type SeccompProfile, seccompProfilePath} from '../../src/docker/seccomp.js'
import {SandboxError} from '../../src/errors.js'
import {packagePath} from '../../src/paths.js'

const none: ImageExtras = {python: [], debian: [], npm: []}
const noConfigExtras = {extraPythonPackages: [], extraDebianPackages: [], extraNpmPackages: []}
const template = (language: ImageLanguage, source: ImageSource) => readFileSync(packagePath('base-images', language, `Dockerfile.${source}`), 'utf8')

const plan = (language: ImageLanguage, source: ImageSource, extras: ImageExtras = none, more: {assetsDir?: string; extraCa?: Buffer; baseImage?: string} = {}) =>
  planImage({
    language,
    source,
    image: `sandbox-base-${language}:latest`,
    baseImage: more.baseImage ?? (source === 'online' ? 'python:3.11-slim-bookworm' : 'sandbox-rootfs-bookworm:0123456789ab'),
    extras,
    assetsDir: more.assetsDir,
    extraCa: more.extraCa ?? Buffer.alloc(0),
  })

describe('renderDockerfile', () => {
  const t = 'ARG BASE_IMAGE\n# @STAGES@\nFROM ${BASE_IMAGE}\nRUN a\n# @EXTRAS@\nUSER 65534:65534\n'

  it('replaces marker lines with generated lines and drops empty markers', () => {
    expect(renderDockerfile(t, {extras: ['RUN b', 'RUN c']})).toBe('ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN a\nRUN b\nRUN c\nUSER 65534:65534\n')
    expect(renderDockerfile(t, {stages: ['FROM x AS y', 'RUN z', '']})).toBe('ARG BASE_IMAGE\nFROM x AS y\nRUN z\n\nFROM ${BASE_IMAGE}\nRUN a\nUSER 65534:65534\n')
    expect(renderDockerfile(t, {})).not.toContain('@')
  })

  it('refuses content for a marker the template lacks', () => {
    expect(() => renderDockerfile(t, {deps: ['RUN x']})).toThrow(/@DEPS@/)
  })

  it('every shipped template has its markers and runs as uid 65534 in /workspace', () => {
    for (const language of ['python', 'nodejs'] as const) {
      for (const source of ['online', 'offline'] as const) {
        const text = template(language, source)
        expect(text).toMatch(/^# @EXTRAS@$/m)
        expect(text.trimEnd().split('\n').at(-1)).toBe('USER 65534:65534')
        expect(text).toMatch(/^WORKDIR \/workspace$/m)
        expect(text).not.toMatch(/^CMD|^ENTRYPOINT/m)
        expect(text).not.toMatch(/^(COPY|ADD)\s.*runner/im)
        if (language === 'python') {
          // the prebuilt matplotlib font list comes after the extras (which may add fonts)
          expect(text.indexOf('MPLCONFIGDIR=/etc/sandbox/matplotlib python3')).toBeGreaterThan(text.indexOf('# @EXTRAS@'))
        }
      }
    }
  })
})

describe('extra packages', () => {
  it('routes Debian packages: python3-* to Python, node-* to Node.js, others to both', () => {
    expect(debianPackageTargets('python3-scipy')).toEqual(['python'])
    expect(debianPackageTargets('node-lodash')).toEqual(['nodejs'])
    expect(debianPackageTargets('libgomp1')).toEqual(['python', 'nodejs'])
    const config = {...noConfigExtras, extraDebianPackages: ['python3-scipy', 'node-lodash', 'libgomp1', 'libgomp1']}
    expect(extrasFor('python', config).debian).toEqual(['libgomp1', 'python3-scipy'])
    expect(extrasFor('nodejs', config).debian).toEqual(['libgomp1', 'node-lodash'])
  })

  it('keeps pip packages for Python and npm packages for Node.js, sorted and de-duplicated', () => {
    const config = {extraPythonPackages: ['scipy>=1.10', 'attrs', 'attrs'], extraDebianPackages: [], extraNpmPackages: ['lodash@4', '@types/node']}
    expect(extrasFor('python', config)).toEqual({python: ['attrs', 'scipy>=1.10'], debian: [], npm: []})
    expect(extrasFor('nodejs', config)).toEqual({python: [], debian: [], npm: ['@types/node', 'lodash@4']})
  })

  it.each([
    ['extraDebianPackages', 'foo; rm -rf /'],
    ['extraDebianPackages', 'Foo'],
    ['extraNpmPackages', "lodash' && curl x"],
    ['extraNpmPackages', '$(id)'],
    ['extraPythonPackages', '--index-url=http://evil'],
    ['extraPythonPackages', 'a\nb'],
  ])('refuses %s entry %j', (key, value) => {
    const config = {...noConfigExtras, [key]: [value]}
    let error: unknown
    try {
      extrasFor('python', config)
    } catch (error_) {
      error = error_
    }
    expect(error).toBeInstanceOf(SandboxError)
    expect((error as SandboxError).code).toBe('INVALID_PACKAGE_NAME')
    expect((error as SandboxError).exit).toBe(4)
  })

  it('reads requirement lines and refuses pip options', () => {
    expect(parseRequirements('# c\nscipy>=1.10  # pinned\n\nattrs\n')).toEqual(['scipy>=1.10', 'attrs'])
    expect(() => parseRequirements('-r other.txt\n', 'req.txt')).toThrow(/req.txt: "-r other.txt" is a pip option/)
  })
})

describe('generateDockerfile', () => {
  it('offline Python: Debian packages, extras before USER, pip extras unsupported', () => {
    const g = generateDockerfile('python', 'offline', template('python', 'offline'), {python: ['scipy'], debian: ['python3-tabulate'], npm: []})
    expect(g.dockerfile).toContain("apt-get install -y --no-install-recommends 'python3-tabulate'")
    expect(g.dockerfile.indexOf('python3-tabulate')).toBeLessThan(g.dockerfile.indexOf('USER 65534:65534'))
    expect(g.dockerfile.indexOf('python3-tabulate')).toBeGreaterThan(g.dockerfile.indexOf('python3-matplotlib'))
    expect(g.unsupported).toEqual(['scipy'])
    expect(g.files).toEqual(['matplotlibrc'])
  })

  it('online Python: pip extras in the dependency stage', () => {
    const g = generateDockerfile('python', 'online', template('python', 'online'), {python: ['scipy'], debian: [], npm: []})
    expect(g.unsupported).toEqual([])
    expect(g.files).toEqual(['extra-ca.crt', 'extra-requirements.txt', 'matplotlibrc', 'requirements.txt'])
    const deps = g.dockerfile.slice(0, g.dockerfile.lastIndexOf('FROM '))
    expect(deps).toContain('-r /tmp/sandbox/extra-requirements.txt')
  })

  it('offline Node.js with npm extras: a build stage with npm, copied into the final image', () => {
    const g = generateDockerfile('nodejs', 'offline', template('nodejs', 'offline'), {python: [], debian: [], npm: ['left-pad@1.3.0']})
    expect(g.files).toEqual(['extra-ca.crt', 'fetch-npm.cjs'])
    const stage = g.dockerfile.indexOf('AS npm-extras')
    const final = g.dockerfile.lastIndexOf('FROM ${BASE_IMAGE}')
    expect(stage).toBeGreaterThan(0)
    expect(stage).toBeLessThan(final)
    expect(g.dockerfile).toContain("install --omit=dev --no-audit --no-fund --no-package-lock 'left-pad@1.3.0'")
    expect(g.dockerfile.slice(final)).toContain('COPY --from=npm-extras /opt/sandbox/node_modules/ /opt/sandbox/node_modules/')
    // the CA file is only in the build stage
    expect(g.dockerfile.slice(final)).not.toContain('extra-ca.crt')
  })

  it('offline Node.js without extras needs no file of its own', () => {
    const g = generateDockerfile('nodejs', 'offline', template('nodejs', 'offline'), none)
    expect(g.files).toEqual([])
    expect(g.dockerfile).not.toContain('npm-extras')
    expect(g.dockerfile).toContain('nodejs node-axios')
  })

  it('online Node.js: axios from package.json, extras in the deps stage', () => {
    const g = generateDockerfile('nodejs', 'online', template('nodejs', 'online'), {python: [], debian: [], npm: ['lodash']})
    expect(g.files).toEqual(['extra-ca.crt', 'package.json'])
    const final = g.dockerfile.lastIndexOf('FROM ${BASE_IMAGE}')
    expect(g.dockerfile.slice(0, final)).toContain("'lodash'")
  })
})

describe('localhost in every image', () => {
  it("each image's final stage installs glibc's myhostname module and puts it on the hosts line, as root", () => {
    // /etc/hosts is empty in every sandbox (Docker's init layer; the runsc export holds it): myhostname answers localhost
    for (const language of ['python', 'nodejs'] as const) {
      for (const source of ['offline', 'online'] as const) {
        const p = plan(language, source)
        const final = p.dockerfile.slice(p.dockerfile.lastIndexOf('FROM '))
        const install = /apt-get install -y --no-install-recommends[^&]*\blibnss-myhostname\b/.exec(final)
        expect(install, `${language}/${source}`).not.toBeNull()
        const nss = final.indexOf("sed -i 's/^hosts:.*/hosts:          files myhostname dns/' /etc/nsswitch.conf")
        expect(nss, `${language}/${source}`).toBeGreaterThan(install!.index)
        expect(nss).toBeLessThan(final.indexOf('USER 65534:65534'))
      }
    }
  })
})

describe('input hash', () => {
  const dirs: string[] = []
  afterAll(() => {
    for (const d of dirs) rmSync(d, {recursive: true, force: true})
  })

  it('is stable and covers source, base image, extras and file contents', () => {
    const a = plan('python', 'offline')
    expect(plan('python', 'offline').hash).toBe(a.hash)
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/)
    expect(plan('python', 'offline', {...none, debian: ['python3-tabulate']}).hash).not.toBe(a.hash)
    expect(plan('python', 'offline', none, {baseImage: 'sandbox-rootfs-bookworm:ba9876543210'}).hash).not.toBe(a.hash)
    expect(plan('python', 'online').hash).not.toBe(a.hash)
    expect(plan('nodejs', 'offline').hash).not.toBe(a.hash)

    const dir = mkdtempSync(join(tmpdir(), 'sandbox-assets-'))
    dirs.push(dir)
    cpSync(packagePath('base-images', 'python'), dir, {recursive: true})
    expect(plan('python', 'offline', none, {assetsDir: dir}).hash).toBe(a.hash)
    writeFileSync(join(dir, 'matplotlibrc'), 'backend: Agg\n')
    expect(plan('python', 'offline', none, {assetsDir: dir}).hash).not.toBe(a.hash)
  })

  it('ignores the order of extras (sorted by extrasFor) and the host CA bundle', () => {
    const e1 = extrasFor('nodejs', {...noConfigExtras, extraNpmPackages: ['b', 'a']})
    const e2 = extrasFor('nodejs', {...noConfigExtras, extraNpmPackages: ['a', 'b']})
    expect(plan('nodejs', 'offline', e1).hash).toBe(plan('nodejs', 'offline', e2).hash)
    const withCa = plan('nodejs', 'offline', e1, {extraCa: Buffer.from('-----BEGIN CERTIFICATE-----\nx\n')})
    expect(withCa.hash).toBe(plan('nodejs', 'offline', e1).hash)
    expect(withCa.files['extra-ca.crt'].toString()).toContain('BEGIN CERTIFICATE')
  })

  it('passes the base image as a build argument', () => {
    expect(plan('nodejs', 'offline').buildargs).toEqual({BASE_IMAGE: 'sandbox-rootfs-bookworm:0123456789ab'})
  })
})

describe('staleness', () => {
  const p = plan('python', 'offline', {...none, debian: ['python3-tabulate']})
  const labels = {[IMAGE_LABELS.hash]: p.hash, [IMAGE_LABELS.extras]: describeExtras(p.extras), [IMAGE_LABELS.toolkitVersion]: '0.1.0'}

  it('an image whose label hash matches is current', () => {
    expect(compareLabels(labels, p)).toEqual({current: true})
  })

  it('explains why an image is not current', () => {
    expect(compareLabels(undefined, p).reason).toMatch(/not built by this toolkit/)
    const other = plan('python', 'offline')
    expect(compareLabels(labels, other)).toMatchObject({
      current: false,
      reason: expect.stringMatching(/built with extra packages \[deb:python3-tabulate\] but \[none\] are configured/),
    })
    expect(compareLabels({...labels, [IMAGE_LABELS.hash]: 'f'.repeat(64)}, p).reason).toMatch(/stale: its inputs changed since it was built by toolkit 0.1.0/)
    const unsupported = plan('python', 'offline', {...none, python: ['scipy']})
    expect(compareLabels(labels, unsupported).reason).toMatch(/need an online build/)
  })
})

describe('build failures', () => {
  it('names a missing Debian package', () => {
    const log = ['Reading package lists...', '\x1b[91mE: Unable to locate package sandbox-no-such-pkg\x1b[0m']
    const f = analyseBuildFailure("The command '/bin/sh -c apt-get update ...' returned a non-zero code: 100", log, 'step 9/14 (RUN apt-get ...)')
    expect(f.missing).toEqual([{manager: 'debian', name: 'sandbox-no-such-pkg'}])
    const e = buildFailureError('img:latest', f)
    expect(e.code).toBe('IMAGE_BUILD_FAILED')
    expect(e.exit).toBe(3)
    expect(e.message).toMatch(/^Building img:latest failed: Debian package "sandbox-no-such-pkg" does not exist/)
    expect(e.message).toContain('E: Unable to locate package sandbox-no-such-pkg')
  })

  it('names missing npm packages (npm 10 and 11 wording) and pip packages', () => {
    const npm10 = analyseBuildFailure('x', [
      'npm error 404 Not Found - GET https://registry.npmjs.org/nope-pkg - Not found',
      "npm error 404  'nope-pkg@*' is not in this registry.",
    ])
    expect(npm10.missing).toEqual([{manager: 'npm', name: 'nope-pkg'}])
    const npm11 = analyseBuildFailure('x', ["npm error 404  The requested resource '@scope/nope@^1.0.0' could not be found or you do not have permission to access it."])
    expect(npm11.missing).toEqual([{manager: 'npm', name: '@scope/nope'}])
    const scoped = analyseBuildFailure('x', ['npm error 404 Not Found - GET https://registry.npmjs.org/@scope%2fnope'])
    expect(scoped.missing).toEqual([{manager: 'npm', name: '@scope/nope'}])
    const pip = analyseBuildFailure('x', ['ERROR: No matching distribution found for nopepkg==1.0'])
    expect(pip.missing).toEqual([{manager: 'pip', name: 'nopepkg==1.0'}])
  })

  it('otherwise reports the failing step and the daemon message', () => {
    const e = buildFailureError('img', analyseBuildFailure('returned a non-zero code: 2', ['some output'], 'step 4/9 (RUN make)'))
    expect(e.message).toBe('Building img failed at step 4/9 (RUN make): returned a non-zero code: 2')
  })
})

describe('build context', () => {
  it('is a tar with every file', async () => {
    const entries: Record<string, string> = {}
    const ex = extract()
    const done = new Promise<void>((resolve, reject) => {
      ex.on('entry', (header, stream, next) => {
        const chunks: Buffer[] = []
        stream.on('data', (c: unknown) => chunks.push(c as Buffer))
        stream.on('end', () => {
          entries[header.name] = Buffer.concat(chunks).toString()
          next()
        })
      })
      ex.on('finish', resolve)
      ex.on('error', reject)
    })
    ;(contextTar({Dockerfile: Buffer.from('FROM x\n'), 'a.txt': Buffer.from('A')}) as Readable).pipe(ex)
    await done
    expect(entries).toEqual({Dockerfile: 'FROM x\n', 'a.txt': 'A'})
  })
})

describe('Debian mirrors and the root filesystem tag', () => {
  it('reads deb822 and one-line sources, ignoring non-Debian archives', () => {
    const deb822 = 'Types: deb\n# http://snapshot.debian.org/x\nURIs: http://mirror.example/debian/\nSuites: bookworm\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n'
    expect(parseAptSources(deb822)).toEqual({mirror: 'http://mirror.example/debian', security: 'http://mirror.example/debian-security'})
    expect(parseAptSources('deb [arch=amd64] http://ftp.de.debian.org/debian bookworm main\n# deb http://x/debian-security b m\n')).toEqual({
      mirror: 'http://ftp.de.debian.org/debian',
    })
    expect(parseAptSources('deb http://archive.ubuntu.com/ubuntu jammy main\n')).toEqual({})
  })

  it('tags the root filesystem by its recipe', () => {
    const m = {mirror: 'http://deb.debian.org/debian', security: 'http://deb.debian.org/debian-security'}
    expect(rootfsImageTag(m)).toMatch(/^sandbox-rootfs-bookworm:[0-9a-f]{12}$/)
    expect(rootfsImageTag(m)).toBe(rootfsImageTag({...m}))
    expect(rootfsImageTag({...m, mirror: 'http://other/debian'})).not.toBe(rootfsImageTag(m))
    expect(rootfsSourcesList(m)).toBe(
      'deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n',
    )
  })
})

describe('seccomp profile', () => {
  const profile = JSON.parse(loadSeccompProfile()) as SeccompProfile
  const allowed = allowedSyscalls(profile)
  const conditional = (name: string) => profile.syscalls.filter((r) => r.names.includes(name) && r.action === 'SCMP_ACT_ALLOW')

  it('lives in the package and denies by default with EPERM', () => {
    expect(isAbsolute(seccompProfilePath())).toBe(true)
    expect(existsSync(seccompProfilePath())).toBe(true)
    expect(profile.defaultAction).toBe('SCMP_ACT_ERRNO')
    expect(profile.defaultErrnoRet).toBe(1)
    expect(loadSeccompProfile()).not.toContain('comment')
  })

  it('allows what Python and Node need (far more than RAGFlow 36)', () => {
    for (const name of [
      'exit_group',
      'mprotect',
      'futex',
      'openat',
      'newfstatat',
      'statx',
      'getdents64',
      'epoll_wait',
      'epoll_pwait',
      'rseq',
      'set_robust_list',
      'prlimit64',
      'madvise',
      'wait4',
      'pipe2',
      'dup3',
      'ioctl',
      'getrandom',
      'sched_getaffinity',
      'eventfd2',
    ]) {
      expect(allowed.has(name), name).toBe(true)
    }
    expect(allowed.size).toBeGreaterThan(250)
  })

  it('never allows the dangerous syscalls', () => {
    const denied = [
      'mount',
      'umount',
      'umount2',
      'ptrace',
      'kexec_load',
      'kexec_file_load',
      'bpf',
      'keyctl',
      'add_key',
      'request_key',
      'unshare',
      'setns',
      'pivot_root',
      'chroot',
      'init_module',
      'finit_module',
      'delete_module',
      'reboot',
      'swapon',
      'swapoff',
      'perf_event_open',
      'userfaultfd',
      'open_by_handle_at',
      'name_to_handle_at',
      'io_uring_setup',
      'io_uring_enter',
      'io_uring_register',
      'process_vm_readv',
      'process_vm_writev',
      'fsopen',
      'fsmount',
      'move_mount',
      'open_tree',
      'modify_ldt',
    ]
    for (const name of denied) expect(conditional(name), name).toEqual([])
  })

  it('allows personality only with safe values and clone only without namespace flags', () => {
    const values = conditional('personality').map((r) => r.args?.[0].value)
    expect(values.sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([0, 8, 0x20000, 0x20008, 0xffffffff])
    const clone = conditional('clone')
    expect(clone).toHaveLength(1)
    expect(clone[0].args).toEqual([{index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ'}])
    expect(profile.syscalls.find((r) => r.names.includes('clone3'))).toMatchObject({action: 'SCMP_ACT_ERRNO', errnoRet: 38})
  })
})
