"""Pair distribution functions: histogram counts, the two routes to G(r), broadening signature."""

import numpy as np
import pytest

from nclattice.structures import build_cdse
from nclattice.tasks.msd import diffraction_weights
from nclattice.tasks.pdf import (
    broadening_signature,
    f_of_q,
    g_from_f,
    g_of_r,
    pair_histograms,
    peak_near,
)


@pytest.fixture(scope="module")
def crystal():
    return build_cdse(2.5)


def test_histogram_counts_bonds_and_pairs(crystal):
    symbols = crystal.get_chemical_symbols()
    hist = pair_histograms(crystal.positions[None], symbols, r_max_angstrom=3.0, dr_angstrom=0.01)
    # every Cd-Se bond (2.63 Å) appears once; the per-atom coordination sums to twice that
    assert hist.counts[("Cd", "Se")].sum() == pytest.approx(crystal.arrays["coordination"].sum() / 2)
    assert hist.counts[("Cd", "Cd")].sum() == 0 and hist.counts[("Se", "Se")].sum() == 0
    full = pair_histograms(crystal.positions[None], symbols, r_max_angstrom=100.0, dr_angstrom=0.05)
    n = len(crystal)
    assert sum(h.sum() for h in full.counts.values()) == pytest.approx(n * (n - 1) / 2)


def test_reciprocal_route_recovers_direct_space_peaks(crystal):
    symbols = crystal.get_chemical_symbols()
    rng = np.random.default_rng(0)
    frames = crystal.positions + rng.normal(0, 0.08, size=(20, len(crystal), 3))
    hist = pair_histograms(frames, symbols, r_max_angstrom=10.0)
    w = dict(zip(symbols, diffraction_weights(symbols), strict=True))
    r, g_direct = g_of_r(hist, w, diameter_angstrom=25.0, smoothing_angstrom=0.0)
    radial_over_r = hist.weighted(w) / hist.dr / r
    q = np.linspace(0.0, 60.0, 6000)  # wide range: the transform returns R(r)/r itself
    g_fq = g_from_f(q, f_of_q(hist, w, q), r)
    for lo, hi in [(2.4, 2.9), (4.0, 4.6)]:
        assert peak_near(r, g_fq, lo, hi) == pytest.approx(peak_near(r, radial_over_r, lo, hi), abs=0.03)
        sel = (r > lo) & (r < hi)
        assert np.trapezoid(g_fq[sel], r[sel]) == pytest.approx(np.trapezoid(radial_over_r[sel], r[sel]),
                                                                rel=0.03)
    # a finite Q range (the experiment's) broadens the peak and adds termination ripples
    q_exp = np.linspace(1.0, 12.0, 1000)
    g_exp = g_from_f(q_exp, f_of_q(hist, w, q_exp), r)
    assert g_exp.max() < g_fq.max()
    assert g_direct[np.argmin(abs(r - 2.63))] > 0


def test_broadening_signature_of_gaussian_peaks():
    r = np.linspace(2, 3.4, 1401)
    narrow = np.exp(-((r - 2.63) ** 2) / (2 * 0.08**2)) / 0.08
    broad = np.exp(-((r - 2.63) ** 2) / (2 * 0.085**2)) / 0.085
    sig = broadening_signature(r, broad - narrow, 2.63)
    assert sig["broadening"] and sig["delta_g_centre"] < 0
    assert not broadening_signature(r, narrow - broad, 2.63)["broadening"]


def test_f_of_q_with_mean_bin_distances_equals_the_explicit_pair_sum(crystal):
    from dataclasses import replace

    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(3)
    frame = crystal.positions + rng.normal(scale=0.08, size=crystal.positions.shape)
    symbols = crystal.get_chemical_symbols()
    w = {"Cd": 48.0, "Se": 34.0}
    hist = pair_histograms(frame[None], symbols, r_max_angstrom=12.0, dr_angstrom=0.01)
    q = np.linspace(0.5, 12.0, 200)
    # the Debye sum over every pair closer than r_max, written out
    d = pdist(frame)
    f = np.array([w[s] for s in symbols])
    fij = pdist(f[:, None], lambda a, b: a[0] * b[0])
    near = d < 12.0
    mean_f = f.mean()
    exact = 2 * np.sin(np.outer(q, d[near])) @ (fij[near] / d[near]) / (len(symbols) * mean_f**2)
    err = np.abs(f_of_q(hist, w, q) - exact).max() / np.abs(exact).max()
    centres = np.abs(f_of_q(replace(hist, r_sums=None), w, q) - exact).max() / np.abs(exact).max()
    # 0.01 Å bins up to Q = 12 Å⁻¹: the in-bin spread leaves ~(QΔr)²/24; bin centres add a first-order term
    assert err < 5e-4 and centres > 3 * err
