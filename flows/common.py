"""Small helpers shared by the flows (loading inputs)."""

from __future__ import annotations

from pathlib import Path

from ..errors import NclatticeError
from ..potentials import PotentialSet, covering, default_for, load
from ..structio import read_structure


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
