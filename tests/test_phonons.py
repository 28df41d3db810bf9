"""Phonons: rigid-body modes, lifetimes (analytic oscillator, harmonic limit), DOS vs bulk phonopy."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_masses, atomic_numbers
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS
from phonopy import Phonopy
from phonopy.structure.atoms import PhonopyAtoms

from nclattice.cli import main
from nclattice.flows.phonons import run_phonons
from nclattice.flows.settings import PhononSettings
from nclattice.potentials import load
from nclattice.structio import read_structure, species_order, write_structure
from nclattice.structures import build_cdse, build_cdse_cds
from nclattice.tasks.lammps_env import load_lammps
from nclattice.tasks.md import charge_commands
from nclattice.tasks.phonons import (
    damped_oscillator,
    density_of_states,
    fit_lifetime,
    gle_lifetime,
    minimize_and_hessian,
    normal_modes,
    normal_modes_sparse,
    projection_weights,
)

SW = load("zhou2013-sw")


def lammps_calculator(atoms: Atoms, potential):
    """ASE's LAMMPSlib with the set's commands: an independent second route to LAMMPS forces (ASE
    builds the box and atoms itself, any cell shape; the project's workers take orthogonal cells)."""
    load_lammps()  # preloads MPICH so that lammpslib's own import succeeds
    from ase.calculators.lammpslib import LAMMPSlib

    order = species_order(atoms)
    span = float(np.linalg.norm(np.ptp(atoms.positions, axis=0)))  # bounds every interatomic distance
    cmds = charge_commands(potential, order) + potential.lammps_commands(
        order, periodic=tuple(bool(x) for x in atoms.pbc), n_atoms=len(atoms), span_angstrom=span)
    return LAMMPSlib(lmpcmds=cmds, atom_types={el: i for i, el in enumerate(order, start=1)},
                     atom_type_masses={el: atomic_masses[atomic_numbers[el]] for el in order},
                     lammps_header=["units metal", "atom_style atomic", "atom_modify map array sort 0 0"],
                     keep_alive=True)


@pytest.mark.parametrize("tau_ps", [0.5, 2.0, 8.0])
def test_lifetime_of_an_analytic_damped_oscillator(tau_ps):
    omega, dt = 2 * np.pi * 3.0, 0.002
    t = np.arange(0, 12 * tau_ps, dt)
    c = damped_oscillator(t, 1 / tau_ps, np.sqrt(omega**2 - 0.25 / tau_ps**2))
    assert gle_lifetime(c, dt, omega) == pytest.approx(tau_ps, rel=0.02)
    assert fit_lifetime(c, dt, omega) == pytest.approx(tau_ps, rel=0.02)


@pytest.fixture(scope="module")
def minimized_modes():
    nc = build_cdse_cds(1.5, 1)
    static = minimize_and_hessian(nc, SW, fmax_ev_per_angstrom=1e-6)
    return nc, static.minimization, normal_modes(static.hessian_ev_a2, nc.get_masses(), static.positions_angstrom)


def test_free_nanocrystal_has_exactly_six_zero_modes(minimized_modes):
    nc, record, modes = minimized_modes
    assert record["converged"] and record["max_force_ev_per_angstrom"] <= 1e-6
    f = modes.frequencies_thz
    assert len(f) == 3 * len(nc)
    assert np.count_nonzero(np.abs(f) < 0.05) == 6
    assert sorted(modes.rigid_body_modes) == sorted(np.argsort(np.abs(f))[:6])
    assert modes.rigid_body_overlap[modes.rigid_body_modes].min() > 0.99
    assert len(modes.imaginary_modes) == 0
    # mass-weighted eigenvectors are orthonormal; projections over a partition sum to one
    vec = modes.eigenvectors
    assert np.allclose(vec.T @ vec, np.eye(len(f)), atol=1e-8)
    symbols = np.array(nc.get_chemical_symbols())
    total = sum(projection_weights(vec, symbols == el) for el in set(symbols))
    assert np.allclose(total, 1.0)


def test_worker_hessian_matches_ase_forces_and_sparse_lanczos_finds_the_lowest_modes(minimized_modes):
    nc, _, modes = minimized_modes
    dense = minimize_and_hessian(nc, SW, 1e-6)  # isolated worker process
    assert dense.minimization["converged"] and dense.worker_max_rss_mb > 0
    assert np.allclose(normal_modes(dense.hessian_ev_a2, nc.get_masses(), dense.positions_angstrom).frequencies_thz,
                       modes.frequencies_thz, atol=1e-6)
    # a second route to the same rows: central differences of the forces of ASE's LAMMPS calculator
    probe = nc.copy()
    probe.positions = dense.positions_angstrom
    probe.center(vacuum=10.0)
    probe.calc = lammps_calculator(probe, SW)
    x0, step = probe.positions.copy(), 0.005
    for k in (0, 3 * len(nc) // 2, 3 * len(nc) - 1):
        forces = []
        for sign in (1, -1):
            x = x0.copy()
            x.flat[k] += sign * step
            probe.positions = x
            forces.append(probe.get_forces().ravel())
        row = -(forces[0] - forces[1]) / (2 * step)
        assert np.abs(row - dense.hessian_ev_a2[k]).max() < 1e-3 * np.abs(row).max(), k
    sparse = minimize_and_hessian(nc, SW, 1e-6, sparse=True)
    h = sparse.hessian_ev_a2
    assert h.nnz < 0.1 * h.shape[0] ** 2 and np.abs(h.toarray() - dense.hessian_ev_a2).max() < 1e-8
    low = normal_modes_sparse(h, nc.get_masses(), sparse.positions_angstrom, n_modes=40)
    assert np.allclose(low.frequencies_thz, modes.frequencies_thz[:40], atol=1e-6)
    assert sorted(low.rigid_body_modes) == list(range(6)) and low.rigid_body_overlap[low.rigid_body_modes].min() > 0.99
    # the same modes: each Lanczos vector lies in the span of the lowest dense eigenvectors
    assert np.linalg.norm(modes.eigenvectors[:, :42].T @ low.eigenvectors[:, 6:40], axis=0).min() > 0.999


def _bulk_cdse_dos(grid):
    atoms = bulk("CdSe", "wurtzite", a=4.299, c=7.010)
    atoms.calc = lammps_calculator(atoms, SW)
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-5, steps=300)
    unit = PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array,
                        scaled_positions=atoms.get_scaled_positions())
    phonon = Phonopy(unit, supercell_matrix=np.diag([4, 4, 3]))
    phonon.generate_displacements(distance=0.01)
    forces = []
    for sc in phonon.supercells_with_displacements:
        cell = Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)
        cell.calc = lammps_calculator(cell, SW)
        forces.append(cell.get_forces())
    phonon.forces = forces
    phonon.produce_force_constants()
    phonon.run_mesh([16, 16, 10], is_gamma_center=True)
    phonon.run_total_dos(sigma=0.1, freq_min=grid[0], freq_max=grid[-1], freq_pitch=grid[1] - grid[0])
    return phonon.total_dos.frequency_points, phonon.total_dos.dos


def test_core_dos_matches_bulk_phonopy_dos_band_positions():
    grid = np.arange(0.0, 10.0, 0.02)
    f_bulk, g_bulk = _bulk_cdse_dos(grid)
    nc = build_cdse(2.5)
    static = minimize_and_hessian(nc, SW, fmax_ev_per_angstrom=1e-5)
    modes = normal_modes(static.hessian_ev_a2, nc.get_masses(), static.positions_angstrom)
    vib = np.setdiff1d(np.arange(len(modes.frequencies_thz)), modes.rigid_body_modes)
    _, g_nc = density_of_states(modes.frequencies_thz[vib], sigma_thz=0.1, grid_thz=f_bulk)
    # the bulk acoustic-optical gap (DOS below 2 % of its maximum) separates the two bands
    low = (f_bulk > 3.5) & (f_bulk < 6.5) & (g_bulk < 0.02 * g_bulk.max())
    gap = 0.5 * (f_bulk[low].min() + f_bulk[low].max())

    def band_positions(g):
        ac, op = f_bulk < gap, f_bulk >= gap
        cumulative = np.cumsum(g[ac]) / g[ac].sum()
        return {"acoustic_upper_edge": f_bulk[ac][np.searchsorted(cumulative, 0.95)],
                "optical_centroid": np.sum(f_bulk[op] * g[op]) / g[op].sum(),
                "optical_top": f_bulk[g > 0.01 * g.max()].max()}

    bulk_bands, nc_bands = band_positions(g_bulk), band_positions(g_nc)
    for name, value in bulk_bands.items():
        assert nc_bands[name] == pytest.approx(value, rel=0.10), name
    # the dot has extra low-frequency (surface, confined acoustic) weight: its acoustic centroid is lower
    ac = f_bulk < gap
    centroid = [np.sum(f_bulk[ac] * g[ac]) / g[ac].sum() for g in (g_bulk, g_nc)]
    assert centroid[1] < centroid[0]


@pytest.fixture(scope="module")
def structure(tmp_path_factory):
    path = tmp_path_factory.mktemp("ph") / "cs.extxyz"
    write_structure(build_cdse_cds(1.5, 1), path)
    return str(path)


def test_lifetimes_are_long_in_the_harmonic_limit_and_short_at_300_k(structure, tmp_path):
    # the as-given minimum (--no-anneal): this test is about lifetimes, the anneal is tested below
    runs = {t: run_phonons(structure, PhononSettings(temperature_k=t, production_ps=24, equilibration_ps=4,
                                                     window_ps=10, seed=4, no_anneal=True),
                           tmp_path / f"t{t}", tmp_path / "runs")
            for t in (300.0, 5.0)}
    hot, cold = (runs[t]["lifetime_summary"] for t in (300.0, 5.0))
    assert hot["resolved_fraction"] > 0.6 and hot["median_lifetime_ps"] < 10 / 4
    assert cold["resolved_fraction"] < 0.1  # nearly harmonic: longer than the window
    # at 5 K the lifetimes are lower bounds set by the 10 ps window (an undamped mode reads ~window/2),
    # so the ratio to 300 K cannot show its true size (~60x for damping linear in T); it must still
    # be clear: beyond a third of the window, and more than twice the 300 K median
    assert cold["median_lifetime_ps"] > 10 / 3 and cold["median_lifetime_ps"] > 2 * hot["median_lifetime_ps"]
    written = json.loads((tmp_path / "t300.0" / "phonons.json").read_text())
    keys = {"frequencies_thz", "rigid_body_modes", "lifetimes_ps", "lifetime_method", "dos", "provenance"}
    assert keys <= set(written)
    assert written["frequencies_thz"] == sorted(written["frequencies_thz"])
    assert all(written["lifetimes_ps"][i] is None for i in written["rigid_body_modes"])
    assert (tmp_path / "t300.0" / "lifetimes.png").exists() and (tmp_path / "t300.0" / "dos.png").exists()


def test_phonons_take_the_hessian_at_the_annealed_minimum(tmp_path):
    structure = write_structure(build_cdse(1.2), tmp_path / "cdse.extxyz")
    settings = PhononSettings(equilibration_ps=0.2, production_ps=0.4, window_ps=0.2, anneal_ps=2, seed=3)
    result = run_phonons(structure, settings, tmp_path / "ph")
    start = read_structure(tmp_path / "ph" / "minimised.extxyz")
    assert (start.info["anneal_temperature_k"], start.info["anneal_ps"]) == (300, 2)
    assert result["minimised"]["energy_ev"] == pytest.approx(start.info["energy_ev"], abs=1e-9)
    # the Hessian's minimisation (to --fmax) starts there and barely moves it: the modes are its modes
    with np.load(next((tmp_path / "ph" / "runs" / "modes").glob("*/modes.npz"))) as modes:
        x = modes["positions_angstrom"]
    assert np.abs((x - x.mean(0)) - (start.positions - start.positions.mean(0))).max() < 0.01
    assert result["minimization"]["energy_ev"] <= start.info["energy_ev"] + 1e-6
    assert len(result["imaginary_modes"]) == 0


def test_bad_phonon_requests(structure, tmp_path, capsys):
    assert main(["phonons", structure, "--md-ps", "10", "--window-ps", "20", "--out", str(tmp_path / "x")]) == 2
    assert "twice the correlation window" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
