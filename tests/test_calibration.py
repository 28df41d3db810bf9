"""Temperature -> MSD calibration: fits, error propagation, and the Prefect flow end to end."""

import json

import numpy as np
import pytest

from nclattice.cli import main
from nclattice.flows.calibration import run_calibration
from nclattice.flows.delta_t import run_delta_t
from nclattice.flows.settings import CalibrationSettings, DeltaTSettings
from nclattice.structio import read_structure, write_structure
from nclattice.structures import build_cdse_cds
from nclattice.tasks.calibration import delta_t_from_delta_msd, fit_linear


def test_fit_recovers_a_line_and_propagates_errors():
    t = np.array([150.0, 250, 350, 450])
    fit = fit_linear(t, 0.002 + 1e-4 * t)
    assert fit["slope_angstrom2_per_k"] == pytest.approx(1e-4) and fit["r2"] == pytest.approx(1.0)
    calib = {"fit": {"diffraction_weighted": {"slope_angstrom2_per_k": 1e-4, "slope_stderr": 1e-5}}}
    dt, sigma = delta_t_from_delta_msd(calib, 1.3e-3, 1e-4)
    assert dt == pytest.approx(13.0)
    assert sigma == pytest.approx(np.hypot(1e-4 / 1e-4, 1.3e-3 * 1e-5 / 1e-8))
    with pytest.raises(ValueError, match="no fit named"):
        delta_t_from_delta_msd(calib, 1e-3, key="Cd")


@pytest.fixture(scope="module")
def structure(tmp_path_factory):
    path = tmp_path_factory.mktemp("nc") / "cs.extxyz"
    write_structure(build_cdse_cds(1.5, 1), path)
    return str(path)


@pytest.fixture(scope="module")
def calibration(structure, tmp_path_factory):
    out = tmp_path_factory.mktemp("calib")
    settings = CalibrationSettings(temperatures_k=[150, 200, 250, 300, 350, 400, 450, 500], equilibration_ps=2,
                                   production_ps=8, seed=7,
                                   anneal_temperature_k=300.0, anneal_ps=5.0)  # loose surface S settles: ⟨u²⟩(T) linear
    calib = run_calibration(structure, settings, out,
                            overrides={"400": {"timestep_fs": 50.0, "sample_every_fs": 100.0}})
    return calib, out


def test_msd_is_linear_in_temperature_per_element(calibration):
    _, out = calibration
    written = json.loads((out / "calibration.json").read_text())
    assert written["temperatures_k"] == [150, 200, 250, 300, 350, 450, 500]
    for element in ("Cd", "Se", "S", "diffraction_weighted"):
        fit = written["fit"][element]
        assert fit["r2"] >= 0.98, element
        assert {"slope_angstrom2_per_k", "slope_stderr", "intercept_angstrom2", "r2"} <= set(fit)
        # classical harmonic limit: <u²> ∝ T, so the intercept is small next to <u²>(300 K)
        msd300 = written["msd_angstrom2"][element][3]
        assert abs(fit["intercept_angstrom2"]) < 0.2 * msd300
    # surface atoms vibrate more than interior ones, shell more than core
    assert written["fit"]["surface"]["slope_angstrom2_per_k"] > written["fit"]["interior"]["slope_angstrom2_per_k"]
    assert written["provenance"]["potential"]["name"] == "zhou2013-sw"
    assert (out / "calibration.png").stat().st_size > 10_000


def test_broken_temperature_is_reported_and_the_rest_completes(calibration):
    calib, _ = calibration
    assert len(calib["failed"]) == 1
    failure = calib["failed"][0]
    assert failure["temperature_k"] == 400 and "timestep 50" in failure["error"]


def test_same_seed_gives_identical_numbers(structure, tmp_path):
    """Anneal included: the same seed gives the same minimised start and the same ⟨u²⟩."""
    settings = CalibrationSettings(temperatures_k=[200, 300, 400], equilibration_ps=1, production_ps=4, seed=3,
                                   anneal_ps=2)
    runs = [run_calibration(structure, settings, tmp_path / name) for name in ("a", "b")]
    assert runs[0]["msd_angstrom2"] == runs[1]["msd_angstrom2"]
    assert runs[0]["fit"] == runs[1]["fit"]
    assert (tmp_path / "a" / "minimised.extxyz").read_text() == (tmp_path / "b" / "minimised.extxyz").read_text()


def test_apply_converts_delta_msd_to_delta_t(calibration, capsys):
    _, out = calibration
    b = json.loads((out / "calibration.json").read_text())["fit"]["diffraction_weighted"]["slope_angstrom2_per_k"]
    assert main(["calibrate", "--apply", str(out / "calibration.json"), "--delta-msd", str(13 * b)]) == 0
    assert "ΔT = 13.00 ±" in capsys.readouterr().out
    assert main(["calibrate", "--apply", str(out / "calibration.json")]) == 2
    assert main(["calibrate", "--apply", str(out / "missing.json"), "--delta-msd", "0.001"]) == 2


def test_bad_calibrate_input_writes_nothing(structure, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["calibrate", structure, "--temperatures", "100,abc", "--out", str(out)]) == 2
    assert main(["calibrate", str(tmp_path / "none.extxyz"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not out.exists()


def test_delta_t_shows_broadening_at_the_wurtzite_peaks(structure, tmp_path):
    """A 100 K step on a tiny crystal (a 14 K step needs the larger runs of the benchmark)."""
    summary = run_delta_t(structure, DeltaTSettings(delta_t_k=100.0, equilibration_ps=2, production_ps=20, seed=5,
                                                    no_anneal=True), tmp_path)
    for name in ("first_neighbour", "a_axis", "c_axis"):
        assert summary["peaks"][name]["broadening"], name
    assert 2.5 < summary["peaks"]["first_neighbour"]["r_peak_angstrom"] < 2.65
    header = (tmp_path / "delta_g.csv").read_text().splitlines()[0]
    assert header == "r_angstrom,g_t0,g_t1,delta_g"
    assert set(summary["md_protocol"]) == {"300", "400"}
    # --no-anneal: minimised as given, and that minimum is written beside the result
    assert summary["minimised"]["anneal_temperature_k"] == 0 and summary["minimised"]["minimisation_converged"]
    assert read_structure(tmp_path / "minimised.extxyz").info["anneal_ps"] == 0


def test_one_annealed_minimum_is_shared_by_temperatures_and_capabilities(structure, tmp_path):
    """delta-t's two temperatures and a calibration with the same seed and anneal start from one
    annealed, minimised crystal, computed once in the shared cache."""
    runs = tmp_path / "runs"
    delta = run_delta_t(structure, DeltaTSettings(delta_t_k=50.0, equilibration_ps=0.5, production_ps=2, seed=5,
                                                  anneal_ps=2), tmp_path / "dt", runs)
    calibration = run_calibration(structure, CalibrationSettings(temperatures_k=[200, 300, 400], equilibration_ps=0.5,
                                                                 production_ps=1, seed=5, anneal_ps=2),
                                  tmp_path / "cal", runs)
    assert len(list((runs / "minimised").iterdir())) == 1
    assert delta["minimised"]["key"] == calibration["minimised"]["key"]
    starts = [read_structure(tmp_path / name / "minimised.extxyz") for name in ("dt", "cal")]
    assert np.array_equal(starts[0].positions, starts[1].positions)
    info = starts[0].info
    assert (info["anneal_temperature_k"], info["anneal_ps"], info["anneal_seed"]) == (300, 2, 5)
    assert info["energy_ev"] == pytest.approx(delta["minimised"]["energy_ev"], abs=1e-9)
    assert info["energy_ev"] < delta["minimised"]["minimization"]["energy_initial_ev"]


def test_anneal_options_map_to_one_protocol():
    from nclattice.flows.mdruns import anneal_protocol, md_settings

    default = anneal_protocol(DeltaTSettings(), seed=7)
    assert default.anneals and (default.temperature_k, default.duration_ps, default.seed) == (300, 20, 7)
    for off in ({"no-anneal": True}, {"anneal-k": 0}):
        assert not anneal_protocol(DeltaTSettings.parse(off), seed=7).anneals
    assert CalibrationSettings.parse({"no-minimize": True}).no_minimize  # the default anneal gives way
    # one mapping of MD options: the thermostat where the capability has one, the start already minimised
    run = md_settings(CalibrationSettings(thermostat="csvr", timestep_fs=1.5), 250.0)
    assert (run.thermostat, run.timestep_fs, run.temperature_k, run.minimize_first) == ("csvr", 1.5, 250.0, False)
    assert md_settings(DeltaTSettings(), 300.0).thermostat == "langevin"
