"""`nclattice ued profiles` and `nclattice ued decompose`: radial profiles I(Q, t) in, Debye–Waller
analysis and heating/disorder decomposition out.

Composition only: reading and physics live in tasks/profiles.py and tasks/decompose.py; the
per-peak Debye–Waller analysis is the one of `ued analyze` (flows/ued.py). Both are plain
functions with typed arguments; ``run_ued_profiles`` and ``run_ued_decompose`` take the settings
models (command line in cli/ued.py, campaigns, deployments).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomicio import write_text_atomic
from ..errors import NclatticeError
from ..provenance import file_sha256, provenance
from ..results import pyplot, save_arrays, save_figure
from ..structio import read_structure
from ..tasks import decompose as dec
from ..tasks import profiles as prof
from ..tasks import ued
from ..tasks.beams import DEFAULT_ENERGY_KEV
from ..tasks.scattering import Probe
from . import ued as ued_flow
from .outcomes import DecompositionOutcome, UedOutcome
from .registry import Inputs, prepared
from .settings import UedDecomposeSettings, UedProfilesSettings


# ---------------------------------------------------------------- shared inputs
def _inputs(path: Path, structure: Path, probe: str, energy_kev: float | None):
    data = prof.read_profiles(path)
    if probe not in DEFAULT_ENERGY_KEV:
        raise NclatticeError(f"--probe must be electron or xray, not '{probe}'.")
    beam = Probe(probe, float(energy_kev or DEFAULT_ENERGY_KEV[probe]))
    atoms = read_structure(structure)
    error = prof.estimate_errors(data)
    i0, i0_err = prof.reference(data, error)
    return data, beam, atoms, error, i0, i0_err


def _q_window(q: np.ndarray, q_min: float | None, q_max: float | None) -> tuple[float, float]:
    lo, hi = q_min if q_min is not None else q[0], q_max if q_max is not None else q[-1]
    if not (q[0] <= lo < hi <= q[-1]):
        raise NclatticeError(f"--q-range {lo:g},{hi:g} must lie inside the profiles' Q range "
                             f"{q[0]:g}..{q[-1]:g} Å⁻¹ with Qmin < Qmax.")
    return float(lo), float(hi)


def _inputs_record(path: Path, structure: Path, beam: Probe, data: prof.Profiles, **extra) -> dict[str, Any]:
    return {"profiles": str(path), "profiles_sha256": file_sha256(path), "structure": str(structure),
            "structure_sha256": file_sha256(structure), "probe": beam.describe(),
            "n_delays": int(data.delays_ps.size), "n_q": int(data.q_inv_angstrom.size),
            "errors": "from the file" if data.error is not None else "σ² = k·I pooled over negative delays",
            "reference": "dark profile" if data.dark is not None else "mean of negative delays", **extra}


# ---------------------------------------------------------------- ued profiles
def profiles(path: Path, structure: Path, out: Path, calibration: Path | None = None,
             calibration_key: str = "diffraction_weighted", probe: str = "electron",
             energy_kev: float | None = None, q_min: float | None = None, q_max: float | None = None,
             resolution_inv_angstrom: float = 0.1, min_ring_intensity: float = 0.002,
             fwhm_guess_inv_angstrom: float = 0.15, knot_spacing_fwhm: float = prof.KNOT_SPACING_FWHM,
             q2_max_fit: float = ued.Q2_DISORDER_THRESHOLD, z_threshold: float = 3.0,
             plot_delays: Sequence[float] | None = None, figures: bool = True) -> dict[str, Any]:
    """Rings of the structure fitted in every profile → peaks.csv → the `ued analyze` analysis.

    Writes OUT/peaks.csv, OUT/ring_covariance.npz (the covariance of I/I0 per delay, which the
    Debye–Waller fit uses, and the covariance of Δ⟨u²⟩ between delays through the shared I0),
    OUT/ued.json (the keys of `ued analyze` plus rings and lattice strain),
    OUT/ring_fit.png, OUT/dw_vs_q2.png, OUT/delta_t.png, OUT/strain.png (figures unless ``figures`` is False).
    """
    data, beam, atoms, error, i0, i0_err = _inputs(path, structure, probe, energy_kev)
    cal = ued_flow.load_calibration(calibration, calibration_key)
    q = data.q_inv_angstrom
    lo, hi = _q_window(q, q_min, q_max)
    margin = 3 * fwhm_guess_inv_angstrom  # rings just outside the window reach into it: fitted, not reported
    rings = prof.rings_from_cell(prof.cell_from_atoms(atoms), beam, max(lo - margin, 1e-3), hi + margin,
                                 resolution_inv_angstrom, min_ring_intensity)
    sel = (q >= lo) & (q <= hi)
    rs = prof.extract_rings(q[sel], data.intensity[:, sel], error[:, sel], i0[sel], i0_err[sel], data.delays_ps,
                            rings, fwhm_guess_inv_angstrom, knot_spacing_fwhm,
                            None if data.dark is not None else prof.negative_delays(data))
    series = ued.UedSeries(data.delays_ps, tuple(r.label for r in rs.rings), rs.q_inv_angstrom, rs.i_over_i0,
                           rs.error, data.fluence_mj_cm2, covariance=rs.covariance)
    result = ued_flow.analyze_one(series, cal, q2_max_fit=q2_max_fit, z_threshold=z_threshold,
                                  through_origin=False, mean_excitons=None, heat_capacity_ev_per_k=None,
                                  disorder_peaks=None)
    result["rings"] = [{"label": r.label, "hkl": list(r.hkl), "multiplicity": r.multiplicity,
                        "q_bragg_inv_angstrom": r.q_inv_angstrom, "q_reference_inv_angstrom": float(qr),
                        "reference_area": float(a), "reference_area_stderr": float(e)}
                       for r, qr, a, e in zip(rs.rings, rs.q_inv_angstrom, rs.reference.areas[rs.kept],
                                              rs.reference.areas_stderr[rs.kept], strict=True)]
    result["lattice_strain"] = {"strain": rs.strain, "stderr": rs.strain_stderr,
                                "meaning": "isotropic ε per delay relative to I0: ring Q = Q_ref/(1 + ε); "
                                           "ε > 0 is lattice expansion (rings move to lower Q)"}
    result["ring_fit"] = {"fwhm_inv_angstrom": rs.reference.fwhm_inv_angstrom, "eta": rs.reference.eta,
                          "reference_chi2_reduced": rs.reference.chi2_reduced,
                          "chi2_reduced_median": float(np.median([f.chi2_reduced for f in rs.fits])),
                          "background": "cubic B-splines with knots "
                                        f"{rs.knot_spacing_inv_angstrom:.3g} Å⁻¹ apart ({knot_spacing_fwhm:g} ring "
                                        "FWHMs), fitted jointly with the rings in every profile",
                          "profile": "pseudo-Voigt, one FWHM and η for all rings, positions tied to one strain",
                          "errors": "I/I0 covariance from each fit's full Jacobian (areas, background, strain, "
                                    "FWHM) and the reference's; the Debye–Waller fit is generalised least squares "
                                    "on it (peaks.csv holds the diagonal errors only)"}
    payload = {**result, "conventions": _conventions(q2_max_fit, z_threshold),
               "calibration": None if cal is None else {**cal.__dict__, "file": str(calibration),
                                                        "sha256": file_sha256(calibration)},
               "inputs": _inputs_record(path, structure, beam, data, q_range_inv_angstrom=[lo, hi],
                                        resolution_inv_angstrom=resolution_inv_angstrom,
                                        min_ring_intensity=min_ring_intensity),
               "provenance": provenance(analysis="radial profiles → ring fits → Debye–Waller per delay")}
    out = Path(out)
    write_text_atomic(out / "peaks.csv", ued.series_to_csv([series], f"ring intensities fitted from {path}"))
    save_arrays(out / "ring_covariance.npz", delays_ps=data.delays_ps, peaks=np.array(series.peaks),
                q_inv_angstrom=series.q_inv_angstrom, covariance=rs.covariance,
                reference_relative_covariance=rs.reference_relative_covariance,
                delta_msd_covariance=ued.delay_covariance(series, ued.analyze_series(series, q2_max_fit, z_threshold),
                                                          rs.reference_relative_covariance))
    if figures:
        save_figure(_plot_ring_fit(q[sel], i0[sel], data, sel, rs), out / "ring_fit.png")
        save_figure(ued_flow._plot_dw(series, result, plot_delays, q2_max_fit), out / "dw_vs_q2.png")
        save_figure(ued_flow._plot_time(result), out / "delta_t.png")
        save_figure(_plot_strain(data.delays_ps, rs), out / "strain.png")
    outcome = UedOutcome.of(payload)
    outcome.to_json(out)
    return outcome


def _conventions(q2_max_fit: float, z_threshold: float) -> dict[str, str]:
    return {"delta_msd_angstrom2": "3D Δ⟨u²⟩ = 3 × slope of −ln(I/I0) vs Q² (Å²)",
            "q": "Q = 2π/d in Å⁻¹; s = 1/d = Q/2π",
            "delta_t_k": "Δ⟨u²⟩_3D / b_3D of the calibration",
            "disorder": f"high-Q rings (Q² > {q2_max_fit:g} Å⁻²) vs the low-Q line; flag at z > {z_threshold:g}"}


# ---------------------------------------------------------------- ued decompose
def decompose(path: Path, structure: Path, out: Path, heat: Path | None = None,
              heat_model: str = "debye-waller", calibration: Path | None = None,
              calibration_key: str = "diffraction_weighted", probe: str = "electron",
              energy_kev: float | None = None, q_min: float | None = None, q_max: float | None = None,
              disorder_rms_angstrom: float = 0.3, background_terms: int = 0,
              r_range_angstrom: tuple[float, float] = (1.5, 10.0),
              plot_delays: Sequence[float] | None = None, figures: bool = True) -> dict[str, Any]:
    """ΔI(Q, t) = heating + b(t)·surface disorder per delay, in Q and in r; see tasks/decompose.py.

    ``heat``: a `nclattice delta-t` output directory (MD ΔT route); otherwise ``heat_model``
    'debye-waller'. Writes OUT/decomposition.json, OUT/decomposition.csv, OUT/decomposition_fits.png,
    OUT/decomposition_time.png.
    """
    if heat is None and heat_model != "debye-waller":
        raise NclatticeError(f"--heat-model must be 'debye-waller' (or give --heat DELTA_T_DIR), not '{heat_model}'.")
    if not disorder_rms_angstrom > 0 or background_terms < 0:
        raise NclatticeError("--disorder-rms must be > 0 Å and --background-terms >= 0.")
    data, beam, atoms, error, i0, i0_err = _inputs(path, structure, probe, energy_kev)
    cal = ued_flow.load_calibration(calibration, calibration_key)
    lo, hi = _q_window(data.q_inv_angstrom, q_min, q_max)
    sel = (data.q_inv_angstrom >= lo) & (data.q_inv_angstrom <= hi)
    q = data.q_inv_angstrom[sel]
    if "surface" not in atoms.arrays:
        raise NclatticeError(f"{structure} has no 'surface' labels; build it with `nclattice build`.")
    pm = dec.pattern_model(atoms.positions, atoms.get_chemical_symbols(), atoms.arrays["surface"], beam, q)
    sigma2 = float(disorder_rms_angstrom) ** 2
    basis = dec.scaled_basis(pm, i0[sel], i0_err[sel], sigma2)
    md = None if heat is None else dec.read_delta_t_dir(heat)
    span = 2 * float(np.linalg.norm(atoms.positions - atoms.positions.mean(0), axis=1).max())
    if md is not None and md.r_angstrom.max() < 0.95 * span:
        raise NclatticeError(f"the ΔT run's ΔG(r) stops at {md.r_angstrom.max():.1f} Å but the crystal spans "
                             f"{span:.0f} Å: rerun `nclattice delta-t` with --r-max {np.ceil(span):.0f} or more "
                             "(Bragg rings need every pair distance).")
    heat_basis = None if md is None else basis.scale * dec.md_heat_basis(md, atoms.get_chemical_symbols(), beam, q)
    extra = dec.legendre_terms(q, background_terms)
    delta = data.intensity[:, sel] - i0[sel]
    sigma = np.hypot(error[:, sel], i0_err[sel])
    r = np.arange(r_range_angstrom[0], r_range_angstrom[1] + 1e-9, 0.02)
    base = prof.wavelet_baseline(i0[sel])
    dg, dg_err, transform = dec.to_delta_g(q, delta, sigma, base, r)
    fits_q, fits_r = [], []
    for k in range(data.delays_ps.size):
        kwargs = ({"heat_pattern": basis.heat_pattern} if md is None else {"heat_basis": heat_basis})
        fits_q.append(dec.fit_delay(q, delta[k], sigma[k], basis.disorder, extra=extra, **kwargs))
        fits_r.append(dec.fit_delay(q, dg[k], dg_err[k], basis.disorder, extra=extra, transform=transform,
                                    error_q=sigma[k], **kwargs))
    table = {space: _columns(fits, md, cal) for space, fits in (("q", fits_q), ("r", fits_r))}
    payload = {"delays_ps": data.delays_ps, "fluence_mj_cm2": data.fluence_mj_cm2, **table["q"],
               "r_space": table["r"],
               "model": {"heat": "MD ΔT run (ΔF(Q) from its ΔG(r))" if md else "Debye–Waller on the model pattern",
                         "delta_t_run_k": None if md is None else md.delta_t_k,
                         "disorder": "surface atoms with an extra random static displacement, 3D rms "
                                     f"{disorder_rms_angstrom:g} Å (Debye expectation); b = fraction of it",
                         "model_to_data_scale": basis.scale, "n_atoms": pm.n_atoms, "n_surface": pm.n_surface,
                         "background_terms": background_terms, "r_range_angstrom": list(r_range_angstrom),
                         "equation": "ΔI = H(e^{−Q²u/3} − 1) + b·e^{−Q²u/3}·ΔI_dis [+ Σ c_k P_k(Q)]" if md is None
                         else "ΔI = a·ΔI_MD + b·ΔI_dis [+ Σ c_k P_k(Q)]; ΔT = a·ΔT_run"},
               "calibration": None if cal is None else {**cal.__dict__, "file": str(calibration)},
               "inputs": _inputs_record(path, structure, beam, data, q_range_inv_angstrom=[lo, hi],
                                        heat=None if heat is None else str(heat)),
               "provenance": provenance(analysis="heating/disorder decomposition of ΔI(Q, t) and ΔG(r, t)")}
    out = Path(out)
    write_text_atomic(out / "decomposition.csv", _csv(data.delays_ps, table["q"]))
    if figures:
        save_figure(_plot_decomposition(q, delta, sigma, r, dg, fits_q, fits_r, data.delays_ps, plot_delays),
                    out / "decomposition_fits.png")
        save_figure(_plot_components(data.delays_ps, table), out / "decomposition_time.png")
    outcome = DecompositionOutcome.of(payload)
    outcome.to_json(out)
    return outcome


def _columns(fits: list[dec.DelayFit], md, cal: ued.MsdCalibration | None) -> dict[str, Any]:
    heat, heat_err = np.array([f.heat for f in fits]), np.array([f.heat_stderr for f in fits])
    col: dict[str, Any] = {"disorder_b": np.array([f.disorder for f in fits]),
                           "disorder_b_stderr": np.array([f.disorder_stderr for f in fits]),
                           "disorder_z": np.array([f.disorder_z for f in fits]),
                           "chi2_reduced": np.array([f.chi2_reduced for f in fits])}
    if md is None:
        col["delta_msd_angstrom2"], col["delta_msd_stderr"] = heat, heat_err
        if cal is not None:
            dt, dt_err, dt_stat = ued.delta_temperature(heat, heat_err, cal)
            col.update(delta_t_k=dt, delta_t_stderr_k=dt_err, delta_t_stat_stderr_k=dt_stat)
            systematic = ued.delta_temperature_systematic(heat, cal)
            if systematic is not None:  # a separate band, as in ued analyze
                col["delta_t_force_field_systematic_k"] = systematic["systematic_k"]
    else:
        col["heat_amplitude_a"], col["heat_amplitude_stderr"] = heat, heat_err
        col["delta_t_k"], col["delta_t_stderr_k"] = heat * md.delta_t_k, heat_err * abs(md.delta_t_k)
    return col


def _csv(delays: np.ndarray, col: dict[str, Any]) -> str:
    keys = [k for k in ("delta_msd_angstrom2", "delta_msd_stderr", "heat_amplitude_a", "heat_amplitude_stderr",
                        "delta_t_k", "delta_t_stderr_k", "delta_t_force_field_systematic_k", "disorder_b",
                        "disorder_b_stderr", "disorder_z",
                        "chi2_reduced") if k in col]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["delay_ps", *keys])
    for i, d in enumerate(delays):
        w.writerow([f"{d:g}", *(f"{col[k][i]:.6g}" for k in keys)])
    return buf.getvalue()


# ---------------------------------------------------------------- figures
def _pick(delays: np.ndarray, plot_delays: Sequence[float] | None) -> list[int]:
    if plot_delays:
        return [int(np.argmin(np.abs(delays - t))) for t in plot_delays]
    pos = np.flatnonzero(delays > 0)
    return sorted({int(pos[round(f * (pos.size - 1))]) for f in (0.15, 0.5, 1.0)}) if pos.size else [0]


def _plot_ring_fit(q, i0, data, sel, rs: prof.RingSeries):
    plt = pyplot()
    ref = rs.reference
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, height_ratios=(2, 1))
    ax.plot(q, i0, "k-", lw=1, label="I0 (reference)")
    ax.plot(q, ref.background, "c--", lw=1, label="smooth background (fit)")
    ax.plot(q, ref.model, "r-", lw=0.8, alpha=0.8, label="background + rings (fit)")
    for r, qr in zip(rs.rings, rs.q_inv_angstrom, strict=True):
        ax.axvline(qr, color="0.85", lw=0.6, zorder=0)
        ax.text(qr, 1.01, r.label, transform=ax.get_xaxis_transform(), fontsize=6, rotation=90, va="bottom",
                ha="center")
    ax.set_ylabel("I(Q)")
    ax.legend(fontsize=8, loc="center right")
    i_last = data.delays_ps.size - 1
    bx.plot(q, data.intensity[i_last, sel] - i0, "b-", lw=0.8, label=f"ΔI at {data.delays_ps[i_last]:g} ps")
    bx.axhline(0, color="k", lw=0.5)
    bx.set(xlabel="Q (Å⁻¹)", ylabel="ΔI(Q)")
    bx.legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _plot_strain(delays, rs: prof.RingSeries):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.errorbar(delays, 1e4 * rs.strain, 1e4 * rs.strain_stderr, fmt="o", ms=3, capsize=2)
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="delay (ps)", ylabel="lattice strain ε (10⁻⁴)", title="ring positions: Q = Q_ref/(1 + ε)")
    fig.set_layout_engine("tight")
    return fig


def _plot_decomposition(q, delta, sigma, r, dg, fits_q, fits_r, delays, plot_delays):
    plt = pyplot()
    idx = _pick(delays, plot_delays)
    fig, axes = plt.subplots(len(idx), 2, figsize=(10, 2.6 * len(idx)), squeeze=False)
    for row, i in enumerate(idx):
        ax, bx = axes[row]
        f, g = fits_q[i], fits_r[i]
        ax.errorbar(q, delta[i], sigma[i], fmt=".", ms=2, color="0.4", elinewidth=0.5, label="data")
        ax.plot(q, f.model, "r-", lw=1, label=f"model: b = {f.disorder:.3g} ± {f.disorder_stderr:.2g}")
        ax.plot(q, f.parts["heat"], "C1--", lw=0.8, label="heating part")
        ax.plot(q, f.parts["disorder"], "C2:", lw=1, label="disorder part")
        ax.set(ylabel=f"ΔI(Q), {delays[i]:g} ps")
        bx.plot(r, dg[i], "k-", lw=0.8, label="ΔG(r) data")
        bx.plot(r, g.model, "r-", lw=1, label=f"model: b = {g.disorder:.3g} ± {g.disorder_stderr:.2g}")
        bx.plot(r, g.parts["disorder"], "C2:", lw=1, label="disorder part")
        bx.set(ylabel="ΔG(r)")
        for a in (ax, bx):
            a.axhline(0, color="k", lw=0.4)
            a.legend(fontsize=7)
    axes[-1][0].set_xlabel("Q (Å⁻¹)")
    axes[-1][1].set_xlabel("r (Å)")
    fig.set_layout_engine("tight")
    return fig


def _plot_components(delays, table):
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
    for space, style in (("q", "o"), ("r", "s")):
        col = table[space]
        heat_key = "delta_t_k" if "delta_t_k" in col else "delta_msd_angstrom2"
        err_key = "delta_t_stderr_k" if heat_key == "delta_t_k" else "delta_msd_stderr"
        label = "Q space" if space == "q" else "r space"
        ax.errorbar(delays, col[heat_key], col[err_key], fmt=style, ms=3, capsize=2, alpha=0.8, label=label)
        bx.errorbar(delays, col["disorder_b"], col["disorder_b_stderr"], fmt=style, ms=3, capsize=2, alpha=0.8,
                    label=label)
    ax.set(xlabel="delay (ps)", ylabel="ΔT (K)" if "delta_t_k" in table["q"] else "Δ⟨u²⟩ 3D (Å²)",
           title="heating")
    bx.set(xlabel="delay (ps)", ylabel="b (fraction of the disorder model)", title="localized surface disorder")
    for a in (ax, bx):
        a.axhline(0, color="k", lw=0.4)
        a.legend(fontsize=8)
        if np.nanmax(delays) > 50 * max(np.nanmin(delays[delays > 0]) if (delays > 0).any() else 1, 1e-3):
            a.set_xscale("symlog", linthresh=10)
    fig.set_layout_engine("tight")
    return fig


# ---------------------------------------------------------------- entries (settings in, result out)
def _q(s: UedProfilesSettings | UedDecomposeSettings) -> tuple[float | None, float | None]:
    return (None, None) if s.q_range_inv_angstrom is None else tuple(s.q_range_inv_angstrom)


def _path(value: str | None) -> Path | None:
    return None if value is None else Path(value)


def run_ued_profiles(data: Sequence[str | Path] | Inputs, settings: UedProfilesSettings, out: str | Path
                     ) -> dict[str, Any]:
    s = settings
    data = prepared("ued-profiles", s, data).data
    return profiles(Path(data[0]), Path(s.structure), Path(out), _path(s.calibration), s.calibration_key, s.probe,
                    s.energy_kev, *_q(s), s.resolution_inv_angstrom, s.min_ring_intensity,
                    s.fwhm_guess_inv_angstrom, s.knot_spacing_fwhm, s.q2_max_fit, s.z_threshold, s.plot_delays)


def run_ued_decompose(data: Sequence[str | Path] | Inputs, settings: UedDecomposeSettings, out: str | Path
                      ) -> dict[str, Any]:
    s = settings
    data = prepared("ued-decompose", s, data).data
    return decompose(Path(data[0]), Path(s.structure), Path(out), _path(s.heat), s.heat_model, _path(s.calibration),
                     s.calibration_key, s.probe, s.energy_kev, *_q(s), s.disorder_rms_angstrom, s.background_terms,
                     tuple(s.r_range_angstrom), s.plot_delays)
