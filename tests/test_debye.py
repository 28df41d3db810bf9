"""Debye-model ⟨u²⟩ against an independent integration over the Debye phonon density of states."""

import json

import numpy as np
import pytest
from scipy import integrate

from nclattice.errors import NclatticeError
from nclattice.flows.cli import main
from nclattice.tasks.debye import (
    AMU_KG,
    HBAR_J_S,
    KB_J_PER_K,
    debye_calibration,
    msd_1d_angstrom2,
    parse_debye_temperatures,
)


def _msd_1d_from_dos(mass_amu: float, theta_k: float, temperature_k: float) -> float:
    """⟨u_n²⟩ = (ħ/2m)·(1/3)∫ g(ω) coth(ħω/2kT)/ω dω with g = 9ω²/ω_D³ (3 modes per atom)."""
    omega_d = KB_J_PER_K * theta_k / HBAR_J_S
    m = mass_amu * AMU_KG

    def integrand(w):
        return 9 * w**2 / omega_d**3 / np.tanh(HBAR_J_S * w / (2 * KB_J_PER_K * temperature_k)) / w

    value, _ = integrate.quad(integrand, 0, omega_d, epsrel=1e-12, limit=200)
    return HBAR_J_S / (2 * m) * value / 3 * 1e20


@pytest.mark.parametrize(("mass", "theta", "temperature"), [
    (207.2, 111.0, 300.0), (78.97, 205.0, 150.0), (30.97, 425.0, 90.0), (114.8, 425.0, 10.0)])
def test_debye_formula_matches_dos_integration(mass, theta, temperature):
    assert msd_1d_angstrom2(mass, theta, temperature) == pytest.approx(
        _msd_1d_from_dos(mass, theta, temperature), rel=1e-8)


def test_classical_limit_and_measured_pbse_value():
    high = msd_1d_angstrom2(207.2, 111.0, 5000.0)
    assert high == pytest.approx(msd_1d_angstrom2(207.2, 111.0, 5000.0, quantum=False), rel=1e-4)
    # Pb in PbSe, Θ = 111 K (neutron displacement parameters): about 0.017 Å² at 300 K
    assert msd_1d_angstrom2(207.2, 111.0, 300.0) == pytest.approx(0.0171, abs=3e-4)
    # zero-point motion: the quantum value stays finite and above the classical one as T -> 0
    assert msd_1d_angstrom2(30.97, 425.0, 5.0) > 10 * msd_1d_angstrom2(30.97, 425.0, 5.0, quantum=False)


def test_debye_calibration_schema_and_weighting():
    cal = debye_calibration({"Pb": 111.0, "Se": 205.0}, [150, 300, 450], composition={"Pb": 1, "Se": 1})
    pb, se = cal["msd_angstrom2"]["Pb"], cal["msd_angstrom2"]["Se"]
    assert pb[1] == pytest.approx(3 * msd_1d_angstrom2(207.2, 111.0, 300.0), rel=1e-3)
    assert min(pb[1], se[1]) < cal["msd_angstrom2"]["diffraction_weighted"][1] < max(pb[1], se[1])
    assert cal["fit"]["Pb"]["r2"] > 0.999 and cal["fit"]["Pb"]["slope_angstrom2_per_k"] > 0
    with pytest.raises(NclatticeError, match="no Debye temperature given for Se"):
        debye_calibration({"Pb": 111.0}, [150, 300, 450], composition={"Pb": 1, "Se": 1})
    with pytest.raises(NclatticeError, match="ELEMENT=KELVIN"):
        parse_debye_temperatures("Pb:111")


def test_cli_writes_debye_calibration(tmp_path, capsys):
    out = tmp_path / "debye"
    assert main(["calibrate", "--debye-temperatures", "Pb=111,Se=205", "--temperatures", "150:500:50",
                 "--out", str(out)]) == 0
    cal = json.loads((out / "calibration.json").read_text())
    assert cal["temperatures_k"] == [150, 200, 250, 300, 350, 400, 450, 500]
    assert (out / "calibration.png").stat().st_size > 0
    assert main(["calibrate", "--debye-temperatures", "Pb=111,Se=205", "--out", str(tmp_path / "b"),
                 "--compare", str(out / "calibration.json")]) == 0
    assert (tmp_path / "b" / "calibration_compare.png").exists()
    assert main(["calibrate", "--debye-temperatures", "Pb=-1", "--out", str(tmp_path / "c")]) == 2
    assert not (tmp_path / "c").exists()
