#!/usr/bin/env -S node --import tsx
const {execute} = await import('@oclif/core')
await execute({development: true, dir: import.meta.url})
