"""Scattering factors: table limits, anomalous edges, Mott–Bethe electrons, wavelengths."""

import numpy as np
import pytest

from nclattice.errors import NclatticeError
from nclattice.tasks.scattering import (
    MOTT_BETHE_ANGSTROM,
    Probe,
    electron_f,
    electron_factor,
    electron_wavelength_angstrom,
    nearby_edges,
    relativistic_gamma,
    xray_anomalous,
    xray_f0,
    xray_wavelength_angstrom,
)

ATOMIC_NUMBER = {"Cs": 55, "Pb": 82, "Br": 35, "Cd": 48, "Se": 34, "S": 16}


@pytest.mark.parametrize("symbol", sorted(ATOMIC_NUMBER))
def test_xray_f0_forward_equals_electron_count(symbol):
    # f0(Q = 0) counts the electrons; the Waasmaier–Kirfel fits hold it to < 0.01 e
    assert xray_f0(symbol, np.zeros(1))[0] == pytest.approx(ATOMIC_NUMBER[symbol], abs=0.01)
    q = np.linspace(0, 25, 50)
    assert np.all(np.diff(xray_f0(symbol, q)) < 0)  # decreasing with Q


def test_xray_ion_counts_its_charge():
    assert xray_f0("Br1-", np.zeros(1))[0] == pytest.approx(36, abs=0.02)
    assert xray_f0("Pb2+", np.zeros(1))[0] == pytest.approx(80, abs=0.02)


def test_anomalous_terms_jump_at_the_edges_near_13p6_kev():
    # f'' rises by the edge jump: Pb L3 at 13.035 keV, Br K at 13.474 keV
    assert xray_anomalous("Pb", 13.2)[1] > 1.8 * xray_anomalous("Pb", 12.9)[1]
    assert xray_anomalous("Br", 13.6)[1] > 3 * xray_anomalous("Br", 13.3)[1]
    edges = {(e["element"], e["edge"]) for e in nearby_edges(["Cs", "Pb", "Br", "Se", "Cd"], 13.6)}
    assert edges == {("Pb", "L3"), ("Br", "K"), ("Se", "K")}
    f = Probe("xray", 13.6, anomalous=True).factor("Pb", np.array([0.0]))[0]
    assert f.imag == pytest.approx(xray_anomalous("Pb", 13.6)[1]) and f.real < 82


def test_electron_factor_is_mott_bethe_of_the_xray_fit():
    q = np.array([2.0, 5.0, 10.0, 20.0])
    s2 = (q / (4 * np.pi)) ** 2
    for sym in ("Pb", "Br", "Se"):
        z_fit = xray_f0(sym, np.zeros(1))[0]  # the fit's own electron count
        direct = MOTT_BETHE_ANGSTROM * (z_fit - xray_f0(sym, q)) / s2
        assert np.allclose(electron_f(sym, q, 0.0), direct, rtol=1e-9)
    # smooth through s = 0 (the expm1 route has no 0/0)
    f = electron_f("Pb", np.array([0.0, 1e-6, 1e-3]), 0.0)
    assert np.allclose(f, f[0], rtol=1e-6) and 10 < f[0] < 15
    # Rutherford limit at large Q: f_e s² / K -> Z (f0 << Z)
    assert electron_f("S", np.array([120.0]), 0.0)[0] * (120 / (4 * np.pi)) ** 2 / MOTT_BETHE_ANGSTROM \
        == pytest.approx(16, rel=0.02)


def test_relativistic_scaling_and_wavelengths():
    q = np.array([1.0, 3.0])
    ratio = electron_f("Cd", q, 3700.0) / electron_f("Cd", q, 50.0)
    assert np.allclose(ratio, relativistic_gamma(3700) / relativistic_gamma(50))
    assert relativistic_gamma(3700.0) == pytest.approx(8.2407, abs=1e-3)
    # textbook values: 50 kV electrons 0.0536 Å; 3.7 MeV UED about 0.00297 Å; 13.6 keV photons 0.9116 Å
    assert electron_wavelength_angstrom(50.0) == pytest.approx(0.05355, abs=2e-5)
    assert electron_wavelength_angstrom(3700.0) == pytest.approx(0.002966, abs=2e-6)
    assert xray_wavelength_angstrom(13.6) == pytest.approx(0.91165, abs=1e-4)
    assert Probe("electron", 3700.0).wavelength_angstrom == pytest.approx(0.002966, abs=2e-6)


def test_bad_probes_are_refused():
    with pytest.raises(NclatticeError, match="probe"):
        Probe("neutron")
    with pytest.raises(NclatticeError, match="X-rays only"):
        Probe("electron", 50.0, anomalous=True)
    with pytest.raises(NclatticeError, match="neutral"):
        electron_f("Br1-", np.ones(1), 50.0)
    with pytest.raises(NclatticeError, match="Waasmaier"):
        xray_f0("Xx", np.ones(1))


@pytest.mark.parametrize("symbol", ["Cd", "Se", "S", "Pb", "Br", "Cs", "In", "P"])
def test_kirkland_and_mott_bethe_agree_where_both_hold(symbol):
    # both are Hartree–Fock densities through the first Born approximation: at Q >= 2 Å⁻¹ the
    # two parametrisations must agree to a few per cent; f_e(0) is finite for Kirkland
    q = np.linspace(2.0, 20.0, 37)
    kirk = electron_factor(symbol, q, 3700.0, "kirkland")
    mott = electron_factor(symbol, q, 3700.0, "mott-bethe")
    assert np.allclose(kirk, mott, rtol=0.03)
    f0 = electron_factor(symbol, np.zeros(1), 3700.0)[0]
    assert np.isfinite(f0) and f0 > kirk[0] > 0
    assert Probe("electron", 3700.0).factor(symbol, q) == pytest.approx(kirk)
    assert Probe("electron", 3700.0, electron_factors="mott-bethe").factor(symbol, q) == pytest.approx(mott)


def test_kirkland_is_the_default_and_scales_with_gamma():
    q = np.array([1.0, 4.0])
    assert electron_factor("Cd", q, 3700.0) / electron_factor("Cd", q, 50.0) == pytest.approx(
        relativistic_gamma(3700.0) / relativistic_gamma(50.0))
    assert "Kirkland" in Probe("electron", 3700.0).describe()["tables"]
    with pytest.raises(NclatticeError, match="electron factors"):
        Probe("electron", 3700.0, electron_factors="lobato")
    with pytest.raises(NclatticeError, match="neutral"):
        electron_factor("Cd2+", q, 50.0)


def test_table_rows_read_directly_equal_xraydbs_own_api():
    """f0 coefficients and edges come from xraydb's database through sqlite3; xraydb itself agrees."""
    import json

    import xraydb

    from nclattice.tasks.scattering import _waasmaier_row

    table = {r.ion: r for r in xraydb.get_xraydb().get_cache("Waasmaier")}
    for ion in ("Cd", "Se", "Pb2+", "Br1-", "Cs"):
        z, offset, a, b = _waasmaier_row(ion)
        row = table[ion]
        assert (z, offset) == (row.atomic_number, row.offset)
        assert np.array_equal(a, json.loads(row.scale)) and np.array_equal(b, json.loads(row.exponents))
    expected = sorted((el, name) for el in ("Pb", "Br", "Se", "Cd", "Cs")
                      for name, e in xraydb.xray_edges(el).items()
                      if name in ("K", "L1", "L2", "L3") and abs(e.energy / 1e3 - 13.6) <= 1.0)
    assert sorted((e["element"], e["edge"]) for e in nearby_edges(["Cs", "Pb", "Br", "Se", "Cd"], 13.6)) == expected
