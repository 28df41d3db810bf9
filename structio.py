"""Reading and writing nanocrystal structures (.extxyz keeps labels; .data is for LAMMPS)."""

from __future__ import annotations

import itertools
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
    """Read a .extxyz (last frame, as ase.io.read does) or .data file; anything unreadable is one
    NclatticeError sentence."""
    path = Path(path)
    if not path.exists():
        raise NclatticeError(f"structure file '{path}' does not exist.")
    fmt = _format_for(path)
    kind, redo = KIND[fmt], "check the file or write it again with 'nclattice build'"
    if path.is_dir():
        raise NclatticeError(f"structure file '{path}' is a folder; give the {kind} file inside it.")
    try:
        raw = path.read_bytes()
        if not raw.strip():
            raise NclatticeError(f"structure file '{path}' is empty; {redo}.")
        if fmt == "lammps-data":
            import ase.io  # ~0.5 s of imports: only for this format

            atoms = ase.io.read(path, format="lammps-data", atom_style="atomic")
        else:
            atoms = read_extxyz_text(raw.decode("utf-8"))
    except NclatticeError:
        raise
    except UnicodeDecodeError as exc:
        raise NclatticeError(f"structure file '{path}' is not a text {kind} file (binary bytes at byte "
                             f"{exc.start}); {redo}.") from None
    except _Truncated as exc:
        raise NclatticeError(f"structure file '{path}' is not a complete {kind} file (it ends after "
                             f"{exc.found} of its {exc.expected} atoms); it may be truncated or corrupt: "
                             f"{redo}.") from None
    except Exception as exc:  # ase raises StopIteration, RuntimeError, ValueError, ...; this reader ValueError
        if isinstance(exc, OSError) and exc.errno is not None:
            raise NclatticeError(f"structure file '{path}' cannot be read ({exc.strerror}).") from None
        raise NclatticeError(f"structure file '{path}' is not a complete {kind} file; "
                             f"it may be truncated or corrupt: {redo}.") from None
    if len(atoms) == 0:
        raise NclatticeError(f"structure file '{path}' holds no atoms; {redo}.")
    return atoms


# ---------------------------------------------------------------- extended XYZ, read with numpy
#
# The reader of the format (ase.io writes it). Same Atoms as ase.io.read(path, format="extxyz")
# for the files nclattice and ASE write (tests/test_structio.py compares them array by array),
# without importing ase.io (~0.5 s of imports; the parse itself, 0.08 s for a 45k-atom dot, is a
# little faster than ase.io's 0.15 s). Per-atom columns
# become atoms.arrays (species -> symbols, pos -> positions, Z -> numbers) and key=value pairs
# atoms.info, calculator results (energy=, forces) included: nclattice keeps no calculator on a
# structure it reads.


class _Truncated(ValueError):
    def __init__(self, found: int, expected: int) -> None:
        super().__init__(f"frame has {found} of {expected} atoms")
        self.found, self.expected = found, expected


_BOOLS = {"T": True, "F": False, "True": True, "False": False, "true": True, "false": False,
          "TRUE": True, "FALSE": False}
_CLOSING = {'"': '"', "'": "'", "{": "}", "[": "]"}
_COLUMN_NAMES = {"species": "symbols", "pos": "positions", "Z": "numbers", "charge": "charges"}


def _key_values(line: str) -> list[tuple[str, str]]:
    """key=value pairs of an extended-XYZ comment line: values may be quoted ("a b", 'a b', {a b},
    [a b]); a backslash escapes the next character; a key alone means T."""
    pairs: list[list[str]] = []
    current: list[str] | None = None  # the pair being read: [key] or [key, value]
    closing, escaped = None, False
    for ch in line.strip():
        if escaped:
            current[-1] += ch  # type: ignore[index]
            escaped = False
        elif ch == "\\":
            escaped = True
            current = current if current is not None else [""]
        elif closing:
            if ch == closing:
                closing = None
            else:
                current[-1] += ch  # type: ignore[index]
        elif ch in _CLOSING:
            closing = _CLOSING[ch]
            current = current if current is not None else [""]
        elif ch.isspace():
            if current is not None:
                pairs.append(current)
                current = None
        elif ch == "=":
            current = [*(current or [""]), ""]
        else:
            current = current if current is not None else [""]
            current[-1] += ch
    if current is not None:
        pairs.append(current)
    return [(p[0], "=".join(p[1:]) if len(p) > 1 else "T") for p in pairs]


def _info_value(key: str, text: str):
    """Numbers (one, or an array), booleans, _JSON values, else the string (ase.io's rules)."""
    parts = re.findall(r"[^\s,]+", text)
    for dtype in (int, float):
        try:
            numbers = np.array(parts, dtype=dtype)
        except (ValueError, OverflowError):
            continue
        if key in ("Lattice", "virial", "stress"):
            if numbers.shape != (9,):
                raise ValueError(f"{key} needs 9 numbers")
            # Lattice lists the cell vectors one after another: rows of the ASE cell
            return numbers.astype(float).reshape((3, 3), order="C" if key == "Lattice" else "F")
        return numbers[0] if len(numbers) == 1 else numbers
    if parts and all(p in _BOOLS for p in parts):
        return _BOOLS[parts[0]] if len(parts) == 1 else [_BOOLS[p] for p in parts]
    if text.startswith("_JSON "):
        import json

        loaded = json.loads(text[6:])
        array = np.array(loaded)
        return array if array.dtype.kind in "ifb" else loaded
    return text


def _columns(properties: str) -> list[tuple[str, str, int]]:
    fields = properties.split(":")
    if len(fields) % 3 or not fields[0]:
        raise ValueError("Properties is not name:type:columns triples")
    columns = [(n, t, int(c)) for n, t, c in zip(fields[::3], fields[1::3], fields[2::3], strict=True)]
    if any(t not in "RISL" or len(t) != 1 or c < 1 for _, t, c in columns):
        raise ValueError("unknown column type in Properties")
    return columns


def read_extxyz_text(text: str) -> Atoms:
    """The last frame of an extended-XYZ text (see the comment above)."""
    lines = text.splitlines()
    start, following = 0, 0
    while following < len(lines) and lines[following].strip():  # frames up to a blank line or the end
        start, n = following, int(lines[following])
        if start + 2 + n > len(lines):
            raise _Truncated(max(len(lines) - start - 2, 0), n)
        following = start + 2 + n
    if following == 0:
        raise ValueError("no frame before the first blank line")
    info: dict = {key: _info_value(key, value) for key, value in _key_values(lines[start + 1])}
    cell = info.pop("Lattice", None)
    pbc = info.pop("pbc", cell is not None)
    columns = _columns(str(info.pop("Properties", "species:S:1:pos:R:3")))
    width = sum(c for _, _, c in columns)
    rows = [line.split() for line in lines[start + 2:start + 2 + n]]
    if any(len(r) != width for r in rows):
        raise ValueError(f"an atom line does not have the {width} columns Properties names")
    tokens = list(itertools.chain.from_iterable(rows))
    arrays, at = {}, 0
    for name, kind, count in columns:
        block = [tokens[at + c::width] for c in range(count)]
        at += count
        if kind == "R":
            value = np.array(block, dtype=float)
        elif kind == "I":
            value = np.array(block, dtype=np.int32)
        elif kind == "L":
            if not set(itertools.chain.from_iterable(block)) <= set(_BOOLS):
                raise ValueError(f"column {name} is not logical")
            value = np.array([[_BOOLS[v] for v in col] for col in block], dtype=bool)
        else:
            value = np.array(block, dtype=object)
        arrays[_COLUMN_NAMES.get(name, name)] = value[0] if count == 1 else value.T
    numbers, symbols = arrays.pop("numbers", None), arrays.pop("symbols", None)
    atoms = Atoms(numbers if numbers is not None else [str(s).capitalize() for s in symbols],
                  positions=arrays.pop("positions", None), cell=cell, pbc=pbc, info=info)
    for name, value in arrays.items():
        atoms.new_array(name, value)
    return atoms
