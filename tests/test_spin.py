"""Singlet/triplet relaxations (tasks/spin.py, tasks/cp2k_backend.py, flows/polaron.py).

The engine is real (GFN2-xTB through tblite) on Cs4PbBr6, a neutral 11-atom cluster that relaxes
in well under a second; the analysis is checked against analytic fields and scipy.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones
from ase.optimize import FIRE
from ase.units import Rydberg
from scipy import stats
from scipy.spatial.transform import Rotation

from nclattice.errors import NclatticeError
from nclattice.flows.polaron import PolaronSettings, analyze_pair, run_polaron
from nclattice.structures.labels import net_formal_charge
from nclattice.tasks.alignment import displacement_field
from nclattice.tasks.cp2k_backend import (
    NOT_CONVERGED,
    RISING_OUTER_LOOPS,
    Cp2kBackend,
    broken_symmetry_sides,
    default_cutoff_ry,
    default_vacuum_angstrom,
    energy_rising,
    outer_scf_energies,
    output_reports_edge_density,
    output_reports_failure,
    parse_backend_options,
    reported_s_squared,
    suggested_vacuum_angstrom,
)
from nclattice.tasks.spin import (
    SCFNotConverged,
    XtbBackend,
    as_backend,
    max_force,
    polaron_energetics,
    radial_profile,
    regression_table,
    relax,
    single_point,
)

os.environ.setdefault("OMP_NUM_THREADS", "1")
A_ANGSTROM = 5.90  # CsPbBr3 pseudo-cubic lattice constant


def cs4pbbr6() -> Atoms:
    """Pb at the centre, a Br6 octahedron, Cs on alternate cube corners (Td): neutral."""
    d = A_ANGSTROM / 2
    br = [np.roll([s * d, 0.0, 0.0], k) for k in range(3) for s in (1, -1)]
    cs = [np.array(c) * d for c in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1))]
    return Atoms("PbBr6Cs4", positions=[[0, 0, 0], *br, *cs])


@pytest.fixture(scope="module")
def polaron():
    return run_polaron(cs4pbbr6(), "xtb", PolaronSettings(fmax_ev_per_angstrom=0.01), progress=None)


# ---------------------------------------------------------------- analysis, analytic checks
def strained_pair(strain: np.ndarray):
    """A cubic-symmetric point cloud (isotropic inertia, so the optimal rotation of a strained
    copy is exactly none) and its copy under u = strain @ r, then moved rigidly."""
    idx = np.array(np.meshgrid(*[np.arange(-2, 3)] * 3)).reshape(3, -1).T
    parity = (idx % 2).sum(1)
    symbols = np.where(parity == 0, "Cs", np.where(parity == 3, "Pb", "Br")).tolist()
    singlet = Atoms(symbols, positions=idx * A_ANGSTROM / 2)
    r = singlet.positions
    moved = (r + r @ strain.T) @ Rotation.from_euler("xyz", [7, -4, 11], degrees=True).as_matrix().T
    triplet = Atoms(symbols, positions=moved + np.array([0.3, -1.2, 0.7]))
    return singlet, triplet


def test_rigid_motion_is_removed_and_a_uniform_strain_gives_its_slope_in_ppm():
    strain = np.diag([900e-6, 300e-6, -200e-6])  # the size of the paper's Table S2 diagonal
    singlet, triplet = strained_pair(strain)
    coords, u = displacement_field(singlet, triplet)
    # a small symmetric strain survives alignment; the rotation and translation do not
    np.testing.assert_allclose(u, coords @ strain.T, atol=1e-9)
    table = regression_table(coords, u, singlet.get_chemical_symbols())
    for sp in ("Cs", "Pb", "Br"):
        np.testing.assert_allclose(table[sp]["slope_ppm"], strain * 1e6, atol=0.5)
        assert np.diag(table[sp]["stderr_ppm"]).max() < 1e-6  # u_x is exactly linear in x
    rigid_only = displacement_field(*strained_pair(np.zeros((3, 3))))[1]
    assert np.abs(rigid_only).max() < 1e-9


def test_regression_slope_and_standard_error_match_scipy():
    rng = np.random.default_rng(3)
    coords = rng.uniform(-15, 15, (60, 3))
    u = 5e-4 * coords + rng.normal(0, 2e-3, coords.shape)
    table = regression_table(coords, u, ["Br"] * 60)["Br"]
    for i in range(3):
        for j in range(3):
            ref = stats.linregress(coords[:, j], u[:, i])
            assert table["slope_ppm"][i, j] == pytest.approx(ref.slope * 1e6, rel=1e-9, abs=1e-6)
            assert table["stderr_ppm"][i, j] == pytest.approx(ref.stderr * 1e6, rel=1e-9)


def test_outer_layers_can_be_left_out_and_too_few_atoms_give_nan():
    coords = np.array([[x, 0.0, 0.0] for x in (-6, -3, 0, 3, 6)], float) + [[0, 0.1, 0.2]] * 5
    u = coords * 1e-3
    full = regression_table(coords, u, ["Cs"] * 5)["Cs"]
    inner = regression_table(coords, u, ["Cs"] * 5, exclude_outer_layers=True)["Cs"]
    assert full["atoms_per_coordinate"][0] == 5 and inner["atoms_per_coordinate"][0] == 3
    assert inner["slope_ppm"][0, 0] == pytest.approx(1000.0)
    assert np.isnan(regression_table(coords[:2], u[:2], ["Pb"] * 2)["Pb"]["slope_ppm"]).all()


def test_radial_profile_of_a_uniform_expansion_is_linear():
    coords = np.random.default_rng(1).uniform(-10, 10, (400, 3))
    prof = radial_profile(coords, 2e-3 * coords, ["Cs"] * 400, bin_width_angstrom=2.0)["Cs"]
    r, ur = np.array(prof["r_angstrom"]), np.array(prof["u_radial_angstrom"])
    np.testing.assert_allclose(ur, 2e-3 * r, atol=2e-3 * 1.0)  # within half a bin of slope
    assert sum(prof["atoms"]) == 400


def test_energetics_follow_the_papers_definitions():
    # Shen et al., XFEL exciton-polaron paper S4: 56 meV relaxation energy -> 112 meV Stokes shift (twice)
    e = polaron_energetics(-10.0, -10.0 + 2.535, -10.0 + 2.479)
    assert e["relaxation_energy_ev"] == pytest.approx(0.056)
    assert e["stokes_shift_ev"] == pytest.approx(0.112)
    assert e["adiabatic_gap_ev"] == pytest.approx(2.479)
    assert e["vertical_gap_ev"] == pytest.approx(2.535)


# ---------------------------------------------------------------- the xtb backend
def test_test_cluster_is_neutral():
    assert net_formal_charge(cs4pbbr6()) == 0


def test_singlet_relaxation_converges_to_the_same_minimum_as_fire():
    res = relax(cs4pbbr6(), "xtb", 1, fmax=0.01)
    assert res.converged and res.max_force_ev_per_angstrom <= 0.01
    assert res.log[0][1] > res.energy_ev  # BFGS went downhill from the ideal sites
    check = cs4pbbr6()
    check.calc = XtbBackend().calculator(1, 0)
    FIRE(check, logfile=None).run(fmax=0.01, steps=1000)  # a second optimizer
    assert check.get_potential_energy() == pytest.approx(res.energy_ev, abs=2e-3)
    assert max_force(res.forces_ev_per_angstrom) == pytest.approx(res.max_force_ev_per_angstrom)
    pb_br = np.linalg.norm(res.atoms.positions[1:7] - res.atoms.positions[0], axis=1)
    assert np.ptp(pb_br) < 1e-3  # the octahedron keeps its symmetry


def test_resumed_relaxation_matches_an_uninterrupted_one():
    whole = relax(cs4pbbr6(), "xtb", 3, fmax=0.01)
    saved = []
    part = relax(cs4pbbr6(), "xtb", 3, fmax=0.01, max_steps=3, on_checkpoint=saved.append)
    assert not part.converged and part.steps == 3 and saved[-1].step == 3
    resumed = relax(cs4pbbr6(), "xtb", 3, fmax=0.01, resume=saved[-1])
    assert resumed.converged and resumed.steps == whole.steps
    assert resumed.energy_ev == pytest.approx(whole.energy_ev, abs=1e-6)
    np.testing.assert_allclose(resumed.atoms.positions, whole.atoms.positions, atol=1e-4)
    assert [s for s, _, _ in resumed.log] == list(range(whole.steps + 1))


class FlakySCF(XtbBackend):
    """Real GFN2, but the first attempt gets too few SCF iterations to converge."""

    def calculator(self, multiplicity, charge, attempt=0):
        calc = super().calculator(multiplicity, charge, attempt)
        if attempt == 0:
            calc.set(max_iterations=2)
        return calc


def test_scf_failure_is_retried_from_a_fresh_guess_and_recorded():
    normal = single_point(cs4pbbr6(), "xtb", 3)
    retried = single_point(cs4pbbr6(), FlakySCF(), 3)
    assert retried.scf["retried"] and retried.scf["settings"]["accuracy_used"] == 10.0
    assert not normal.scf["retried"]
    assert retried.energy_ev == pytest.approx(normal.energy_ev, abs=5e-3)


def test_scf_non_convergence_is_an_error_not_a_result():
    with pytest.raises(SCFNotConverged, match="did not converge") as err:
        single_point(cs4pbbr6(), XtbBackend(max_iterations=1), 3)
    # the message names exactly the attempts made
    assert "attempt 1, GFN2-xTB from a fresh SAD guess, accuracy 1:" in str(err.value)
    assert "attempt 2, GFN2-xTB from a fresh SAD guess, accuracy 10:" in str(err.value)
    assert "attempt 3" not in str(err.value)


def test_xtb_singlet_is_closed_shell_and_broken_symmetry_is_refused():
    """tblite takes no starting spin density: a broken-symmetry singlet is refused in one
    sentence; the closed-shell singlet keeps alpha = beta (spin-polarised tblite, Sz = 0)."""
    with pytest.raises(NclatticeError, match="closed-shell singlet only"):
        XtbBackend(singlet="broken-symmetry")
    calc = XtbBackend(spin_polarization=1.0).calculator(1, 0)
    atoms = cs4pbbr6()
    atoms.calc = calc
    atoms.get_potential_energy()
    density = np.asarray(calc._res.get("density-matrix"))
    if density.ndim == 3:  # spin-resolved: alpha and beta identical, bit for bit
        assert np.array_equal(density[0], density[1])


def test_wrong_electron_parity_is_refused():
    with pytest.raises(NclatticeError, match="multiplicity 3"):
        single_point(cs4pbbr6(), "xtb", 3, charge=1)


def test_any_ase_calculator_can_be_a_backend():
    lj = LennardJones(sigma=3.0, epsilon=0.01, rc=8.0)
    res = relax(cs4pbbr6(), lj, 1, fmax=0.01)
    assert res.converged and res.scf["settings"] == {"calculator": "LennardJones"}
    with pytest.raises(NclatticeError, match="two spin states"):
        run_polaron(cs4pbbr6(), lj, progress=None)
    factory = as_backend(lambda m, q: LennardJones(sigma=3.0 + 0.01 * m, epsilon=0.01, rc=8.0))
    run = run_polaron(cs4pbbr6(), factory, PolaronSettings(fmax_ev_per_angstrom=0.01), progress=None)
    assert run.converged and run.triplet.energy_ev <= run.vertical.energy_ev


# ---------------------------------------------------------------- the polaron flow (xtb)
def test_polaron_flow_relaxes_the_triplet_below_its_vertical_energy(polaron):
    assert polaron.converged
    assert polaron.singlet.max_force_ev_per_angstrom <= 0.01
    assert polaron.triplet.max_force_ev_per_angstrom <= 0.01
    e = polaron_energetics(polaron.singlet.energy_ev, polaron.vertical.energy_ev,
                           polaron.triplet.energy_ev)
    assert e["relaxation_energy_ev"] > 0
    assert 0 < e["adiabatic_gap_ev"] < e["vertical_gap_ev"]
    # the triplet relaxation starts on the same SCF solution as the vertical single point
    assert polaron.triplet.log[0][1] == pytest.approx(polaron.vertical.energy_ev, abs=1e-6)


def test_cations_move_outward_and_bromide_inward_as_in_the_paper(polaron):
    analysis = analyze_pair(polaron.singlet.atoms, polaron.triplet.atoms)
    table = analysis["regression"]
    for sp, sign in (("Cs", 1), ("Br", -1)):  # Shen et al. Table S2: Cs > 0, Br < 0 on the diagonal
        diag = np.diag(table[sp]["slope_ppm"])
        assert (sign * diag > 0).all()
        assert (np.abs(diag) > 10 * np.diag(table[sp]["stderr_ppm"])).all()
    assert np.isnan(table["Pb"]["slope_ppm"]).all()  # one Pb atom: no regression
    assert analysis["radial_profile"]["Cs"]["u_radial_angstrom"][-1] > 0


def test_rerun_with_the_same_inputs_reproduces_the_numbers(polaron):
    again = run_polaron(cs4pbbr6(), "xtb", PolaronSettings(fmax_ev_per_angstrom=0.01), progress=None)
    assert again.key == polaron.key
    assert again.triplet.energy_ev == pytest.approx(polaron.triplet.energy_ev, abs=1e-9)
    np.testing.assert_allclose(again.triplet.atoms.positions, polaron.triplet.atoms.positions,
                               atol=1e-9)


# ---------------------------------------------------------------- CP2K
def test_cp2k_input_has_the_papers_settings_and_a_box_scaled_with_the_cluster():
    backend = Cp2kBackend(vacuum_angstrom=7.0, workdir="unused")
    text = backend.input_text(cs4pbbr6(), 3, 0)
    for needle in ("UNRESTRICTED_KOHN_SHAM ON", "MULTIPLICITY 3", "&PBE", "DZVP-MOLOPT-SR-GTH",
                   "POTENTIAL GTH-PBE", "PERIODIC NONE", "PSOLVER WAVELET", "REL_CUTOFF [Ry] 40",
                   "XC_DERIV SPLINE2_SMOOTH", "PRECONDITIONER FULL_ALL", "MINIMIZER CG", "&OUTER_SCF"):
        assert needle in text
    assert "CHARGE" not in text and "MULTIPLICITY 1" in backend.input_text(cs4pbbr6(), 1, 0)
    # wavelet solver: a cube of side extent + 2 x vacuum, the cluster centred
    box = backend.prepare(cs4pbbr6())
    span = np.ptp(cs4pbbr6().positions, axis=0)
    np.testing.assert_allclose(np.diag(box.cell.array), span.max() + 14.0)
    np.testing.assert_allclose(box.positions.min(0) + box.positions.max(0), box.cell.diagonal())
    assert f"{box.cell.array[0, 0]:.18e}" in text
    assert "CHARGE -2" in replace(backend).input_text(cs4pbbr6(), 1, -2)
    # cutoff by element: 250 Ry for Cs/Pb/Br, 300 Ry once a first-row element is present
    assert default_cutoff_ry(["Cs", "Pb", "Br"]) == 250.0 and default_cutoff_ry(["O", "H"]) == 300.0
    assert f"CUTOFF [eV] {250 * Rydberg:.18e}" in text
    assert f"CUTOFF [eV] {400 * Rydberg:.18e}" in replace(backend, cutoff_ry=400).input_text(
        cs4pbbr6(), 1, 0)
    # MT keeps an orthorhombic box (the user sizes the vacuum: ~2x the density's extent)
    mt = replace(backend, poisson_solver="mt")
    np.testing.assert_allclose(np.diag(mt.prepare(cs4pbbr6()).cell.array), span + 14.0)
    assert "PSOLVER MT" in mt.input_text(cs4pbbr6(), 1, 0)
    with pytest.raises(NclatticeError, match="Poisson solver"):
        Cp2kBackend(poisson_solver="fft")
    # default vacuum by element: 3.5 Å for first-row molecules, 5 Å once heavier atoms are present
    # (3.5 Å around Cs4PbBr6 made CP2K's wavelet solver warn of density at the cell edges)
    assert default_vacuum_angstrom(["O"]) == 3.5 and default_vacuum_angstrom(["Cs", "Pb", "Br"]) == 5.0
    np.testing.assert_allclose(np.diag(Cp2kBackend(workdir="unused").prepare(cs4pbbr6()).cell.array),
                               span.max() + 10.0)


def test_cp2k_singlet_is_restricted_by_default_and_broken_symmetry_is_seeded():
    backend = Cp2kBackend(workdir="unused")
    closed = backend.input_text(cs4pbbr6(), 1, 0)
    assert "UNRESTRICTED_KOHN_SHAM" not in closed and "MAGNETIZATION" not in closed
    assert "UNRESTRICTED_KOHN_SHAM ON" in backend.input_text(cs4pbbr6(), 3, 0)  # triplet: UKS
    bs = replace(backend, singlet="broken-symmetry")
    text = bs.input_text(cs4pbbr6(), 1, 0)
    assert "UNRESTRICTED_KOHN_SHAM ON" in text and "MULTIPLICITY 1" in text
    assert "MAGNETIZATION" not in bs.input_text(cs4pbbr6(), 3, 0)  # the triplet is the triplet
    # each element split into an up and a down kind; one alpha electron spread over one half of
    # the atoms, one beta over the other: net magnetisation zero, one unit on each side
    coords = [ln.split()[0] for ln in text.split("&COORD")[1].split("&END COORD")[0].strip().splitlines()]
    sides = broken_symmetry_sides(bs.prepare(cs4pbbr6()))
    assert [c.split("_")[0] for c in coords] == cs4pbbr6().get_chemical_symbols()
    assert [c.endswith("_UP") for c in coords] == (sides > 0).tolist()
    magnetization = {k.split()[0]: float(k.split("MAGNETIZATION")[1].split()[0])
                     for k in text.split("&KIND ")[1:]}
    per_atom = np.array([magnetization[c] for c in coords])
    assert per_atom[sides > 0].sum() == pytest.approx(1.0) and per_atom[sides < 0].sum() == pytest.approx(-1.0)
    # O2: one atom up, one down, whatever the orientation or atom order
    o2 = Atoms("O2", positions=[[0.3, 0.2, 0.1], [1.0, -0.4, 0.6]])
    assert sorted(broken_symmetry_sides(o2)) == [-1, 1]
    with pytest.raises(NclatticeError, match="singlet"):
        Cp2kBackend(singlet="open")


def test_cp2k_second_attempt_uses_other_scf_machinery():
    backend = Cp2kBackend(workdir="unused", fallback_max_scf=150)
    first = backend.input_text(cs4pbbr6(), 3, 0)
    calc = backend._parameters(3, 0, attempt=1)
    assert "&OT" in first and "&DIAGONALIZATION" not in first
    assert "&OT" not in calc["inp"] and "METHOD BROYDEN_MIXING" in calc["inp"]
    assert "&SMEAR ON" in calc["inp"] and "FIXED_MAGNETIC_MOMENT 2" in calc["inp"]  # stays a triplet
    assert calc["max_scf"] == 150 and "ADDED_MOS" in calc["inp"]
    assert "FIXED_MAGNETIC_MOMENT" not in backend._parameters(1, 0, attempt=1)["inp"]  # restricted
    assert backend.max_attempts == 2
    assert "OT CG" in backend.describe_attempt(0) and "Broyden" in backend.describe_attempt(1)


def test_cp2k_rising_outer_scf_energy_is_recognised():
    line = "  outer SCF iter = {:4d} RMS gradient =   0.52E-03 energy =        {:.10f}\n"
    falling = [-31.80, -31.85, -31.90, -31.9024, -31.90241]
    text = "".join(line.format(i + 1, e) for i, e in enumerate(falling))
    assert outer_scf_energies(text) == pytest.approx(falling)
    assert not energy_rising(falling)
    climbing = [*falling, *(-31.9024 + 0.001 * (k + 1) for k in range(RISING_OUTER_LOOPS))]
    assert energy_rising(climbing) and not energy_rising(climbing[:-1])
    s2 = "  Ideal and single determinant S**2 :                    0.000000       1.002913\n"
    assert reported_s_squared("nothing") is None and reported_s_squared(s2 + s2) == pytest.approx(1.002913)


def test_cp2k_options_are_typed_and_unknown_keys_refused():
    opts = parse_backend_options(["cutoff_ry=400", "max_scf=1", "basis_set=SZV-MOLOPT-SR-GTH"])
    assert opts == {"cutoff_ry": 400.0, "max_scf": 1, "basis_set": "SZV-MOLOPT-SR-GTH"}
    assert Cp2kBackend(**opts).max_scf == 1
    with pytest.raises(NclatticeError, match="known key"):
        parse_backend_options(["cutof=400"])
    with pytest.raises(NclatticeError, match="needs a number"):
        parse_backend_options(["max_scf=many"])


def test_cp2k_unconverged_scf_warning_is_detected():
    assert output_reports_failure(f" *** WARNING in qs_scf.F:598 :: {NOT_CONVERGED} ***")
    assert not output_reports_failure(" *** SCF run converged in 12 steps ***")


EDGE_WARNING = """ *** WARNING in pw/ps_wavelet_methods.F:241 :: Density non-zero on the ***
 *** edges of the unit cell: wrong results in WAVELET solver           ***
"""  # as CP2K 2023.1 prints it: one message over two boxed lines


def test_cp2k_density_on_the_box_walls_is_detected_in_the_converged_density_only():
    step = "    12 OT CG       0.15E+00    0.2     0.00000622       -31.9610829546 -3.62E-09\n"
    converged = "  *** SCF run converged in    12 steps ***\n"
    energy = " ENERGY| Total FORCE_EVAL ( QS ) energy [a.u.]:   -31.961082955354097\n"
    assert output_reports_edge_density(EDGE_WARNING + step + converged + EDGE_WARNING + energy)
    # a warning about the (more diffuse) starting guess only leaves no trace in the result
    assert not output_reports_edge_density(EDGE_WARNING + step + converged + energy)
    assert output_reports_edge_density(EDGE_WARNING + step)  # no converged SCF: all of it counts
    assert not output_reports_edge_density(step + converged + energy)


def test_vacuum_to_try_after_density_reached_the_walls():
    cs4pbbr6 = ["Cs"] * 4 + ["Pb"] + ["Br"] * 6
    assert suggested_vacuum_angstrom(3.5, cs4pbbr6) == 5.0  # the default that holds it
    assert suggested_vacuum_angstrom(5.0, cs4pbbr6) == 6.5
    assert suggested_vacuum_angstrom(1.0, ["O", "O"]) == 3.5
    assert suggested_vacuum_angstrom(4.62, ["O", "O"]) == 6.5  # rounded up to 0.5 Å


def test_written_pair_feeds_the_diffraction_dft_model(polaron, tmp_path):
    """Same file format as the diffraction dft model reads: two extxyz files, same atom order;
    its excitation is the spin-relax displacement field."""
    import dataclasses

    from nclattice.flows import diffraction
    from nclattice.structio import write_structure

    write_structure(polaron.singlet.atoms, tmp_path / "singlet.extxyz")
    write_structure(polaron.triplet.atoms, tmp_path / "triplet.extxyz")
    s, t = diffraction.relaxed_pair(tmp_path)
    assert s.info["multiplicity"] == 1 and t.info["multiplicity"] == 3
    settings = dataclasses.replace(diffraction.PolaronSettings(), model="dft")
    positions, _, u_dft_model = next(diffraction.polaron_members(settings, np.random.default_rng(0), (s, t)))
    np.testing.assert_allclose(positions, s.positions)
    # the same field as from the in-memory pair, to the precision of the extxyz files
    np.testing.assert_allclose(u_dft_model, displacement_field(polaron.singlet.atoms, polaron.triplet.atoms)[1],
                               atol=1e-7)
