"""Small helpers shared by the flows (inputs of the MD capabilities)."""

from __future__ import annotations

from pathlib import Path

from ase import Atoms

from ..potentials import PotentialSet
from .registry import Inputs, prepared
from .settings import Settings


def md_inputs(name: str, given: Inputs | str | Path, settings: Settings) -> tuple[Path, Atoms, PotentialSet]:
    """An MD capability's structure file, its atoms and the potential (from preflight, or read now)."""
    inputs = prepared(name, settings, given)
    print(("default " if inputs.potential_is_default else "") + inputs.potential.summary_line(), flush=True)
    return inputs.structure, inputs.atoms, inputs.potential
