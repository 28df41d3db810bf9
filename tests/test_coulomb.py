"""Coulomb of charged free crystals: LAMMPS forces against the exact direct sum (numpy)."""

import numpy as np
import pytest
from ase import Atoms

from nclattice.potentials import coulomb_route, load, registry
from nclattice.structures.rocksalt import build_pbse
from nclattice.tasks.md import MDSettings, run_nvt
from nclattice.tasks.msd import remove_rigid_body_motion
from nclattice.tasks.phonons import static_lammps

COULOMB_EV_ANGSTROM = 14.399645
CHARGES_ONLY = """
name: charges-only
form: buckingham-coulomb
elements: [Pb, Se]
citation: test only
doi: none
charges: {Pb: 1.29, Se: -1.29}
cutoff_angstrom: 8
"""


def _lammps_forces(atoms: Atoms, pot, tmp_path) -> np.ndarray:
    """Forces of the unminimised structure from the static LAMMPS worker (the project's one launch)."""
    return static_lammps(atoms, pot, minimize=False, workdir=tmp_path / "static").forces_ev_per_angstrom


def _exact_forces(atoms: Atoms, charges: np.ndarray) -> np.ndarray:
    d = atoms.positions[:, None] - atoms.positions[None]
    r = np.linalg.norm(d, axis=2)
    np.fill_diagonal(r, np.inf)
    return COULOMB_EV_ANGSTROM * np.sum((np.outer(charges, charges) / r**3)[:, :, None] * d, axis=1)


def _relative_rms(f, ref):
    return np.sqrt(np.mean(np.sum((f - ref) ** 2, 1)) / np.mean(np.sum(ref**2, 1)))


@pytest.fixture(scope="module")
def dot_and_reference():
    atoms = build_pbse(3.0)  # 488 atoms, net charge zero
    charges = np.where(np.array(atoms.get_chemical_symbols()) == "Pb", 1.29, -1.29)
    return atoms, _exact_forces(atoms, charges)


def test_exact_route_equals_direct_sum(tmp_path, dot_and_reference):
    atoms, reference = dot_and_reference
    (tmp_path / "q.yaml").write_text(CHARGES_ONLY)
    pot = load(tmp_path / "q.yaml")
    assert coulomb_route(False, len(atoms)) == "exact"
    assert _relative_rms(_lammps_forces(atoms, pot, tmp_path), reference) < 1e-10


def test_vacuum_pppm_route_within_three_percent_of_direct_sum(tmp_path, dot_and_reference, monkeypatch):
    """Route of chains and of free crystals above the exact-sum size: PPPM in a vacuum box."""
    atoms, reference = dot_and_reference
    (tmp_path / "q.yaml").write_text(CHARGES_ONLY)
    monkeypatch.setattr(registry, "EXACT_COULOMB_MAX_ATOMS", 0)
    assert coulomb_route(False, len(atoms)) == "pppm-vacuum" == coulomb_route((True, False, False), 10)
    assert _relative_rms(_lammps_forces(atoms, load(tmp_path / "q.yaml"), tmp_path), reference) < 0.03


def test_chain_spin_is_the_only_rotation_removed():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(20, 3)) * 3
    angle = np.linspace(0, 0.3, 12)  # a chain along x spinning about its own axis, plus drift
    frames = np.array([base @ np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]]).T
                       + [5 * t, 0, 0] for t in angle])
    aligned = remove_rigid_body_motion(frames, np.ones(20), pbc=(True, False, False))
    assert np.abs(aligned - aligned[0]).max() < 1e-9
    sheet = remove_rigid_body_motion(frames, np.ones(20), pbc=(True, True, False))
    assert np.abs(sheet - sheet[0]).max() > 0.1  # a sheet cannot spin: nothing but translation removed


def test_attached_chain_runs_with_mixed_boundaries():
    chain = build_pbse(1.8, attached="chain")
    traj = run_nvt(chain, load("schapotschnikow2010-pbse"),
                   MDSettings(temperature_k=150, equilibration_ps=0.2, production_ps=0.2, seed=7,
                              max_temperature_deviation=2.0,  # unrelaxed start: it warms, by design here
                              minimize_first=False))
    assert np.isfinite(traj.positions_angstrom).all()
    step = np.linalg.norm(traj.positions_angstrom - chain.positions, axis=2).max()
    assert step < 2.0  # unwrapped along the periodic axis: no jumps of one period


def test_cubic_directions_are_single_bragg_members():
    from nclattice.tasks.msd import MSDResult, lattice_directions

    dirs = lattice_directions({"lattice": "rocksalt"})
    assert set(dirs) == {"[100]", "[010]", "[001]", "[110]", "[101]", "[011]", "[111]"}
    assert lattice_directions({"recipe": "cspbbr3"}).keys() == dirs.keys()
    disp = np.zeros((4, 2, 3))
    disp[:, :, 0] = [[0.1], [-0.1], [0.1], [-0.1]]  # motion along x (the attachment) only
    result = MSDResult(np.zeros(2), np.zeros((1, 2)), disp, 1)
    assert result.along(dirs["[100]"]) == pytest.approx(0.01)
    assert result.along(dirs["[011]"]) == 0 and result.along(dirs["[110]"]) == pytest.approx(0.005)
