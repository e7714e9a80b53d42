/**
 * The settings page's build (`npm run build` → dist/admin/page/, served by src/admin/routes.ts
 * at /admin/). Plain TypeScript modules, no framework, no runtime dependencies: Vite bundles
 * them into one script and one stylesheet with relative URLs; nothing is fetched from a CDN.
 */
import {fileURLToPath} from 'node:url'

import {defineConfig} from 'vite'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

export default defineConfig({
  root: here('.'),
  base: './',
  logLevel: 'warn',
  publicDir: false,
  build: {
    outDir: here('../../dist/admin/page'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    modulePreload: false,
    reportCompressedSize: false,
  },
})
