"""Debye–Waller analysis: conventions, synthetic recovery, disorder test, input validation, calibration."""

import numpy as np
import pytest

from nclattice.errors import NclatticeError
from nclattice.tasks import kinetics as kin
from nclattice.tasks import ued

Q = np.array([1.80, 2.92, 3.43, 4.46, 5.06, 6.40, 7.00])  # Q6 = 6.4 Å⁻¹ as in Guzelturk et al., Nat. Commun. 2021
PEAKS = [f"Q{i + 1}" for i in range(Q.size)]
DELAYS = np.concatenate([[-20.0, -10.0], np.linspace(0.0, 1000.0, 31)])


def heating_msd() -> np.ndarray:
    energy, _ = kin.auger_master_equation(21.0, 625.0, np.clip(DELAYS, 0, None))
    return 1.5e-4 * 13.0 * energy / energy[-1]  # Å² (3D): 13 K with b = 1.5e-4 Å²/K


def disorder_loss() -> np.ndarray:
    t = np.clip(DELAYS, 0, None)
    return 0.02 * -np.expm1(-t / 3.5)[:, None] * (Q**2 / 41.0)[None, :] ** 2


# ---------------------------------------------------------------- conventions
def test_q_and_s_conventions():
    s = np.array([0.2, 0.5])
    assert ued.s_from_q(ued.q_from_s(s)) == pytest.approx(s)
    i = np.array([0.97, 0.9])
    assert ued.msd_along_s(i, s) == pytest.approx(ued.msd_along_q(i, ued.q_from_s(s)))
    # isotropic: the 1D MSD along Q is a third of the 3D value of the forward model
    assert ued.msd_along_q(ued.debye_waller_intensity(Q, 0.003)[0], Q) == pytest.approx(0.001)


def test_q_from_hkl_and_direction_families():
    a, c = 6.12, 7.01
    assert ued.q_from_hkl(np.array([2, 0, 0]), (a,))[0] == pytest.approx(4 * np.pi / a)
    assert ued.q_from_hkl(np.array([0, 0, 2]), (4.30, c))[0] == pytest.approx(4 * np.pi / c)
    assert ued.q_from_hkl(np.array([1, 0, 0]), (4.30, c))[0] == pytest.approx(4 * np.pi / (np.sqrt(3) * 4.30))
    assert [ued.direction_family(h) for h in ((2, 0, 0), (0, 4, 0), (2, 2, 0), (2, 2, 2), (1, 1, 1))] == [
        "<100>", "<100>", "<110>", "<111>", "<111>"]


# ---------------------------------------------------------------- recovery and disorder
@pytest.mark.parametrize("through_origin", [False, True])
def test_synthetic_delta_msd_recovered_within_error_bars(through_origin):
    truth = heating_msd()
    z = []
    for seed in range(4):
        series = ued.synthesize_series(DELAYS, PEAKS, Q, truth, 0.002, seed)
        dw = ued.analyze_series(series, through_origin=through_origin)
        z.append((dw.column("delta_msd_angstrom2") - truth) / dw.column("delta_msd_stderr"))
    z = np.concatenate(z)
    # the standard errors are right: normalized residuals have unit variance, ~68 % within 1σ
    assert 0.7 < np.mean(z**2) < 1.4
    assert 0.55 < np.mean(np.abs(z) < 1) < 0.8
    assert np.max(np.abs(z)) < 4


def test_correlated_errors_generalised_least_squares():
    """A common scale error of every I/I0 (a shared reference) moves −ln(I/I0) by one constant: the
    intercept absorbs it, so the slope error is that of the independent part alone (analytic limit),
    while the intercept error grows by the common part. A correlated high-Q peak is tested with it."""
    q = np.array([1.7, 2.5, 2.9, 3.2, 4.3, 5.1, 6.9])
    i_rel = ued.debye_waller_intensity(q, np.array([0.006]))[0]
    sigma, common = np.full(q.size, 0.004), 0.01
    independent = ued.fit_debye_waller(q, i_rel, sigma * i_rel)
    cov = np.diag((sigma * i_rel) ** 2) + common**2 * np.outer(i_rel, i_rel)
    joint = ued.fit_debye_waller(q, i_rel, np.sqrt(np.diag(cov)), covariance=cov)
    assert joint.slope_stderr == pytest.approx(independent.slope_stderr, rel=1e-9)
    assert joint.intercept_stderr == pytest.approx(np.hypot(independent.intercept_stderr, common), rel=1e-9)
    assert joint.delta_msd_angstrom2 == pytest.approx(0.006, rel=1e-9)
    (high,) = joint.high_q  # Q² = 47.6 > 40: its excess error is that of the independent fit
    assert high.excess_stderr == pytest.approx(independent.high_q[0].excess_stderr, rel=1e-9)


def test_heating_only_not_flagged_but_extra_high_q_loss_is():
    for seed in range(3):
        clean = ued.analyze_series(ued.synthesize_series(DELAYS, PEAKS, Q, heating_msd(), 0.002, seed))
        assert not any(v["localized_disorder"] for v in clean.disorder_summary().values())
        assert clean.flags() == []
        dis = ued.analyze_series(ued.synthesize_series(DELAYS, PEAKS, Q, heating_msd(), 0.002, seed,
                                                       extra_loss=disorder_loss()))
        summary = dis.disorder_summary()
        assert summary["Q6"]["localized_disorder"] and summary["Q7"]["localized_disorder"]
        assert {f["peak"] for f in dis.flags()} == {"Q6", "Q7"}
        assert all(f["p_value"] < 0.0014 for f in dis.flags())


def test_intercept_test_detects_a_normalization_offset():
    msd = np.full(5, 0.003)
    i = ued.debye_waller_intensity(Q[:5], msd) * np.exp(-0.01)  # constant extra −ln I of 0.01
    fit = ued.fit_debye_waller(Q[:5], i[0], np.full(5, 0.0005))
    assert fit.intercept == pytest.approx(0.01, abs=1e-9) and fit.intercept_p_value < 1e-6
    assert fit.delta_msd_angstrom2 == pytest.approx(0.003)


def test_high_q_excess_separates_disorder_from_heating():
    delays = np.concatenate([[-5.0], np.linspace(0.0, 30.0, 31), np.linspace(40.0, 200.0, 9)])
    t = np.clip(delays, 0, None)
    heat_msd = 2e-3 * -np.expm1(-t / 20.0)  # heating rises with 20 ps, disorder with 3.5 ps
    extra = 0.02 * -np.expm1(-t / 3.5)[:, None] * (Q**2 / 41.0)[None, :] ** 2
    heat = ued.synthesize_series(delays, PEAKS, Q, heat_msd, 1e-9, 0)
    excess, _ = ued.high_q_excess(heat.i_over_i0[:, 5], heat.error[:, 5], heat.i_over_i0[:, 2],
                                  heat.error[:, 2], Q[5], Q[2])
    assert np.max(np.abs(excess)) < 1e-6  # pure DW: Q3 rescaled to Q6 predicts Q6 exactly
    dis = ued.synthesize_series(delays, PEAKS, Q, heat_msd, 2e-4, 0, extra_loss=extra)
    excess, err = ued.high_q_excess(dis.i_over_i0[:, 5], dis.error[:, 5], dis.i_over_i0[:, 2],
                                    dis.error[:, 2], Q[5], Q[2])
    fit = kin.fit_exponential(delays, excess, err)
    lo, hi = fit.taus_ci95_ps[0]
    assert lo < 3.5 < hi and hi < 10.0  # the localized-disorder time constant, not the heating one


def test_delta_g_ratio_removes_common_heating_dynamics():
    r = np.linspace(1.5, 8.0, 651)
    t = np.linspace(0, 100, 51)
    heat = -np.expm1(-t / 20.0)
    local = -np.expm1(-t / 3.5)
    shape = np.exp(-((r - 2.5) ** 2) / 0.01) + np.exp(-((r - 7.1) ** 2) / 0.01)
    dg = heat[:, None] * shape[None, :] + 0.5 * local[:, None] * np.exp(-((r - 2.5) ** 2) / 0.01)[None, :]
    ratio = ued.delta_g_ratio(r, dg)
    expected = 1 + 0.5 * local[1:] / heat[1:]
    assert np.isnan(ratio[0]) and ratio[1:] == pytest.approx(expected, rel=0.02)


# ---------------------------------------------------------------- direction-resolved (Yue 2024)
def _pbse(scale: dict, seed: int) -> ued.UedSeries:
    hkl = np.array([(1, 1, 1), (2, 0, 0), (2, 2, 0), (2, 2, 2), (4, 0, 0)])
    q = ued.q_from_hkl(hkl, (6.12,))
    delays = np.linspace(-5, 60, 27)
    rise = -np.expm1(-np.clip(delays, 0, None) / 5.0)
    msd_s = 0.01 * rise[:, None] * np.array([scale.get(ued.direction_family(h), 1.0) for h in hkl])
    return ued.synthesize_series(delays, [str(h) for h in hkl], q, np.zeros(delays.size), 0.003, seed,
                                 extra_loss=q**2 * msd_s, hkl=hkl, lattice=(6.12,))


def test_direction_resolved_attached_vs_individual():
    ind, att = _pbse({}, 1), _pbse({"<100>": 0.85, "<111>": 1.15}, 2)
    a, b = ued.direction_resolved_msd(ind), ued.direction_resolved_msd(att)
    cmp = ued.compare_directions(a, ind.delays_ps, b, att.delays_ps, (40.0, 60.0))
    assert cmp["<100>"]["z"] < -3 and cmp["<111>"]["z"] > 3 and abs(cmp["<110>"]["z"]) < 3
    assert cmp["<100>"]["difference_angstrom2"] == pytest.approx(-0.0015, abs=4 * cmp["<100>"]["difference_stderr"])
    with pytest.raises(NclatticeError, match="cubic"):
        ued.direction_resolved_msd(ued.synthesize_series(DELAYS, PEAKS, Q, heating_msd(), 0.002, 0))


# ---------------------------------------------------------------- calibration and temperature
def calibration_payload(slope=2.0e-4, err=1.0e-5):
    temps = [150.0, 300.0, 500.0]
    return {"temperatures_k": temps, "msd_angstrom2": {"diffraction_weighted": [0.01 + slope * t for t in temps]},
            "fit": {"diffraction_weighted": {"slope_angstrom2_per_k": slope, "slope_stderr": err,
                                             "intercept_angstrom2": 0.01, "r2": 0.999},
                    "Cd": {"slope_angstrom2_per_k": 1.0e-4, "slope_stderr": 1e-6,
                           "intercept_angstrom2": 0.0, "r2": 0.99}},
            "provenance": {}}


def test_calibration_reading_and_delta_t():
    cal = ued.read_calibration(calibration_payload())
    assert cal.slope_angstrom2_per_k == 2.0e-4 and cal.key == "diffraction_weighted"
    assert ued.read_calibration(calibration_payload(), "Cd").slope_angstrom2_per_k == 1.0e-4
    # 13 K of heating: Δ⟨u²⟩_3D = b·ΔT; the DW slope is a third of it
    i = ued.debye_waller_intensity(Q[:5], 13.0 * 2.0e-4)[0]
    fit = ued.fit_debye_waller(Q[:5], i, np.full(5, 1e-4))
    dt, dt_err, dt_stat = ued.delta_temperature(fit.delta_msd_angstrom2, fit.delta_msd_stderr, cal)
    assert dt == pytest.approx(13.0)
    assert dt_stat == pytest.approx(fit.delta_msd_stderr / 2.0e-4)
    assert dt_err == pytest.approx(np.hypot(dt_stat, 13.0 * 1e-5 / 2e-4))
    assert ued.delta_energy_ev(13.0, ued.dulong_petit_heat_capacity_ev_per_k(1000)) == pytest.approx(
        13.0 * 3 * 1000 * 8.617333262e-5)


def test_force_field_spread_is_a_separate_systematic_band_of_delta_t(tmp_path, capsys):
    """A calibrate --potentials file: ΔT(t) gains the force-field band (std over sets of Δ⟨u²⟩/b_i,
    the conversion calibrate --apply uses) and keeps its statistical and total errors unchanged."""
    import json

    from nclattice.cli import main
    from nclattice.tasks.calibration import force_field_spread

    slopes = {"zhou2013-sw": 1.5e-4, "zhou2014-cdtese-bop": 1.8e-4, "cosseddu2017-cdse-lj": 4.0e-4}
    one = {n: {"fit": {"diffraction_weighted": {"slope_angstrom2_per_k": b, "slope_stderr": 5e-6,
                                                "intercept_angstrom2": 0.0, "r2": 1.0}}} for n, b in slopes.items()}
    single = {"temperatures_k": [150, 300, 500], "msd_angstrom2": {}, "fit": one["zhou2013-sw"]["fit"],
              "provenance": {}}
    data = tmp_path / "heat.csv"
    series = ued.synthesize_series(DELAYS, PEAKS, Q, heating_msd(), 0.002, 5)
    data.write_text(ued.series_to_csv([series], "synthetic"))
    results = {}
    for name, payload in (("one", single), ("spread", {**single, "force_field_spread": force_field_spread(one)})):
        (tmp_path / f"{name}.json").write_text(json.dumps(payload))
        assert main(["ued", "analyze", str(data), "--calibration", str(tmp_path / f"{name}.json"),
                     "--out", str(tmp_path / name)]) == 0
        results[name] = json.loads((tmp_path / name / "ued.json").read_text())
    plain, r = results["one"], results["spread"]
    assert "delta_t_force_field_systematic_k" not in plain
    for key in ("delta_t_k", "delta_t_stderr_k", "delta_t_stat_stderr_k"):
        np.testing.assert_allclose(r[key], plain[key])
    d = np.asarray(r["delta_msd_angstrom2"])
    expected = np.std([d / b for b in slopes.values()], axis=0, ddof=1)
    np.testing.assert_allclose(r["delta_t_force_field_systematic_k"], expected, rtol=1e-12)
    # ΔT_i = Δ/b_i: relative to the headline ΔT the band is b_1·std(1/b_i) at every delay
    ratio = 1.5e-4 * np.std([1 / b for b in slopes.values()], ddof=1)
    late = np.abs(d) > 5 * np.asarray(r["delta_msd_stderr"])
    np.testing.assert_allclose(np.asarray(r["delta_t_force_field_systematic_k"])[late]
                               / np.abs(np.asarray(r["delta_t_k"])[late]), ratio, rtol=1e-9)
    np.testing.assert_allclose(r["delta_t_per_force_field_k"]["zhou2013-sw"], r["delta_t_k"])
    assert r["fits_delta_t"] == plain["fits_delta_t"]  # the fits use the statistical errors only
    assert (tmp_path / "spread" / "delta_t.png").exists()
    printed = capsys.readouterr().out
    assert f"± {r['delta_t_force_field_systematic_k'][-1]:.2f} (force field) K" in printed
    # calibrate --apply converts the same Δ⟨u²⟩ to the same systematic error
    assert main(["calibrate", "--apply", str(tmp_path / "spread.json"), "--delta-msd", repr(float(d[-1]))]) == 0
    assert f"± {r['delta_t_force_field_systematic_k'][-1]:.2f} (force field) K" in capsys.readouterr().out


@pytest.mark.parametrize(("payload", "key", "message"), [
    ({"temperatures_k": []}, "diffraction_weighted", "no 'fit'"),
    (calibration_payload(), "Se", "choose --calibration-key from Cd, diffraction_weighted"),
    (calibration_payload(slope=-1e-4), "diffraction_weighted", "must be positive"),
])
def test_calibration_errors(payload, key, message):
    with pytest.raises(NclatticeError, match=message):
        ued.read_calibration(payload, key)


# ---------------------------------------------------------------- input format
def test_csv_round_trip_with_two_fluences():
    series = [ued.synthesize_series(DELAYS[:5], PEAKS, Q, heating_msd()[:5], 0.002, s, fluence_mj_cm2=f)
              for s, f in ((0, 1.5), (1, 2.1))]
    text = ued.series_to_csv(series, "synthetic")
    back = ued.parse_ued_csv(text)
    assert [b.fluence_mj_cm2 for b in back] == [1.5, 2.1]
    assert back[1].i_over_i0 == pytest.approx(series[1].i_over_i0, abs=1e-6)
    assert back[0].peaks == tuple(PEAKS)


def test_csv_s_and_hkl_columns():
    s_text = "delay_ps,peak,s_inv_angstrom,i_over_i0,error\n10,a,0.5,0.99,0.001\n10,b,0.3,0.995,0.001\n"
    parsed = ued.parse_ued_csv(s_text)[0]
    assert parsed.peaks == ("b", "a") and parsed.q_inv_angstrom == pytest.approx(2 * np.pi * np.array([0.3, 0.5]))
    hkl_text = "delay_ps,peak,h,k,l,i_over_i0,error\n10,200,2,0,0,0.99,0.001\n10,220,2,2,0,0.98,0.001\n"
    parsed = ued.parse_ued_csv(hkl_text, lattice=(6.12,))[0]
    assert parsed.q_inv_angstrom[0] == pytest.approx(4 * np.pi / 6.12)
    with pytest.raises(NclatticeError, match="--lattice"):
        ued.parse_ued_csv(hkl_text)


HEADER = "delay_ps,peak,q_inv_angstrom,i_over_i0,error\n"


@pytest.mark.parametrize(("body", "message"), [
    ("1,Q1,1.8,,0.001\n1,Q2,2.9,0.99,0.001\n", "line 2, column 'i_over_i0': value is missing"),
    ("1,Q1,1.8,0.99,0.001\n1,Q2,2.9,-0.1,0.001\n", "line 3, column 'i_over_i0'.*outside"),
    ("1,Q1,1.8,0.99,0\n1,Q2,2.9,0.99,0.001\n", "line 2, column 'error'"),
    ("1,Q1,abc,0.99,0.001\n1,Q2,2.9,0.99,0.001\n", "line 2, column 'q_inv_angstrom': 'abc' is not a number"),
    ("1,Q1,1.8,0.99,0.001\n1,Q1,1.8,0.98,0.001\n", "line 3: duplicate row"),
    ("1,Q1,1.8,0.99,0.001\n2,Q1,1.9,0.98,0.001\n", "line 3: peak 'Q1' has position"),
    ("1,Q1,1.8,0.99\n", "line 2: 4 fields"),
    ("1,Q1,1.8,0.99,0.001\n", "at least two Bragg peaks"),
])
def test_csv_rejects_bad_rows_naming_line_and_column(body, message):
    with pytest.raises(NclatticeError, match=message):
        ued.parse_ued_csv(HEADER + body)


def test_csv_rejects_bad_headers():
    with pytest.raises(NclatticeError, match="lacks column"):
        ued.parse_ued_csv("delay_ps,peak,q_inv_angstrom,i_over_i0\n1,Q1,1.8,0.99\n")
    with pytest.raises(NclatticeError, match="unknown"):
        ued.parse_ued_csv("delay_ps,peak,q_inv_angstrom,i_over_i0,error,temp\n1,Q1,1.8,0.99,0.001,3\n")
    with pytest.raises(NclatticeError, match="exactly one peak position"):
        ued.parse_ued_csv("delay_ps,peak,i_over_i0,error\n1,Q1,0.99,0.001\n")
