import {defineConfig} from 'vitest/config'

/** the tests of what the backend changes, run a second time on the docker backend (the default is the host's: runsc as root) */
const ON_BOTH_BACKENDS = ['test/integration/engine.test.ts', 'test/integration/manager.test.ts', 'test/integration/cli.test.ts']

export default defineConfig({
  test: {
    disableConsoleIntercept: true,
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup/user-settings-guard.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    projects: [
      {extends: true, test: {name: 'default', include: ['test/**/*.test.ts'], env: {FORCE_COLOR: '0', NODE_ENV: 'test'}}},
      {extends: true, test: {name: 'docker-backend', include: ON_BOTH_BACKENDS, env: {FORCE_COLOR: '0', NODE_ENV: 'test', SANDBOX_BACKEND: 'docker'}}},
    ],
  },
})
