"""Heating and localized surface disorder in ΔI(Q, t): forward model and per-delay decomposition.

Forward model (Debye equation, independent Gaussian displacements). With S(Q) = Σ_i |f_i|² the
self term and I_ab(Q) = Σ_{i∈a, j∈b, i≠j} f_i f_j* sin(Q r_ij)/(Q r_ij) the interference between
atom classes a, b ∈ {surface, interior}, an extra 3D mean-square displacement s_i of atom i
multiplies pair (i, j) by exp(−Q²(s_i + s_j)/6) and leaves the self term alone. Hence

- heating, Δ⟨u²⟩ on every atom:        I = S + e^{−Q²Δ⟨u²⟩/3} · I_int
- localized surface disorder, an extra static 3D MSD σ² on surface atoms only (random
  displacements, zero mean; the expectation of the seeded random-displacement Debye difference):
      ΔI_dis(Q) = I_ss·(e^{−Q²σ²/3} − 1) + I_sb·(e^{−Q²σ²/6} − 1)
- a fraction b(t) of crystals disordered, all heated:
      I(Q, t) = S + e^{−Q²Δ⟨u²⟩(t)/3} · [I_int + b(t)·ΔI_dis].

Decomposition of measured profiles, per delay t (weighted least squares, errors per point):
    ΔI(Q, t) = H(Q)·(e^{−Q²u(t)/3} − 1) + b(t)·e^{−Q²u(t)/3}·c·ΔI_dis(Q)   (Debye–Waller heating)
    ΔI(Q, t) = a(t)·ΔI_MD(Q) + b(t)·c·ΔI_dis(Q)                            (MD ΔT heating)
with H = I0 − baseline the measured interference (the wavelet baseline carries the self term
and the smooth background, which heating does not reduce), c the scale matching the model
interference to H, ΔI_MD the MD ΔT run's ΔF(Q) put on the same scale, and ΔT(t) = u(t)/b_cal or
a(t)·ΔT_run. The same fit is repeated on ΔG(r, t) obtained by the sine transform of
ΔF(Q, t) = Q·ΔI/baseline over the measured Q range (errors propagated, correlations between r
points neglected there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import NclatticeError
from .diffraction import _sinc, pair_histogram


# ---------------------------------------------------------------- forward model
@dataclass(frozen=True)
class PatternModel:
    """Debye terms of one crystal on a Q grid: self, interference by class pair (s = surface, b = interior)."""

    q_inv_angstrom: np.ndarray
    self_term: np.ndarray
    i_ss: np.ndarray
    i_sb: np.ndarray
    i_bb: np.ndarray
    n_atoms: int
    n_surface: int

    @property
    def interference(self) -> np.ndarray:
        return self.i_ss + self.i_sb + self.i_bb

    def disorder_delta(self, sigma2_angstrom2: float) -> np.ndarray:
        """ΔI_dis(Q) for an extra 3D MSD σ² of the surface atoms."""
        q2 = self.q_inv_angstrom**2
        return self.i_ss * np.expm1(-q2 * sigma2_angstrom2 / 3) + self.i_sb * np.expm1(-q2 * sigma2_angstrom2 / 6)

    def intensity(self, delta_msd_angstrom2: float = 0.0, disorder_fraction: float = 0.0,
                  sigma2_angstrom2: float = 0.0) -> np.ndarray:
        heat = np.exp(-self.q_inv_angstrom**2 * delta_msd_angstrom2 / 3)
        dis = self.disorder_delta(sigma2_angstrom2) if disorder_fraction else 0.0
        return self.self_term + heat * (self.interference + disorder_fraction * dis)


def pattern_model(positions: np.ndarray, symbols: Sequence[str], surface: np.ndarray, probe,
                  q_inv_angstrom: np.ndarray, bin_width_angstrom: float = 0.005) -> PatternModel:
    """Debye self and class-resolved interference terms from a pair-distance histogram."""
    surface = np.asarray(surface, bool)
    if surface.shape != (len(symbols),) or not surface.any():
        raise NclatticeError("the structure has no surface atoms labelled; build it with `nclattice build`.")
    labels = [f"{s}|{'s' if m else 'b'}" for s, m in zip(symbols, surface, strict=True)]
    hist = pair_histogram(positions, labels, bin_width_angstrom)
    q = np.atleast_1d(np.asarray(q_inv_angstrom, float))
    f = np.real(probe.factors([lab.split("|")[0] for lab in hist.species], q))
    self_term = (hist.counts_per_species[:, None] * f**2).sum(0)
    terms = {"ss": np.zeros(q.size), "sb": np.zeros(q.size), "bb": np.zeros(q.size)}
    for (a, b), n, r in zip(hist.pairs, hist.counts, hist.mean_r, strict=True):
        kind = "".join(sorted(hist.species[a][-1] + hist.species[b][-1], reverse=True))
        terms[kind] += 2 * f[a] * f[b] * (_sinc(np.outer(q, r)) @ n)
    return PatternModel(q, self_term, terms["ss"], terms["sb"], terms["bb"], len(symbols), int(surface.sum()))


def sampled_disorder_delta(positions: np.ndarray, symbols: Sequence[str], surface: np.ndarray, probe,
                           q_inv_angstrom: np.ndarray, sigma2_angstrom2: float, n_samples: int,
                           seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Monte-Carlo check of :meth:`PatternModel.disorder_delta`: mean Debye difference (and its
    standard error) over seeded random Gaussian displacements (3D MSD σ²) of the surface atoms."""
    from .diffraction import debye_intensity

    rng = np.random.default_rng(seed)
    pos = np.asarray(positions, float)
    mask = np.asarray(surface, bool)
    base = debye_intensity(pos, symbols, probe, q_inv_angstrom)
    samples = []
    for _ in range(n_samples):
        moved = pos.copy()
        moved[mask] += rng.normal(0.0, np.sqrt(sigma2_angstrom2 / 3), (mask.sum(), 3))
        samples.append(debye_intensity(moved, symbols, probe, q_inv_angstrom) - base)
    samples = np.array(samples)
    return samples.mean(0), samples.std(0, ddof=1) / np.sqrt(n_samples)


# ---------------------------------------------------------------- bases on the measured scale
@dataclass(frozen=True)
class Basis:
    """Model components on the measured intensity scale: c·I_int and c·ΔI_dis."""

    scale: float
    heat_pattern: np.ndarray
    disorder: np.ndarray


def scaled_basis(pm: PatternModel, i0: np.ndarray, i0_error: np.ndarray, sigma2_angstrom2: float,
                 baseline_iter: int = 200) -> Basis:
    """c from the background-free (wavelet-baseline-subtracted) measured and model patterns.

    The same baseline is removed from I0 and from the model S + I_int, so the smooth parts
    (self term, background, small-angle tail) do not enter c.
    """
    from .profiles import wavelet_baseline

    model = pm.self_term + pm.interference
    c = interference_scale(i0 - wavelet_baseline(i0, baseline_iter), model - wavelet_baseline(model, baseline_iter),
                           i0_error)
    if not c > 0:
        raise NclatticeError("the structure's pattern does not match the measured one (scale <= 0); check the "
                             "structure, the probe and the Q range.")
    return Basis(c, c * pm.interference, c * pm.disorder_delta(sigma2_angstrom2))


def legendre_terms(q: np.ndarray, n_terms: int) -> list[np.ndarray]:
    """Smooth extra components P_0..P_{n−1} over the Q range (background changes)."""
    if n_terms <= 0:
        return []
    x = 2 * (q - q.min()) / np.ptp(q) - 1
    return list(np.polynomial.legendre.legvander(x, n_terms - 1).T)


@dataclass(frozen=True)
class DeltaTRun:
    delta_t_k: float
    t0_k: float
    r_angstrom: np.ndarray
    delta_g: np.ndarray


def read_delta_t_dir(directory) -> DeltaTRun:
    """ΔG(r) (direct-space route, delta_g.csv) and ΔT of a `nclattice delta-t` output directory."""
    import json
    from pathlib import Path

    d = Path(directory)
    try:
        summary = json.loads((d / "delta_t.json").read_text())
        table = np.loadtxt(d / "delta_g.csv", delimiter=",", skiprows=1, ndmin=2)
    except OSError:
        raise NclatticeError(f"{d} is not a `nclattice delta-t` output directory (needs delta_t.json and "
                             "delta_g.csv).") from None
    except (ValueError, json.JSONDecodeError) as exc:
        raise NclatticeError(f"{d}: cannot read delta_t.json / delta_g.csv ({exc}); rerun delta-t.") from None
    try:
        t0, t1 = float(summary["t0_k"]), float(summary["t1_k"])
    except (KeyError, TypeError, ValueError):
        raise NclatticeError(f"{d}/delta_t.json lacks t0_k and t1_k; rerun delta-t.") from None
    if table.shape[1] != 4 or t1 == t0:
        raise NclatticeError(f"{d}/delta_g.csv must have columns r_angstrom,g_t0,g_t1,delta_g and ΔT ≠ 0.")
    return DeltaTRun(t1 - t0, t0, table[:, 0], table[:, 3])


def md_heat_basis(run: DeltaTRun, symbols: Sequence[str], probe, q: np.ndarray) -> np.ndarray:
    """Model ΔI per ΔT run: N·|⟨f(Q)⟩|²·ΔF(Q)/Q with ΔF(Q) = ∫ ΔG(r) sin(Qr) dr (the inverse of
    G = (2/π)∫F sin(Qr) dQ) over the run's r range. The MD PDF uses constant species weights;
    the Q dependence enters through the composition-averaged ⟨f(Q)⟩ only (an approximation)."""
    species, counts = np.unique(np.asarray(symbols), return_counts=True)
    f_mean = (counts[:, None] * np.real(probe.factors(list(species), q))).sum(0) / counts.sum()
    delta_f = np.trapezoid(run.delta_g[None, :] * np.sin(np.outer(q, run.r_angstrom)), run.r_angstrom, axis=1)
    return counts.sum() * f_mean**2 * delta_f / q


# ---------------------------------------------------------------- decomposition
@dataclass(frozen=True)
class DelayFit:
    heat: float                 # u = Δ⟨u²⟩_3D (Å²) for the DW basis, a (units of ΔT_run) for the MD basis
    heat_stderr: float
    disorder: float             # b: fraction of the model disorder
    disorder_stderr: float
    extra: np.ndarray           # amplitudes of further components
    extra_stderr: np.ndarray
    chi2_reduced: float
    model: np.ndarray           # fitted ΔI (or ΔG) on the grid
    parts: dict                 # 'heat' and 'disorder' parts of the model on the same grid

    @property
    def disorder_z(self) -> float:
        return self.disorder / self.disorder_stderr if self.disorder_stderr > 0 else float("nan")


def fit_delay(q: np.ndarray, data: np.ndarray, error: np.ndarray, disorder: np.ndarray,
              heat_pattern: np.ndarray | None = None, heat_basis: np.ndarray | None = None,
              extra: Sequence[np.ndarray] = (), transform: np.ndarray | None = None,
              error_q: np.ndarray | None = None) -> DelayFit:
    """One delay. Give ``heat_pattern`` H(Q) (Debye–Waller: nonlinear in u) or ``heat_basis``
    (linear, e.g. the MD ΔI per ΔT run). The model is built on the Q grid and compared with
    ``data`` after ``transform`` (a matrix, e.g. Q → ΔG(r)) when given.

    Errors: (JᵀWJ)⁻¹ for independent points. With ``transform`` and the Q-space errors
    ``error_q`` the transformed points are correlated (C = T diag(σ_Q²) Tᵀ); the fit keeps the
    diagonal weights W and the errors come from the sandwich (JᵀWJ)⁻¹ JᵀWCWJ (JᵀWJ)⁻¹.
    χ² is then not a goodness of fit (correlated points)."""
    from scipy.optimize import least_squares

    if (heat_pattern is None) == (heat_basis is None):
        raise NclatticeError("give exactly one heating component (Debye–Waller pattern or MD basis).")
    q2 = np.asarray(q, float) ** 2
    extra = [np.asarray(e, float) for e in extra]
    t = (lambda v: v) if transform is None else (lambda v: transform @ v)

    def parts(p):
        if heat_pattern is not None:
            dw = np.exp(-q2 * p[0] / 3)
            return {"heat": heat_pattern * (dw - 1), "disorder": p[1] * dw * disorder}
        return {"heat": p[0] * heat_basis, "disorder": p[1] * disorder}

    def model(p):
        m = sum(parts(p).values())
        for k, e in enumerate(extra):
            m = m + p[2 + k] * e
        return t(m)

    sol = least_squares(lambda p: (model(p) - data) / error, np.zeros(2 + len(extra)), method="lm", x_scale="jac")
    cov = np.linalg.pinv(sol.jac.T @ sol.jac)
    if transform is not None and error_q is not None:
        half = sol.jac.T @ (transform / np.asarray(error)[:, None] * np.asarray(error_q)[None, :])
        cov = cov @ (half @ half.T) @ cov
    err = np.sqrt(np.clip(np.diag(cov), 0, None))
    dof = max(np.size(data) - sol.x.size, 1)
    return DelayFit(float(sol.x[0]), float(err[0]), float(sol.x[1]), float(err[1]), sol.x[2:], err[2:],
                    float(2 * sol.cost / dof), model(sol.x), {k: t(v) for k, v in parts(sol.x).items()})


def interference_scale(measured: np.ndarray, model: np.ndarray, error: np.ndarray) -> float:
    """c minimising Σ ((H − c·I_int)/σ)²: puts model intensities on the measured scale."""
    w = 1.0 / np.asarray(error) ** 2
    denom = float(np.sum(w * model**2))
    if denom <= 0:
        raise NclatticeError("the model interference is zero on the measured Q grid.")
    return float(np.sum(w * measured * model) / denom)


def to_delta_g(q: np.ndarray, delta_i: np.ndarray, error: np.ndarray, baseline: np.ndarray,
               r_angstrom: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ΔF = Q·ΔI/baseline and ΔG(r) = (2/π)∫ΔF sin(Qr) dQ; returns (ΔG, σ_ΔG (diagonal), transform matrix)."""
    q = np.asarray(q, float)
    # the trapezoid sine transform as a matrix acting on ΔI
    weights = np.gradient(q) if q.size > 1 else np.ones(1)
    weights[[0, -1]] = 0.5 * np.diff(q)[[0, -1]]
    t = 2 / np.pi * np.sin(np.outer(r_angstrom, q)) * (weights * q / baseline)[None, :]
    dg = np.atleast_2d(delta_i) @ t.T
    sig = np.sqrt(np.atleast_2d(error) ** 2 @ (t**2).T)
    return dg, sig, t
