"""Kinematic diffraction: NUFFT vs direct sum, Debye vs orientational average, Bragg positions,
peak-shift metric, powder functions, ensembles and occupation weighting."""

import numpy as np
import pytest

from nclattice.errors import NclatticeError
from nclattice.structures import build_cdse, build_cspbbr3_cube
from nclattice.structures.lattice import wurtzite_cell
from nclattice.tasks import diffraction as dif
from nclattice.tasks.scattering import Probe

XRAY = Probe("xray", 13.6)


@pytest.fixture(scope="module")
def small_nc():
    """Cs54Pb27Br108 with its atoms rattled by 0.05 Å, so that no distance repeats exactly."""
    atoms = build_cspbbr3_cube(3, "tetra")
    rng = np.random.default_rng(7)
    return atoms.positions + rng.normal(scale=0.05, size=atoms.positions.shape), atoms.get_chemical_symbols()


@pytest.mark.parametrize("hkl", ["200", "111"])
def test_nufft_grid_matches_direct_sum(small_nc, hkl):
    pos, sym = small_nc
    box = dif.box_around(dif.parse_hkl(hkl), 5.9, 0.35, 15)
    fast = dif.kinematic_intensity(pos, sym, XRAY, box=box, eps=1e-9)
    ref = dif.kinematic_intensity(pos, sym, XRAY, box=box, method="direct")
    assert np.linalg.norm(fast - ref) / np.linalg.norm(ref) < 1e-6
    assert np.abs(fast - ref).max() / ref.max() < 1e-6


def test_nufft_type3_and_slices_match_direct_sum(small_nc):
    pos, sym = small_nc
    q = np.random.default_rng(3).normal(scale=2.0, size=(300, 3))
    fast = dif.kinematic_intensity(pos, sym, XRAY, q_vectors=q, eps=1e-10)
    ref = dif.kinematic_intensity(pos, sym, XRAY, q_vectors=q, method="direct")
    assert np.abs(fast - ref).max() / ref.max() < 1e-6
    plane = dif.QBox((0.0, 0.0, 1.065), 2.5, 41, flat_axis=2)  # the l = 1 plane
    fast = dif.kinematic_intensity(pos, sym, Probe("electron", 3700.0), box=plane)
    ref = dif.kinematic_intensity(pos, sym, Probe("electron", 3700.0), box=plane, method="direct")
    assert fast.shape == (41, 41, 1) and np.abs(fast - ref).max() / ref.max() < 1e-6


@pytest.mark.parametrize("probe", [XRAY, Probe("xray", 13.6, anomalous=True), Probe("electron", 50.0)])
def test_debye_equals_orientational_average_of_3d_intensity(small_nc, probe):
    pos, sym = small_nc
    q = np.array([0.4, 1.065, 2.13, 3.3, 5.0])
    sphere = dif.orientational_average(pos, sym, probe, q)
    direct = dif.debye_intensity(pos, sym, probe, q, method="direct")
    histogram = dif.debye_intensity(pos, sym, probe, q, method="histogram", bin_width_angstrom=0.005)
    assert np.allclose(sphere, direct, rtol=1e-8)
    # binning error is second order in Q·δr thanks to the in-bin mean distance
    assert np.allclose(histogram, direct, rtol=1e-5)


def test_bragg_peaks_of_cubic_cspbbr3_sit_on_the_lattice():
    atoms = build_cspbbr3_cube(6, None)
    for hkl in ("200", "110", "111", "400"):
        g = dif.reciprocal_vector(dif.parse_hkl(hkl), 5.9)
        q = np.linalg.norm(g) + np.linspace(-0.12, 0.12, 61)
        profile = dif.line_profile(atoms.positions, atoms.get_chemical_symbols(), XRAY, g, q)
        # the falling f(Q) pulls the maximum of a 3.5 nm crystal in by < 0.1 %
        assert dif.peak_maximum(q, profile) == pytest.approx(np.linalg.norm(g), rel=1e-3)


def test_bragg_peaks_of_bulk_like_cdse_sit_on_the_wurtzite_lattice():
    atoms = build_cdse(4.5)  # wurtzite, a = 4.299 Å, c = 7.010 Å, c along z
    cell = wurtzite_cell(4.299, 7.010, 0.375)[0]
    for hkl in [(1, 0, 0), (0, 0, 2), (1, 0, 1), (1, 1, 0), (1, 0, 3)]:
        g = dif.reciprocal_vector(hkl, cell)
        q = np.linalg.norm(g) + np.linspace(-0.12, 0.12, 61)
        profile = dif.line_profile(atoms.positions, atoms.get_chemical_symbols(), Probe("electron", 3700.0), g, q)
        # f_e(Q) falls steeply, pulling maxima in by up to 0.2 % (2 % of the 0.14 Å⁻¹ peak width)
        assert dif.peak_maximum(q, profile) == pytest.approx(np.linalg.norm(g), rel=2.5e-3)
    # d(100) = √3 a / 2: Q = 4π / (√3 a)
    assert np.linalg.norm(dif.reciprocal_vector((1, 0, 0), cell)) == pytest.approx(4 * np.pi / (np.sqrt(3) * 4.299))


def test_peak_shift_of_a_uniform_expansion_is_inward_by_strain_times_g():
    atoms = build_cspbbr3_cube(5, "tetra")
    strain = 1e-3
    boxes = [dif.box_around(dif.parse_hkl(h), 5.9, 0.3, 21) for h in ("200", "110", "111", "400")]
    ens = dif.EnsembleIntensity.empty(boxes)
    dif.accumulate_member(ens, (atoms.positions, atoms.get_chemical_symbols(), strain * atoms.positions), XRAY)
    for box, result in zip(boxes, ens.peak_shifts().values(), strict=True):
        g = np.linalg.norm(box.center_inv_angstrom)
        assert result["shift_inv_angstrom"] == pytest.approx(-strain * g, rel=0.05)
        # the plain box centroid is biased by the box cutting the size fringes
        assert result["centroid_shift_inv_angstrom"] == pytest.approx(-strain * g, rel=0.25)
        assert abs(result["integrated_change"]) < 0.02  # a shift barely changes the integral
        assert result["integration_box"]["half_width_inv_angstrom"] == 0.3


def test_occupation_weighting_gives_p1_plus_2p2_pairs_in_the_linear_regime():
    atoms = build_cspbbr3_cube(3, "tetra")
    box = [dif.box_around((2, 0, 0), 5.9, 0.4, 15)]
    u = 1e-4 * atoms.positions
    member = (atoms.positions, atoms.get_chemical_symbols(), u)
    one = dif.EnsembleIntensity.empty(box)
    dif.accumulate_member(one, member, XRAY, p1=1.0, p2=0.0)
    paper = dif.EnsembleIntensity.empty(box)
    dif.accumulate_member(paper, member, XRAY, p1=0.504, p2=0.128)  # Shen et al., XFEL exciton-polaron paper, S2
    delta_one = one.pumped[0] - one.dark[0]
    delta_paper = paper.pumped[0] - paper.dark[0]
    ratio = (delta_paper * delta_one).sum() / (delta_one**2).sum()
    assert ratio == pytest.approx(0.504 + 2 * 0.128, rel=1e-3)
    with pytest.raises(NclatticeError, match="occupations"):
        dif.occupation_weighted(delta_one, delta_one, delta_one, 0.8, 0.4)


def test_powder_functions_find_the_pb_br_bond(small_nc):
    pos, sym = small_nc
    q = np.linspace(0.3, 25, 1500)
    intensity = dif.debye_intensity(pos, sym, XRAY, q)
    species, idx = dif.species_index(sym)
    r = np.linspace(1.5, 6.5, 501)
    pat = dif.powder_pattern(q, intensity, species, np.bincount(idx), XRAY, r, lorch=True)
    # G(r) peaks at the Pb–Br bond a/2 = 2.95 Å, then Cs–Br/Br–Br a/√2 = 4.17 Å
    first = r[np.argmax(pat.pdf * (r < 3.5))]
    assert first == pytest.approx(2.95, abs=0.05)
    assert r[np.argmax(pat.pdf * (r > 3.6) * (r < 5))] == pytest.approx(5.9 / np.sqrt(2), abs=0.08)
    # S(Q) -> 1 at high Q where f(Q)-weighted interference averages out
    assert abs(pat.structure_factor[q > 20].mean() - 1) < 0.05
    # a uniform expansion moves ΔG from the old bond length to the new one
    pumped = dif.debye_intensity(pos * 1.01, sym, XRAY, q)
    diff = dif.powder_difference(dif.powder_pattern(q, pumped, species, np.bincount(idx), XRAY, r, lorch=True), pat)
    near = (r > 2.7) & (r < 3.2)
    assert r[near][np.argmax(diff["delta_pdf"][near])] > r[near][np.argmin(diff["delta_pdf"][near])]


def test_gamma_sizes_stay_in_bounds_and_match_the_truncated_mean():
    sizes = dif.GammaSizes(2.0, 5.4, 3.0, 15.0)
    draws = sizes.sample(np.random.default_rng(0), 4000)
    assert draws.min() >= 3.0 and draws.max() <= 15.0
    assert draws.mean() == pytest.approx(sizes.truncated_mean_nm(), abs=4 * draws.std() / np.sqrt(4000))
    assert 6.5 < sizes.truncated_mean_nm() < 6.6  # cutting below 3 nm raises the mean from 5.4 nm
    with pytest.raises(NclatticeError):
        dif.GammaSizes(2.0, 5.4, 15.0, 3.0)


def test_bad_boxes_and_miller_indices():
    with pytest.raises(NclatticeError, match="odd"):
        dif.QBox((1.0, 0, 0), 0.2, 20)
    with pytest.raises(NclatticeError, match="Miller"):
        dif.parse_hkl("2x0")
    assert dif.parse_hkl("-1,1,0") == (-1, 1, 0)


def _rattled(atoms, seed=1, scale=0.05):
    rng = np.random.default_rng(seed)
    return atoms.positions + rng.normal(scale=scale, size=atoms.positions.shape), atoms.get_chemical_symbols()


def test_histogram_debye_with_mean_bin_distances_is_exact_to_1e_4_up_to_12_inverse_angstrom():
    from nclattice.structures import build_cdse_cds

    pos, sym = _rattled(build_cdse_cds(2.0, 1))  # 342 atoms, 3 species
    q = np.linspace(0.5, 12.0, 60)
    direct = dif.debye_direct(pos, sym, XRAY, q)
    hist = dif.pair_histogram(pos, sym, 0.005)
    exact = dif.debye_from_histogram(hist, XRAY, q)
    error = np.abs(exact - direct).max() / direct.max()
    assert error < 1e-4
    # the same bins evaluated at their centres miss by far more: the mean distance is what matters
    w = hist.bin_width_angstrom
    centred = dif.PairHistogram(hist.species, hist.counts_per_species, hist.pairs, hist.counts,
                                [(np.floor(r / w) + 0.5) * w for r in hist.mean_r], w)
    assert np.abs(dif.debye_from_histogram(centred, XRAY, q) - direct).max() / direct.max() > 10 * error
    # every unordered pair counted once
    assert sum(c.sum() for c in hist.counts) == len(pos) * (len(pos) - 1) // 2


def test_pair_binning_shared_among_threads_counts_every_pair_once(monkeypatch):
    """Rows split among threads (balanced by pair count) give the one-thread histogram: the same
    counts exactly, distance sums to rounding; also a split finer than the rows of a small set."""
    from nclattice.tasks import pairbins

    monkeypatch.setattr(pairbins, "MIN_PAIRS_PER_THREAD", 1)
    rng = np.random.default_rng(3)
    x, y = rng.random((301, 3)) * 20, rng.random((123, 3)) * 20
    for a, b, same, pairs in ((x, x, True, 301 * 300 // 2), (x, y, False, 301 * 123), (x[:2], x[:2], True, 1)):
        one = pairbins.bin_pair_distances(a, b, same, 0.05, 800, threads=1)
        for threads in (2, 3, 7):
            many = pairbins.bin_pair_distances(a, b, same, 0.05, 800, threads=threads)
            np.testing.assert_array_equal(many[0], one[0])
            np.testing.assert_allclose(many[1], one[1], rtol=1e-12)
        assert one[0].sum() == pairs


def test_nufft_powder_matches_the_exact_debye_sum_on_thousands_of_atoms():
    probe = Probe("electron", 3700.0)
    pos, sym = _rattled(build_cdse(4.5))  # 1,675 atoms
    q = np.linspace(0.5, 12.0, 16)
    exact = dif.debye_intensity(pos, sym, probe, q, method="histogram")
    fast = dif.debye_intensity(pos, sym, probe, q, method="nufft")
    assert np.abs(fast - exact).max() / exact.max() < 1e-4


def test_auto_powder_method_follows_the_cost_model():
    q = np.linspace(0.5, 12.0, 600)
    # 11k atoms to 12 Å⁻¹: the pair histogram is cheaper; 100k atoms at small Q·D: the NUFFT
    assert dif.choose_powder_method(11_000, 2, 85.0, q) == "histogram"
    assert dif.choose_powder_method(100_000, 2, 175.0, np.linspace(0.2, 2.0, 300)) == "nufft"
    cost = dif.powder_cost_s(100_000, 2, 175.0, np.linspace(0.2, 2.0, 300))
    assert cost["nufft"] < cost["histogram"]
    # at high Q the NUFFT's (Q·D)² nodes per shell make it far dearer than the pair loop
    high_q = dif.powder_cost_s(11_000, 2, 85.0, q)
    assert high_q["nufft"] > 10 * high_q["histogram"]
    with pytest.raises(NclatticeError, match="powder method"):
        dif.debye_intensity(np.zeros((2, 3)), ["Cd", "Se"], XRAY, q, method="fast")
