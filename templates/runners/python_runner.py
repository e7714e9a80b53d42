# sandbox Python runner. Passed to the container as `python3 -I -S -B -u -c`, it waits for ONE job
# (a JSON line on stdin), runs main(**arguments) from the user's code, reports, and exits.
# Protocol: user stdout/stderr pass through; at the end the runner writes END_PREFIX + "\n" to
# stderr, then CONTROL_PREFIX + base64(JSON) + "\n" to stdout (both prefixes carry the job's
# nonce), and waits to be removed: the host measures the container from outside first.
#
# Cost before readiness (docs/benchmarks.md, "Runner boot cost"): every sandbox boots this, so it
# imports only what is frozen into the interpreter or built in (sys, os, io, binascii, select, time)
# plus the _json accelerator. Under gVisor an import of `re` (pulled in by json, base64, linecache,
# traceback, shutil) costs ~30 ms of CPU; the trivial job path needs none of them: the job is parsed
# and the report encoded with _json's C scanner/encoder (what json.loads/json.dumps run), base64 is
# binascii's, traceback is imported only when a run fails, and linecache gets the job's source only
# when something imports it (_LinecacheSeed). `-S` skips the automatic `site`; _site() runs it.
import binascii, io, os, select, sys, time


BOOT_DIR = "/workspace"
# the runner's own copies of stdout/stderr: its frames get through even if user code closes 1 or 2
REAL_FDS = (os.dup(1), os.dup(2))


def _identity(fd):
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


# what those copies are: a program that puts something else there (os.dup2) cannot be reported on
REAL_IDS = tuple(map(_identity, REAL_FDS))
# after its report the runner waits this long for the host to remove the container (a safety net:
# the host removes it at once; this only ends a runner whose host went away). A backend that reads
# the memory of a sandbox after it has exited (runsc: its own cgroup) sets 0: the runner then ends
# itself and the sandbox goes down the cheap way. Taken out of the environment user code sees.
def _linger_seconds(text):
    try:
        value = int(text)
    except ValueError:
        return 30
    return value / 1000 if 0 <= value <= 30000 else 30


LINGER_SECONDS = _linger_seconds(os.environ.pop("SANDBOX_RUNNER_LINGER_MS", "30000"))


class _WholeWriter(io.RawIOBase):
    """stdout/stderr that write every byte they are given. Under gVisor one write of more than
    64 KiB to a pipe can be partial, and a TextIOWrapper over a plain FileIO drops what the
    write did not take (5 prints of 150,000 characters delivered 327,685 of 750,005 bytes)."""

    def __init__(self, fd):
        super().__init__()
        self._fd = fd

    def writable(self):
        return True

    def fileno(self):
        return self._fd

    def isatty(self):
        return False

    def write(self, data):
        view = memoryview(data).cast("B")
        _write_all(self._fd, view)
        return len(view)


def _install_streams():
    for name, fd in (("stdout", 1), ("stderr", 2)):
        old = getattr(sys, name)
        stream = io.TextIOWrapper(_WholeWriter(fd), encoding=old.encoding, errors=old.errors, line_buffering=True, write_through=True)
        setattr(sys, name, stream)
        setattr(sys, "__%s__" % name, stream)


def _site():
    # what python3 does at start without -S (sys.path gets the site directories, builtins get
    # exit/quit/help, sitecustomize runs), except the "*-nspkg.pth" files: setuptools' shims that
    # pre-create namespace packages, which Python 3.3+ imports natively (PEP 420). Executing the one
    # Debian's matplotlib ships imports importlib.util: ~30 ms of CPU per sandbox under gVisor.
    import site

    real = site.addpackage

    def addpackage(sitedir, name, known_paths):
        if name.endswith("-nspkg.pth"):
            return known_paths
        return real(sitedir, name, known_paths)

    site.addpackage = addpackage
    try:
        site.main()
    finally:
        site.addpackage = real


def _json_codec():
    # json.loads / json.dumps(ensure_ascii=False, allow_nan=False, compact) without importing json
    # (and so re): the same C scanner and encoder json runs. Any other interpreter: json itself.
    try:
        import _json

        class _Context:
            strict = True
            object_hook = None
            object_pairs_hook = None
            parse_float = float
            parse_int = int
            parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__
            memo = {}

        scan = _json.make_scanner(_Context())

        def default(o):
            raise TypeError("Object of type %s is not JSON serializable" % o.__class__.__name__)

        encode = _json.make_encoder({}, default, _json.encode_basestring, None, ":", ",", False, False, False)

        def loads(text):
            value, end = scan(text, 0)
            if end != len(text):
                raise ValueError("Extra data at %d" % end)
            return value

        def dumps(value):
            return "".join(encode(value, 0))

        if loads(dumps({"a": [1, 2.5, None, True, "\u00e9\ud800"]})) == {"a": [1, 2.5, None, True, "\u00e9\ud800"]}:
            return loads, dumps
    except Exception:
        pass
    import json

    return json.loads, lambda value: json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class _LinecacheSeed:
    """Gives linecache the job's source the moment something imports linecache (tracebacks,
    warnings, inspect), as if it had been there all along: importing linecache up front costs
    its tokenize and re imports in every sandbox, and most runs never show a source line."""

    entries = {}

    @classmethod
    def add(cls, path, code):
        entry = (len(code), None, code.splitlines(True), path)
        cls.entries[path] = entry
        if "linecache" in sys.modules:
            sys.modules["linecache"].cache[path] = entry

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "linecache":
            return None
        if cls in sys.meta_path:
            sys.meta_path.remove(cls)
        for finder in sys.meta_path:
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                run = spec.loader.exec_module

                def exec_module(module):
                    run(module)
                    module.cache.update(cls.entries)

                spec.loader.exec_module = exec_module
                return spec
        return None


_loads, _dumps = _json_codec()


def _boot():
    # everything that does not depend on the job happens before we say we are ready
    _site()
    sys.meta_path.insert(0, _LinecacheSeed)
    _install_streams()
    try:
        os.chdir(BOOT_DIR)
        os.makedirs("artifacts", exist_ok=True)
    except OSError:
        pass
    _seed_matplotlib_cache()
    _preload()
    _warm_up()
    os.write(2, b"__SANDBOX_READY__\n")


def _preload():
    # a preloaded runner (the engine's data-science pool, `--preload=numpy,pandas,...`) imports
    # these before it is ready. Each runner is its own process: its random state (random, numpy)
    # is seeded from the OS at import, as in any other runner. A module that fails to import is
    # left out: the job's own import of it then fails the way it would anywhere.
    for arg in sys.argv[1:]:
        if arg.startswith("--preload="):
            for name in arg[len("--preload=") :].split(","):
                try:
                    if name:
                        __import__(name)
                except Exception:
                    pass


def _load_module(name, path, code):
    # compiled from the job's text (no file round trip); linecache gets the lines when it is used
    module = type(sys)(name)
    module.__file__ = path
    _LinecacheSeed.add(path, code)
    sys.modules[name] = module
    exec(compile(code, path, "exec", dont_inherit=True), module.__dict__)
    return module


def _warm_up():
    # walk the job's code path once (JSON both ways, compile and exec, scandir, base64)
    # so that the user's run does not pay for first-use costs
    try:
        job = _loads(_dumps({"code": "def main():\n    return None\n", "arguments": {}}))
        module = _load_module("_sandbox_warm_up", "/workspace/_sandbox_warm_up.py", job["code"])
        _dumps(module.main(**job["arguments"]))
        del sys.modules["_sandbox_warm_up"]
        _LinecacheSeed.entries.pop("/workspace/_sandbox_warm_up.py", None)
        list(os.scandir("artifacts"))
        binascii.b2a_base64(_dumps({"ok": True}).encode("utf-8"), newline=False)
        _sandbox_error_type(ValueError("x"))
    except Exception:
        pass


def _runner():
    raw = sys.stdin.buffer.readline()
    job = _loads(raw.decode("utf-8").rstrip("\n"))
    prefix = "__SANDBOX_CONTROL_" + job["nonce"] + "__:"
    workdir = job.get("workdir", "/workspace")
    limits = job.get("artifacts", {})
    max_files = int(limits.get("max_files", 10))
    max_bytes = int(limits.get("max_bytes", 10 * 1024 * 1024))
    max_total = int(limits.get("max_total_bytes", 16 * 1024 * 1024))
    total = 0
    allowed = set(limits.get("extensions", ["png", "jpg", "jpeg", "svg", "pdf", "csv", "json", "html"]))
    if workdir != BOOT_DIR:
        os.chdir(workdir)
        os.makedirs("artifacts", exist_ok=True)
    path = os.path.join(workdir, "main.py")
    sys.path.insert(0, workdir)
    sys.argv = [path]
    real_stdout, real_stderr = REAL_FDS

    # the frame's fields, all of them always (the host's schema: src/engine/frame.ts)
    control = {"ok": False, "result": None, "error": None, "error_type": None, "exit_code": 1, "artifacts": [], "notes": []}
    try:
        module = _load_module("main", path, job["code"])
        fn = getattr(module, "main", None)
        if not callable(fn):
            raise NameError("main() is not defined: define a function named main in your code")
        args = job.get("arguments") or {}
        value = fn(**args)
        if hasattr(value, "__await__"):
            import asyncio
            value = asyncio.run(_await(value))
        try:
            encoded = _dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError("main() returned a value that is not JSON-serializable: %s" % exc) from None
        control["ok"] = True
        control["result"] = {"present": True, "value": _loads(encoded), "type": "json"}
        control["exit_code"] = 0
    except SystemExit as exc:
        # sys.exit() inside main ends the program as it would end python3: the status decides
        code = exc.code
        if code is None:
            status = 0
        elif isinstance(code, int):
            status = code & 0xFF
        else:
            _safe_write_stderr(_safe_str(code) + "\n")
            status = 1
        control["exit_code"] = status
        control["error_type"] = "SystemExit"
        if status == 0:
            # a deliberate, successful end: no return value (RAGFlow answers success, result null)
            control["ok"] = True
        else:
            control["error"] = "SystemExit(%s)" % _safe_str(code, repr)
    except BaseException as exc:
        # the record first: it is what classifies the run, even if formatting fails below
        try:
            control["error_type"] = _sandbox_error_type(exc)
        except BaseException:
            control["error_type"] = type(exc).__name__[:100]
        control["error"] = "%s: %s" % (type(exc).__name__, _safe_str(exc))
        control["exit_code"] = 1
        try:
            tb = exc.__traceback__
            # drop the runner's own frames so the traceback starts in the user's code
            while tb is not None and tb.tb_frame.f_code.co_filename != path:
                tb = tb.tb_next
            import traceback

            text = "".join(traceback.format_exception(type(exc), exc, tb))
            tb = None
        except BaseException:
            # e.g. MemoryError again while formatting under memory pressure
            text = control["error"] + "\n"
        _safe_write_stderr(text)
        text = None
        # the traceback holds the user's frames (and their memory): let them go now
        exc.__traceback__ = None
    try:
        sys.stdout.flush()
    except Exception:
        pass
    try:
        sys.stderr.flush()
    except Exception:
        pass
    _refuse_large_result(control, int((job.get("limits") or {}).get("max_result_bytes", 4 * 1024 * 1024)))

    if control["ok"]:
        root = os.path.join(workdir, "artifacts")
        entries = []
        if os.path.islink(root):
            control["notes"].append("artifacts/ is a symbolic link: nothing collected")
        else:
            try:
                entries = sorted(os.scandir(root), key=lambda e: e.name)
            except OSError:
                entries = []
        for entry in entries:
            name = entry.name
            ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
            if name.startswith(".") or "/" in name or "\\" in name or ".." in name:
                control["notes"].append("artifact %s skipped: invalid name" % name)
                continue
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                control["notes"].append("artifact %s skipped: the name is not UTF-8" % ascii(name)[:80])
                continue
            if entry.is_symlink():
                control["notes"].append("artifact %s skipped: symbolic links are not allowed" % name)
                continue
            if not entry.is_file(follow_symlinks=False):
                control["notes"].append("artifact %s skipped: not a regular file" % name)
                continue
            if ext not in allowed:
                control["notes"].append("artifact %s skipped: type .%s is not allowed (%s)" % (name, ext, ", ".join(sorted(allowed))))
                continue
            size = entry.stat(follow_symlinks=False).st_size
            if size == 0:
                control["notes"].append("artifact %s skipped: empty" % name)
                continue
            if size > max_bytes:
                control["notes"].append("artifact %s skipped: %d bytes is over the %d byte limit" % (name, size, max_bytes))
                continue
            if len(control["artifacts"]) >= max_files:
                control["notes"].append("artifact %s skipped: at most %d artifacts are returned" % (name, max_files))
                continue
            if total + size > max_total:
                control["notes"].append("artifact %s skipped: the artifacts together would be over the %d-byte total limit" % (name, max_total))
                continue
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as fh:
                data = fh.read(max_bytes + 1)
            if len(data) > max_bytes or total + len(data) > max_total:
                control["notes"].append("artifact %s skipped: it grew while it was read" % name)
                continue
            total += len(data)
            control["artifacts"].append({"name": name, "size": len(data), "content_b64": binascii.b2a_base64(data, newline=False).decode("ascii")})

    _report(job, prefix, control, real_stdout, real_stderr)


def _json_bytes(value):
    # compact JSON in UTF-8, as the host measures it. A lone surrogate (possible in a Python str)
    # cannot be UTF-8: it becomes the JSON escape \udXXX, which is what the host's JSON.stringify
    # writes for it too (it only ever occurs inside a JSON string)
    return _dumps(value).encode("utf-8", "backslashreplace")


def _refuse_large_result(control, max_bytes):
    # the host enforces the cap too; refusing here says why, and saves building a huge frame
    if not control["ok"] or control["result"] is None:
        return
    size = len(_json_bytes(control["result"]["value"]))
    if size > max_bytes:
        message = "main() returned %d bytes, over the %d-byte result limit" % (size, max_bytes)
        sys.stderr.write(message + "\n")
        control.update(ok=False, result=None, error=message, error_type="ResultLimitExceeded", exit_code=1)


def _clip(text, max_chars):
    # the host counts UTF-16 code units (JavaScript string length)
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) // 2 <= max_chars:
        return text
    head = units[: 2 * (max_chars - 1)]
    if 0xD800 <= int.from_bytes(head[-2:], "little") <= 0xDBFF:
        # do not split a surrogate pair
        head = head[:-2]
    return head.decode("utf-16-le", "surrogatepass") + "\u2026"


def _report(job, prefix, control, out_fd, err_fd):
    limits = job.get("limits") or {}
    for key, cap in (("error", int(limits.get("max_error_chars", 4000))), ("error_type", int(limits.get("max_error_type_chars", 165)))):
        if isinstance(control.get(key), str):
            control[key] = _clip(control[key], cap)
    max_notes, max_note = int(limits.get("max_notes", 64)), int(limits.get("max_note_chars", 1024))
    notes = [_clip(str(n), max_note) for n in control["notes"]]
    if len(notes) > max_notes:
        notes = notes[: max_notes - 1] + ["%d more notes left out" % (len(notes) - max_notes + 1)]
    control["notes"] = notes
    # what the OS makes of an exit status: sys.exit(256) is 0, sys.exit(-1) is 255
    try:
        control["exit_code"] = int(control["exit_code"]) % 256
    except (TypeError, ValueError):
        control["exit_code"] = 1
    payload = binascii.b2a_base64(_json_bytes(control), newline=False)
    code = 0 if control["ok"] else control["exit_code"] or 1
    # the program replaced the runner's own copies of stdout/stderr (os.dup2 over them): no report
    # can reach the host, so end at once and without one (exit status 1: the host says the program
    # ended without a result), never a success the host would have to guess, on every backend
    try:
        intact = tuple(map(_identity, (out_fd, err_fd))) == REAL_IDS
    except OSError:
        intact = False
    if not intact:
        os._exit(1)
    # end of stderr first, then the control frame: when both have arrived, all output has arrived
    _write_all(err_fd, ("__SANDBOX_END_" + job["nonce"] + "__\n").encode("ascii"))
    _write_all(out_fd, prefix.encode("ascii") + payload + b"\n")
    # wait to be removed: the host reads the container's memory from its cgroup, which goes
    # away when the container exits
    try:
        if LINGER_SECONDS:
            time.sleep(LINGER_SECONDS)
    finally:
        os._exit(code)


# --- error record: begin (also embedded by the remote wrapper, src/providers/wrapper.ts) ---
def _sandbox_errno_name(exc):
    # the symbolic errno of an OSError (EACCES, ECONNREFUSED; EAI_AGAIN for socket.gaierror)
    import errno, sys
    number = getattr(exc, "errno", None)
    if not isinstance(number, int) or isinstance(number, bool):
        return None
    sock = sys.modules.get("socket")
    if sock is not None and isinstance(exc, sock.herror):
        return None
    if sock is not None and isinstance(exc, sock.gaierror):
        for name in dir(sock):
            if name.startswith("EAI_") and getattr(sock, name, None) == number:
                return name
        return None
    return errno.errorcode.get(number)


def _sandbox_error_type(exc):
    # "Name" or "Name:ERRNO" of the exception that ended the program; when its chain of causes
    # (raise ... from, or raised while handling) holds a system error (an OSError with an errno,
    # or MemoryError), the deepest one: requests' ConnectionError records ConnectionRefusedError
    chosen, seen, current = None, set(), exc
    while current is not None and id(current) not in seen and len(seen) < 32:
        seen.add(id(current))
        if isinstance(current, MemoryError) or (isinstance(current, OSError) and isinstance(getattr(current, "errno", None), int)):
            chosen = current
        following = current.__cause__
        if following is None and not current.__suppress_context__:
            following = current.__context__
        current = following
    chosen = exc if chosen is None else chosen
    name = type(chosen).__name__[:100]
    code = _sandbox_errno_name(chosen) if isinstance(chosen, OSError) else None
    return name + ":" + code if code else name
# --- error record: end ---


def _safe_str(value, fn=str):
    # user exceptions may define a __str__ that fails: never let that take the runner down
    try:
        return fn(value)
    except BaseException:
        return "<%s: unprintable>" % type(value).__name__


def _safe_write_stderr(text):
    try:
        sys.stderr.write(text)
    except BaseException:
        pass


def _seed_matplotlib_cache():
    # images built by `sandbox build` ship matplotlib's font list; a copy in the (tmpfs)
    # config dir saves the font scan on the first import of matplotlib (os only: shutil imports re)
    src = "/etc/sandbox/matplotlib"
    dst = os.environ.get("MPLCONFIGDIR")
    if not dst or not os.path.isdir(src):
        return
    try:
        os.makedirs(dst, exist_ok=True)
        for name in os.listdir(src):
            if name.endswith(".json"):
                with open(os.path.join(src, name), "rb") as fin, open(os.path.join(dst, name), "wb") as fout:
                    fout.write(fin.read())
    except OSError:
        pass


def _write_all(fd, data):
    # a write may take only part of the data (gVisor pipes, more than 64 KiB): loop until all of it is written
    view = memoryview(data).cast("B")
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        except InterruptedError:
            continue
        view = view[n:]


async def _await(value):
    return await value


_boot()
_runner()
