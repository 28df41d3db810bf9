"""Small helpers shared by the command-line flows (argument parsing, loading inputs)."""

from __future__ import annotations

from pathlib import Path

from ..errors import NclatticeError
from ..potentials import PotentialSet, default_for, load
from ..structio import read_structure


def parse_float_list(text: str, what: str) -> list[float]:
    """'150,200,250' or '150:500:50' (start:stop:step, inclusive) -> floats."""
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if step <= 0:
                raise ValueError
            values, v = [], start
            while v <= stop + 1e-9:
                values.append(round(v, 9))
                v += step
            return values
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise NclatticeError(
            f"cannot read {what} '{text}'; give comma-separated numbers (150,200,250) or start:stop:step."
        ) from None


def load_inputs(structure: str | Path, potential: str | None):
    """Read a structure file and pick its potential (the shipped default when not given)."""
    atoms = read_structure(structure)
    pot: PotentialSet = load(potential) if potential else default_for(set(atoms.get_chemical_symbols()))
    pot.check_covers(atoms.get_chemical_symbols())
    print(("default " if not potential else "") + pot.summary_line(), flush=True)
    return atoms, pot


def ensure_out(out: str | Path) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise NclatticeError(f"--out '{path}' exists and is not a directory.")
    return path
