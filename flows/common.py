"""Small helpers shared by the flows (loading inputs)."""

from __future__ import annotations

from pathlib import Path

from ..potentials import PotentialSet, default_for, load
from ..structio import read_structure


def load_inputs(structure: str | Path, potential: str | None):
    """Read a structure file and pick its potential (the shipped default when not given)."""
    atoms = read_structure(structure)
    pot: PotentialSet = load(potential) if potential else default_for(set(atoms.get_chemical_symbols()))
    pot.check_covers(atoms.get_chemical_symbols())
    print(("default " if not potential else "") + pot.summary_line(), flush=True)
    return atoms, pot
