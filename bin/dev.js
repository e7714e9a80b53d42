#!/usr/bin/env -S node --
const {execute} = await import('@oclif/core')
const {exitBackstop} = await import('./backstop.js')
await execute({development: true, dir: import.meta.url})
exitBackstop()
