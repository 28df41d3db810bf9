"""ΔT: equilibrium MD at T0 and T0 + ΔT -> weighted G(r) -> ΔG(r) (plain composition, no Prefect)."""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..atomicio import write_text_atomic
from ..provenance import provenance, structure_fingerprint
from ..results import pyplot, save_figure
from ..structures.labels import equivalent_diameter_nm
from ..tasks.msd import diffraction_weights
from ..tasks.pdf import (
    WURTZITE_PEAKS,
    broadening_signature,
    f_of_q,
    g_from_f,
    g_of_r,
    pair_histograms,
    peak_near,
)
from .common import md_inputs
from .mdruns import cached_md, md_settings, minimised_start, site_drift_summary, write_minimised
from .outcomes import SCHEMA_VERSION, DeltaTOutcome
from .registry import Inputs
from .settings import DeltaTSettings


def run_delta_t(structure: str | Path | Inputs, settings: DeltaTSettings, out: str | Path,
                results: str | Path | None = None) -> DeltaTOutcome:
    """Write ``out/delta_g.csv`` (direct route), ``delta_g_fq.csv`` (F(Q) route), ``delta_t.json``, PNG and
    ``minimised.extxyz`` (the annealed and minimised start of both temperatures)."""
    s = settings
    smoothing_angstrom = s.smoothing_angstrom
    t0_k, delta_t_k, r_max_angstrom = s.t0_k, s.delta_t_k, s.r_max_angstrom
    q_min_inv_angstrom, q_max_inv_angstrom = s.q_range_inv_angstrom
    structure, atoms, pot = md_inputs("delta-t", structure, s)
    out_dir = Path(out)
    results_root = str(Path(results) if results else out_dir / "runs")
    # both temperatures start from the same annealed minimum
    start, minimised = minimised_start(atoms, pot, s, results_root, s.seed)
    runs = [md_settings(s, t) for t in (t0_k, t0_k + delta_t_k)]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="md") as pool:
        trajs = [f.result()[0] for f in [pool.submit(cached_md, start, pot, m, results_root) for m in runs]]
    probe = s.probe
    symbols = atoms.get_chemical_symbols()
    w = dict(zip(symbols, diffraction_weights(symbols, probe), strict=True))
    diameter = 10 * equivalent_diameter_nm(atoms)
    hists = [pair_histograms(t.positions_angstrom, symbols, r_max_angstrom) for t in trajs]
    (r, g0), (_, g1) = (g_of_r(h, w, diameter, smoothing_angstrom) for h in hists)
    q = np.linspace(q_min_inv_angstrom, q_max_inv_angstrom, 1200)
    r_fq = np.linspace(0.5, r_max_angstrom, 1200)
    gq0, gq1 = (g_from_f(q, f_of_q(h, w, q), r_fq) for h in hists)
    peaks = {name: broadening_signature(r, g1 - g0, peak_near(r, g0, lo, hi))
             for name, (lo, hi) in WURTZITE_PEAKS.items()} if {"Cd"} & set(symbols) else {}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_minimised(out_dir, start, minimised)
    _write_csv(out_dir / "delta_g.csv", r, g0, g1)
    _write_csv(out_dir / "delta_g_fq.csv", r_fq, gq0, gq1)
    summary = {
        "schema_version": SCHEMA_VERSION, "t0_k": t0_k, "t1_k": t0_k + delta_t_k, "probe": probe, "weights": w,
        "mean_temperature_k": [float(t.temperature_k.mean()) for t in trajs],
        "frames": [t.n_frames for t in trajs], "smoothing_angstrom": smoothing_angstrom,
        # the annealed and minimised start of both runs, and per temperature the atoms that left their sites
        "minimised": minimised,
        "md_protocol": {f"{m.temperature_k:g}": {"site_drift": t.site_drift} for m, t in zip(runs, trajs, strict=True)},
        "site_drift_summary": site_drift_summary({f"{m.temperature_k:g}": t.site_drift
                                                  for m, t in zip(runs, trajs, strict=True)}),
        "q_range_inv_angstrom": [q_min_inv_angstrom, q_max_inv_angstrom], "peaks": peaks,
        "structure": {"path": str(structure), "formula": atoms.get_chemical_formula(mode="metal"),
                      "fingerprint": structure_fingerprint(atoms)},
        "provenance": provenance(seed=s.seed, potential=pot.record()),
    }
    save_figure(_plot(r, g0, g1, r_fq, gq0, gq1, t0_k, delta_t_k, peaks), out_dir / "delta_g.png")
    outcome = DeltaTOutcome.of(summary)
    outcome.to_json(out_dir)  # last: its presence marks a complete result
    return outcome


def _write_csv(path: Path, r, g0, g1) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["r_angstrom", "g_t0", "g_t1", "delta_g"])
    for row in zip(r, g0, g1, g1 - g0, strict=True):
        writer.writerow([f"{x:.6g}" for x in row])
    write_text_atomic(path, buf.getvalue())


def _plot(r, g0, g1, r_fq, gq0, gq1, t0, dt, peaks):
    plt = pyplot()

    fig, axes = plt.subplots(2, 1, figsize=(6, 5.5), sharex=True)
    axes[0].plot(r, g0, lw=1, label=f"G(r), {t0:g} K")
    axes[0].set_ylabel("G(r) (Å⁻²)")
    axes[0].legend(fontsize=8)
    axes[1].plot(r, g1 - g0, lw=1, label="direct space")
    axes[1].plot(r_fq, gq1 - gq0, lw=1, alpha=0.8, label="via F(Q), finite Q range")
    for p in peaks.values():
        axes[1].axvline(p["r_peak_angstrom"], color="0.7", lw=0.8, ls=":")
    axes[1].axhline(0, color="k", lw=0.5)
    axes[1].set_xlabel("r (Å)")
    axes[1].set_ylabel(f"ΔG(r, ΔT = {dt:g} K)")
    axes[1].legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig
