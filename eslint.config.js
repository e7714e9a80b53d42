// ESLint flat config: the TypeScript rules typescript-eslint recommends, formatting left to prettier.
import js from '@eslint/js'
import prettier from 'eslint-config-prettier'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/', 'node_modules/', 'coverage/', 'templates/', 'base-images/', '**/*.d.ts']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: {globals: {process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly'}},
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none'}],
      // an empty catch is how "best effort" cleanup is written here; other empty blocks are errors
      'no-empty': ['error', {allowEmptyCatch: true}],
      // sanitising untrusted text means matching control characters on purpose
      'no-control-regex': 'off',
      // a handler declared before the value it calls is assigned (signal handling) reads it first
      'prefer-const': ['error', {ignoreReadBeforeAssign: true}],
    },
  },
  {
    // the examples are the user's programs: CommonJS modules run by the sandbox's Node.js
    files: ['examples/**/*.js'],
    languageOptions: {sourceType: 'commonjs', globals: {module: 'writable', require: 'readonly', exports: 'writable'}},
  },
  {
    files: ['test/**/*.ts'],
    rules: {'@typescript-eslint/no-explicit-any': 'off'},
  },
)
