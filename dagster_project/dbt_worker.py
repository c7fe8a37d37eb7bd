"""One dbt process kept warm for a run: dbt imported once, the project's parse held in memory, every dbt command of
the run forked from it.

Each dbt command used to start a process that spent about 2.3 s importing dbt and 1-2 s loading the project's
parse before any work (`docs generate` took 7 s of which 2.5 s was its own). A run that will build dbt models
(`runner.materialize_everything`) starts a worker beside it (`python -m dagster_project.dbt_worker`), which imports
dbt and parses the project with the run's vars on the other core while the partitioned datasets are ingested.

dbt commands still start as processes, with the same arguments, environment, output and exit code (dagster-dbt
reads them exactly as before), but through `cdp-dbt` (`launcher_main`, a console script of this package): it hands
its arguments, working folder, environment and standard streams (passed as file descriptors over the worker's Unix
socket) to the worker and waits for the exit code. The worker forks a copy of itself that runs the command; the
copy reuses the parse the worker holds when the command's project, vars, target, profile, credentials, and the
project's files (by path, size and modification time) and environment variables are those of that parse, and
parses as dbt would otherwise. `dbt parse` runs in the worker itself: that is how it comes to hold a parse.

Without a worker (`dagster dev`, the daemon, Celery workers, a test outside a run) `cdp-dbt` is plain dbt: it
replaces itself with the `dbt` beside it. It does the same when the worker cannot be reached or stops before the
command started.

Lifetimes: the worker exits when its runner process is gone (checked twice a second) or stopped; a command's copy
exits when its `cdp-dbt` is gone (so a killed step leaves no dbt holding DuckDB's write lock). SIGINT / SIGTERM /
SIGHUP sent to `cdp-dbt` (dagster-dbt interrupts dbt with SIGINT) are passed on to the copy, which handles them as
dbt does. The worker and the copies carry the runner's `CDP_RUN_PROCESS` mark, so `recovery.stop_leftovers` finds
them like any dbt process.
"""

from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing.resource_tracker
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dagster_project import settings

LAUNCHER = "cdp-dbt"
# The files of a dbt project, beside its source folders, that change what a parse gives.
PROJECT_FILES = ("dbt_project.yml", "packages.yml", "dependencies.yml", "selectors.yml", "package-lock.yml")
HELD_PARSES = 4
_LENGTH = struct.Struct("!Q")


# ---- the launcher (`cdp-dbt`) ------------------------------------------------------------------------------


def launcher() -> str | None:
    """The `cdp-dbt` launcher of this environment, if installed (`make setup` installs it)."""
    beside = Path(sys.executable).with_name(LAUNCHER)
    found = shutil.which(LAUNCHER) or (str(beside) if beside.exists() else None)
    return found


def plain_dbt() -> str:
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def launcher_main() -> int:
    """`cdp-dbt ARGS...`: `dbt ARGS...`, run by the run's dbt worker when there is one."""
    args = sys.argv[1:]
    path = settings.dbt_worker_socket()
    if path:
        code = _through_worker(path, args)
        if code is not None:
            return code
    dbt = plain_dbt()
    os.execvp(dbt, [dbt, *args])
    return 127  # not reached: execvp replaces this process or raises


def _through_worker(path: str, args: list[str]) -> int | None:
    """The command's exit code, or None when the worker did not start it (unreachable, or gone before it)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        body = json.dumps({"argv": args, "cwd": os.getcwd(), "env": settings.process_environment()}).encode()
        socket.send_fds(sock, [_LENGTH.pack(len(body))], [0, 1, 2])
        sock.sendall(body)
    except OSError:
        sock.close()
        return None
    state: dict[str, int | None] = {"pid": None, "signal": None}

    def forward(signum, _frame):
        state["signal"] = signum
        if state["pid"]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(state["pid"], signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    started = False
    with sock, sock.makefile("rb") as replies:
        for line in replies:
            message = json.loads(line)
            if "started" in message:
                started = True
                state["pid"] = message["started"]
                if state["pid"] and state["signal"]:
                    forward(state["signal"], None)
            elif "exit" in message:
                return int(message["exit"])
    if not started:  # nothing ran: plain dbt does it, unless this launcher was told to stop meanwhile
        return None if state["signal"] is None else 128 + state["signal"]
    print(
        "cdp-dbt: the dbt worker's process ended without an exit code (killed?)", file=sys.stderr, flush=True
    )
    return 128 + state["signal"] if state["signal"] else 2


# ---- the worker ----------------------------------------------------------------------------------------------


@dataclass
class _Held:
    manifest: object
    files: frozenset

    def fresh(self, config) -> bool:
        env = settings.process_environment()
        used = getattr(self.manifest, "env_vars", None) or {}
        return all(env.get(k) == v for k, v in used.items()) and _project_files(config) == self.files


_HELD: dict[str, _Held] = {}
_WORKER_PID: int | None = None


def _parse_key(config) -> str:
    """What, besides the files, decides a parse: the project, vars, target, profile and credentials, and the
    environment variables the project and profile read."""
    return json.dumps(
        [
            str(config.project_root),
            config.cli_vars,
            config.target_name,
            config.profile_name,
            config.credentials.to_dict(),
            getattr(config, "project_env_vars", {}),
            getattr(config, "profile_env_vars", {}),
        ],
        sort_keys=True,
        default=str,
    )


def _project_files(config) -> frozenset:
    """(path, size, mtime) of every file a parse reads: the project's source, docs and package folders (links
    followed: dataset packages' models are linked in), its project files and profiles.yml."""
    from dbt.flags import get_flags

    root = Path(config.project_root)
    folders = {*config.all_source_paths, *getattr(config, "docs_paths", []), config.packages_install_path}
    files = [root / name for name in PROJECT_FILES]
    profiles_dir = getattr(get_flags(), "PROFILES_DIR", None)
    if profiles_dir:
        files.append(Path(profiles_dir) / "profiles.yml")
    out = set()
    for path in files:
        with contextlib.suppress(OSError):
            st = path.stat()
            out.add((str(path), st.st_size, st.st_mtime_ns))
    for folder in sorted(folders):
        for dirpath, _dirs, names in os.walk(root / folder, followlinks=True):
            for name in names:
                with contextlib.suppress(OSError):
                    st = os.stat(os.path.join(dirpath, name))
                    out.add((os.path.join(dirpath, name), st.st_size, st.st_mtime_ns))
    return frozenset(out)


def _hook_parse() -> None:
    """Make dbt's parse keep its manifest in the worker, and hand it out in the forked copies when it still holds."""
    from dbt.adapters.factory import get_adapter
    from dbt.context.query_header import generate_query_header_context
    from dbt.parser.manifest import ManifestLoader
    from dbt_common.invocation import get_invocation_id

    original = ManifestLoader.get_full_manifest.__func__

    def get_full_manifest(cls, config, *args, **kwargs):
        key = _parse_key(config)
        held = _HELD.get(key)
        if os.getpid() != _WORKER_PID and held is not None and held.fresh(config):
            manifest = held.manifest
            # What the loader does with a manifest it has loaded (`save_macros_to_adapter`).
            adapter = get_adapter(config)
            adapter.set_macro_resolver(manifest)
            adapter.connections.set_query_header(generate_query_header_context(adapter.config, manifest))
            manifest.metadata.invocation_id = get_invocation_id()
            return manifest
        files = _project_files(config)  # before parsing: a file changed meanwhile makes the parse stale
        manifest = original(cls, config, *args, **kwargs)
        if os.getpid() == _WORKER_PID:
            _HELD.pop(key, None)
            _HELD[key] = _Held(manifest, files)
            while len(_HELD) > HELD_PARSES:
                _HELD.pop(next(iter(_HELD)))
        return manifest

    ManifestLoader.get_full_manifest = classmethod(get_full_manifest)


def _invoke(argv: list[str]) -> int:
    """Run one dbt command as the `dbt` executable would; its exit code."""
    from dbt.cli.main import cli

    sys.argv = ["dbt", *argv]
    try:
        cli.main(args=list(argv), prog_name="dbt", standalone_mode=True)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def _command(argv: list[str]) -> str | None:
    from dbt.cli.main import cli

    return next((a for a in argv if a in cli.commands), None)


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    head, fds, _flags, _addr = socket.recv_fds(conn, _LENGTH.size, 3)
    if len(head) != _LENGTH.size or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise ValueError("not a cdp-dbt request")
    (length,) = _LENGTH.unpack(head)
    body = bytearray()
    while len(body) < length:
        chunk = conn.recv(min(1 << 20, length - len(body)))
        if not chunk:
            raise ValueError("cdp-dbt request cut short")
        body += chunk
    return json.loads(body), fds


def _send(conn: socket.socket, message: dict) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(message).encode() + b"\n")


def _adopt(request: dict, fds: list[int]) -> None:
    for target, fd in zip((0, 1, 2), fds, strict=True):
        os.dup2(fd, target)
    os.chdir(request["cwd"])
    settings.replace_process_environment(request["env"])


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _run_here(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """`dbt parse`, in the worker itself, so that it keeps the manifest."""
    saved = [os.dup(i) for i in (0, 1, 2)]
    cwd, env, argv = os.getcwd(), settings.process_environment(), list(sys.argv)
    code = 2
    _flush()
    try:
        _send(conn, {"started": None})
        _adopt(request, fds)
        code = _invoke(request["argv"])
    except BaseException:  # noqa: BLE001 - the worker serves on whatever one command did
        traceback.print_exc()
    finally:
        _flush()
        for i, fd in enumerate(saved):
            os.dup2(fd, i)
            os.close(fd)
        os.chdir(cwd)
        settings.replace_process_environment(env)
        sys.argv = argv
        _send(conn, {"exit": code})


def _exit_with_launcher(conn: socket.socket, finished: threading.Event) -> None:
    """In a command's copy: stop at once when its `cdp-dbt` is gone before the command finished (the step was
    killed), so that no dbt is left holding DuckDB's write lock."""
    with contextlib.suppress(OSError):
        while conn.recv(64):
            pass
    if not finished.is_set():
        os.kill(os.getpid(), signal.SIGKILL)


def _run_forked(conn: socket.socket, request: dict, fds: list[int], listener: socket.socket) -> None:
    _flush()
    # What is in the worker now (dbt, the parses) is never collected in the copy: its collections then skip those
    # objects instead of touching (and so copying) every page they are on.
    gc.freeze()
    if os.fork():
        return  # the copy reports to its launcher itself; the worker reaps it
    code = 2
    finished = threading.Event()
    try:
        listener.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _send(conn, {"started": os.getpid()})
        _adopt(request, fds)
        # The command's output goes to a pipe that dagster-dbt reads as dbt goes: line by line, as dbt's would
        # with the PYTHONUNBUFFERED=1 dagster-dbt sets (read by Python at start, which this copy did not have).
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.reconfigure(line_buffering=True)
        threading.Thread(target=_exit_with_launcher, args=(conn, finished), daemon=True).start()
        code = _invoke(request["argv"])
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
    finally:
        _flush()
        finished.set()
        _send(conn, {"exit": code})
        with contextlib.suppress(BaseException):
            import atexit

            atexit._run_exitfuncs()  # what an exiting dbt runs (multiprocessing releases its semaphores)
        os._exit(code)


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def serve(path: str, parent: int) -> int:
    """Serve `cdp-dbt` commands on the Unix socket `path` until process `parent` is gone or this one is stopped."""
    global _WORKER_PID
    _WORKER_PID = os.getpid()
    # Ctrl-C reaches the whole process group: the runner decides what stops, and the commands' copies (which get
    # the signal too) stop as dbt does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Stopped: exit as a process does (the socket is removed, multiprocessing releases the semaphores dbt made).
    signal.signal(signal.SIGTERM, _stop)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(
        path
    )  # first, so that a command sent meanwhile waits for dbt's import instead of missing us
    listener.listen(64)
    import dbt.cli.main  # noqa: F401 - the import every command would pay

    with contextlib.suppress(ImportError):
        import dbt.adapters.duckdb  # noqa: F401
    # dbt's locks are multiprocessing ("spawn") semaphores, whose tracker process starts with the first one. Start it
    # now, with the worker's own standard streams: started inside a `dbt parse` here, it would inherit that
    # command's output pipe and hold it open (the caller would wait for its end forever).
    multiprocessing.resource_tracker.ensure_running()
    _hook_parse()
    listener.settimeout(0.5)
    try:
        _serve(listener, parent)
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
            os.rmdir(os.path.dirname(path))  # the runner's folder for it, when the runner could not remove it
    return 0


_STOPPING = threading.Event()


def _stop(_signum, _frame) -> None:
    _STOPPING.set()  # dbt may catch the exit below (a parse runs in this process); the loop sees this
    raise SystemExit(0)


def _serve(listener: socket.socket, parent: int) -> None:
    while os.getppid() == parent and not _STOPPING.is_set():
        _reap()
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(None)
            try:
                request, fds = _receive(conn)
            except (OSError, ValueError):
                continue
            try:
                if _command(request["argv"]) == "parse":
                    _run_here(conn, request, fds)
                else:
                    _run_forked(conn, request, fds, listener)
            finally:
                for fd in fds:
                    os.close(fd)


# ---- the runner's side --------------------------------------------------------------------------------------


@contextlib.contextmanager
def running_worker(warm: Callable[[], None] | None = None) -> Iterator[bool]:
    """A dbt worker for the processes this one starts while the block runs (yields whether there is one).
    `warm` is called in a background thread once the worker listens: the run's parse (`dbt.parse_in_worker`),
    made on the other core before the first dbt step needs it. Nested blocks share the outer worker."""
    if settings.dbt_worker_socket() or launcher() is None:
        yield False
        return
    folder = tempfile.mkdtemp(prefix="cdp-dbt-worker-")
    path = os.path.join(folder, "socket")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster_project.dbt_worker", path, str(os.getpid())], stdin=subprocess.DEVNULL
    )
    warming = None
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        up = os.path.exists(path) and proc.poll() is None
        if up:
            settings.export_dbt_worker(path)
            if warm is not None:
                warming = threading.Thread(target=warm, name="dbt-worker-parse", daemon=True)
                warming.start()
        yield up
    finally:
        settings.export_dbt_worker(None)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if warming is not None:
            warming.join(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    path, parent = argv if argv is not None else sys.argv[1:]
    return serve(path, int(parent))


if __name__ == "__main__":
    sys.exit(main())
