"""`nclattice kinetics ...` and `nclattice ued analyze` end to end: files, keys, numbers, bad input."""

import json
from pathlib import Path

import numpy as np
import pytest

from nclattice.cli import main
from nclattice.tasks import kinetics as kin
from nclattice.tasks import ued

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_json(argv, out: Path, name: str) -> dict:
    assert main([*argv, "--out", str(out)]) == 0
    assert (out / f"{name}.png").stat().st_size > 1000
    return json.loads((out / f"{name}.json").read_text())


# ---------------------------------------------------------------- kinetics
def test_kinetics_occupation(tmp_path, capsys):
    r = run_json(["kinetics", "occupation", "--gamma0-t", "1", "--gamma-ratio", "0.4"], tmp_path, "occupation")
    assert [round(r[k], 3) for k in ("p0", "p1", "p2", "mean_pairs")] == [0.368, 0.504, 0.128, 0.760]
    assert "provenance" in r and "P1 = 0.504" in capsys.readouterr().out
    # the same from fluence and cross-section (Shen et al., XFEL exciton-polaron paper: σ·J = 1)
    r2 = run_json(["kinetics", "occupation", "--fluence-mj-cm2", "0.0676", "--wavelength-nm", "477",
                   "--cross-section-cm2", "6.16e-15"], tmp_path / "b", "occupation")
    assert r2["p1"] == pytest.approx(0.504, abs=1e-3)


def test_kinetics_auger(tmp_path):
    r = run_json(["kinetics", "auger", "--mean-excitons", "21", "--tau-auger-ps", "625", "--n-nc", "3000",
                  "--seed", "4"], tmp_path, "auger")
    for key in ("times_ps", "delta_energy_per_nc", "time_constant_ps", "final_excitons_mean"):
        assert key in r
    assert len(r["times_ps"]) == len(r["delta_energy_per_nc"]) == 201
    assert r["master_equation"]["max_abs_z_gillespie_vs_master"] < 4
    me_final = r["master_equation"]["excitons_mean"][-1]
    assert r["final_excitons_mean"] == pytest.approx(me_final, abs=0.1)
    assert 2 * 625 / 21 < r["time_constant_ps"] < 625
    # the model-free 63 % rise lies on the exact curve; longer fit windows weigh the slow tail more
    assert r["rise_time_63_ps"] == pytest.approx(kin.auger_rise_time_ps(21.0, 625.0))
    windows = r["master_equation_time_constant_by_window_ps"]
    assert windows["500"] < windows["1000"] < windows["3000"]
    assert r["provenance"]["seed"] == 4
    assert "delta_t_k" not in r  # no exciton energy and NC size given: energies only


def test_kinetics_auger_lattice_temperature(tmp_path, capsys):
    """ΔT = E_X ΔE / (3 N k_B): 21 excitons of 2 eV in a 10,901-atom NC (the CdSe/CdS 8 ML model)."""
    argv = ["kinetics", "auger", "--mean-excitons", "21", "--tau-auger-ps", "625", "--n-nc", "2000", "--seed", "4"]
    r = run_json([*argv, "--exciton-energy-ev", "2.0", "--n-atoms", "10901"], tmp_path, "auger")
    heat = 3 * 10901 * 8.617333262e-5
    assert r["heat_capacity_ev_per_k"] == pytest.approx(heat, rel=1e-9)
    assert np.allclose(r["delta_t_k"], np.asarray(r["delta_energy_per_nc"]) * 2.0 / heat)
    assert r["delta_t_end_k"] == pytest.approx(r["delta_energy_per_nc"][-1] * 2.0 / heat)
    # every exciton but the last ends in the lattice: (⟨N⟩ − 1 + e^{−⟨N⟩}) E_X / C = 14.2 K
    assert r["delta_t_complete_k"] == pytest.approx((20 + np.exp(-21.0)) * 2.0 / heat)
    assert 12.5 < r["delta_t_end_k"] < r["delta_t_complete_k"]
    assert "lattice ΔT at the end" in capsys.readouterr().out
    t = run_json(["kinetics", "trapping", "--mean-excitons", "20", "--tau-auger-ps", "625", "--tau-trap-ps", "5",
                  "--n-nc", "300", "--exciton-energy-ev", "2.0", "--n-atoms", "10901"], tmp_path / "t", "trapping")
    assert t["delta_t_auger_only_k"][-1] / t["delta_t_k"][-1] == pytest.approx(t["suppression_factor"])


def test_kinetics_state_filling_and_trapping(tmp_path):
    r = run_json(["kinetics", "state-filling", "--mean-excitations", "7.1", "--p-trap", "0.15"],
                 tmp_path, "state_filling")
    sf = kin.state_filling(7.1, 0.15)
    assert r["bleach"] == pytest.approx(sf.bleach) and r["n_eff"] == pytest.approx(sf.n_eff)
    assert r["bleach_without_trapping"] == pytest.approx(sf.bleach_without_trapping)
    assert r["p_cool"]["3"] == pytest.approx(0.85**3)
    # the simple model has no Stokes shift: gain needs x̄ > 1, which trapping never reaches at n̄ ≤ 7.1
    assert r["gain_max_up_to_mean"] == r["gain_max"] == 0.0
    refined = run_json(["kinetics", "state-filling", "--mean-excitations", "7.1", "--p-trap", "0.27",
                        "--trap-oscillator-strength", "0.3", "--stokes-shift-ev", "0.07"], tmp_path / "r",
                       "state_filling")
    # with every QD trapping, the gain peaks below n̄ = 7.1 and falls after it (e^{−P n̄} quenching)
    assert refined["gain_max_up_to_mean"] > refined["gain_max"] + 0.05
    t = run_json(["kinetics", "trapping", "--mean-excitons", "20", "--tau-auger-ps", "625", "--tau-trap-ps",
                  "5", "--n-nc", "500"], tmp_path, "trapping")
    assert t["suppression_factor"] > 1 and t["trapped_mean"][-1] > 0


@pytest.mark.parametrize("argv", [
    ["kinetics", "auger", "--tau-auger-ps", "625"],
    ["kinetics", "auger", "--mean-excitons", "21", "--tau-auger-ps", "-5"],
    ["kinetics", "state-filling", "--mean-excitations", "7.1", "--p-trap", "2"],
    ["kinetics", "occupation", "--gamma0-t", "1", "--fluence-mj-cm2", "1"],
    ["kinetics", "auger", "--mean-excitons", "21", "--tau-auger-ps", "625", "--exciton-energy-ev", "2"],
    ["kinetics", "auger", "--mean-excitons", "21", "--tau-auger-ps", "625", "--exciton-energy-ev", "2",
     "--n-atoms", "0"],
])
def test_kinetics_bad_input_writes_nothing(tmp_path, capsys, argv):
    out = tmp_path / "o"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert not out.exists()


# ---------------------------------------------------------------- ued analyze
def write_case(tmp_path: Path, extra: bool) -> Path:
    q = np.array([1.80, 2.92, 3.43, 4.46, 5.06, 6.40, 7.00])
    delays = np.concatenate([[-10.0], np.linspace(0, 400, 25)])
    t = np.clip(delays, 0, None)
    msd = 2e-3 * -np.expm1(-t / 60.0)
    loss = 0.02 * -np.expm1(-t / 3.5)[:, None] * (q**2 / 41.0)[None, :] ** 2 if extra else None
    s = ued.synthesize_series(delays, [f"Q{i + 1}" for i in range(7)], q, msd, 0.002, 5, extra_loss=loss)
    path = tmp_path / ("dis.csv" if extra else "heat.csv")
    path.write_text(ued.series_to_csv([s], "synthetic test data"))
    return path


def test_ued_analyze_with_calibration(tmp_path, capsys):
    cal = tmp_path / "calibration.json"
    cal.write_text(json.dumps({"temperatures_k": [150, 500], "msd_angstrom2": {},
                               "fit": {"diffraction_weighted": {"slope_angstrom2_per_k": 1.5e-4, "slope_stderr": 5e-6,
                                                                "intercept_angstrom2": 0.0, "r2": 1.0}},
                               "provenance": {}}))
    out = tmp_path / "out"
    assert main(["ued", "analyze", str(write_case(tmp_path, False)), "--calibration", str(cal),
                 "--n-atoms", "3000", "--out", str(out)]) == 0
    r = json.loads((out / "ued.json").read_text())
    for key in ("delays_ps", "delta_msd_angstrom2", "delta_msd_stderr", "intercept", "disorder_flags",
                "delta_t_k", "fits", "provenance"):
        assert key in r
    assert r["localized_disorder_detected"] is False and r["disorder_flags"] == []
    late = np.asarray(r["delta_t_k"])[-8:]
    assert np.mean(late) == pytest.approx(2e-3 / 1.5e-4, rel=0.1)  # 13.3 K
    tau = r["fits_delta_t"]["single"]
    assert tau["time_constants_ci95_ps"][0][0] < 60 < tau["time_constants_ci95_ps"][0][1]
    assert (out / "dw_vs_q2.png").exists() and (out / "delta_t.png").exists()
    assert "ΔT at the last delay" in capsys.readouterr().out


def test_ued_analyze_flags_disorder(tmp_path):
    out = tmp_path / "out"
    assert main(["ued", "analyze", str(write_case(tmp_path, True)), "--disorder-peaks", "Q6", "Q3",
                 "--out", str(out)]) == 0
    r = json.loads((out / "ued.json").read_text())
    assert r["localized_disorder_detected"] is True
    assert {f["peak"] for f in r["disorder_flags"]} <= {"Q6", "Q7"} and r["disorder_flags"]
    assert "delta_t_k" not in r and "high_q_excess" in r


def test_shipped_examples_are_marked_synthetic_and_analyzable(tmp_path):
    for name in ("cdse_cds_510nm_heating.csv", "cdse_cds_340nm_disorder.csv", "pbse_attached.csv"):
        assert "SYNTHETIC" in (EXAMPLES / name).read_text().splitlines()[0]
    out = tmp_path / "pbse"
    assert main(["ued", "analyze", str(EXAMPLES / "pbse_attached.csv"), "--lattice", "6.12", "--out", str(out)]) == 0
    r = json.loads((out / "ued.json").read_text())
    d = r["direction_resolved"]
    assert d["<100>"]["msd_angstrom2"][-1] < d["<111>"]["msd_angstrom2"][-1]


def test_ued_bad_input_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("delay_ps,peak,q_inv_angstrom,i_over_i0,error\n1,Q1,1.8,0.99,0.001\n1,Q2,2.9,,0.001\n")
    out = tmp_path / "o"
    assert main(["ued", "analyze", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "line 3, column 'i_over_i0'" in err and not out.exists()
    good = write_case(tmp_path, False)
    cal = tmp_path / "c.json"
    cal.write_text(json.dumps({"fit": {"Cd": {"slope_angstrom2_per_k": 1e-4, "slope_stderr": 0,
                                              "intercept_angstrom2": 0}}}))
    assert main(["ued", "analyze", str(good), "--calibration", str(cal), "--out", str(out)]) == 2
    assert "--calibration-key" in capsys.readouterr().err and not out.exists()


def test_prefect_flow_wrapper(tmp_path):
    """The deployment entry point runs the same composition (slow: starts Prefect once)."""
    from nclattice.flows.deployments import ued_analyze_flow as ued_flow

    r = ued_flow(data=[str(write_case(tmp_path, False))], out=str(tmp_path / "flow"), settings={})
    assert (tmp_path / "flow" / "ued.json").exists() and r["localized_disorder_detected"] is False
