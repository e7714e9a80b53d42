#!/usr/bin/env -S node --
const {fileURLToPath} = await import('node:url')
const {dropStaleManifest} = await import('./manifest.js')
// commands come from src/ here: a manifest older than them would show stale commands and flags
dropStaleManifest(fileURLToPath(new URL('..', import.meta.url)))
const {execute} = await import('@oclif/core')
const {exitBackstop} = await import('./backstop.js')
await execute({development: true, dir: import.meta.url})
exitBackstop()
