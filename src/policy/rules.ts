/**
 * The lists behind the static code policy. One place, so that docs/policy.md, the tests and
 * the analysers agree. Everything here is defence in depth: gVisor, no network, a read-only
 * root and the resource limits are the real boundary.
 *
 * Two rule sets per language: `ragflow` (RAGFlow's rules, plus only additions that close a
 * documented bypass of one of them; docs/policy.md has the table) and `standard` (for code
 * written by agents: files, os.path, threads, asyncio and getattr are fine; processes, native
 * code, raw sockets and the interpreter escapes are not).
 */

// ---------------------------------------------------------------- Python

/** RAGFlow's forbidden modules (services/security.py), compared on the first dotted segment. */
export const RAGFLOW_PY_MODULES: readonly string[] = [
  'os',
  'subprocess',
  'sys',
  'shutil',
  'socket',
  'ctypes',
  'pickle',
  'threading',
  'multiprocessing',
  'asyncio',
  'ftplib',
  'telnetlib',
  'builtins',
]

/** Modules that start processes, load native code, open raw sockets or run strings of code: refused at every level. */
const PY_ALWAYS_FORBIDDEN: readonly string[] = [
  // processes
  'subprocess',
  'multiprocessing',
  'pty',
  'distutils',
  'webbrowser',
  // native code
  'ctypes',
  'cffi',
  // raw sockets
  'socket',
  'socketserver',
  // serialisers that run code on load
  'pickle',
  'marshal',
  'shelve',
  'dill',
  'cloudpickle',
  // import machinery (RAGFlow's #8472 bypass importlib, and its siblings)
  'importlib',
  'imp',
  'zipimport',
  'pkgutil',
  'pydoc',
  'runpy',
  // interpreters, debuggers and profilers that run strings of code; inspect is getattr and frames
  'code',
  'codeop',
  'pdb',
  'bdb',
  'cProfile',
  'profile',
  'trace',
  'doctest',
  'inspect',
  // os under another name; the builtins module
  'posix',
  'nt',
  'builtins',
]

/** ragflow: RAGFlow's list, the always-forbidden ones, and pathlib (RAGFlow's #8472 bypass of `open`). */
export const PY_RAGFLOW_FORBIDDEN_MODULES: ReadonlySet<string> = new Set([...RAGFLOW_PY_MODULES, ...PY_ALWAYS_FORBIDDEN, 'pathlib'])

/** standard: os and sys are restricted (allow-listed attributes), threading/asyncio/shutil/pathlib are fine. */
export const PY_STANDARD_FORBIDDEN_MODULES: ReadonlySet<string> = new Set([...PY_ALWAYS_FORBIDDEN, 'ftplib', 'telnetlib'])

/**
 * standard: modules that may be imported, but whose attributes are allow-listed. The module
 * itself may only appear as `os.<allowed>`; passed around as a value it would hand out
 * `os.system` to code the policy cannot follow.
 */
export const PY_STANDARD_RESTRICTED_MODULES: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  [
    'os',
    new Set([
      'path',
      'environ',
      'environb',
      'getenv',
      'getenvb',
      'putenv',
      'unsetenv',
      'makedirs',
      'mkdir',
      'listdir',
      'scandir',
      'walk',
      'fwalk',
      'remove',
      'unlink',
      'rmdir',
      'removedirs',
      'rename',
      'renames',
      'replace',
      'stat',
      'lstat',
      'fstat',
      'stat_result',
      'DirEntry',
      'getcwd',
      'getcwdb',
      'chdir',
      'sep',
      'altsep',
      'linesep',
      'pathsep',
      'curdir',
      'pardir',
      'extsep',
      'defpath',
      'devnull',
      'name',
      'cpu_count',
      'urandom',
      'getpid',
      'getppid',
      'getuid',
      'getgid',
      'geteuid',
      'getegid',
      'getlogin',
      'uname',
      'times',
      'umask',
      'fspath',
      'fsencode',
      'fsdecode',
      'PathLike',
      'access',
      'F_OK',
      'R_OK',
      'W_OK',
      'X_OK',
      'chmod',
      'utime',
      'truncate',
      'symlink',
      'link',
      'readlink',
      'get_terminal_size',
      'terminal_size',
      'strerror',
      'error',
      'isatty',
      'getloadavg',
      'sched_getaffinity',
      'sync',
      'fsync',
      'open',
      'close',
      'read',
      'write',
      'fdopen',
      'lseek',
      'SEEK_SET',
      'SEEK_CUR',
      'SEEK_END',
      'O_RDONLY',
      'O_WRONLY',
      'O_RDWR',
      'O_CREAT',
      'O_EXCL',
      'O_TRUNC',
      'O_APPEND',
      'get_exec_path',
      'supports_follow_symlinks',
    ]),
  ],
  [
    'sys',
    new Set([
      'argv',
      'orig_argv',
      'maxsize',
      'maxunicode',
      'version',
      'version_info',
      'hexversion',
      'api_version',
      'platform',
      'byteorder',
      'implementation',
      'executable',
      'float_info',
      'int_info',
      'hash_info',
      'float_repr_style',
      'stdout',
      'stderr',
      'stdin',
      '__stdout__',
      '__stderr__',
      '__stdin__',
      'exit',
      'getsizeof',
      'getrecursionlimit',
      'setrecursionlimit',
      'getdefaultencoding',
      'getfilesystemencoding',
      'exc_info',
      'exception',
      'path',
      'prefix',
      'base_prefix',
      'exec_prefix',
      'flags',
      'copyright',
      'set_int_max_str_digits',
      'get_int_max_str_digits',
      'intern',
      'getrefcount',
      'is_finalizing',
      'stdlib_module_names',
      'builtin_module_names',
      'warnoptions',
      'dont_write_bytecode',
      'last_value',
      'last_type',
      'last_exc',
    ]),
  ],
])

/** Modules refused on the whole dotted prefix. logging.config resolves `'()': 'subprocess.getoutput'` factories by name, unittest.mock hands back originals by name, numpy.ctypeslib loads libraries as ctypes does. */
export const PY_RAGFLOW_FORBIDDEN_DOTTED: readonly string[] = ['http.client', 'logging.config', 'unittest.mock', 'numpy.ctypeslib', 'concurrent.futures.process']
export const PY_STANDARD_FORBIDDEN_DOTTED: readonly string[] = ['logging.config', 'unittest.mock', 'numpy.ctypeslib', 'concurrent.futures.process', 'asyncio.subprocess']

/** Private modules (`_thread`, `_posixsubprocess`, `_io`, `__main__`, …) are refused, except this one. */
export const PY_ALLOWED_PRIVATE_MODULES: ReadonlySet<string> = new Set(['__future__'])

/**
 * RAGFlow's attribute rule: `X.y` where X is (a name of) a forbidden module, imported or not.
 * Only names distinctive enough: `code`, `profile`, `trace`, `imp`, `nt`, `doctest`, `pdb`…
 * are ordinary variable names and are checked in imports only.
 */
const PY_DISTINCTIVE_MODULE_NAMES: readonly string[] = [
  ...RAGFLOW_PY_MODULES,
  'importlib',
  'pathlib',
  'zipimport',
  'pkgutil',
  'pydoc',
  'runpy',
  'codeop',
  'cProfile',
  'posix',
  'pty',
  'distutils',
  'cffi',
  'marshal',
  'shelve',
  'socketserver',
]
export const PY_DISTINCTIVE: ReadonlySet<string> = new Set(PY_DISTINCTIVE_MODULE_NAMES)

/**
 * `obj.X` on ANY object (a module re-exported by another module, reached through an
 * expression: `http.server.shutil`, `[glob][0].subprocess`). Not the names that are also
 * ordinary attribute names (`ua.os`, `df.os`, `cfg.sys`, `conn.socket`, `self.threading`):
 * those are refused only on a chain that starts at an imported module (`glob.os`).
 */
export const PY_ANY_OBJECT_MODULE_NAMES: ReadonlySet<string> = new Set(
  PY_DISTINCTIVE_MODULE_NAMES.filter((name) => !['os', 'sys', 'socket', 'threading', 'asyncio', 'pickle'].includes(name)),
)

/** Private attributes that are modules in the standard library, refused on any object; `_<name>` for a distinctive name as well (`random._os`). */
export const PY_PRIVATE_MODULE_ATTRIBUTES: ReadonlySet<string> = new Set([
  '_thread',
  '_posixsubprocess',
  '_io',
  '_imp',
  '_frozen_importlib',
  '_frozen_importlib_external',
  '_ctypes',
  '_pickle',
  '_socket',
  '_bootstrap',
  '_bootstrap_external',
  // not private, but as distinctive: numpy's ctypes loader (np.ctypeslib.load_library)
  'ctypeslib',
])

/** Builtins refused when called or used as a value (`f = eval`, `map(eval, xs)`). RAGFlow's, minus the ones it only lists by accident. */
export const PY_RAGFLOW_BUILTINS: ReadonlySet<string> = new Set(['eval', 'exec', 'open', '__import__', 'compile', 'getattr', 'setattr', 'globals', 'locals', 'breakpoint'])
/** standard: open, getattr and setattr are fine (their names are checked); strings of code, the namespaces and the debugger are not. */
export const PY_STANDARD_BUILTINS: ReadonlySet<string> = new Set(['eval', 'exec', '__import__', 'compile', 'globals', 'locals', 'breakpoint'])

/** Builtins that take an attribute name: the name is checked like an attribute (standard). */
export const PY_ATTRIBUTE_BUILTINS: ReadonlySet<string> = new Set(['getattr', 'setattr', 'delattr', 'hasattr'])

/**
 * The object-graph escapes: from any object to the interpreter's globals, builtins, loaders,
 * bytecode or frames. Every level refuses these on any object. (`__mro__`, `__bases__`,
 * `__class__` and `__dict__` are ordinary introspection and are not on the list; the step
 * that escapes, `__subclasses__`, is.)
 */
export const PY_ESCAPE_ATTRIBUTES: ReadonlySet<string> = new Set([
  '__subclasses__',
  '__globals__',
  '__code__',
  '__builtins__',
  '__import__',
  '__loader__',
  '__spec__',
  '__self__',
  '__getattribute__',
  // frames and their globals; the functions that hand out frames
  'f_globals',
  'f_locals',
  'f_builtins',
  'f_back',
  'tb_frame',
  'gi_frame',
  'cr_frame',
  'ag_frame',
  'walk_stack',
  'walk_tb',
  '_getframe',
  '_current_frames',
  'settrace',
  'setprofile',
])

/** Module globals that lead to the interpreter's builtins and import machinery, refused as names. */
export const PY_ESCAPE_GLOBALS: ReadonlySet<string> = new Set(['__builtins__', '__loader__', '__spec__'])

/** `module.attr` pairs refused even though the module itself is fine to import (every level). */
export const PY_DANGEROUS_MODULE_ATTRIBUTES: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['gc', new Set(['get_objects', 'get_referrers', 'get_referents'])],
  // a code object built by hand runs arbitrary bytecode through types.FunctionType
  ['types', new Set(['CodeType'])],
])
/** ragflow only: the ways around RAGFlow's `open` rule. */
export const PY_RAGFLOW_FILE_MODULE_ATTRIBUTES: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['io', new Set(['open', 'open_code', 'FileIO'])],
  ['codecs', new Set(['open'])],
])

/** ragflow only: pathlib-style file I/O methods, refused on any receiver (RAGFlow's #8472 bypass `pathlib.Path().read_text`). */
export const PY_FILE_IO_METHODS: ReadonlySet<string> = new Set(['read_text', 'read_bytes', 'write_text', 'write_bytes'])

/** standard: names refused on any object that start processes or open raw sockets through asyncio and concurrent.futures. */
export const PY_STANDARD_DANGEROUS_ATTRIBUTES: ReadonlySet<string> = new Set([
  'create_subprocess_exec',
  'create_subprocess_shell',
  'subprocess_exec',
  'subprocess_shell',
  'ProcessPoolExecutor',
  'open_connection',
  'start_server',
  'open_unix_connection',
  'start_unix_server',
  'create_connection',
  'create_server',
  'create_datagram_endpoint',
  'create_unix_connection',
  'create_unix_server',
  'sock_connect',
  'sock_accept',
])

/**
 * Strings whose value (after escapes and `+`/implicit concatenation are resolved) contains one
 * of these names as a word: how attribute checks are dodged (`operator.attrgetter('x.__globals__')`,
 * `type.__dict__['__subclasses__']`, `'{0.__globals__}'.format(f)`, `'\x5f\x5fglobals\x5f\x5f'`).
 * Private module aliases (`'_os'`, `'_sys'`) as well.
 */
export const PY_ESCAPE_STRINGS: ReadonlySet<string> = new Set([...PY_ESCAPE_ATTRIBUTES].filter((name) => !['settrace', 'setprofile'].includes(name)))

/** Callables that resolve a dotted attribute path from a string: their path may not pass through a module or an escape. */
export const PY_PATH_RESOLVERS: ReadonlySet<string> = new Set(['attrgetter', 'get_field', 'methodcaller'])

/** PEP 263 source encodings that cannot change how ASCII bytes are read. */
export const PY_SAFE_SOURCE_ENCODINGS: ReadonlySet<string> = new Set([
  'utf-8',
  'utf8',
  'utf_8',
  'utf-8-sig',
  'utf_8_sig',
  'ascii',
  'us-ascii',
  'latin-1',
  'latin1',
  'latin_1',
  'iso-8859-1',
  'iso8859-1',
  'iso_8859_1',
  'l1',
  'cp1252',
  'iso-8859-15',
])

/** One level's Python rules, as the analyser uses them. */
export interface PythonRules {
  level: 'ragflow' | 'standard'
  forbiddenModules: ReadonlySet<string>
  forbiddenDotted: readonly string[]
  restrictedModules: ReadonlyMap<string, ReadonlySet<string>>
  builtins: ReadonlySet<string>
  /** getattr & co. allowed, with their attribute name checked */
  attributeBuiltins: boolean
  moduleAttributes: ReadonlyMap<string, ReadonlySet<string>>
  fileIoMethods: boolean
  dangerousAttributes: ReadonlySet<string>
}

export const PYTHON_RULES: Readonly<Record<'ragflow' | 'standard', PythonRules>> = {
  ragflow: {
    level: 'ragflow',
    forbiddenModules: PY_RAGFLOW_FORBIDDEN_MODULES,
    forbiddenDotted: PY_RAGFLOW_FORBIDDEN_DOTTED,
    restrictedModules: new Map(),
    builtins: PY_RAGFLOW_BUILTINS,
    attributeBuiltins: false,
    moduleAttributes: new Map([...PY_DANGEROUS_MODULE_ATTRIBUTES, ...PY_RAGFLOW_FILE_MODULE_ATTRIBUTES]),
    fileIoMethods: true,
    // multiprocessing under another name (RAGFlow refuses multiprocessing)
    dangerousAttributes: new Set(['ProcessPoolExecutor']),
  },
  standard: {
    level: 'standard',
    forbiddenModules: PY_STANDARD_FORBIDDEN_MODULES,
    forbiddenDotted: PY_STANDARD_FORBIDDEN_DOTTED,
    restrictedModules: PY_STANDARD_RESTRICTED_MODULES,
    builtins: PY_STANDARD_BUILTINS,
    attributeBuiltins: true,
    moduleAttributes: PY_DANGEROUS_MODULE_ATTRIBUTES,
    fileIoMethods: false,
    dangerousAttributes: PY_STANDARD_DANGEROUS_ATTRIBUTES,
  },
}

// ---------------------------------------------------------------- JavaScript

/**
 * Node.js core modules refused by require/import (the `node:` prefix and subpaths such as
 * `fs/promises` are normalised first). RAGFlow: child_process, fs, worker_threads. The
 * ragflow level adds only the other ways to reach those: a require built by `module`
 * (createRequire), code strings run by vm/repl/inspector (eval), a fork by cluster
 * (child_process), native code or files through wasi and sqlite.
 */
export const JS_RAGFLOW_FORBIDDEN_MODULES: ReadonlySet<string> = new Set([
  'child_process',
  'fs',
  'worker_threads',
  'cluster',
  'vm',
  'inspector',
  'module',
  'repl',
  'wasi',
  'sqlite',
])

/** standard: fs is fine; processes, code the policy cannot see, raw sockets and native code are not. */
export const JS_STANDARD_FORBIDDEN_MODULES: ReadonlySet<string> = new Set([...[...JS_RAGFLOW_FORBIDDEN_MODULES].filter((m) => m !== 'fs'), 'net', 'dgram'])

/** Properties refused on any object: how a `require` or native bindings are reached without require. */
export const JS_DANGEROUS_PROPERTIES: ReadonlySet<string> = new Set(['mainModule', '_linkedBinding', 'dlopen', '_load', '_resolveFilename', 'getBuiltinModule'])

/**
 * Properties refused on any object because they hand out the callers' functions and their
 * arguments (the `require` of the module wrapper among them): V8's stack-trace API
 * (`Error.prepareStackTrace = (e, s) => s`, then `getFunction()`/`getThis()`) and sloppy-mode
 * `f.caller` / `arguments.callee`.
 */
export const JS_ESCAPE_PROPERTIES: ReadonlySet<string> = new Set(['prepareStackTrace', 'getFunction', 'getThis', 'caller', 'callee'])

/** Properties refused on `process` (and `globalThis.process`, aliases of process…). */
export const JS_DANGEROUS_PROCESS_PROPERTIES: ReadonlySet<string> = new Set(['binding', '_linkedBinding', 'dlopen', 'mainModule', 'execve'])

/** Identifiers that name the global object. */
export const JS_GLOBAL_OBJECTS: ReadonlySet<string> = new Set(['globalThis', 'global', 'window', 'self'])

/** Objects whose `.require` is Node's require (`module.require`, `require.main.require`, `process.mainModule.require`). */
export const JS_MODULE_OBJECTS: ReadonlySet<string> = new Set(['module'])

export interface JavaScriptRules {
  level: 'ragflow' | 'standard'
  forbiddenModules: ReadonlySet<string>
}

export const JAVASCRIPT_RULES: Readonly<Record<'ragflow' | 'standard', JavaScriptRules>> = {
  ragflow: {level: 'ragflow', forbiddenModules: JS_RAGFLOW_FORBIDDEN_MODULES},
  standard: {level: 'standard', forbiddenModules: JS_STANDARD_FORBIDDEN_MODULES},
}
