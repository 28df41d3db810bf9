"""UED analysis: Debye–Waller fit per delay, ΔT(t) with an MD calibration, kinetics fits.

Composition only (physics in tasks/ued.py and tasks/kinetics.py). ``run_ued`` takes the data files
(or preflight's parsed inputs) and the settings model (command line, campaigns, deployments).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NclatticeError
from ..provenance import file_sha256, provenance
from ..results import pyplot, save_figure
from ..tasks import kinetics as kin
from ..tasks import ued
from .outcomes import SCHEMA_VERSION, UedOutcome
from .registry import Inputs, prepared
from .settings import UedSettings


# ---------------------------------------------------------------- reading inputs
def load_series(paths: Sequence[Path], lattice: Sequence[float] | None) -> list[ued.UedSeries]:
    """Parse one or more data files; fluences must be unique across files."""
    series: list[ued.UedSeries] = []
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise NclatticeError(f"cannot read data file {path}: {exc.strerror}; check the path.") from None
        try:
            series += ued.parse_ued_csv(text, lattice)
        except NclatticeError as exc:
            raise NclatticeError(f"{path}: {exc}") from None
    fluences = [s.fluence_mj_cm2 for s in series]
    if len(series) > 1 and (None in fluences or len(set(fluences)) != len(fluences)):
        raise NclatticeError("several data sets need distinct values in a fluence_mj_cm2 column.")
    return sorted(series, key=lambda s: -1.0 if s.fluence_mj_cm2 is None else s.fluence_mj_cm2)


def load_calibration(path: Path | None, key: str) -> ued.MsdCalibration | None:
    if path is None:
        return None
    try:
        payload = json.loads(Path(path).read_text())
    except OSError as exc:
        raise NclatticeError(f"cannot read calibration {path}: {exc.strerror}; check the path.") from None
    except json.JSONDecodeError as exc:
        raise NclatticeError(f"calibration {path} is not valid JSON (line {exc.lineno}); regenerate it.") \
            from None
    return ued.read_calibration(payload, key)


# ---------------------------------------------------------------- composition
def _fit_or_reason(fn, *args, **kwargs) -> dict[str, Any]:
    try:
        return _expfit_dict(fn(*args, **kwargs))
    except NclatticeError as exc:
        return {"error": str(exc)}


def _expfit_dict(fit: kin.ExpFit) -> dict[str, Any]:
    return {"model": fit.model, "time_constants_ps": fit.taus_ps, "time_constants_stderr_ps": fit.taus_stderr_ps,
            "time_constants_ci95_ps": [list(c) for c in fit.taus_ci95_ps], "amplitudes": fit.amplitudes,
            "amplitudes_stderr": fit.amplitudes_stderr, "chi2_reduced": fit.chi2_reduced}


def analyze_one(series: ued.UedSeries, calibration: ued.MsdCalibration | None, *,
                q2_max_fit: float, z_threshold: float, through_origin: bool,
                mean_excitons: float | None, heat_capacity_ev_per_k: float | None,
                disorder_peaks: tuple[str, str] | None) -> dict[str, Any]:
    """All results of one fluence."""
    dw = ued.analyze_series(series, q2_max_fit, z_threshold, through_origin)
    delays = series.delays_ps
    d, de = dw.column("delta_msd_angstrom2"), dw.column("delta_msd_stderr")
    summary = dw.disorder_summary()
    out: dict[str, Any] = {
        "fluence_mj_cm2": series.fluence_mj_cm2, "delays_ps": delays,
        "delta_msd_angstrom2": d, "delta_msd_stderr": de,
        "slope_angstrom2": dw.column("slope_angstrom2"), "intercept": dw.column("intercept"),
        "intercept_stderr": dw.column("intercept_stderr"), "intercept_z": dw.column("intercept_z"),
        "intercept_p_value": dw.column("intercept_p_value"), "chi2_reduced": dw.column("chi2_reduced"),
        "n_fit_peaks": dw.column("n_fit_peaks"),
        "disorder_flags": dw.flags(), "disorder_summary": summary,
        "localized_disorder_detected": any(v["localized_disorder"] for v in summary.values()),
        "peaks": {"names": list(series.peaks), "q_inv_angstrom": series.q_inv_angstrom,
                  "s_inv_angstrom": ued.s_from_q(series.q_inv_angstrom),
                  "hkl": None if series.hkl is None else series.hkl.tolist()},
        "fits": {"delta_msd_single": _fit_or_reason(kin.fit_exponential, delays, d, de),
                 "delta_msd_double": _fit_or_reason(kin.fit_exponential, delays, d, de, n_components=2)},
    }
    out["peak_msd"] = _peak_results(series)
    if series.hkl is not None and ued.is_cubic(series.lattice):
        out["direction_resolved"] = {fam: {"msd_angstrom2": m, "stderr": e}
                                     for fam, (m, e) in ued.direction_resolved_msd(series).items()}
    if disorder_peaks is not None:
        out["high_q_excess"] = _high_q_excess(series, *disorder_peaks)
    if calibration is not None:
        out.update(_temperature(delays, d, de, calibration, mean_excitons, heat_capacity_ev_per_k))
    return out


def _peak_results(series: ued.UedSeries) -> dict[str, Any]:
    """Per-peak ⟨Δu²⟩ along Q (⟨Δu²⟩_s of Yue et al. 2024) and its single-exponential time constant."""
    msd, err = ued.peak_msd(series)
    return {p: {"msd_along_q_angstrom2": msd[:, j], "stderr": err[:, j],
                "single": _fit_or_reason(kin.fit_exponential, series.delays_ps, msd[:, j], err[:, j])}
            for j, p in enumerate(series.peaks)}


def _high_q_excess(series: ued.UedSeries, high: str, low: str) -> dict[str, Any]:
    try:
        jh, jl = series.peaks.index(high), series.peaks.index(low)
    except ValueError:
        raise NclatticeError(f"--disorder-peaks {high} {low}: peaks are {', '.join(series.peaks)}.") from None
    i, e = series.i_over_i0, series.error
    excess, err = ued.high_q_excess(i[:, jh], e[:, jh], i[:, jl], e[:, jl],
                                    series.q_inv_angstrom[jh], series.q_inv_angstrom[jl])
    return {"high": high, "low": low, "ratio": (series.q_inv_angstrom[jh] / series.q_inv_angstrom[jl]) ** 2,
            "excess_loss": excess, "stderr": err,
            "single": _fit_or_reason(kin.fit_exponential, series.delays_ps, excess, err)}


def _temperature(delays, d, de, calibration, mean_excitons, heat_capacity) -> dict[str, Any]:
    dt, dt_err, dt_stat = ued.delta_temperature(d, de, calibration)
    out: dict[str, Any] = {"delta_t_k": dt, "delta_t_stderr_k": dt_err, "delta_t_stat_stderr_k": dt_stat}
    systematic = ued.delta_temperature_systematic(d, calibration)
    if systematic is not None:  # a separate band: not in delta_t_stderr_k, not in the fits' weights
        out.update({"delta_t_force_field_systematic_k": systematic["systematic_k"],
                    "delta_t_per_force_field_k": systematic["delta_t_k"],
                    "force_field_estimator": systematic["estimator"],
                    "force_field_warning": calibration.force_field_warning})
    out["fits_delta_t"] = {"single": _fit_or_reason(kin.fit_exponential, delays, dt, dt_stat),
                           "double": _fit_or_reason(kin.fit_exponential, delays, dt, dt_stat, n_components=2)}
    if heat_capacity is not None:
        out["delta_energy_ev"] = ued.delta_energy_ev(dt, heat_capacity)
        out["delta_energy_stderr_ev"] = ued.delta_energy_ev(dt_err, heat_capacity)
    if mean_excitons is not None:
        try:
            f = kin.fit_auger_heating(delays, dt, dt_stat, mean_excitons)
            out["auger_fit"] = {"mean_excitons": mean_excitons, "tau_auger_ps": f.tau_auger_ps,
                                "tau_auger_stderr_ps": f.tau_auger_stderr_ps,
                                "kelvin_per_exciton": f.kelvin_per_exciton,
                                "kelvin_per_exciton_stderr": f.kelvin_per_exciton_stderr,
                                "chi2_reduced": f.chi2_reduced, "model_delta_t_k": f.model_delta_t_k}
        except NclatticeError as exc:
            out["auger_fit"] = {"error": str(exc)}
    return out


def run_ued(data: Sequence[str | Path] | Inputs, settings: UedSettings, out: str | Path) -> UedOutcome:
    """The analysis of ``data`` (one or more CSV files, or preflight's parsed inputs) with ``settings``;
    writes OUT/ued.json, OUT/dw_vs_q2.png and OUT/delta_t.png (nothing on bad input)."""
    inputs = prepared("ued", settings, data)
    data, series, out = list(inputs.data), inputs.parsed, Path(out)
    calibration = None if settings.calibration is None else Path(settings.calibration)
    lattice, q2_max_fit, z_threshold = settings.lattice, settings.q2_max_fit, settings.z_threshold
    mean_excitons, excitons_per_mj_cm2, n_atoms = settings.mean_excitons, settings.excitons_per_mj_cm2, \
        settings.n_atoms
    disorder_peaks = None if settings.disorder_peaks is None else tuple(settings.disorder_peaks)
    cal = load_calibration(calibration, settings.calibration_key)
    heat = None if n_atoms is None else ued.dulong_petit_heat_capacity_ev_per_k(n_atoms)
    results = []
    for s in series:
        n_mean = mean_excitons
        if excitons_per_mj_cm2 is not None:
            if s.fluence_mj_cm2 is None:
                raise NclatticeError("--excitons-per-mj-cm2 needs a fluence_mj_cm2 column in the data.")
            n_mean = excitons_per_mj_cm2 * s.fluence_mj_cm2
        results.append(analyze_one(s, cal, q2_max_fit=q2_max_fit, z_threshold=z_threshold,
                                   through_origin=settings.through_origin, mean_excitons=n_mean,
                                   heat_capacity_ev_per_k=heat, disorder_peaks=disorder_peaks))
    primary = _primary(series, settings.fluence)
    payload = {"schema_version": SCHEMA_VERSION, **results[primary],
               "primary_fluence_mj_cm2": series[primary].fluence_mj_cm2,
               "series": results, "fluence_scaling": _fluence_scaling(results),
               "conventions": {"delta_msd_angstrom2": "3D Δ⟨u²⟩ = 3 × slope of −ln(I/I0) vs Q² (Å²)",
                               "msd_along_q_angstrom2": "1D ⟨Δu²⟩ along Q = −ln(I/I0)/Q² (⟨Δu²⟩_s, Yue et al. 2024)",
                               "q": "Q = 2π/d in Å⁻¹; s = 1/d = Q/2π",
                               "delta_t_k": "Δ⟨u²⟩_3D / b_3D of the calibration",
                               "delta_t_force_field_systematic_k": "sample standard deviation over the force fields "
                                                                   "of a calibrate --potentials file of Δ⟨u²⟩_3D/b_i; "
                                                                   "systematic, not in delta_t_stderr_k",
                               "disorder": f"high-Q peaks (Q² > {q2_max_fit:g} Å⁻²) vs the low-Q line; "
                                           f"flag at z > {z_threshold:g}"},
               "calibration": None if cal is None else {**cal.__dict__, "file": str(calibration),
                                                        "sha256": file_sha256(calibration)},
               "inputs": {"data": [str(p) for p in data], "data_sha256": [file_sha256(p) for p in data],
                          "lattice": None if lattice is None else list(lattice), "q2_max_fit": q2_max_fit,
                          "z_threshold": z_threshold, "through_origin": settings.through_origin,
                          "n_atoms": n_atoms},
               "provenance": provenance(analysis="Debye–Waller per delay")}
    s, r = series[primary], results[primary]
    save_figure(_plot_dw(s, r, settings.plot_delays, q2_max_fit), out / "dw_vs_q2.png")
    save_figure(_plot_time(r), out / "delta_t.png")
    outcome = UedOutcome.of(payload)
    outcome.to_json(out)
    return outcome


def _primary(series: list[ued.UedSeries], fluence: float | None) -> int:
    if fluence is None:
        return len(series) - 1  # the highest fluence: the largest signal
    for i, s in enumerate(series):
        if s.fluence_mj_cm2 is not None and np.isclose(s.fluence_mj_cm2, fluence):
            return i
    raise NclatticeError(f"--fluence {fluence} is not in the data; fluences are "
                         f"{', '.join(str(s.fluence_mj_cm2) for s in series)}.")


def _fluence_scaling(results: list[dict]) -> list[dict]:
    """Δ⟨u²⟩ averaged over the last quarter of delays, per fluence (linear in fluence for heating)."""
    rows = []
    for r in results:
        d, e = np.asarray(r["delta_msd_angstrom2"]), np.asarray(r["delta_msd_stderr"])
        late = np.asarray(r["delays_ps"]) >= np.quantile(r["delays_ps"], 0.75)
        w = 1.0 / e[late] ** 2
        rows.append({"fluence_mj_cm2": r["fluence_mj_cm2"],
                     "late_delta_msd_angstrom2": float((w * d[late]).sum() / w.sum()),
                     "stderr": float(1 / np.sqrt(w.sum()))})
    return rows


# ---------------------------------------------------------------- figures

def _plot_dw(series: ued.UedSeries, r: dict, plot_delays, q2_max_fit: float):
    plt = pyplot()
    delays = series.delays_ps
    if plot_delays:
        idx = [int(np.argmin(np.abs(delays - t))) for t in plot_delays]
    else:
        pos = np.flatnonzero(delays > 0)
        idx = sorted({int(pos[round(f * (pos.size - 1))]) for f in (0.1, 0.4, 1.0)}) if pos.size else [0]
    q2 = series.q_inv_angstrom**2
    fig, ax = plt.subplots(figsize=(6, 4.5))
    grid = np.linspace(0, q2.max() * 1.05, 50)
    for i in idx:
        y = -np.log(series.i_over_i0[i])
        ey = series.error[i] / series.i_over_i0[i]
        line = ax.errorbar(q2, y, ey, fmt="o", ms=4, capsize=2, label=f"{delays[i]:g} ps")
        color = line[0].get_color()
        ax.plot(grid, r["intercept"][i] + r["slope_angstrom2"][i] * grid, "-", color=color, lw=1)
        flagged = [f["peak"] for f in r["disorder_flags"] if f["delay_ps"] == delays[i]]
        for j, p in enumerate(series.peaks):
            if p in flagged:
                ax.plot(q2[j], y[j], "s", mfc="none", mec="red", ms=10)
    for j, p in enumerate(series.peaks):
        ax.annotate(p, (q2[j], 0), textcoords="offset points", xytext=(0, -4), ha="center", va="top", fontsize=6,
                    rotation=90)
    ax.axvline(q2_max_fit, color="grey", ls=":", lw=1)
    ax.set(xlabel="Q² (Å⁻²)", ylabel="−ln(I/I0)",
           title=f"Debye–Waller{_fluence_label(series.fluence_mj_cm2)}: line fitted below the dotted Q²; "
                 "red squares: localized-disorder flags")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _fluence_label(fluence_mj_cm2: float | None) -> str:
    return "" if fluence_mj_cm2 is None else f" at {fluence_mj_cm2:g} mJ/cm²"


def _plot_time(r: dict):
    plt = pyplot()
    t = np.asarray(r["delays_ps"])
    calibrated = "delta_t_k" in r
    y = np.asarray(r["delta_t_k"] if calibrated else r["delta_msd_angstrom2"])
    e = np.asarray(r["delta_t_stat_stderr_k"] if calibrated else r["delta_msd_stderr"])
    fit = (r["fits_delta_t"] if calibrated else r["fits"])["single" if calibrated else "delta_msd_single"]
    fig, ax = plt.subplots(figsize=(6, 4))
    if calibrated and "delta_t_force_field_systematic_k" in r:
        band = np.asarray(r["delta_t_force_field_systematic_k"])
        ax.fill_between(t, y - band, y + band, color="0.8", lw=0,
                        label=f"± force-field spread (systematic, {len(r['delta_t_per_force_field_k'])} sets)")
    ax.errorbar(t, y, e, fmt="o", ms=3, capsize=2, label="data (statistical error)" if calibrated else "data")
    tt = np.linspace(min(t.min(), 0), t.max(), 400)
    if "time_constants_ps" in fit:
        tau, amp = fit["time_constants_ps"][0], fit["amplitudes"][0]
        ax.plot(tt, amp * -np.expm1(-np.clip(tt, 0, None) / tau), "r-", label=f"single exp., τ = {tau:.3g} ps")
    if calibrated and "tau_auger_ps" in r.get("auger_fit", {}):
        a = r["auger_fit"]
        ax.plot(t, a["model_delta_t_k"], "k--",
                label=f"Auger heating, ⟨N⟩ = {a['mean_excitons']:.3g}, τ_AR = {a['tau_auger_ps']:.0f} ps")
    ax.set(xlabel="delay (ps)", ylabel="ΔT (K)" if calibrated else "Δ⟨u²⟩ 3D (Å²)",
           title=("ΔT(t)" if calibrated else "Δ⟨u²⟩(t)") + _fluence_label(r["fluence_mj_cm2"]))
    ax.legend(fontsize=8)
    if calibrated and "delta_energy_ev" in r:
        scale = r["delta_energy_ev"][int(np.argmax(np.abs(y)))] / y[int(np.argmax(np.abs(y)))]
        sec = ax.secondary_yaxis("right", functions=(lambda v: v * scale, lambda v: v / scale))
        sec.set_ylabel("ΔE per NC (eV)")
    fig.set_layout_engine("tight")
    return fig


# ---------------------------------------------------------------- entry (settings in, result out)
def parse_data(paths: Sequence[Path], settings: UedSettings) -> list[ued.UedSeries]:
    """The data files of a `ued analyze` request, parsed (preflight calls this)."""
    return load_series(paths, settings.lattice)
