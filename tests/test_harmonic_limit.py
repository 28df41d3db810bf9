"""MD protocol: the annealed and minimised start, site-drift check, and the harmonic limit of ⟨u²⟩.

A 141-atom wurtzite CdSe dot (2.0 nm) with the Zhou 2013 Stillinger-Weber potential. Minimised as
cut, it has two-coordinated surface atoms in shallow minima that MD leaves at 60 K; with the
default protocol (a 20 ps anneal at 300 K, then minimisation) it sits in a basin MD does not leave,
and the MD ⟨u²⟩ of every element and of all atoms at 60-120 K equals the classical harmonic
value k_B T Σ_k |e_ik|²/(m_i ω_k²) from the Hessian of the saved start (minimised.extxyz).
"""

import json

import numpy as np
import pytest

from nclattice.cli import main
from nclattice.potentials import load
from nclattice.structio import read_structure, write_structure
from nclattice.structures.spheres import build_cdse
from nclattice.tasks.drift import DriftError, apply_drift_policy
from nclattice.tasks.msd import group_masks
from nclattice.tasks.phonons import harmonic_msd, minimize_and_hessian, normal_modes


@pytest.fixture(scope="module")
def dot(tmp_path_factory):
    path = tmp_path_factory.mktemp("dot") / "dot.extxyz"
    write_structure(build_cdse(2.0), path)
    return str(path)


def _harmonic_msd(start, temperatures_k):
    """Per-atom classical harmonic ⟨u²⟩ at each temperature, from the Hessian at ``start``."""
    static = minimize_and_hessian(start, load("zhou2013-sw"), 1e-6)  # at the minimum: only tightens it
    assert static.minimization["converged"]
    centred = static.positions_angstrom - static.positions_angstrom.mean(0)
    assert np.abs(centred - (start.positions - start.positions.mean(0))).max() < 1e-3  # the saved start is the minimum
    modes = normal_modes(static.hessian_ev_a2, start.get_masses(), static.positions_angstrom)
    assert len(modes.imaginary_modes) == 0
    return {t: harmonic_msd(modes, start.get_masses(), t) for t in temperatures_k}


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


def test_default_calibration_matches_the_harmonic_limit_of_its_saved_start(dot, tmp_path, capsys):
    out = tmp_path / "cal"
    # default protocol (anneal, minimisation, Langevin, 2 fs); only the lengths are cut for speed
    assert main(["calibrate", dot, "--temperatures", "60,90,120", "--equilibration-ps", "2",
                 "--production-ps", "16", "--out", str(out)]) == 0
    summary = capsys.readouterr().out.split("\n\n")[-1]
    assert summary.startswith("slope b") and "minimised.extxyz" in summary
    calibration = json.loads((out / "calibration.json").read_text())
    start = read_structure(out / "minimised.extxyz")
    assert start.info["anneal_temperature_k"] == 300 and start.info["anneal_ps"] == 20
    assert start.info["energy_ev"] == pytest.approx(calibration["minimised"]["energy_ev"], abs=1e-9)
    assert start.info["energy_ev"] < calibration["minimised"]["minimization"]["energy_initial_ev"]
    assert calibration["site_drift_summary"] is None
    assert all(p["site_drift"]["n_drifting"] == 0 for p in calibration["md_protocol"].values())
    labels = {k: v for k, v in start.arrays.items() if k not in ("numbers", "positions")}
    masks = group_masks(start.get_chemical_symbols(), labels)
    harmonic = _harmonic_msd(start, (60.0, 120.0))
    for t in (60.0, 120.0):
        i = calibration["temperatures_k"].index(t)
        for group in ("all", "Cd", "Se"):
            ratio = calibration["msd_angstrom2"][group][i] / harmonic[t][masks[group]].mean()
            assert ratio == pytest.approx(1.0, abs=0.05), (t, group)


def test_without_the_anneal_surface_atoms_leave_their_sites_and_the_summary_says_so_first(dot, tmp_path, capsys):
    out = tmp_path / "cal"
    main(["calibrate", dot, "--no-anneal", "--temperatures", "60,90,120", "--equilibration-ps", "2",
          "--production-ps", "16", "--out", str(out)])
    first = capsys.readouterr().out.split("\n\n")[-1].splitlines()[0]
    assert first.startswith("WARNING Atoms left their sites during the MD: ")
    calibration = json.loads((out / "calibration.json").read_text())
    assert calibration["site_drift_summary"] == first
    assert read_structure(out / "minimised.extxyz").info["anneal_temperature_k"] == 0
    drifted = [p["site_drift"] for p in calibration["md_protocol"].values() if p["site_drift"]["n_drifting"]]
    drift = drifted[0]
    assert drift["n_drifting_surface"] == drift["n_drifting"]  # only surface atoms hop
    atom = drift["atoms"][0]
    assert {"index", "element", "region", "surface", "layer", "drift_angstrom"} <= set(atom)
    assert atom["drift_angstrom"] > 0.5 and atom["surface"] is True
    assert apply_drift_policy(drift, "flag", "MD").startswith("WARNING MD:")
    with pytest.raises(DriftError, match="left their sites"):
        apply_drift_policy(drift, "fail", "MD")
