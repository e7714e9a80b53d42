/**
 * `sandbox run --save-artifacts DIR`: write what a run returned into DIR without ever
 * replacing a file. Artifact names come from the sandbox and are untrusted: each must be a
 * plain, printable file name (the engine's one check, isSafeArtifactName), and each file is
 * created exclusively. When a name is taken, or unsafe, nothing is written.
 */
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'

import {isSafeArtifactName} from './engine/classify.js'
import type {Artifact} from './engine/result.js'
import {configError, ExitCode, SandboxError} from './errors.js'
import {quote} from './text.js'

export interface SavedArtifact {
  name: string
  /** where it was written: DIR as the user gave it, joined with the name */
  path: string
  mime_type: string
  size: number
}

export function saveArtifacts(dir: string, artifacts: Artifact[]): SavedArtifact[] {
  const root = resolve(dir)
  const seen = new Set<string>()
  for (const a of artifacts) {
    // never write outside DIR, whatever a provider returns
    if (!isSafeArtifactName(a.name) || dirname(resolve(root, a.name)) !== root || seen.has(a.name)) {
      throw new SandboxError(`Refusing to save artifact ${quote(String(a.name))}: not a plain, printable file name (or returned twice); nothing was saved`, {
        code: 'UNSAFE_ARTIFACT_NAME',
        exit: ExitCode.CODE_FAILED,
      })
    }
    seen.add(a.name)
  }
  mkdirSync(root, {recursive: true})
  const written: string[] = []
  const saved: SavedArtifact[] = []
  try {
    for (const a of artifacts) {
      const target = join(root, a.name)
      // 'wx': O_CREAT|O_EXCL — fails on any existing entry, a symbolic link included
      writeFileSync(target, Buffer.from(a.content_b64, 'base64'), {flag: 'wx', mode: 0o644})
      written.push(target)
      saved.push({name: a.name, path: join(dir, a.name), mime_type: a.mime_type, size: a.size})
    }
  } catch (error) {
    for (const file of written) rmSync(file, {force: true})
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      const taken = artifacts.filter((a) => (error as NodeJS.ErrnoException).path === join(root, a.name)).map((a) => join(dir, a.name))
      throw configError(`Not saving the artifacts: ${taken.join(', ') || 'a file'} already exists, and artifacts never replace files; nothing was saved`, 'ARTIFACT_EXISTS', [
        'remove the file, or save into another directory: --save-artifacts DIR',
      ])
    }
    throw configError(`Cannot save the artifacts in ${dir}: ${(error as Error).message}; nothing was saved`, 'ARTIFACT_SAVE_FAILED')
  }
  return saved
}
