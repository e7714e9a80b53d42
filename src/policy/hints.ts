/**
 * How a refusal tells the user what rule fired and how to proceed. One sentence per kind of
 * finding; the level is named, and the way out is concrete (docs/policy.md lists the rules).
 */
import type {PolicyLevel} from './types.js'

export type HintKind =
  'process' | 'native' | 'socket' | 'escape' | 'code' | 'file' | 'os' | 'threads' | 'getattr' | 'restricted' | 'module-path' | 'dynamic' | 'import' | 'fs' | 'worker'

type Level = Exclude<PolicyLevel, 'off'>

const OFF = 'or --policy off (the sandbox still contains the code)'

export function hint(kind: HintKind, level: Level, subject = ''): string {
  const by = `refused by the ${level} policy`
  switch (kind) {
    case 'process': {
      return `starting processes is ${by}: do the work in the program itself, ${OFF}`
    }
    case 'native': {
      return `loading native code is ${by}: use the installed libraries, ${OFF}`
    }
    case 'socket': {
      return `raw sockets are ${by}; the sandbox has no network (HTTP clients are allowed and fail at run time)`
    }
    case 'escape': {
      return `reaching the interpreter's internals (builtins, frames, globals, bytecode, import machinery) is ${by}: use ordinary attributes, ${OFF}`
    }
    case 'code': {
      return `running code built from strings is ${by}: write the code itself`
    }
    case 'file': {
      return `${subject || 'open()'} is ${by}: write artifacts with df.to_csv/plt.savefig, or use --policy standard`
    }
    case 'os': {
      return `${subject || 'os'} is ${by}: use --policy standard for os.path, os.environ, os.makedirs, os.listdir, sys.argv and open()`
    }
    case 'threads': {
      return `${subject || 'threading'} is ${by}: use --policy standard, which allows threading and asyncio`
    }
    case 'getattr': {
      return `${subject || 'getattr'} is ${by}: use obj.name, or --policy standard (which checks the attribute name)`
    }
    case 'restricted': {
      const module = subject || 'os'
      const examples = module === 'sys' ? 'sys.argv, sys.maxsize, sys.version, sys.stdout, sys.exit' : 'os.path, os.environ, os.getenv, os.makedirs, os.listdir, os.walk, os.remove'
      return `the standard policy allows only part of ${module} (${examples}…), and only written as ${module}.<name>`
    }
    case 'module-path': {
      return `reaching a module through another module is ${by}: import what you need directly`
    }
    case 'dynamic': {
      return `a name computed at run time is ${by} here: use a literal name`
    }
    case 'import': {
      return `${subject ? `${subject} is` : 'this module is'} ${by} (see docs/policy.md): use another library, --policy standard, ${OFF}`
    }
    case 'fs': {
      return `${subject || 'fs'} is ${by}: return the data from main, or use --policy standard, which allows fs`
    }
    case 'worker': {
      return `${subject || 'this module'} runs code the policy cannot see and is ${by}: run the code in the main program, ${OFF}`
    }
  }
}
