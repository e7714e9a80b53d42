/** JavaScript: the Node.js runner in the Node.js base image. */
import type {LanguageSpec, RuntimeSpec} from '../types.js'

export const nodejsRuntime: RuntimeSpec = {
  id: 'nodejs',
  label: 'Node.js',
  image: {
    variable: 'SANDBOX_BASE_NODEJS_IMAGE',
    configKey: 'nodejsImage',
    default: 'sandbox-base-nodejs:latest',
    onlineBase: 'node:20-bookworm-slim',
    debianPackages: /^(node|nodejs)-/,
    packageKind: 'npm',
    dockerfile(source, extras, kit) {
      const out = {stages: [] as string[], deps: [] as string[], extras: [] as string[], files: [] as string[], unsupported: [] as string[]}
      const install = `npm install --omit=dev --no-audit --no-fund --no-package-lock ${extras.npm.map(kit.shellQuote).join(' ')}`
      if (source === 'online') {
        out.files.push('package.json', 'extra-ca.crt')
        if (extras.npm.length > 0) out.deps.push(`RUN ${kit.withExtraCa} \\`, ` && ${install}`)
      } else if (extras.npm.length > 0) {
        out.files.push('fetch-npm.cjs', 'extra-ca.crt')
        out.stages.push(
          'FROM ${BASE_IMAGE} AS npm-extras',
          'ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive',
          kit.aptInstall(['nodejs', 'ca-certificates']),
          'COPY fetch-npm.cjs extra-ca.crt /tmp/sandbox/',
          `RUN ${kit.withExtraCa} \\`,
          ` && node /tmp/sandbox/fetch-npm.cjs ${kit.npmVersion} /opt/npm`,
          'WORKDIR /opt/sandbox',
          `RUN echo '{"private": true}' > package.json \\`,
          ` && ${kit.withExtraCa} \\`,
          ` && node /opt/npm/bin/npm-cli.js ${install.slice('npm '.length)}`,
          '',
        )
        out.extras.push('COPY --from=npm-extras /opt/sandbox/node_modules/ /opt/sandbox/node_modules/')
      }
      return out
    },
  },
  runner: {file: 'node_runner.js', command: (source) => ['node', '-e', source]},
  script: {fileName: 'main.js', interpreter: 'node', memoryRlimit: 'data', binSetting: 'node_bin'},
}

export const nodejs: LanguageSpec = {
  id: 'nodejs',
  label: 'Node.js',
  aliases: ['nodejs', 'javascript', 'js', 'node'],
  extensions: ['.js', '.mjs', '.cjs'],
  runtime: nodejsRuntime,
  policy: 'nodejs',
  wrapper: 'javascript',
  warmUpCode: 'module.exports.main = () => 1\n',
  aliyunLanguage: 'javascript',
  legacyStdout: 'console.log',
}
