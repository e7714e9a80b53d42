#!/usr/bin/env node
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'
const {execute} = await import('@oclif/core')
const {exitBackstop} = await import('./backstop.js')
await execute({dir: import.meta.url})
exitBackstop()
