"""Temperature -> mean-square-displacement calibration.

⟨u²⟩(T) = a + b·T is fitted by ordinary least squares per atom group; b converts a measured
Debye-Waller change into a lattice temperature rise, ΔT = Δ⟨u²⟩/b, with
σ_ΔT² = (σ_Δ/b)² + (Δ σ_b/b²)². All ⟨u²⟩ here are 3D (x + y + z); an isotropic
Debye-Waller slope of -ln(I/I0) versus Q² equals ⟨Δu²⟩_3D/3.

Force-field spread: when the same structure is calibrated with several parameter sets, the
systematic error of a slope is the sample standard deviation (ddof = 1) of the sets' slopes, and
that of ΔT the sample standard deviation of Δ⟨u²⟩/b_i over the sets (no linearisation in 1/b).
It is kept apart from the statistical error of the fit, which it does not contain. A set whose
calibration had atoms leave their sites is named in the spread record (its slope then carries the
jumps, not only vibrations), and the spread over the sets that kept their sites is given beside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from ..errors import NclatticeError
from ..results import pyplot

DEFAULT_KEY = "diffraction_weighted"


def fit_linear(temperatures_k: np.ndarray, msd_angstrom2: np.ndarray) -> dict[str, float]:
    """OLS fit of ⟨u²⟩ = a + b T with standard errors and R²."""
    t, y = np.asarray(temperatures_k, float), np.asarray(msd_angstrom2, float)
    if len(t) < 3:
        raise NclatticeError(f"a calibration fit needs at least 3 temperatures, got {len(t)}.")
    res = stats.linregress(t, y)
    return {"slope_angstrom2_per_k": res.slope, "slope_stderr": res.stderr,
            "intercept_angstrom2": res.intercept, "intercept_stderr": res.intercept_stderr,
            "r2": res.rvalue**2}


def build_calibration(temperatures_k: list[float], summaries: list[dict]) -> dict[str, Any]:
    """Collect per-temperature MSD summaries (tasks.msd.summarize) into series and fits."""
    order = np.argsort(temperatures_k)
    temps = [float(temperatures_k[i]) for i in order]
    summaries = [summaries[i] for i in order]
    keys = [k for k in summaries[0]["groups"] if all(k in s["groups"] for s in summaries)]
    msd = {k: [s["groups"][k]["msd_angstrom2"] for s in summaries] for k in keys}
    err = {k: [s["groups"][k]["stderr_angstrom2"] for s in summaries] for k in keys}
    directions = summaries[0]["directional_msd_angstrom2"].keys()
    directional = {d: [s["directional_msd_angstrom2"][d] for s in summaries] for d in directions}
    fits = {k: fit_linear(np.array(temps), np.array(v)) for k, v in msd.items()}
    # one-dimensional ⟨u_n²⟩ along a direction: kept apart from the 3D fits so that ΔT = Δ⟨u²⟩/b
    # is never taken with a 1D slope by mistake (for isotropic motion b_1D = b_3D / 3)
    fits_1d = {d: fit_linear(np.array(temps), np.array(v)) for d, v in directional.items()}
    return {"temperatures_k": temps, "msd_angstrom2": msd, "msd_stderr_angstrom2": err,
            "directional_msd_1d_angstrom2": directional, "fit": fits, "fit_directional_1d": fits_1d}


def delta_t_from_delta_msd(calibration: dict, delta_msd_angstrom2: float,
                           delta_msd_stderr: float = 0.0, key: str = DEFAULT_KEY) -> tuple[float, float]:
    """Lattice temperature rise (K) and its standard error for a measured 3D Δ⟨u²⟩ (Å²)."""
    try:
        fit = calibration["fit"][key]
    except KeyError:
        known = ", ".join(sorted(calibration.get("fit", {})))
        raise NclatticeError(f"calibration has no fit named '{key}'; available: {known}.") from None
    b, sb = fit["slope_angstrom2_per_k"], fit["slope_stderr"]
    if not b > 0:
        raise NclatticeError(f"calibration slope for '{key}' is not positive ({b}); the fit is unusable.")
    dt = delta_msd_angstrom2 / b
    sigma = np.hypot(delta_msd_stderr / b, delta_msd_angstrom2 * sb / b**2)
    return float(dt), float(sigma)


SPREAD_ESTIMATOR = ("sample standard deviation (ddof = 1) of the slopes b_i of the force fields; for ΔT, "
                    "of Δ⟨u²⟩/b_i")


def atoms_off_sites(calibration: dict) -> dict[str, int]:
    """Atoms that left their sites in production, per temperature (K as text), from the calibration's
    ``md_protocol`` site-drift records; empty when every run kept its sites."""
    protocol = calibration.get("md_protocol") or {}
    return {t: int(p["site_drift"]["n_drifting"]) for t, p in protocol.items()
            if isinstance(p, dict) and (p.get("site_drift") or {}).get("n_drifting")}


def _spread_of(slopes: np.ndarray) -> dict[str, float]:
    return {"mean_slope_angstrom2_per_k": float(slopes.mean()), "systematic_slope_stderr": float(slopes.std(ddof=1)),
            "relative_spread": float(slopes.std(ddof=1) / abs(slopes.mean()))}


def force_field_spread(calibrations: dict[str, dict]) -> dict[str, Any]:
    """Spread of the slopes across force fields (``calibrations``: set name -> calibration) for
    every fit key all of them share: slopes and their statistical errors per set, mean, sample
    standard deviation (the systematic error) and its ratio to the mean. Sets whose runs had atoms
    off their sites are listed (``atoms_off_sites``, ``warning``) and, when at least two sets kept
    their sites, the spread over those alone is given per key as ``sites_kept``."""
    if len(calibrations) < 2:
        raise NclatticeError(f"a force-field spread needs at least 2 calibrations, got {len(calibrations)}.")
    names = list(calibrations)
    keys = [k for k in calibrations[names[0]]["fit"] if all(k in c["fit"] for c in calibrations.values())]
    off = {n: moved for n, c in calibrations.items() if (moved := atoms_off_sites(c))}
    kept = [n for n in names if n not in off]
    per_key = {}
    for k in keys:
        slopes = np.array([calibrations[n]["fit"][k]["slope_angstrom2_per_k"] for n in names], float)
        per_key[k] = {"slope_angstrom2_per_k": dict(zip(names, slopes.tolist(), strict=True)),
                      "slope_stderr": {n: float(calibrations[n]["fit"][k]["slope_stderr"]) for n in names},
                      **_spread_of(slopes)}
        if off and len(kept) >= 2:
            per_key[k]["sites_kept"] = {"potentials": kept, **_spread_of(slopes[[names.index(n) for n in kept]])}
    warning = None
    if off:
        def counts(moved: dict[str, int]) -> str:
            return ", ".join(f"{c} at {t} K" for t, c in sorted(moved.items(), key=lambda kv: float(kv[0])))

        def of(name: str) -> str:
            atoms = (calibrations[name].get("structure") or {}).get("atoms")
            return f" of {atoms}" if atoms else ""

        which = "; ".join(f"{n} ({counts(m)}{of(n)} atoms)" for n, m in off.items())
        warning = (f"atoms left their sites in the calibration of {which}: those slopes include the jumps, not only "
                   "vibrations, and widen the force-field spread"
                   + (f"; the spread over the sets that kept their sites ({', '.join(kept)}) is given beside it."
                      if len(kept) >= 2 else "."))
    return {"potentials": names, "estimator": SPREAD_ESTIMATOR, "fit": per_key,
            "atoms_off_sites": off, "warning": warning}


def force_field_delta_t(spread_fit: dict, delta_msd_angstrom2: Any) -> dict[str, Any]:
    """ΔT of a measured 3D Δ⟨u²⟩ (a number or an array, e.g. one per delay) with each force field's
    slope (``spread_fit``: one key's entry of a force-field spread) and its force-field systematic
    error, the sample standard deviation of Δ⟨u²⟩/b_i over the sets (no linearisation in 1/b)."""
    slopes = spread_fit["slope_angstrom2_per_k"]
    if not all(b > 0 for b in slopes.values()):
        raise NclatticeError(f"a force field's slope is not positive ({slopes}); the force-field spread is unusable.")
    delta = np.asarray(delta_msd_angstrom2, float)
    per_set = {name: delta / b for name, b in slopes.items()}
    systematic = np.std(np.stack(list(per_set.values())), axis=0, ddof=1)
    if delta.ndim == 0:
        return {"delta_t_k": {n: float(v) for n, v in per_set.items()}, "systematic_k": float(systematic),
                "estimator": SPREAD_ESTIMATOR}
    return {"delta_t_k": per_set, "systematic_k": systematic, "estimator": SPREAD_ESTIMATOR}


def delta_t_systematic(calibration: dict, delta_msd_angstrom2: Any, key: str = DEFAULT_KEY) -> dict | None:
    """The force-field systematic error of ΔT for a measured 3D Δ⟨u²⟩ (force_field_delta_t) from a
    calibration file's ``force_field_spread``; None when the calibration carries none."""
    spread = (calibration.get("force_field_spread") or {}).get("fit", {}).get(key)
    return None if spread is None else force_field_delta_t(spread, delta_msd_angstrom2)


def plot_calibration(calibration: dict, keys: list[str] | None = None):
    """MSD versus temperature with the linear fits (returns a matplotlib Figure)."""
    plt = pyplot()

    temps = np.array(calibration["temperatures_k"])
    if keys is None:
        keys = [k for k in calibration["msd_angstrom2"] if len(k) <= 2 or k == DEFAULT_KEY]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    grid = np.linspace(0, temps.max() * 1.05, 50)
    for k in keys:
        y = np.array(calibration["msd_angstrom2"][k])
        e = np.array(calibration["msd_stderr_angstrom2"][k])
        fit = calibration["fit"][k]
        line = ax.errorbar(temps, y, yerr=e, fmt="o", ms=4, capsize=2,
                           label=f"{k}: b = {1e5 * fit['slope_angstrom2_per_k']:.2f}e-5 Å²/K, R² = {fit['r2']:.3f}")
        ax.plot(grid, fit["intercept_angstrom2"] + fit["slope_angstrom2_per_k"] * grid,
                color=line[0].get_color(), lw=1)
    return _finish_msd_axes(fig, ax, "Debye–Waller calibration", legend_fontsize=7)


def calibration_label(calibration: dict) -> str:
    """'MD (potential name)' or 'Debye model (Θ ...)' for legends."""
    model = calibration.get("model", {})
    if model.get("name") == "Debye":
        thetas = ", ".join(f"{el} {t:g} K" for el, t in model["debye_temperatures_k"].items())
        return f"Debye model (Θ: {thetas})"
    pot = calibration.get("provenance", {}).get("potential", {}) or {}
    return f"MD ({pot.get('name', 'unknown potential')})"


def plot_calibration_comparison(first: dict, second: dict):
    """⟨u²⟩(T) per element shared by two calibrations (e.g. MD and Debye model) on one figure."""
    plt = pyplot()
    shared = [k for k in first["msd_angstrom2"] if k in second["msd_angstrom2"] and len(k) <= 2]
    if not shared:
        raise NclatticeError("the two calibrations share no element, so there is nothing to compare.")
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for k in shared:
        color = None
        for cal, marker, style in ((first, "o", "-"), (second, "s", "--")):
            temps = np.array(cal["temperatures_k"])
            fit = cal["fit"][k]
            slope = 1e5 * fit["slope_angstrom2_per_k"]
            points = ax.plot(temps, cal["msd_angstrom2"][k], marker, ms=4, color=color,
                             label=f"{k}, {calibration_label(cal)}: b = {slope:.2f}e-5 Å²/K")
            color = points[0].get_color()
            grid = np.linspace(0, temps.max() * 1.05, 50)
            ax.plot(grid, fit["intercept_angstrom2"] + fit["slope_angstrom2_per_k"] * grid, style,
                    color=color, lw=1)
    return _finish_msd_axes(fig, ax, "Calibrations compared", legend_fontsize=6)


def plot_force_fields(calibrations: dict[str, dict], key: str = DEFAULT_KEY):
    """⟨u²⟩(T) of one fit key for each force field (set name -> calibration) on one figure."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, cal in calibrations.items():
        temps = np.array(cal["temperatures_k"])
        fit = cal["fit"][key]
        points = ax.errorbar(temps, cal["msd_angstrom2"][key], yerr=cal["msd_stderr_angstrom2"][key], fmt="o", ms=4,
                             capsize=2, label=f"{name}: b = {1e5 * fit['slope_angstrom2_per_k']:.2f}e-5 "
                                              f"± {1e5 * fit['slope_stderr']:.2f}e-5 Å²/K")
        grid = np.linspace(0, temps.max() * 1.05, 50)
        ax.plot(grid, fit["intercept_angstrom2"] + fit["slope_angstrom2_per_k"] * grid, color=points[0].get_color(),
                lw=1)
    return _finish_msd_axes(fig, ax, f"Force fields compared ({key})", legend_fontsize=6)


def _finish_msd_axes(fig, ax, title: str, legend_fontsize: float):
    """Labels, limits from zero, legend and title of a ⟨u²⟩(T) figure."""
    ax.set_xlabel("temperature (K)")
    ax.set_ylabel("⟨u²⟩ (Å², 3D)")
    ax.set_xlim(0, None)
    ax.set_ylim(0, None)
    ax.legend(fontsize=legend_fontsize)
    ax.set_title(title)
    fig.set_layout_engine("tight")
    return fig
