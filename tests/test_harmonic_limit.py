"""MD protocol: minimised start, site-drift check, and the harmonic limit of ⟨u²⟩ at low T.

A 141-atom wurtzite CdSe dot (2.0 nm) with the Zhou 2013 Stillinger-Weber potential. The
as-cut sphere, even minimised, has two-coordinated surface atoms in shallow minima that MD
leaves at 50 K; annealed at 300 K and then minimised it sits in a basin MD does not leave,
and the MD ⟨u²⟩ of every atom group at 100 K must equal the classical harmonic value
k_B T Σ_k |e_ik|²/(m_i ω_k²) from the Hessian of that same minimised crystal within 3 %.
"""

import numpy as np
import pytest

from nclattice.potentials import load
from nclattice.structures.spheres import build_cdse
from nclattice.tasks.drift import DriftError, apply_drift_policy
from nclattice.tasks.md import MDSettings, run_nvt
from nclattice.tasks.msd import group_masks, msd_from_frames
from nclattice.tasks.phonons import harmonic_msd, minimize_and_hessian, normal_modes


@pytest.fixture(scope="module")
def dot():
    return build_cdse(2.0)


@pytest.fixture(scope="module")
def sw():
    return load("zhou2013-sw")


def _harmonic(atoms, potential, positions, temperature_k):
    crystal = atoms.copy()
    crystal.positions = positions
    static = minimize_and_hessian(crystal, potential, fmax_ev_per_angstrom=1e-6)  # only tightens the tolerance
    record, x = static.minimization, static.positions_angstrom
    modes = normal_modes(static.hessian_ev_a2, crystal.get_masses(), x)
    assert record["converged"] and len(modes.imaginary_modes) == 0
    # the MD's sites are this minimum (compared centred)
    assert np.abs((x - x.mean(0)) - (positions - positions.mean(0))).max() < 0.02
    return harmonic_msd(modes, crystal.get_masses(), temperature_k)


def test_harmonic_msd_of_a_single_mode_is_kt_over_m_omega2():
    from nclattice.tasks.phonons import THZ_PER_SQRT_EV_A2_AMU, Modes

    # two atoms on x (masses 1 and 3 amu), spring k = 2 eV/Å²: one vibration, ω² = k/μ
    k, m = 2.0, np.array([1.0, 3.0])
    h = np.zeros((6, 6))
    h[0, 0] = h[3, 3] = k
    h[0, 3] = h[3, 0] = -k
    dyn = h / np.sqrt(np.outer(np.repeat(m, 3), np.repeat(m, 3)))
    lam, vec = np.linalg.eigh(dyn)
    freq = np.sign(lam) * np.sqrt(np.abs(lam)) * THZ_PER_SQRT_EV_A2_AMU
    modes = Modes(freq, vec, np.arange(5), np.zeros(6))  # five zero modes treated as rigid
    u2 = harmonic_msd(modes, m, 300.0)
    kt = 8.617333262e-5 * 300
    # relative coordinate: ⟨x²⟩ = kT/k, split by the masses: ⟨u1²⟩ = (m2/M)² kT/k
    assert u2 == pytest.approx([(3 / 4) ** 2 * kt / k, (1 / 4) ** 2 * kt / k], rel=1e-9)


def test_annealed_and_minimised_crystal_md_matches_the_harmonic_limit(dot, sw):
    settings = MDSettings(100.0, equilibration_ps=2, production_ps=40, timestep_fs=4, sample_every_fs=20,
                          seed=3, anneal_temperature_k=300.0, anneal_ps=20)
    traj = run_nvt(dot, sw, settings)
    assert traj.minimization["converged"]
    assert traj.minimization["energy_final_ev"] < traj.minimization["energy_initial_ev"]
    assert traj.site_drift["checked"] and traj.site_drift["n_drifting"] == 0
    assert traj.site_drift["max_drift_angstrom"] < 0.2
    harmonic = _harmonic(dot, sw, traj.site_positions_angstrom, 100.0)
    md = msd_from_frames(traj.positions_angstrom, traj.masses_amu, n_blocks=10)
    for name in ("all", "Cd", "Se", "surface", "interior"):
        mask = group_masks(traj.symbols, traj.arrays)[name]
        value, _ = md.select(mask)
        assert value / harmonic[mask].mean() == pytest.approx(1.0, abs=0.03), name


def test_as_cut_surface_atoms_leave_their_sites_and_are_reported(dot, sw):
    traj = run_nvt(dot, sw, MDSettings(50.0, equilibration_ps=2, production_ps=40, timestep_fs=4,
                                       sample_every_fs=20, seed=3))
    drift = traj.site_drift
    assert traj.minimization["converged"] and drift["n_drifting"] >= 1
    assert drift["n_drifting_surface"] == drift["n_drifting"]  # only surface atoms hop
    atom = drift["atoms"][0]
    assert {"index", "element", "region", "surface", "layer", "drift_angstrom"} <= set(atom)
    assert atom["drift_angstrom"] > 0.5 and atom["surface"] is True
    assert apply_drift_policy(drift, "flag", "MD at 50 K").startswith("WARNING MD at 50 K:")
    with pytest.raises(DriftError, match="left their sites"):
        apply_drift_policy(drift, "fail", "MD at 50 K")
