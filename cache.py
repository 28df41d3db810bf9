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
:func:`key_lock` is the lock alone.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .results import read_json, write_json

T = TypeVar("T")

RESULT_FILE = "result.json"
CHECKSUM_SUFFIXES = (".npz", ".npy", ".nc", ".h5", ".extxyz", ".json", ".txt", ".csv")


def key_dir(root: str | Path, flow: str, key: str) -> Path:
    return Path(root) / flow / key


@contextmanager
def key_lock(directory: str | Path, waiting: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold the exclusive lock of one key folder (released on exit, and by the OS if killed).

    ``waiting`` receives one line when another process or thread holds the lock.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting(f"waiting for another run computing {directory}")
            fcntl.flock(fh, fcntl.LOCK_EX)
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

