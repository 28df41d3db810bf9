"""Phonons of partly periodic crystals and the coordinates of the static LAMMPS worker.

A chain periodic along x (a 16-atom PbSe cell, rigid-ion set) has four zero-frequency modes:
three translations and the spin about its own axis; rotations about y or z would turn the
periodic direction and are ordinary (or no) modes.
"""

import numpy as np
import pytest

from nclattice.potentials import load
from nclattice.structures import build_cdse, build_pbse
from nclattice.tasks.phonons import (
    minimize_and_hessian,
    normal_modes,
    rigid_axes,
    rigid_body_basis,
)

PBSE = load("schapotschnikow2010-pbse")


def test_rigid_axes_by_periodicity():
    assert rigid_axes(None) == [0, 1, 2] and rigid_axes((False,) * 3) == [0, 1, 2]
    assert rigid_axes((True, False, False)) == [0] and rigid_axes((False, False, True)) == [2]
    assert rigid_axes((True, True, False)) == [] and rigid_axes((True,) * 3) == []
    x = np.random.default_rng(1).normal(size=(10, 3))
    for pbc, n in [(None, 6), ((True, False, False), 4), ((True, True, False), 3)]:
        basis = rigid_body_basis(x, np.ones(10), pbc)
        assert basis.shape == (30, n) and np.allclose(basis.T @ basis, np.eye(n))


def test_chain_has_four_rigid_body_modes():
    chain = build_pbse(1.2, attached="chain")
    static = minimize_and_hessian(chain, PBSE)
    modes = normal_modes(static.hessian_ev_a2, chain.get_masses(), static.positions_angstrom, pbc=(True, False, False))
    f = np.abs(modes.frequencies_thz)
    assert len(modes.rigid_body_modes) == 4
    assert sorted(modes.rigid_body_modes) == sorted(np.argsort(f)[:4])
    assert modes.rigid_body_overlap[modes.rigid_body_modes].min() > 0.99
    # measured: rigid modes <= 0.01 THz, the lowest vibration 1.11 THz
    assert f[modes.rigid_body_modes].max() < 0.05 and np.sort(f)[4] > 0.5


@pytest.mark.parametrize("atoms", [build_cdse(1.5), build_pbse(1.2, attached="chain")], ids=["free", "chain"])
def test_static_worker_returns_the_input_coordinates(atoms):
    potential = load("zhou2013-sw") if "Cd" in atoms.get_chemical_symbols() else PBSE
    static = minimize_and_hessian(atoms, potential, minimize=False)
    assert np.isfinite(static.hessian_ev_a2.toarray() if hasattr(static.hessian_ev_a2, "toarray")
                       else static.hessian_ev_a2).all()
    assert np.abs(static.positions_angstrom - atoms.positions).max() < 1e-9
