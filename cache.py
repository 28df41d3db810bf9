"""One cache for every computation: ``<root>/<flow>/<key>/`` with ``result.json`` written last.

``key`` is :func:`nclattice.provenance.input_key` of the canonical inputs (it includes the
nclattice version). The whole contract is one call::

    def compute(directory: Path) -> dict:   # write arrays etc. into directory,
        ...                                 # return the payload of result.json
    def load(directory: Path) -> T:         # read them back; raise on anything wrong
        ...
    value, directory, was_cached = cached(root, "md", key, compute, load)

What it guarantees:

- ``result.json`` is written last and atomically, and records the sha256 of every data file
  in the key folder (``CHECKSUM_SUFFIXES``, top level), checked before ``load`` is called.
- One lock per key (``fcntl.flock`` on ``<root>/<flow>/<key>/.lock``, so the flow folder
  holds nothing but key folders), across processes and threads: of two callers asking for
  one key, one computes and the other waits, then loads.
- A folder is only ever changed by the holder of its lock, so nobody deletes another
  process's work in progress. A killed run releases its lock; its leftovers stay for the next
  ``compute`` (checkpoints survive; ``compute`` overwrites or removes what it cannot reuse).
- A cached result that does not load or fails its checksum is recomputed, never used.

For work that needs the lock around its own logic (checkpointed relaxations, campaign items)
:func:`key_lock` is the lock alone; a campaign holds it on its OUT folder, without waiting.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .results import read_json, write_json

T = TypeVar("T")

RESULT_FILE = "result.json"
LOCK_FILE = ".lock"
CHECKSUM_SUFFIXES = (".npz", ".npy", ".nc", ".h5", ".extxyz", ".json", ".txt", ".csv")


def key_dir(root: str | Path, flow: str, key: str) -> Path:
    return Path(root) / flow / key


class LockHeld(Exception):
    """:func:`key_lock` without waiting found the lock held; ``holder`` is what its holder wrote
    ("PID HOST"), or "" if it wrote nothing yet."""

    def __init__(self, directory: Path, holder: str):
        super().__init__(f"{directory} is locked by {holder or 'another process'}")
        self.directory, self.holder = directory, holder


@contextmanager
def key_lock(directory: str | Path, waiting: Callable[[str], None] | None = None, *,
             wait: bool = True) -> Iterator[Path]:
    """Hold the exclusive lock of one folder (``<directory>/.lock``; released on exit, and by the OS
    if the process is killed, so no lock is ever stale). The holder writes "PID HOST" into it.

    ``waiting`` receives one line when another process or thread holds the lock; with
    ``wait=False`` a held lock raises :class:`LockHeld` instead (one writer per campaign OUT).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                fh.seek(0)
                raise LockHeld(directory, fh.read(200).decode("utf-8", "replace").strip()) from None
            if waiting is not None:
                waiting(f"waiting for another run computing {directory}")
            fcntl.flock(fh, fcntl.LOCK_EX)
        fh.truncate(0)
        fh.write(f"{os.getpid()} {socket.gethostname()}".encode())
        fh.flush()
        try:
            yield directory
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _data_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and p.name != RESULT_FILE and not p.name.startswith(".")
                  and p.suffix.lower() in CHECKSUM_SUFFIXES)


def verified_result(directory: str | Path) -> dict[str, Any] | None:
    """The result.json of a complete, intact key folder, else None."""
    directory = Path(directory)
    try:
        meta = read_json(directory / RESULT_FILE)
        for name, digest in meta.get("checksums", {}).items():
            if sha256_file(directory / name) != digest:
                return None
    except (OSError, ValueError):
        return None
    return meta


def _try_load(directory: Path, load: Callable[[Path], T]) -> tuple[bool, T | None]:
    if verified_result(directory) is None:
        return False, None
    try:
        return True, load(directory)
    except Exception:  # a result that does not load is recomputed, whatever the reason
        return False, None


def cached(root: str | Path, flow: str, key: str, compute: Callable[[Path], dict[str, Any]],
           load: Callable[[Path], T], waiting: Callable[[str], None] | None = None) -> tuple[T, Path, bool]:
    """Load ``<root>/<flow>/<key>`` or compute it under its lock; returns (value, folder, was_cached)."""
    directory = key_dir(root, flow, key)
    ok, value = _try_load(directory, load)
    if ok:
        return value, directory, True
    with key_lock(directory, waiting):
        ok, value = _try_load(directory, load)  # another process may have finished it meanwhile
        if ok:
            return value, directory, True
        (directory / RESULT_FILE).unlink(missing_ok=True)  # invalid: never half-trusted again
        directory.mkdir(parents=True, exist_ok=True)
        payload = dict(compute(directory))
        payload["checksums"] = {p.name: sha256_file(p) for p in _data_files(directory)}
        write_json(directory / RESULT_FILE, payload)
        return load(directory), directory, False

