"""One local Prefect server on loopback for a campaign, which dies with the process that started it.

The server runs in its own process group; a tiny watchdog process (also in its own group) kills
that group as soon as the starting process is gone, so even ``kill -9`` of a campaign leaves no
server behind.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import NclatticeError

_WATCHDOG = """
import os, signal, sys, time
parent, pgid = int(sys.argv[1]), int(sys.argv[2])
while os.getppid() == parent:
    try:
        os.killpg(pgid, 0)
    except OSError:
        sys.exit(0)
    time.sleep(0.5)
for sig in (signal.SIGTERM, signal.SIGKILL):
    try:
        os.killpg(pgid, sig)
    except OSError:
        break
    time.sleep(3)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, 9)
        except OSError:
            pass


def _drain_clients() -> None:
    """Send what this process still queues for the server (events, logs) before the server stops."""
    try:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        for service in (EventsWorker, APILogWorker):
            service.drain_all(timeout=10, at_exit=False)
    except Exception as exc:  # losing UI events never fails a finished run
        print(f"note: could not flush Prefect events ({type(exc).__name__})", file=sys.stderr)


@contextmanager
def local_prefect_server(timeout_s: float = 120.0):
    """A Prefect server on 127.0.0.1 (SQLite in PREFECT_HOME) for the duration of the block.

    Sets PREFECT_API_URL for this process and for worker processes started inside the block.
    """
    import urllib.request

    from prefect.settings import PREFECT_API_URL, temporary_settings

    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_ENABLED="false")
    env.pop("PREFECT_API_URL", None)
    prefect_cli = Path(sys.executable).parent / "prefect"
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([str(prefect_cli), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(proc.pid)],
                                start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                tail = log.read().decode(errors="replace").strip().splitlines()[-1:]
                raise NclatticeError(f"the local Prefect server did not start on port {port}"
                                     + (f" ({tail[0]})" if tail else "") + ".")
            time.sleep(0.5)
        old = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = url
        try:
            with temporary_settings(updates={PREFECT_API_URL: url}):
                yield url
        finally:
            if old is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = old
    finally:
        _drain_clients()
        _stop(proc)
        watchdog.kill()
        watchdog.wait()
        log.close()
