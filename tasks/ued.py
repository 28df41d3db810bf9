"""Debye–Waller analysis of UED Bragg-peak time series.

Conventions (stated once, used everywhere here):
- Q = 4π sinθ/λ = 2π/d (Å⁻¹) is what is stored; s = 1/d = Q/2π only at the edges.
- ⟨u²⟩ without qualifier is the 3D mean-square displacement (sum over x, y, z), as in the
  MD calibration file. The isotropic DW law is −ln(I/I0) = Q²·Δ⟨u²⟩/3, so the slope m of
  −ln(I/I0) versus Q² gives Δ⟨u²⟩_3D = 3m (``delta_msd_angstrom2``).
- The per-peak, direction-resolved value of Yue et al., J. Phys. Chem. Lett. 2024, I = I0·exp(−4π²s²⟨Δu²⟩_s), is the
  1D MSD along the peak's scattering vector: ⟨Δu²⟩_s = −ln(I/I0)/Q² = −ln(I/I0)/(4π²s²);
  for isotropic motion it equals Δ⟨u²⟩_3D/3.
- ΔT = Δ⟨u²⟩_3D / b_3D with b the slope of the calibration ⟨u²⟩_3D(T) = a + b·T.

Pure functions (text in, arrays/dataclasses out); flows/ued.py reads and writes the files.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from ..errors import NclatticeError

K_B_EV_PER_K = 8.617333262e-5
Q2_DISORDER_THRESHOLD = 40.0  # Å⁻²: Guzelturk 2021 finds heating-only linearity below, disorder above


# ---------------------------------------------------------------- conventions
def q_from_s(s_inv_angstrom: np.ndarray) -> np.ndarray:
    """Q = 2π s (s = 1/d)."""
    return 2.0 * np.pi * np.asarray(s_inv_angstrom, float)


def s_from_q(q_inv_angstrom: np.ndarray) -> np.ndarray:
    """s = Q / 2π = 1/d."""
    return np.asarray(q_inv_angstrom, float) / (2.0 * np.pi)


def msd_along_q(i_over_i0: np.ndarray, q_inv_angstrom: np.ndarray) -> np.ndarray:
    """⟨Δu²⟩ along the scattering vector (1D, Å²): −ln(I/I0)/Q²."""
    return -np.log(np.asarray(i_over_i0, float)) / np.asarray(q_inv_angstrom, float) ** 2


def msd_along_s(i_over_i0: np.ndarray, s_inv_angstrom: np.ndarray) -> np.ndarray:
    """Yue et al. (J. Phys. Chem. Lett. 2024) form: ⟨Δu²⟩_s = −ln(I/I0)/(4π² s²), identical to :func:`msd_along_q`."""
    return -np.log(np.asarray(i_over_i0, float)) / (4 * np.pi**2 * np.asarray(s_inv_angstrom, float) ** 2)


def debye_waller_intensity(q_inv_angstrom: np.ndarray, delta_msd_angstrom2: np.ndarray) -> np.ndarray:
    """Forward model I/I0 = exp(−Q²Δ⟨u²⟩_3D/3) for every (delay, peak) pair: shape (n_t, n_q)."""
    q = np.asarray(q_inv_angstrom, float)
    return np.exp(-np.outer(np.atleast_1d(delta_msd_angstrom2), q**2) / 3.0)


def cell_from_lattice(lattice: Sequence[float]) -> np.ndarray:
    """Direct cell (rows, Å) from 1 value (cubic a), 2 (hexagonal a, c) or 6 (a, b, c, α, β, γ)."""
    from ase.geometry import cellpar_to_cell

    vals = [float(v) for v in lattice]
    if len(vals) == 1:
        par = [vals[0]] * 3 + [90.0] * 3
    elif len(vals) == 2:
        par = [vals[0], vals[0], vals[1], 90.0, 90.0, 120.0]
    elif len(vals) == 6:
        par = vals
    else:
        raise NclatticeError("give the lattice as a (cubic), a,c (hexagonal) or a,b,c,alpha,beta,gamma.")
    if min(par[:3]) <= 0 or not all(0 < x < 180 for x in par[3:]):
        raise NclatticeError("lattice lengths must be > 0 Å and angles between 0 and 180 degrees.")
    return cellpar_to_cell(par)


def q_from_hkl(hkl: np.ndarray, lattice: Sequence[float]) -> np.ndarray:
    """|Q| = |h b1 + k b2 + l b3| with reciprocal vectors b_i including the 2π."""
    reciprocal = 2.0 * np.pi * np.linalg.inv(cell_from_lattice(lattice)).T
    return np.linalg.norm(np.atleast_2d(hkl) @ reciprocal, axis=1)


def is_cubic(lattice: Sequence[float] | None) -> bool:
    return lattice is not None and len(lattice) == 1


def direction_family(hkl: Sequence[int]) -> str:
    """Cubic direction family of a reflection: (200) → <100>, (220) → <110>, (222) → <111>."""
    idx = sorted((abs(int(x)) for x in hkl), reverse=True)
    g = math.gcd(*idx)
    if g == 0:
        raise NclatticeError("the (000) reflection has no direction.")
    return "<" + "".join(str(x // g) for x in idx) + ">"


# ---------------------------------------------------------------- data
@dataclass(frozen=True)
class UedSeries:
    """Bragg-peak intensities of one fluence: arrays (n_delays, n_peaks), NaN where absent."""

    delays_ps: np.ndarray
    peaks: tuple[str, ...]
    q_inv_angstrom: np.ndarray
    i_over_i0: np.ndarray
    error: np.ndarray
    fluence_mj_cm2: float | None = None
    hkl: np.ndarray | None = None
    lattice: tuple[float, ...] | None = field(default=None)
    covariance: np.ndarray | None = None  # (n_delays, n_peaks, n_peaks) of I/I0 where peaks share a fit


REQUIRED = ("delay_ps", "peak", "i_over_i0", "error")
POSITION_COLUMNS = (("q_inv_angstrom",), ("s_inv_angstrom",), ("h", "k", "l"))
OPTIONAL = ("fluence_mj_cm2",)
RANGES = {"delay_ps": (-1e6, 1e8), "i_over_i0": (0.0, 2.0), "error": (0.0, 1.0),
          "q_inv_angstrom": (0.0, 40.0), "s_inv_angstrom": (0.0, 40.0 / (2 * np.pi)),
          "fluence_mj_cm2": (0.0, 1e3)}
EXCLUSIVE_LOWER = {"i_over_i0", "error", "q_inv_angstrom", "s_inv_angstrom"}


def _header(fields: list[str]) -> tuple[list[str], tuple[str, ...]]:
    cols = [f.strip().lower() for f in fields]
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise NclatticeError(f"the header lacks column(s) {', '.join(missing)}; expected "
                             "delay_ps,peak,q_inv_angstrom,i_over_i0,error (or h,k,l for q).")
    position = [p for p in POSITION_COLUMNS if all(c in cols for c in p)]
    if len(position) != 1:
        raise NclatticeError("give exactly one peak position: a q_inv_angstrom column, an s_inv_angstrom "
                             "column, or h,k,l columns with --lattice.")
    known = set(REQUIRED) | set(OPTIONAL) | set(position[0])
    extra = [c for c in cols if c not in known]
    if extra or len(set(cols)) != len(cols):
        raise NclatticeError(f"unknown or repeated column(s) {', '.join(extra) or 'in header'}; allowed: "
                             f"{', '.join(sorted(known))}.")
    return cols, position[0]


def _value(raw: str, column: str, line: int) -> float:
    text = raw.strip()
    if text == "" or text.lower() in {"nan", "na", "null", "none"}:
        raise NclatticeError(f"line {line}, column '{column}': value is missing; fill it or drop the row.")
    try:
        value = float(text)
    except ValueError:
        raise NclatticeError(f"line {line}, column '{column}': '{text}' is not a number.") from None
    lo, hi = RANGES.get(column, (-np.inf, np.inf))
    low_ok = value > lo if column in EXCLUSIVE_LOWER else value >= lo
    if not (np.isfinite(value) and low_ok and value <= hi):
        raise NclatticeError(f"line {line}, column '{column}': {value} is outside the allowed range "
                             f"{'(' if column in EXCLUSIVE_LOWER else '['}{lo:g}, {hi:g}].")
    if column in ("h", "k", "l") and value != int(value):
        raise NclatticeError(f"line {line}, column '{column}': Miller indices must be integers.")
    return value


def parse_ued_csv(text: str, lattice: Sequence[float] | None = None) -> list[UedSeries]:
    """Parse and validate the UED CSV format; one :class:`UedSeries` per fluence (ascending).

    Lines starting with '#' are comments. Errors name the line and the column.
    """
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines())
             if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) < 2:
        raise NclatticeError("the data file has no header and data rows; see `nclattice ued analyze --help`.")
    reader = csv.reader(io.StringIO("\n".join(ln for _, ln in lines)))
    rows = list(reader)
    if len(rows) != len(lines):
        raise NclatticeError("quoted fields that span lines are not supported; put one record per line.")
    cols, position = _header(rows[0])
    if position == ("h", "k", "l") and lattice is None:
        raise NclatticeError("the file gives h,k,l: pass the lattice with --lattice (a, or a,c, or 6 values).")
    records: dict[tuple[float | None, float, str], tuple[float, float]] = {}
    peak_pos: dict[str, tuple[float, ...]] = {}
    for (line, _), row in zip(lines[1:], rows[1:], strict=True):
        if len(row) != len(cols):
            raise NclatticeError(f"line {line}: {len(row)} fields but the header has {len(cols)}.")
        cell = dict(zip(cols, row, strict=True))
        peak = cell["peak"].strip()
        if not peak:
            raise NclatticeError(f"line {line}, column 'peak': value is missing; name the peak (e.g. Q3 or 200).")
        num = {c: _value(cell[c], c, line) for c in cols if c != "peak"}
        pos = tuple(num[c] for c in position)
        if peak_pos.setdefault(peak, pos) != pos and not np.allclose(peak_pos[peak], pos, rtol=1e-4):
            raise NclatticeError(f"line {line}: peak '{peak}' has position {pos}, elsewhere {peak_pos[peak]}; "
                                 "one peak must have one position.")
        key = (num.get("fluence_mj_cm2"), num["delay_ps"], peak)
        if key in records:
            raise NclatticeError(f"line {line}: duplicate row for peak '{peak}' at delay {key[1]} ps.")
        records[key] = (num["i_over_i0"], num["error"])
    return [_assemble(records, peak_pos, position, lattice, f)
            for f in sorted({k[0] for k in records}, key=lambda v: -1.0 if v is None else v)]


def _assemble(records, peak_pos, position, lattice, fluence) -> UedSeries:
    mine = {k: v for k, v in records.items() if k[0] == fluence}
    peaks_all = sorted({k[2] for k in mine})
    if position == ("h", "k", "l"):
        hkl = np.array([peak_pos[p] for p in peaks_all], int)
        if np.any(np.all(hkl == 0, axis=1)):
            raise NclatticeError("a peak has h = k = l = 0; the (000) beam is not a Bragg peak.")
        q = q_from_hkl(hkl, lattice)
    else:
        hkl = None
        q = np.array([peak_pos[p][0] for p in peaks_all])
        q = q_from_s(q) if position == ("s_inv_angstrom",) else q
    order = np.argsort(q, kind="stable")
    peaks = tuple(peaks_all[i] for i in order)
    delays = np.array(sorted({k[1] for k in mine}))
    i_rel = np.full((delays.size, len(peaks)), np.nan)
    err = np.full_like(i_rel, np.nan)
    col = {p: j for j, p in enumerate(peaks)}
    for (_, d, p), (i, e) in mine.items():
        row = np.searchsorted(delays, d)
        i_rel[row, col[p]], err[row, col[p]] = i, e
    if len(peaks) < 2:
        raise NclatticeError("a Debye–Waller analysis needs at least two Bragg peaks per fluence.")
    return UedSeries(delays, peaks, q[order], i_rel, err, fluence,
                     None if hkl is None else hkl[order], None if lattice is None else tuple(lattice))


def series_to_csv(series: Sequence[UedSeries], header_comment: str = "") -> str:
    """Write series in the documented CSV format (q or h,k,l columns as the series carries)."""
    use_hkl = all(s.hkl is not None for s in series)
    with_fluence = any(s.fluence_mj_cm2 is not None for s in series)
    cols = ["delay_ps", "peak"] + (["h", "k", "l"] if use_hkl else ["q_inv_angstrom"]) + ["i_over_i0", "error"]
    cols += ["fluence_mj_cm2"] if with_fluence else []
    out = io.StringIO()
    for line in header_comment.splitlines():
        out.write(f"# {line}\n")
    out.write(",".join(cols) + "\n")
    for s in series:
        for i, d in enumerate(s.delays_ps):
            for j, p in enumerate(s.peaks):
                if not np.isfinite(s.i_over_i0[i, j]):
                    continue
                pos = [str(int(x)) for x in s.hkl[j]] if use_hkl else [f"{s.q_inv_angstrom[j]:.5f}"]
                row = [f"{d:g}", p, *pos, f"{s.i_over_i0[i, j]:.6f}", f"{s.error[i, j]:.6f}"]
                row += [f"{s.fluence_mj_cm2:g}"] if with_fluence else []
                out.write(",".join(row) + "\n")
    return out.getvalue()


# ---------------------------------------------------------------- Debye–Waller fit per delay
@dataclass(frozen=True)
class PeakExcess:
    """A high-Q peak's −ln(I/I0) above the low-Q line, with its one-sided significance."""

    peak: str
    q_inv_angstrom: float
    excess: float
    excess_stderr: float
    z: float
    p_value: float


@dataclass(frozen=True)
class DwFit:
    slope_angstrom2: float          # d(−ln I/I0)/dQ² = Δ⟨u²⟩_3D / 3
    slope_stderr: float
    intercept: float
    intercept_stderr: float
    intercept_z: float
    intercept_p_value: float        # two-sided test of zero intercept
    chi2_reduced: float
    n_fit_peaks: int
    high_q: tuple[PeakExcess, ...]

    @property
    def delta_msd_angstrom2(self) -> float:
        return 3.0 * self.slope_angstrom2

    @property
    def delta_msd_stderr(self) -> float:
        return 3.0 * self.slope_stderr


def fit_debye_waller(q_inv_angstrom: np.ndarray, i_over_i0: np.ndarray, error: np.ndarray,
                     peaks: Sequence[str] | None = None, q2_max_fit: float = Q2_DISORDER_THRESHOLD,
                     through_origin: bool = False, covariance: np.ndarray | None = None) -> DwFit:
    """Weighted linear fit of −ln(I/I0) vs Q² over peaks with Q² ≤ ``q2_max_fit``.

    Errors of I/I0 are absolute standard errors; σ[−ln I] = σ_I / I. With ``covariance`` (the
    full covariance of I/I0, e.g. of rings fitted jointly in one profile) the fit is generalised
    least squares and ``error`` is not used. Peaks above the threshold are tested against the
    extrapolated line (fit covariance and their correlation with the fitted peaks included).
    """
    q2 = np.asarray(q_inv_angstrom, float) ** 2
    i_rel, err = np.asarray(i_over_i0, float), np.asarray(error, float)
    peaks = list(peaks) if peaks is not None else [f"Q{j + 1}" for j in range(q2.size)]
    cov_i = np.diag(err**2) if covariance is None else np.asarray(covariance, float)
    err = np.sqrt(np.abs(np.diag(cov_i)))
    good = np.isfinite(i_rel) & np.isfinite(err) & (i_rel > 0) & (err > 0)
    inv_i = 1.0 / np.where(good, i_rel, 1.0)
    y, cov_y = -np.log(np.where(good, i_rel, 1.0)), cov_i * np.outer(inv_i, inv_i)
    low = good & (q2 <= q2_max_fit)
    n_par = 1 if through_origin else 2
    if low.sum() < n_par:
        raise NclatticeError(f"a Debye–Waller fit needs {n_par} peaks with Q² <= {q2_max_fit:g} Å^-2 at "
                             "every delay; lower the peak selection threshold or add peaks.")
    design = np.column_stack([q2] if through_origin else [np.ones_like(q2), q2])
    w = np.linalg.inv(cov_y[np.ix_(low, low)])
    cov = np.linalg.inv(design[low].T @ w @ design[low])
    gain = cov @ design[low].T @ w  # β = gain · y_low
    beta = gain @ y[low]
    resid = y[low] - design[low] @ beta
    dof = low.sum() - n_par
    chi2 = float(resid @ w @ resid / dof) if dof > 0 else float("nan")
    slope, slope_var = beta[-1], cov[-1, -1]
    c, c_err = (0.0, 0.0) if through_origin else (float(beta[0]), float(np.sqrt(cov[0, 0])))
    cz = c / c_err if c_err > 0 else 0.0
    high = []
    for j in np.flatnonzero(good & (q2 > q2_max_fit)):
        pred_var = design[j] @ cov @ design[j] - 2 * design[j] @ gain @ cov_y[low, j]
        excess, ex_err = y[j] - design[j] @ beta, float(np.sqrt(cov_y[j, j] + pred_var))
        z = float(excess / ex_err)
        high.append(PeakExcess(peaks[j], float(np.sqrt(q2[j])), float(excess), ex_err, z, float(stats.norm.sf(z))))
    return DwFit(float(slope), float(np.sqrt(slope_var)), c, c_err, float(cz),
                 float(2 * stats.norm.sf(abs(cz))), chi2, int(low.sum()), tuple(high))


@dataclass(frozen=True)
class DwSeries:
    """Per-delay Debye–Waller results of one series, plus the localized-disorder verdict."""

    delays_ps: np.ndarray
    fits: tuple[DwFit, ...]
    z_threshold: float
    q2_max_fit: float

    def column(self, name: str) -> np.ndarray:
        return np.array([getattr(f, name) for f in self.fits])

    def flags(self) -> list[dict]:
        """(delay, high-Q peak) pairs whose excess loss exceeds ``z_threshold`` standard errors."""
        return [{"delay_ps": float(d), "peak": h.peak, "q_inv_angstrom": h.q_inv_angstrom,
                 "excess": h.excess, "excess_stderr": h.excess_stderr, "z": h.z, "p_value": h.p_value}
                for d, f in zip(self.delays_ps, self.fits, strict=True) for h in f.high_q
                if h.z > self.z_threshold]

    def disorder_summary(self, after_ps: float = 0.0) -> dict[str, dict]:
        """Per high-Q peak, Stouffer-combined significance over delays > ``after_ps``.

        Combining guards against both single noisy delays (false alarms among many tests) and
        a weak but persistent excess that no single delay shows.
        """
        by_peak: dict[str, list[PeakExcess]] = {}
        for d, f in zip(self.delays_ps, self.fits, strict=True):
            for h in f.high_q:
                if d > after_ps:
                    by_peak.setdefault(h.peak, []).append(h)
        out = {}
        for peak, items in by_peak.items():
            zs = np.array([h.z for h in items])
            z = float(zs.sum() / np.sqrt(zs.size))
            out[peak] = {"q_inv_angstrom": items[0].q_inv_angstrom, "n_delays": int(zs.size),
                         "combined_z": z, "p_value": float(stats.norm.sf(z)),
                         "mean_excess": float(np.mean([h.excess for h in items])),
                         "localized_disorder": bool(z > self.z_threshold)}
        return out


def analyze_series(series: UedSeries, q2_max_fit: float = Q2_DISORDER_THRESHOLD,
                   z_threshold: float = 3.0, through_origin: bool = False) -> DwSeries:
    """Debye–Waller fit at every delay of a series."""
    cov = series.covariance
    fits = tuple(fit_debye_waller(series.q_inv_angstrom, series.i_over_i0[i], series.error[i],
                                  series.peaks, q2_max_fit, through_origin, None if cov is None else cov[i])
                 for i in range(series.delays_ps.size))
    return DwSeries(series.delays_ps, fits, z_threshold, q2_max_fit)


def delay_covariance(series: UedSeries, dw: DwSeries, reference_covariance: np.ndarray,
                     through_origin: bool = False) -> np.ndarray:
    """Covariance of Δ⟨u²⟩ between delays (n_delays × n_delays, Å⁴) when every I/I0 shares one I0.

    ``reference_covariance``: relative covariance of the reference's peak intensities,
    cov(ln I0_j, ln I0_k). Every −ln(I/I0) contains the same +ln I0, so two delays share
    g_t · cov(ln I0) · g_t' where g_t = ∂Δ⟨u²⟩_t/∂ln I0 (from the delay's own fit, by finite
    differences). The diagonal is each delay's full variance. Off the diagonal this is exact for
    delays whose profiles are not themselves part of I0 (t > 0 when I0 is the pre-time-zero mean).
    """
    n_d, n_p = series.i_over_i0.shape
    cov = series.covariance
    grad = np.zeros((n_d, n_p))
    step = 1e-6
    for i in range(n_d):
        for j in np.flatnonzero(np.isfinite(series.i_over_i0[i])):
            bumped = series.i_over_i0[i].copy()
            bumped[j] *= np.exp(-step)  # ln I0_j up by `step`: I/I0 down by the same factor
            fit = fit_debye_waller(series.q_inv_angstrom, bumped, series.error[i], series.peaks, dw.q2_max_fit,
                                   through_origin, None if cov is None else cov[i])
            grad[i, j] = (fit.delta_msd_angstrom2 - dw.fits[i].delta_msd_angstrom2) / step
    shared = grad @ np.asarray(reference_covariance, float) @ grad.T
    np.fill_diagonal(shared, np.array([f.delta_msd_stderr for f in dw.fits]) ** 2)
    return shared


def whitened_residuals(residual: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """L⁻¹·r with C = L·Lᵀ: independent unit-variance values when C is the residuals' true covariance
    (so their spread judges the errors' calibration even when the residuals are correlated)."""
    return np.linalg.solve(np.linalg.cholesky(covariance), residual)


def correlated_mean(values: np.ndarray, covariance: np.ndarray) -> tuple[float, float]:
    """Generalised-least-squares mean of correlated values and its standard error."""
    w = np.linalg.solve(covariance, np.ones(len(values)))
    return float(w @ values / w.sum()), float(w.sum() ** -0.5)


# ---------------------------------------------------------------- per peak and per direction
def peak_msd(series: UedSeries) -> tuple[np.ndarray, np.ndarray]:
    """Per-peak ⟨Δu²⟩ along Q (1D, Å²) and its standard error: arrays (n_delays, n_peaks)."""
    q2 = series.q_inv_angstrom**2
    with np.errstate(invalid="ignore", divide="ignore"):
        return msd_along_q(series.i_over_i0, series.q_inv_angstrom), series.error / series.i_over_i0 / q2


def direction_resolved_msd(series: UedSeries) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """⟨Δu²⟩_s per cubic direction family (<100>, <110>, <111>, ...): weighted mean over its peaks.

    Needs h,k,l and a cubic lattice (Yue et al., J. Phys. Chem. Lett. 2024: rock-salt PbSe).
    """
    if series.hkl is None or not is_cubic(series.lattice):
        raise NclatticeError("direction-resolved MSD needs h,k,l columns and a cubic --lattice a.")
    msd, err = peak_msd(series)
    fams = [direction_family(h) for h in series.hkl]
    out = {}
    for fam in sorted(set(fams)):
        cols = [j for j, f in enumerate(fams) if f == fam]
        w = np.where(np.isfinite(err[:, cols]), 1.0 / err[:, cols] ** 2, 0.0)
        vals = np.where(w > 0, msd[:, cols], 0.0)
        wsum = w.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[fam] = ((w * vals).sum(1) / wsum, 1.0 / np.sqrt(wsum))
    return out


def compare_directions(a: dict[str, tuple[np.ndarray, np.ndarray]], delays_a: np.ndarray,
                       b: dict[str, tuple[np.ndarray, np.ndarray]], delays_b: np.ndarray,
                       window_ps: tuple[float, float]) -> dict[str, dict]:
    """Quasi-equilibrium ⟨Δu²⟩_s per direction, sample b minus sample a, with significance.

    Yue et al. (2024): attached minus individual PbSe QDs is negative along <100>, positive along <111>.
    """
    out = {}
    for fam in sorted(set(a) & set(b)):
        ma, ea = _window_mean(*a[fam], delays_a, window_ps)
        mb, eb = _window_mean(*b[fam], delays_b, window_ps)
        diff, derr = mb - ma, float(np.hypot(ea, eb))
        out[fam] = {"a_angstrom2": ma, "a_stderr": ea, "b_angstrom2": mb, "b_stderr": eb,
                    "difference_angstrom2": diff, "difference_stderr": derr,
                    "z": diff / derr if derr > 0 else float("nan")}
    return out


def _window_mean(values, errors, delays, window) -> tuple[float, float]:
    sel = (delays >= window[0]) & (delays <= window[1]) & np.isfinite(values) & np.isfinite(errors)
    if not sel.any():
        raise NclatticeError(f"no delays inside the comparison window {window} ps.")
    w = 1.0 / errors[sel] ** 2
    return float((w * values[sel]).sum() / w.sum()), float(1.0 / np.sqrt(w.sum()))


# ---------------------------------------------------------------- localized-disorder separations (§6)
def high_q_excess(i_high: np.ndarray, err_high: np.ndarray, i_low: np.ndarray, err_low: np.ndarray,
                  q_high: float, q_low: float, ratio: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Extra loss at a high-Q peak beyond the DW loss predicted from a low-Q peak (Guzelturk 2021, Q6 − Q3).

    The low-Q peak is rescaled to Q_high with the DW law, I_pred = (I_low)^R, R = (Q_high/Q_low)²
    unless ``ratio`` is given; returns (I_pred − I_high, standard error): positive = extra loss.
    """
    r = (q_high / q_low) ** 2 if ratio is None else ratio
    i_low, i_high = np.asarray(i_low, float), np.asarray(i_high, float)
    pred = i_low**r
    err = np.hypot(r * i_low ** (r - 1.0) * np.asarray(err_low, float), np.asarray(err_high, float))
    return pred - i_high, err


def delta_g_ratio(r_angstrom: np.ndarray, delta_g: np.ndarray, r_num: float = 2.5, r_den: float = 7.1,
                  half_width: float = 0.1, min_fraction: float = 0.05) -> np.ndarray:
    """ΔG(r_num, t)/ΔG(r_den, t) from ΔG(r, t) of shape (n_t, n_r), each averaged over ±half_width Å.

    The ratio removes the common heating dynamics (Guzelturk 2021). Delays where |ΔG(r_den)| is below
    ``min_fraction`` of its maximum give NaN instead of a noisy division.
    """
    r = np.asarray(r_angstrom, float)
    dg = np.atleast_2d(np.asarray(delta_g, float))

    def band(r0: float) -> np.ndarray:
        # average of the interpolated curve over the band: independent of where grid points fall
        if r0 - half_width < r.min() or r0 + half_width > r.max():
            raise NclatticeError(f"ΔG(r) does not cover r = {r0} ± {half_width} Å.")
        samples = r0 + np.linspace(-half_width, half_width, 21)
        return np.array([np.interp(samples, r, row).mean() for row in dg])

    num, den = band(r_num), band(r_den)
    small = np.abs(den) < min_fraction * np.nanmax(np.abs(den))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(small, np.nan, num / den)


# ---------------------------------------------------------------- calibration and temperature
@dataclass(frozen=True)
class MsdCalibration:
    """Slope b of ⟨u²⟩_3D(T) = a + b·T from the MD calibration (Å², K)."""

    key: str
    slope_angstrom2_per_k: float
    slope_stderr: float
    intercept_angstrom2: float
    r2: float | None
    temperatures_k: tuple[float, ...]
    # this key's entry of the file's force_field_spread (calibrate --potentials), else None
    force_field_spread: dict | None = None
    force_field_warning: str | None = None


def read_calibration(payload: dict, key: str = "diffraction_weighted") -> MsdCalibration:
    """Read the MD issue's ``calibration.json`` content (already parsed into a dict)."""
    fit = payload.get("fit") if isinstance(payload, dict) else None
    if not isinstance(fit, dict):
        raise NclatticeError("the calibration has no 'fit' table; pass the calibration.json written by "
                             "`nclattice calibrate`.")
    if key not in fit:
        raise NclatticeError(f"the calibration has no fit '{key}'; choose --calibration-key from "
                             f"{', '.join(sorted(fit))}.")
    entry = fit[key]
    try:
        slope, err = float(entry["slope_angstrom2_per_k"]), float(entry["slope_stderr"])
        intercept = float(entry["intercept_angstrom2"])
    except (KeyError, TypeError, ValueError) as exc:
        raise NclatticeError(f"calibration fit '{key}' lacks a numeric {exc}; regenerate the calibration.") \
            from None
    if not (slope > 0 and np.isfinite(slope) and err >= 0):
        raise NclatticeError(f"calibration fit '{key}' has slope {slope} Å²/K; it must be positive.")
    r2 = entry.get("r2")
    temps = tuple(float(t) for t in payload.get("temperatures_k", ()))
    spread = payload.get("force_field_spread") or {}
    return MsdCalibration(key, slope, err, intercept, None if r2 is None else float(r2), temps,
                          spread.get("fit", {}).get(key), spread.get("warning"))


def delta_temperature(delta_msd_angstrom2: np.ndarray, delta_msd_stderr: np.ndarray,
                      calibration: MsdCalibration) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ΔT = Δ⟨u²⟩_3D / b. Returns (ΔT, total stderr, statistical stderr) in K.

    The total adds the calibration slope error, a common scale for all delays; fit time
    constants with the statistical part only.
    """
    b, sb = calibration.slope_angstrom2_per_k, calibration.slope_stderr
    d, sd = np.asarray(delta_msd_angstrom2, float), np.asarray(delta_msd_stderr, float)
    dt = d / b
    stat = sd / b
    return dt, np.hypot(stat, d * sb / b**2), stat


def delta_temperature_systematic(delta_msd_angstrom2: np.ndarray, calibration: MsdCalibration) -> dict | None:
    """The force-field systematic error of ΔT per delay (ΔT with each set's slope and their sample
    standard deviation, tasks.calibration.force_field_delta_t: the conversion `calibrate --apply`
    uses), or None when the calibration was made with one force field. Kept apart from the
    statistical and total errors of delta_temperature, which do not contain it."""
    from .calibration import force_field_delta_t

    if calibration.force_field_spread is None:
        return None
    return force_field_delta_t(calibration.force_field_spread, delta_msd_angstrom2)


def dulong_petit_heat_capacity_ev_per_k(n_atoms: int) -> float:
    """Classical lattice heat capacity 3 N k_B (eV/K), the limit MD samples."""
    if n_atoms <= 0:
        raise NclatticeError("the number of atoms per NC must be positive.")
    return 3.0 * n_atoms * K_B_EV_PER_K


def delta_energy_ev(delta_t_k: np.ndarray, heat_capacity_ev_per_k: float) -> np.ndarray:
    """ΔE = C·ΔT: energy transferred to the lattice of one NC (eV)."""
    return heat_capacity_ev_per_k * np.asarray(delta_t_k, float)


# ---------------------------------------------------------------- synthetic data (forward model)
def synthesize_series(delays_ps: np.ndarray, peaks: Sequence[str], q_inv_angstrom: np.ndarray,
                      delta_msd_angstrom2: np.ndarray, relative_error: float, seed: int,
                      extra_loss: np.ndarray | None = None, fluence_mj_cm2: float | None = None,
                      hkl: np.ndarray | None = None, lattice: Sequence[float] | None = None) -> UedSeries:
    """A UED series from the DW forward model plus Gaussian noise (σ = relative_error in I/I0).

    ``extra_loss`` (n_delays, n_peaks) adds to −ln(I/I0), e.g. a localized-disorder term.
    """
    rng = np.random.default_rng(seed)
    log_loss = -np.log(debye_waller_intensity(q_inv_angstrom, delta_msd_angstrom2))
    if extra_loss is not None:
        log_loss = log_loss + extra_loss
    clean = np.exp(-log_loss)
    err = np.full(clean.shape, relative_error)
    noisy = clean + err * rng.standard_normal(clean.shape)
    return UedSeries(np.asarray(delays_ps, float), tuple(peaks), np.asarray(q_inv_angstrom, float),
                     noisy, err, fluence_mj_cm2, None if hkl is None else np.asarray(hkl, int),
                     None if lattice is None else tuple(lattice))

