/**
 * What a language is to the toolkit: one descriptor per language (src/languages/<id>/), and
 * one per runtime, the image and runner a language runs on (TypeScript runs on Node.js's).
 * Every per-language decision is a lookup on these; the registry (index.ts) is typed so that
 * an id without a descriptor does not compile.
 */
import type {SandboxConfig} from '../config.js'

/** The images and runners that exist: one base image and one runner each. */
export type RuntimeId = 'python' | 'nodejs'

/** What a request may name (after its aliases are resolved). */
export type Language = 'python' | 'nodejs' | 'typescript'

/** Which static analyser of src/policy/ reads the code that runs. */
export type PolicyAnalyser = 'python' | 'nodejs'

/** Which remote wrapper (src/providers/wrapper.ts) runs the code with a plain interpreter. */
export type WrapperKind = 'python' | 'javascript'

/** Extra packages that apply to one image (validated and sorted by src/docker/images.ts). */
export interface ImageExtras {
  /** pip requirement specifiers (online Python builds) */
  python: string[]
  /** Debian packages (apt, either source) */
  debian: string[]
  /** npm package specs (Node.js image) */
  npm: string[]
}

/** The Dockerfile building blocks src/docker/images.ts lends a runtime's image recipe. */
export interface DockerfileKit {
  aptInstall: (packages: string[]) => string
  shellQuote: (s: string) => string
  /** shell prefix that makes npm/node trust the build's extra CA certificates */
  withExtraCa: string
  npmVersion: string
}

/** What a runtime adds to its Dockerfile template (`# @STAGES@`, `# @DEPS@`, `# @EXTRAS@`) and context. */
export interface DockerfileContribution {
  stages: string[]
  deps: string[]
  extras: string[]
  files: string[]
  /** extras this source cannot install */
  unsupported: string[]
}

export interface RuntimeSpec {
  id: RuntimeId
  label: string
  image: {
    /** environment variable naming the image (RAGFlow's) */
    variable: 'SANDBOX_BASE_PYTHON_IMAGE' | 'SANDBOX_BASE_NODEJS_IMAGE'
    /** the SandboxConfig field that holds it */
    configKey: 'pythonImage' | 'nodejsImage'
    default: string
    /** bottom layer of online builds */
    onlineBase: string
    /** Debian packages named like this go to this image only (the others go to every image) */
    debianPackages: RegExp
    /** which of the extras (besides Debian's) this image installs */
    packageKind: 'python' | 'npm'
    /** this runtime's part of the Dockerfile (base-images/<id>/Dockerfile.<source> is the template) */
    dockerfile: (source: 'online' | 'offline', extras: ImageExtras, kit: DockerfileKit) => DockerfileContribution
  }
  runner: {
    /** templates/runners/<file> */
    file: string
    /** argv that runs the runner's source in the image (`preload`: modules it imports before it is ready) */
    command: (source: string, preload?: readonly string[]) => string[]
    /**
     * Runners ready for data science (SANDBOX_PRELOAD_POOL_SIZE; src/engine/preload.ts): what a
     * preloaded runner imports before it announces readiness, and the top-level imports that send
     * a job to one
     */
    preload?: {modules: readonly string[]; triggers: readonly string[]}
  }
  /** how a plain script runs where there is no runner (remote providers, the local provider) */
  script: {
    fileName: string
    interpreter: string
    /** the local provider's memory rlimit: address space (Python, as RAGFlow) or data (Node reserves gigabytes of address space) */
    memoryRlimit: 'as' | 'data'
    /** the local provider's setting naming the interpreter */
    binSetting: 'python_bin' | 'node_bin'
  }
}

export interface PreparedCode {
  /** the source that runs */
  code: string
  /** the caller's line (1-based) a line of `code` came from */
  originalLine: (line: number) => number
}

export interface LanguageSpec {
  id: Language
  label: string
  /** names a request may use; the id first */
  aliases: readonly string[]
  /** file extensions of `sandbox run FILE` (lower case, with the dot) */
  extensions: readonly string[]
  /** the image and runner it runs on */
  runtime: RuntimeSpec
  /**
   * The source that actually runs, from the caller's (TypeScript: types stripped). Absent:
   * the code runs as it is. Never throws: code that cannot be converted becomes code that
   * fails at load with the reason (a SyntaxError), so every path reports it the same way.
   */
  prepare?: (code: string) => PreparedCode
  /** the analyser of the code that runs (after prepare) */
  policy: PolicyAnalyser
  /** the remote wrapper of the code that runs (after prepare) */
  wrapper: WrapperKind
  /** the smallest program that defines main: warms the policy and parsers */
  warmUpCode: string
  /** Aliyun code interpreter's language name */
  aliyunLanguage: 'python' | 'javascript'
  /** how RAGFlow's old runner printed main's return value (SANDBOX_RESULT_IN_STDOUT; src/server/legacy-stdout.ts) */
  legacyStdout: 'print' | 'console.log'
}

export type {SandboxConfig}
