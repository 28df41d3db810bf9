"""What a running nclattice process owns: LAMMPS worker slots, child processes, signal handling.

- :func:`worker_slots` caps the LAMMPS workers running at once, across threads, nested pools
  and separate processes of one user: a worker holds ``threads × ranks`` of ``N`` slot lock
  files (``flock``) in :func:`runtime_dir`. ``N`` is the ``max_workers`` argument, else
  ``NCLATTICE_MAX_WORKERS``, else the number of usable cores. A killed process frees its slots.
- :func:`started` launches a worker in its own process group and registers it, so that
  :func:`stop_children` can stop the whole group (``mpiexec`` and its ranks included).
- :func:`install_signal_handlers` makes SIGINT/SIGTERM stop every child (workers, a Prefect
  server the process started), remove temporary files of unfinished atomic writes, print one
  line saying what to re-run, and exit with 128 + the signal number. Finished results are in
  the cache, so the re-run resumes.

The registries are process-wide by nature (a signal concerns the whole process); they hold
only what this process started and are emptied as the children end.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import NclatticeError

_LOCK = threading.Lock()
_CHILDREN: set[subprocess.Popen] = set()
_TEMP_FILES: set[Path] = set()


def runtime_dir() -> Path:
    """Per-user folder for the worker slot locks (``NCLATTICE_RUNTIME_DIR`` overrides it)."""
    if os.environ.get("NCLATTICE_RUNTIME_DIR"):
        path = Path(os.environ["NCLATTICE_RUNTIME_DIR"])
    elif os.environ.get("XDG_RUNTIME_DIR") and os.access(os.environ["XDG_RUNTIME_DIR"], os.W_OK):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "nclattice"
    else:
        path = Path(tempfile.gettempdir()) / f"nclattice-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def max_workers(requested: int | None = None) -> int:
    """The worker limit: ``requested``, else ``NCLATTICE_MAX_WORKERS``, else the usable cores."""
    if requested is not None:
        value, source = requested, "max_workers"
    elif os.environ.get("NCLATTICE_MAX_WORKERS"):
        value, source = os.environ["NCLATTICE_MAX_WORKERS"], "NCLATTICE_MAX_WORKERS"
    else:
        return usable_cores()
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise NclatticeError(f"{source} must be a positive whole number of workers, got '{value}'.")
    return number


@contextmanager
def worker_slots(count: int = 1, limit: int | None = None,
                 waiting: Callable[[str], None] | None = None) -> Iterator[int]:
    """Hold ``count`` (at most the limit) of the ``limit`` worker slots; wait until they are free."""
    total = max_workers(limit)
    count = max(1, min(count, total))
    folder = runtime_dir()
    told = False
    while True:
        held = []
        for i in range(total):
            fh = open(folder / f"worker-slot-{i}.lock", "a+b")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            held.append(fh)
            if len(held) == count:
                break
        if len(held) == count:
            break
        for fh in held:  # all or nothing, so that two waiters never deadlock on half each
            fh.close()
        if waiting is not None and not told:
            waiting(f"waiting for a free LAMMPS worker slot ({total} in use)")
            told = True
        time.sleep(0.1)
    try:
        yield count
    finally:
        for fh in held:
            fh.close()  # closing the file releases its flock


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_group(proc: subprocess.Popen) -> None:
    """Kill a process started by :func:`started` together with everything it started."""
    _kill_group(proc, signal.SIGKILL)


@contextmanager
def started(cmd: list[str], **popen_kwargs) -> Iterator[subprocess.Popen]:
    """Popen in a new process group, registered for :func:`stop_children`; killed if left running."""
    proc = subprocess.Popen(cmd, start_new_session=True, **popen_kwargs)
    with _LOCK:
        _CHILDREN.add(proc)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            kill_group(proc)
            proc.wait()
        with _LOCK:
            _CHILDREN.discard(proc)


@contextmanager
def temporary_file(path: Path) -> Iterator[Path]:
    """Register a temporary file so that a signal removes it (used by atomic writes)."""
    with _LOCK:
        _TEMP_FILES.add(path)
    try:
        yield path
    finally:
        with _LOCK:
            _TEMP_FILES.discard(path)


def stop_children(grace_s: float = 3.0) -> int:
    """Terminate every descendant of this process (worker groups first); returns how many."""
    with _LOCK:
        groups = list(_CHILDREN)
    for proc in groups:
        _kill_group(proc, signal.SIGTERM)
    try:
        import psutil
    except ImportError:  # without psutil only the registered worker groups are known
        for proc in groups:
            kill_group(proc)
        return len(groups)
    descendants = psutil.Process().children(recursive=True)
    for child in descendants:
        try:
            child.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(descendants, timeout=grace_s)
    for child in alive:
        try:
            child.kill()
        except psutil.Error:
            pass
    for proc in groups:
        kill_group(proc)
    return len(descendants)


def exit_now(message: str, code: int) -> None:
    """Stop every child, remove registered temporary files, print ``message`` and end the process at
    once (threads of a flow must not go on to launch the next runs). Results already written stay."""
    stop_children()
    with _LOCK:
        leftovers = list(_TEMP_FILES)
    for path in leftovers:
        path.unlink(missing_ok=True)
    print(message, file=sys.stderr, flush=True)
    os._exit(code)


def _on_signal(signum: int, argv: list[str]) -> None:
    name = signal.Signals(signum).name
    command = shlex.join(["nclattice", *argv])
    exit_now(f"nclattice: stopped by {name}; finished runs are cached, run `{command}` again to resume.",
             128 + signum)


def install_signal_handlers(argv: list[str] | None = None) -> None:
    """Make SIGINT and SIGTERM stop the whole process tree (call once, from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return
    args = list(sys.argv[1:] if argv is None else argv)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: _on_signal(signum, args))
