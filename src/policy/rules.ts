/**
 * The lists behind the static code policy. One place, so that docs/policy.md, the tests and
 * the analysers agree. Everything here is defence in depth: gVisor, no network, a read-only
 * root and the resource limits are the real boundary.
 */

// ---------------------------------------------------------------- Python

/**
 * Modules whose import is refused (compared on the first dotted segment, as RAGFlow does).
 * RAGFlow's set: os … builtins. Ours adds the modules that load code or reach the same
 * capabilities by another name (importlib, imp, runpy, code, pydoc, pkgutil, …) and pathlib
 * (raw file I/O, like `open`, which RAGFlow blocks).
 */
export const PY_FORBIDDEN_MODULES: ReadonlySet<string> = new Set([
  // RAGFlow's list
  'os', 'subprocess', 'sys', 'shutil', 'socket', 'ctypes', 'pickle', 'threading', 'multiprocessing',
  'asyncio', 'ftplib', 'telnetlib', 'builtins',
  // RAGFlow's known bypasses (#8472) and their siblings
  'importlib', 'imp', 'pathlib', 'zipimport', 'pkgutil', 'pydoc', 'runpy',
  // interpreters, debuggers and profilers that execute strings of code; inspect is getattr
  // (getattr_static, getmembers) and frames (currentframe, stack) under another name
  'code', 'codeop', 'pdb', 'bdb', 'cProfile', 'profile', 'trace', 'doctest', 'inspect',
  // OS-level access under another name
  'posix', 'nt', 'pty', 'distutils', 'webbrowser', 'cffi',
  // serialisers that run code on load
  'marshal', 'shelve',
])

/**
 * Forbidden modules whose names are distinctive enough to be checked where they appear as
 * names, not only in imports: `X.y` with X one of these (RAGFlow's attribute rule, which
 * fires even without an import), and `obj.X` / `obj._X` as an attribute on any object (how
 * `random._os`, `glob.os` and `http.server.shutil` reach a forbidden module without importing
 * it). Names that are ordinary variable or attribute names (`code`, `profile`, `trace`,
 * `imp`, `nt`, `doctest`, `pdb`, …) are checked in imports only, so `self.code` and
 * `response.code` stay fine.
 */
export const PY_MODULE_OBJECT_NAMES: ReadonlySet<string> = new Set([
  'os', 'subprocess', 'sys', 'shutil', 'socket', 'ctypes', 'pickle', 'threading', 'multiprocessing', 'asyncio',
  'ftplib', 'telnetlib', 'builtins', 'importlib', 'pathlib', 'zipimport', 'pkgutil', 'pydoc', 'runpy', 'codeop',
  'cProfile', 'posix', 'pty', 'distutils', 'cffi', 'marshal', 'shelve',
])

/** As attribute names on other objects: the same, except `socket` (`conn.socket` is common and the network is off). */
export const PY_MODULE_ATTRIBUTE_NAMES: ReadonlySet<string> = new Set([...PY_MODULE_OBJECT_NAMES].filter((name) => name !== 'socket'))

/**
 * Dotted modules refused as a whole prefix (RAGFlow lists http.client but never matches it).
 * logging.config resolves `'()': 'subprocess.getoutput'` factories by name, unittest.mock
 * hands back the original of whatever it patches by name, numpy.ctypeslib loads libraries
 * as ctypes does.
 */
export const PY_FORBIDDEN_DOTTED_MODULES: readonly string[] = ['http.client', 'logging.config', 'unittest.mock', 'numpy.ctypeslib']

/** Private modules (`_thread`, `_posixsubprocess`, `_io`, `__main__`, …) are refused, except this one. */
export const PY_ALLOWED_PRIVATE_MODULES: ReadonlySet<string> = new Set(['__future__'])

/**
 * Builtins refused when called — and when used as a value (`f = eval`, `map(eval, xs)`), which
 * is how RAGFlow's bare-name check is bypassed.
 */
export const PY_DANGEROUS_BUILTINS: ReadonlySet<string> = new Set([
  'eval', 'exec', 'open', '__import__', 'compile', 'getattr', 'setattr', 'globals', 'locals',
  'vars', 'breakpoint',
])

/**
 * Attribute names that are the classic object-graph escapes: from any object to the
 * interpreter's globals, builtins, loaders or frames.
 */
export const PY_ESCAPE_ATTRIBUTES: ReadonlySet<string> = new Set([
  '__subclasses__', '__globals__', '__code__', '__closure__', '__bases__', '__base__', '__mro__',
  '__builtins__', '__import__', '__loader__', '__spec__', '__self__', '__getattribute__',
  // frames and their globals
  'f_globals', 'f_locals', 'f_builtins', 'f_back', 'tb_frame', 'gi_frame', 'cr_frame', 'ag_frame',
])

/** Module globals that lead to the interpreter's builtins and import machinery, refused as names. */
export const PY_ESCAPE_GLOBALS: ReadonlySet<string> = new Set(['__builtins__', '__loader__', '__spec__'])

/**
 * Private attributes that are modules in the standard library, refused on any object;
 * `_<name>` for a name in PY_MODULE_ATTRIBUTE_NAMES (`random._os`, `tempfile._os`) as well.
 */
export const PY_PRIVATE_MODULE_ATTRIBUTES: ReadonlySet<string> = new Set([
  '_thread', '_posixsubprocess', '_io', '_imp', '_frozen_importlib', '_frozen_importlib_external',
  '_ctypes', '_pickle', '_socket', '_bootstrap', '_bootstrap_external',
  // not private, but as distinctive: numpy's ctypes loader (np.ctypeslib.load_library)
  'ctypeslib',
])

/** `module.attr` pairs refused even though the module itself is fine to import. */
export const PY_DANGEROUS_MODULE_ATTRIBUTES: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['io', new Set(['open', 'open_code', 'FileIO'])],
  ['codecs', new Set(['open'])],
  ['gc', new Set(['get_objects', 'get_referrers', 'get_referents'])],
  // a code object built by hand runs arbitrary bytecode through types.FunctionType
  ['types', new Set(['CodeType'])],
])

/** pathlib-style file I/O methods, refused on any receiver (Path objects come from many places). */
export const PY_FILE_IO_METHODS: ReadonlySet<string> = new Set(['read_text', 'read_bytes', 'write_text', 'write_bytes'])

/**
 * A string literal that is exactly one of these names is how attribute checks are dodged
 * (`operator.attrgetter('__globals__')`, `type.__dict__['__subclasses__']`). So is exactly a
 * private module alias such as `'_os'`.
 */
export const PY_ESCAPE_STRINGS: ReadonlySet<string> = new Set([
  '__subclasses__', '__globals__', '__code__', '__builtins__', '__import__', '__loader__', '__bases__',
  '__mro__', '__getattribute__', 'f_globals', 'f_builtins',
])

/** PEP 263 source encodings that cannot change how ASCII bytes are read. */
export const PY_SAFE_SOURCE_ENCODINGS: ReadonlySet<string> = new Set([
  'utf-8', 'utf8', 'utf_8', 'utf-8-sig', 'utf_8_sig', 'ascii', 'us-ascii', 'latin-1', 'latin1', 'latin_1',
  'iso-8859-1', 'iso8859-1', 'iso_8859_1', 'l1', 'cp1252', 'iso-8859-15',
])

// ---------------------------------------------------------------- JavaScript

/**
 * Node.js core modules refused by require/import (the `node:` prefix and subpaths such as
 * `fs/promises` are normalised first). RAGFlow: child_process, fs, worker_threads. Ours adds
 * the other ways to run code, spawn or load native code, touch the file system or open raw
 * sockets. http/https/tls/dns stay allowed: the container has no network anyway.
 */
export const JS_FORBIDDEN_MODULES: ReadonlySet<string> = new Set([
  'child_process', 'fs', 'worker_threads',
  'cluster', 'vm', 'v8', 'net', 'dgram', 'inspector', 'module', 'repl', 'wasi', 'sqlite', 'trace_events',
])

/** Properties refused on any object: how a `require` or native bindings are reached without require. */
export const JS_DANGEROUS_PROPERTIES: ReadonlySet<string> = new Set([
  'mainModule', '_linkedBinding', 'dlopen', '_load', '_resolveFilename', 'getBuiltinModule',
])

/** Properties refused on `process` (and `globalThis.process` etc.). */
export const JS_DANGEROUS_PROCESS_PROPERTIES: ReadonlySet<string> = new Set(['binding', '_linkedBinding', 'dlopen', 'mainModule'])

/** Identifiers that name the global object. */
export const JS_GLOBAL_OBJECTS: ReadonlySet<string> = new Set(['globalThis', 'global', 'window', 'self'])
