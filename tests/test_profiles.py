"""Radial profiles: reading, rings from the cell, ring fits, heating/disorder decomposition."""

import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from nclattice.errors import NclatticeError
from nclattice.structio import write_structure
from nclattice.structures.perovskite import build_cspbbr3_cube
from nclattice.structures.rocksalt import build_pbse
from nclattice.structures.spheres import build_cdse, build_inp_znse_zns
from nclattice.tasks import decompose as dec
from nclattice.tasks import profiles as prof
from nclattice.tasks import ued
from nclattice.tasks.scattering import Probe

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ELECTRON = Probe("electron", 3700.0)


def _generator():
    spec = importlib.util.spec_from_file_location("generate_examples", EXAMPLES / "generate_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- reading
def _profiles(n_q=40, delays=(-10.0, -5.0, 1.0, 10.0)):
    q = np.linspace(1.0, 5.0, n_q)
    inten = 1000 + 100 * np.arange(len(delays))[:, None] + np.sin(q)[None, :]
    return prof.Profiles(q, np.array(delays), inten)


def test_csv_npz_hdf5_read_the_same_profiles(tmp_path):
    import h5py

    p = _profiles()
    (tmp_path / "a.csv").write_text(prof.write_profiles_csv(p, "synthetic", decimals=6))
    np.savez(tmp_path / "a.npz", q_inv_angstrom=p.q_inv_angstrom, delays_ps=p.delays_ps, intensity=p.intensity)
    with h5py.File(tmp_path / "a.h5", "w") as h:
        h["s_inv_angstrom"] = p.q_inv_angstrom / (2 * np.pi)  # s = Q/2π, converted on reading
        h["delays_ps"], h["intensity"] = p.delays_ps[::-1], p.intensity[::-1]  # sorted on reading
        h["error"], h["fluence_mj_cm2"] = np.full(p.intensity.shape, 2.0), 4.8
    for name in ("a.csv", "a.npz", "a.h5"):
        back = prof.read_profiles(tmp_path / name)
        assert back.q_inv_angstrom == pytest.approx(p.q_inv_angstrom, rel=1e-6, abs=1e-6)
        assert back.delays_ps.tolist() == p.delays_ps.tolist()
        assert back.intensity == pytest.approx(p.intensity, rel=1e-6)
    h5 = prof.read_profiles(tmp_path / "a.h5")
    assert h5.fluence_mj_cm2 == 4.8 and prof.estimate_errors(h5)[0, 0] == 2.0


def test_reference_is_the_negative_delay_mean_or_the_dark_profile():
    p = _profiles()
    err = np.ones_like(p.intensity)
    i0, e0 = prof.reference(p, err)
    assert i0 == pytest.approx(p.intensity[:2].mean(0)) and e0 == pytest.approx(np.full(p.q_inv_angstrom.size,
                                                                                       np.sqrt(2) / 2))
    dark = np.full(p.q_inv_angstrom.size, 7.0)
    with_dark = prof.Profiles(p.q_inv_angstrom, p.delays_ps, p.intensity, None, dark)
    assert prof.reference(with_dark, err)[0] == pytest.approx(dark)


def test_counting_errors_estimated_from_negative_delays():
    rng = np.random.default_rng(0)
    q = np.linspace(1, 8, 400)
    clean = 1e4 * (1 + np.exp(-q))
    inten = clean + np.sqrt(3.0 * clean) * rng.standard_normal((6, q.size))  # gain 3: σ² = 3 I
    err = prof.estimate_errors(prof.Profiles(q, np.array([-5, -4, -3, -2, 1, 2.0]), inten))
    assert np.median(err / np.sqrt(3.0 * clean)) == pytest.approx(1.0, abs=0.08)


HEADER = "q_inv_angstrom,-5,-1,10\n"


@pytest.mark.parametrize(("text", "message"), [
    ("q,-5,-1,10\n" + "1,1,1,1\n" * 12, "first column must be 'q_inv_angstrom'"),
    ("q_inv_angstrom,-5,abc,10\n" + "".join(f"{1 + 0.1 * i},1,1,1\n" for i in range(12)),
     "column 3 header 'abc' is not a delay"),
    (HEADER + "".join(f"{1 + 0.1 * i},1,1,1\n" for i in range(5)) + "1.5,1,x,1\n"
     + "".join(f"{2 + 0.1 * i},1,1,1\n" for i in range(6)), "line 7, column '-1': 'x' is not a number"),
    (HEADER + "".join(f"{1 + 0.1 * i},1,1,1\n" for i in range(5)) + "1.2,1,1,1\n"
     + "".join(f"{2 + 0.1 * i},1,1,1\n" for i in range(6)), "Q must increase strictly; row 6"),
    (HEADER + "".join(f"{1 + 0.1 * i},1,1,1\n" for i in range(5)) + "1.55,1,1\n"
     + "".join(f"{2 + 0.1 * i},1,1,1\n" for i in range(6)), "line 7 has 3 fields"),
    (HEADER + "".join(f"{1 + 0.1 * i},1,nan,1\n" for i in range(12)), "intensity is not a finite number at delay -1"),
])
def test_bad_csv_profiles_name_row_and_column(text, message):
    with pytest.raises(NclatticeError, match=message):
        prof.parse_profiles_csv(text)


def test_bad_binary_files(tmp_path):
    np.savez(tmp_path / "b.npz", q_inv_angstrom=np.linspace(1, 2, 20), intensity=np.ones((2, 20)))
    with pytest.raises(NclatticeError, match=r"missing dataset.*delays_ps"):
        prof.read_profiles(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", q_inv_angstrom=np.linspace(1, 2, 20), delays_ps=[-1.0, 1.0],
             intensity=np.ones((2, 19)))
    with pytest.raises(NclatticeError, match=r"intensity has shape \(2, 19\)"):
        prof.read_profiles(tmp_path / "c.npz")
    (tmp_path / "x.dat").write_text("1")
    with pytest.raises(NclatticeError, match="unknown profiles format"):
        prof.read_profiles(tmp_path / "x.dat")


# ---------------------------------------------------------------- rings
def test_wurtzite_cdse_rings_at_their_bragg_positions():
    atoms = build_cdse(2.0)
    a, c = atoms.info["a_angstrom"], atoms.info["c_angstrom"]
    rings = prof.rings_from_cell(prof.cell_from_atoms(atoms), ELECTRON, 1.0, 6.0, resolution_inv_angstrom=0.005)
    by_label = {r.label: r for r in rings}
    expected = {"100": 6, "002": 2, "101": 12, "102": 12, "110": 6, "103": 12, "112": 12}
    for label, mult in expected.items():
        h, k, l = (int(x) for x in label)
        q_bragg = 2 * np.pi * np.sqrt(4 / 3 * (h * h + h * k + k * k) / a**2 + l * l / c**2)
        assert abs(by_label[label].q_inv_angstrom / q_bragg - 1) < 0.003
        assert by_label[label].multiplicity == mult
    assert "001" not in by_label and "003" not in by_label  # systematically absent in wurtzite (P6_3mc)
    assert [r.label for r in rings[:3]] == ["100", "002", "101"]


@pytest.mark.parametrize(("atoms", "first", "absent"), [
    (build_inp_znse_zns(2.0, (0, 0)), ["111", "200", "220", "311"], "100"),  # zinc blende: fcc rule
    (build_pbse(2.5), ["111", "200", "220", "311"], "110"),                  # rock salt
    (build_cspbbr3_cube(2, vacancies=None), ["100", "110", "111", "200"], None),  # cubic perovskite
])
def test_cubic_lattices_index_their_rings(atoms, first, absent):
    a = atoms.info["a_angstrom"]
    rings = prof.rings_from_cell(prof.cell_from_atoms(atoms), ELECTRON, 0.5, 6.0, 0.005)
    assert [r.label for r in rings[:4]] == first
    for r in rings[:4]:
        assert r.q_inv_angstrom == pytest.approx(2 * np.pi / a * np.sqrt(sum(int(x) ** 2 for x in r.label)), rel=1e-6)
    assert absent is None or absent not in {r.label for r in rings}


def test_cell_needs_a_recipe_or_a_periodic_cell():
    from ase import Atoms

    with pytest.raises(NclatticeError, match="no lattice recipe"):
        prof.cell_from_atoms(Atoms("CdSe", positions=[[0, 0, 0], [2, 0, 0]]))


# ---------------------------------------------------------------- ring fits
def test_pseudo_voigt_is_unit_area_and_joint_fit_recovers_areas_and_strain():
    wide = np.linspace(-47.5, 52.5, 200_001)  # Lorentzian tails beyond ±50 Å⁻¹ hold 1.3e-4 of the area
    assert np.trapezoid(prof.pseudo_voigt(wide, np.array([2.5]), 0.05, 0.4)[0], wide) == pytest.approx(1.0, abs=3e-4)
    q = np.linspace(1.0, 4.0, 600)
    centres = np.array([1.8, 1.95, 2.9])  # the first two overlap (FWHM 0.12)
    areas, strain = np.array([50.0, 30.0, 40.0]), 2e-3
    clean = areas @ prof.pseudo_voigt(q, centres / (1 + strain), 0.12, 0.3)
    rng = np.random.default_rng(3)
    z = []
    for _ in range(20):
        fit = prof.fit_rings(q, clean + rng.normal(0, 2.0, q.size), np.full(q.size, 2.0), centres, 0.1)
        z.append((fit.areas - areas) / fit.areas_stderr)
        assert fit.strain == pytest.approx(strain, abs=4 * fit.strain_stderr)
    assert 0.6 < np.sqrt(np.mean(np.square(z))) < 1.4


# ---------------------------------------------------------------- forward model
def test_surface_disorder_model_is_the_mean_of_random_displacements():
    atoms = build_cdse(1.6)
    q = np.linspace(1.5, 7.0, 60)
    args = (atoms.positions, atoms.get_chemical_symbols(), atoms.arrays["surface"], ELECTRON, q)
    pm = dec.pattern_model(*args)
    sampled, sem = dec.sampled_disorder_delta(*args, sigma2_angstrom2=0.09, n_samples=40, seed=5)
    z = (sampled - pm.disorder_delta(0.09)) / sem
    assert np.abs(z).max() < 4.0 and np.sqrt(np.mean(z**2)) < 1.5  # agrees within the Monte-Carlo error
    # heating multiplies every pair term by the Debye–Waller factor and leaves the self term
    assert pm.intensity(0.01) - pm.self_term == pytest.approx(np.exp(-q**2 * 0.01 / 3) * pm.interference)


# ---------------------------------------------------------------- the shipped synthetic examples, end to end
@pytest.fixture(scope="module")
def example(tmp_path_factory):
    gen = _generator()
    path = tmp_path_factory.mktemp("profiles") / "cdse_cds.extxyz"
    write_structure(gen.profile_crystal(), path)
    return gen, path


def test_ued_profiles_recovers_the_heating_and_agrees_with_ued_analyze(example, tmp_path):
    from nclattice.flows import ued as ued_flow
    from nclattice.flows import ued_profiles

    gen, structure = example
    cal = EXAMPLES / "calibration_synthetic.json"
    r = ued_profiles.profiles(EXAMPLES / "cdse_cds_profiles_510nm.csv", structure, tmp_path / "p", cal)
    truth, _ = gen.truth_510nm()
    z = (np.asarray(r["delta_msd_angstrom2"]) - truth) / np.asarray(r["delta_msd_stderr"])
    assert np.sqrt(np.mean(z**2)) < 1.5 and np.abs(z).max() < 3.5  # within the error bars
    assert not r["localized_disorder_detected"]
    assert np.abs(np.asarray(r["lattice_strain"]["strain"])).max() < 1e-4  # the model has no expansion
    # the same ΔT(t) as `ued analyze` on the per-peak table the example series was made from
    from nclattice.flows.settings import UedSettings

    table = ued_flow.run_ued([EXAMPLES / "cdse_cds_510nm_heating.csv"], UedSettings(calibration=str(cal), fluence=2.1),
                             tmp_path / "a")
    common = np.isin(r["delays_ps"], table["delays_ps"])
    t_prof = np.asarray(r["delta_t_k"])[common]
    e_prof = np.asarray(r["delta_t_stat_stderr_k"])[common]
    mine = np.isin(table["delays_ps"], np.asarray(r["delays_ps"])[common])
    zdiff = (t_prof - np.asarray(table["delta_t_k"])[mine]) / np.hypot(e_prof,
                                                                       np.asarray(table["delta_t_stat_stderr_k"])[mine])
    assert common.sum() >= 15 and np.abs(zdiff).max() < 3.0
    # peaks.csv is the per-peak format of `ued analyze`; with ring_covariance.npz it reproduces the fit
    back = ued.parse_ued_csv((tmp_path / "p" / "peaks.csv").read_text())[0]
    with_cov = dataclasses.replace(back, covariance=np.load(tmp_path / "p" / "ring_covariance.npz")["covariance"])
    assert ued.analyze_series(with_cov).column("delta_msd_angstrom2") == pytest.approx(r["delta_msd_angstrom2"],
                                                                                        abs=1e-6)
    saved = json.loads((tmp_path / "p" / "ued.json").read_text())
    assert {"delays_ps", "delta_msd_angstrom2", "delta_msd_stderr", "delta_t_k", "disorder_summary"} <= set(saved)
    assert all((tmp_path / "p" / f).stat().st_size > 10_000 for f in ("ring_fit.png", "dw_vs_q2.png", "strain.png"))


@pytest.mark.parametrize("case", ["broad", "sharp", "broad-short-range"])
def test_ued_profiles_recovers_the_plateau_of_broad_overlapping_and_of_sharp_rings(tmp_path, case):
    """Gaussian rings of wurtzite CdSe, σ_Q 0.05 Å⁻¹ (a 3-5 nm crystal: 100/002/101 overlap) or 0.012 Å⁻¹,
    on 40·exp(−Q/1.3 Å⁻¹) + 2, heated to Δ⟨u²⟩_3D = 0.0059 Å²: the plateau within 15 % and errors that
    describe the scatter (median |z| of a normal variable: 0.674), over two noise realisations. On the
    short range (Q 1.2-4 Å⁻¹, 120 points) a wavelet baseline estimated before the ring fit gave −2× the
    plateau."""
    from nclattice.flows import ued_profiles

    gen = _generator()
    atoms = build_cdse(4.0)
    write_structure(atoms, tmp_path / "cdse4nm.extxyz")
    sigma = gen.RING_SIGMA_SHARP if case == "sharp" else gen.RING_SIGMA_BROAD
    q = np.linspace(1.2, 4.0, 120) if case == "broad-short-range" else gen.RING_Q
    truth, late = gen.ring_truth(), gen.DELAYS_510 >= 400
    z, plateau = [], []
    for seed in (1, 2):
        p = gen.ring_profiles(atoms, sigma, seed, q=q)
        np.savez(tmp_path / "p.npz", q_inv_angstrom=p.q_inv_angstrom, delays_ps=p.delays_ps, intensity=p.intensity)
        r = ued_profiles.profiles(tmp_path / "p.npz", tmp_path / "cdse4nm.extxyz", tmp_path / f"out{seed}",
                                  figures=False)
        u = np.asarray(r["delta_msd_angstrom2"])
        z.append((u - truth) / np.asarray(r["delta_msd_stderr"]))
        plateau.append(u[late].mean() / truth[late].mean())
        assert r["ring_fit"]["fwhm_inv_angstrom"] == pytest.approx(2 * np.sqrt(2 * np.log(2)) * sigma, rel=0.02)
    assert np.abs(np.array(plateau) - 1).max() < 0.15, plateau
    assert 0.4 < np.median(np.abs(z)) < 1.2, np.median(np.abs(z))


@pytest.mark.parametrize("series", ["510nm", "340nm"])
def test_ued_decompose_separates_disorder_from_heating(example, tmp_path, series):
    from nclattice.flows import ued_profiles

    gen, structure = example
    r = ued_profiles.decompose(EXAMPLES / f"cdse_cds_profiles_{series}.csv", structure, tmp_path,
                               calibration=EXAMPLES / "calibration_synthetic.json",
                               disorder_rms_angstrom=gen.DISORDER_RMS_ANGSTROM, figures=series == "340nm")
    truth_u, truth_b = gen.truth_510nm() if series == "510nm" else gen.truth_340nm()
    for space in (r, r["r_space"]):
        b, b_err = np.asarray(space["disorder_b"]), np.asarray(space["disorder_b_stderr"])
        u, u_err = np.asarray(space["delta_msd_angstrom2"]), np.asarray(space["delta_msd_stderr"])
        assert np.abs((b - truth_b) / b_err).max() < 3.5 and np.sqrt(np.mean(((b - truth_b) / b_err) ** 2)) < 1.6
        assert np.sqrt(np.mean(((u - truth_u) / u_err) ** 2)) < 1.6
    z = np.asarray(r["disorder_z"])
    late = np.asarray(r["delays_ps"]) >= 5.0
    if series == "510nm":
        assert np.abs(z).max() < 3.0  # pure heating: b ≈ 0
    else:
        assert np.all(z[late] > 5.0)  # heating plus disorder: b > 0 at z > 5
    assert (tmp_path / "decomposition.csv").read_text().startswith("delay_ps,delta_msd_angstrom2")
    assert series == "510nm" or (tmp_path / "decomposition_fits.png").stat().st_size > 10_000


def test_md_delta_t_heating_route(tmp_path):
    """`--heat DELTA_T_DIR`: ΔG(r) of a ΔT run as the heating component. The run here is two sets of
    frames with Gaussian displacements of 3D MSD 0.045 and 0.045 + 14·1.5e-4 Å² (the same random
    numbers scaled: 300 K and 314 K of the synthetic calibration), written in delta-t's format."""
    from nclattice.flows import ued_profiles
    from nclattice.structures.labels import equivalent_diameter_nm
    from nclattice.tasks.msd import diffraction_weights
    from nclattice.tasks.pdf import g_of_r, pair_histograms

    atoms = build_cdse(2.0)
    write_structure(atoms, tmp_path / "s.extxyz")
    sym = atoms.get_chemical_symbols()
    weights = dict(zip(sym, diffraction_weights(sym, "electron"), strict=True))
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, (60, len(atoms), 3))
    g = [g_of_r(pair_histograms(atoms.positions[None] + noise * np.sqrt(m / 3), sym, 25.0), weights,
                10 * equivalent_diameter_nm(atoms)) for m in (0.045, 0.045 + 14 * 1.5e-4)]
    run = tmp_path / "dt"
    run.mkdir()
    (run / "delta_t.json").write_text(json.dumps({"t0_k": 300.0, "t1_k": 314.0}))
    np.savetxt(run / "delta_g.csv", np.column_stack([g[0][0], g[0][1], g[1][1], g[1][1] - g[0][1]]), delimiter=",",
               header="r_angstrom,g_t0,g_t1,delta_g", comments="")
    # measured series: the same crystal at 300 K (base MSD 0.045 Å²) heated by up to 56 K, counting noise
    q = np.linspace(1.2, 8.0, 300)
    pm = dec.pattern_model(atoms.positions, sym, atoms.arrays["surface"], ELECTRON, q)
    delays = np.array([-10.0, -5, -3, -1, 5, 20, 50, 100])
    truth_k = 56.0 * np.clip(delays, 0, None) / 100
    inten = np.array([pm.intensity(0.045 + 1.5e-4 * dt) + 0.3 * pm.self_term.max() * np.exp(-q / 3) for dt in truth_k])
    inten *= 1e6 / inten.max()
    inten += np.sqrt(inten) * rng.standard_normal(inten.shape)
    np.savez(tmp_path / "p.npz", q_inv_angstrom=q, delays_ps=delays, intensity=inten)
    r = ued_profiles.decompose(tmp_path / "p.npz", tmp_path / "s.extxyz", tmp_path / "out", heat=run, figures=False)
    z = (np.asarray(r["delta_t_k"]) - truth_k) / np.asarray(r["delta_t_stderr_k"])
    assert np.abs(z).max() < 3.0 and r["delta_t_k"][-1] > 5 * r["delta_t_stderr_k"][-1]
    assert np.abs(r["disorder_z"]).max() < 3.0  # heating only
    short = tmp_path / "short"
    short.mkdir()
    (short / "delta_t.json").write_text((run / "delta_t.json").read_text())
    table = np.loadtxt(run / "delta_g.csv", delimiter=",", skiprows=1)
    np.savetxt(short / "delta_g.csv", table[table[:, 0] < 12], delimiter=",", header="r_angstrom,g_t0,g_t1,delta_g",
               comments="")
    with pytest.raises(NclatticeError, match="--r-max"):
        ued_profiles.decompose(tmp_path / "p.npz", tmp_path / "s.extxyz", tmp_path / "out2", heat=short)


def test_bad_input_writes_nothing(tmp_path, example):
    from nclattice.flows import ued_profiles

    _, structure = example
    bad = tmp_path / "bad.csv"
    bad.write_text("q_inv_angstrom,-5,1\n" + "".join(f"{1 + 0.1 * i},1,1\n" for i in range(12)))
    out = tmp_path / "out"
    with pytest.raises(NclatticeError, match="fewer than two negative delays"):
        ued_profiles.profiles(bad, structure, out)
    with pytest.raises(NclatticeError, match="--heat-model must be 'debye-waller'"):
        ued_profiles.decompose(EXAMPLES / "cdse_cds_profiles_510nm.csv", structure, out, heat_model="md")
    assert not out.exists()
