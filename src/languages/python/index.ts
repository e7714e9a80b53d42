/** Python: the python3 runner in the Python base image. */
import type {LanguageSpec, RuntimeSpec} from '../types.js'

export const pythonRuntime: RuntimeSpec = {
  id: 'python',
  label: 'Python',
  image: {
    variable: 'SANDBOX_BASE_PYTHON_IMAGE',
    configKey: 'pythonImage',
    default: 'sandbox-base-python:latest',
    onlineBase: 'python:3.11-slim-bookworm',
    debianPackages: /^python3?-/,
    packageKind: 'python',
    dockerfile(source, extras) {
      const out = {stages: [] as string[], deps: [] as string[], extras: [] as string[], files: ['matplotlibrc'], unsupported: [] as string[]}
      if (source === 'online') {
        out.files.push('requirements.txt', 'extra-ca.crt')
        if (extras.python.length > 0) {
          out.files.push('extra-requirements.txt')
          out.deps.push(
            'COPY extra-requirements.txt /tmp/sandbox/',
            'RUN PIP_CERT=/tmp/sandbox/ca.pem PYTHONPATH="$(python3 -c \'import sysconfig; print(sysconfig.get_path("purelib", vars={"base": "/install"}))\')" \\',
            '    pip install --no-cache-dir --prefix=/install -r /tmp/sandbox/extra-requirements.txt',
          )
        }
      } else if (extras.python.length > 0) {
        out.unsupported.push(...extras.python)
      }
      return out
    },
  },
  runner: {
    file: 'python_runner.py',
    // -u: unbuffered, so output printed before a kill (timeout, memory) is not lost;
    // -S: the runner runs `site` itself, minus what costs a sandbox's boot (see its _site())
    command: (source, preload) => ['python3', '-I', '-S', '-B', '-u', '-c', source, ...(preload?.length ? [`--preload=${preload.join(',')}`] : [])],
    // ~1 s of CPU under gVisor; pyplot with the Agg backend (MPLBACKEND) is what chart code imports
    preload: {modules: ['numpy', 'pandas', 'matplotlib', 'matplotlib.pyplot'], triggers: ['numpy', 'pandas', 'matplotlib']},
  },
  script: {fileName: 'main.py', interpreter: 'python3', memoryRlimit: 'as', binSetting: 'python_bin'},
}

export const python: LanguageSpec = {
  id: 'python',
  label: 'Python',
  aliases: ['python', 'python3', 'py'],
  extensions: ['.py'],
  runtime: pythonRuntime,
  policy: 'python',
  wrapper: 'python',
  warmUpCode: 'def main():\n    return 1\n',
  aliyunLanguage: 'python',
  legacyStdout: 'print',
}
