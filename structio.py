"""Reading and writing nanocrystal structures (.extxyz keeps labels; .data is for LAMMPS)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from ase import Atoms

from .atomicio import write_atomic
from .errors import NclatticeError

FORMATS = {".extxyz": "extxyz", ".xyz": "extxyz", ".data": "lammps-data"}


def _format_for(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise NclatticeError(
            f"cannot tell the format of '{path.name}'; use a .extxyz or .data file name."
        ) from None


def lammps_ready(atoms: Atoms, vacuum_angstrom: float = 10.0) -> Atoms:
    """A copy in an orthogonal box with vacuum along non-periodic axes, positions inside it."""
    out = atoms.copy()
    pos = out.positions
    lo, hi = pos.min(0), pos.max(0)
    lengths = np.where(out.pbc, np.diag(out.cell.array) if out.pbc.any() else 0,
                       hi - lo + 2 * vacuum_angstrom)
    shift = np.where(out.pbc, 0.0, vacuum_angstrom - lo)
    out.positions = pos + shift
    out.cell = np.diag(lengths)
    return out


def species_order(atoms: Atoms) -> list[str]:
    """LAMMPS type order: cations first (by formal charge, then name), then anions."""
    from .structures.materials import FORMAL_CHARGES

    present = sorted(set(atoms.get_chemical_symbols()))
    return sorted(present, key=lambda s: (-FORMAL_CHARGES.get(s, 0), s))


def write_structure(atoms: Atoms, path: str | Path) -> Path:
    """Write atomically by extension; a failed write leaves no file behind."""
    import ase.io  # ~1 s (it loads ase.constraints, ase.spacegroup, scipy.integrate): only where files are written

    path = Path(path)
    fmt = _format_for(path)
    if fmt == "lammps-data":
        boxed = lammps_ready(atoms)
        return write_atomic(path, lambda p: ase.io.write(
            p, boxed, format="lammps-data", atom_style="atomic", masses=True,
            specorder=species_order(atoms)))
    clean = atoms.copy()
    clean.calc = None
    return write_atomic(path, lambda p: ase.io.write(p, clean, format="extxyz"))


KIND = {"extxyz": "extended XYZ", "lammps-data": "LAMMPS data"}


def read_structure(path: str | Path) -> Atoms:
    """Read a .extxyz or .data file; anything unreadable is one NclatticeError sentence."""
    path = Path(path)
    if not path.exists():
        raise NclatticeError(f"structure file '{path}' does not exist.")
    fmt = _format_for(path)
    kind, redo = KIND[fmt], "check the file or write it again with 'nclattice build'"
    if path.is_dir():
        raise NclatticeError(f"structure file '{path}' is a folder; give the {kind} file inside it.")
    import ase.io

    try:
        if not path.read_bytes().strip():
            raise NclatticeError(f"structure file '{path}' is empty; {redo}.")
        if fmt == "lammps-data":
            atoms = ase.io.read(path, format="lammps-data", atom_style="atomic")
        else:
            atoms = ase.io.read(path, format="extxyz")
    except NclatticeError:
        raise
    except UnicodeDecodeError as exc:
        raise NclatticeError(f"structure file '{path}' is not a text {kind} file (binary bytes at byte "
                             f"{exc.start}); {redo}.") from None
    except Exception as exc:  # ase raises StopIteration, XYZError, RuntimeError, ValueError, ...
        if isinstance(exc, OSError) and exc.errno is not None:  # ase's XYZError is an OSError without errno
            raise NclatticeError(f"structure file '{path}' cannot be read ({exc.strerror}).") from None
        raise NclatticeError(f"structure file '{path}' is not a complete {kind} file{_why(exc)}; "
                             f"it may be truncated or corrupt: {redo}.") from None
    if len(atoms) == 0:
        raise NclatticeError(f"structure file '{path}' holds no atoms; {redo}.")
    return atoms


def _why(exc: Exception) -> str:
    """A short reason when ase gives one worth repeating (never the file's own bytes)."""
    found = re.search(r"Frame has (\d+) atoms, expected (\d+)", str(exc))
    return f" (it ends after {found[1]} of its {found[2]} atoms)" if found else ""
