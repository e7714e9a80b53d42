#!/usr/bin/env node
const {execute} = await import('@oclif/core')
await execute({development: true, dir: import.meta.url})
