"""Small helpers shared by the flows (inputs of the MD capabilities)."""

from __future__ import annotations

from pathlib import Path

from ase import Atoms

from ..errors import NclatticeError
from ..potentials import PotentialSet, covering, load
from .registry import Inputs, prepared
from .settings import Settings


def md_inputs(name: str, given: Inputs | str | Path, settings: Settings) -> tuple[Path, Atoms, PotentialSet]:
    """An MD capability's structure file, its atoms and the potential (from preflight, or read now)."""
    inputs = prepared(name, settings, given)
    print(("default " if inputs.potential_is_default else "") + inputs.potential.summary_line(), flush=True)
    return inputs.structure, inputs.atoms, inputs.potential


def load_potential_sets(symbols: list[str] | set[str], names: list[str],
                        quiet: bool = False) -> list[tuple[str, PotentialSet]]:
    """(name as given, set) for each of ``names`` (['all']: every shipped set covering ``symbols``,
    the default first, with one printed line per shipped set left out and why); each must cover."""
    skipped: dict[str, str] = {}
    if names == ["all"]:
        sets, skipped = covering(symbols)
        for name, reason in ({} if quiet else skipped).items():
            print(f"potential {name} not used: {reason}", flush=True)
        chosen = [(pot.name, pot) for pot in sets]
    else:
        chosen = [(name, load(name)) for name in names]
    for _, pot in chosen:
        pot.check_covers(symbols)
    if len(chosen) < 2:
        only = chosen[0][1].name if chosen else "none"
        wanted = set(symbols)  # name the sets that lack only a minority of the elements (e.g. S of a shell)
        near = [f"{name} has {reason}" for name, reason in skipped.items()
                if 2 * len(wanted - set(load(name).elements)) < len(wanted)]
        raise NclatticeError(f"only one shipped set covers {', '.join(sorted(set(symbols)))} ({only})"
                             + (f"; {'; '.join(near)}" if near else "") + ". A force-field spread needs two: add a "
                             "YAML parameter file with --potentials NAME,FILE.yaml.")
    return chosen
