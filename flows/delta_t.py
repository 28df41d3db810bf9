"""ΔT flow: equilibrium MD at T0 and T0 + ΔT -> weighted G(r) -> ΔG(r) (SCIENCE.md section 3)."""

from __future__ import annotations

import argparse
import csv
import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from ..atomicio import write_text_atomic
from ..errors import NclatticeError
from ..provenance import provenance, structure_fingerprint
from ..results import pyplot, save_figure, write_json
from ..structures.labels import equivalent_diameter_nm
from ..tasks.md import MDSettings
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
from .common import ensure_out, load_inputs
from .mdruns import md_task


@flow(name="delta-t", task_runner=ThreadPoolTaskRunner(max_workers=2))
def delta_t_flow(structure: str, out: str, potential: str | None = None, t0_k: float = 300.0,
                 delta_t_k: float = 14.0, equilibration_ps: float = 10.0, production_ps: float = 40.0,
                 timestep_fs: float = 2.0, sample_every_fs: float = 20.0, seed: int = 12345,
                 probe: str = "electron", r_max_angstrom: float = 12.0, smoothing_angstrom: float = 0.02,
                 q_min_inv_angstrom: float = 1.0, q_max_inv_angstrom: float = 12.0,
                 results: str | None = None) -> dict[str, Any]:
    """Write ``out/delta_g.csv`` (direct route), ``delta_g_fq.csv`` (F(Q) route), ``delta_t.json``, PNG."""
    if delta_t_k == 0:
        raise NclatticeError("--delta-t must be non-zero.")
    atoms, pot = load_inputs(structure, potential)
    out_dir = ensure_out(out)
    results_root = str(Path(results) if results else out_dir / "runs")
    base = MDSettings(temperature_k=t0_k, equilibration_ps=equilibration_ps, production_ps=production_ps,
                      timestep_fs=timestep_fs, sample_every_fs=sample_every_fs, seed=seed)
    futures = [md_task.submit(atoms, pot, replace(base, temperature_k=t), results_root)
               for t in (t0_k, t0_k + delta_t_k)]
    trajs = [f.result()[0] for f in futures]
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
    _write_csv(out_dir / "delta_g.csv", r, g0, g1)
    _write_csv(out_dir / "delta_g_fq.csv", r_fq, gq0, gq1)
    summary = {
        "t0_k": t0_k, "t1_k": t0_k + delta_t_k, "probe": probe, "weights": w,
        "mean_temperature_k": [float(t.temperature_k.mean()) for t in trajs],
        "frames": [t.n_frames for t in trajs], "smoothing_angstrom": smoothing_angstrom,
        "q_range_inv_angstrom": [q_min_inv_angstrom, q_max_inv_angstrom], "peaks": peaks,
        "structure": {"path": str(structure), "formula": atoms.get_chemical_formula(mode="metal"),
                      "fingerprint": structure_fingerprint(atoms)},
        "provenance": provenance(seed=seed, potential=pot.record()),
    }
    write_json(out_dir / "delta_t.json", summary)
    save_figure(_plot(r, g0, g1, r_fq, gq0, gq1, t0_k, delta_t_k, peaks), out_dir / "delta_g.png")
    return summary


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


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "delta-t", help="MD at T0 and T0+ΔT -> differential pair distribution function ΔG(r)",
        description="Run equilibrium MD at T0 and T0+ΔT and write OUT/delta_g.csv (r_angstrom, g_t0, g_t1, "
                    "delta_g; direct-space route), OUT/delta_g_fq.csv (through F(Q) over the Q range), "
                    "OUT/delta_t.json and OUT/delta_g.png.")
    p.add_argument("structure", help="structure file (.extxyz)")
    p.add_argument("--out", required=True)
    p.add_argument("--potential")
    p.add_argument("--t0", type=float, default=300.0, help="base temperature in K")
    p.add_argument("--delta-t", type=float, default=14.0, help="temperature rise in K")
    p.add_argument("--equilibration-ps", type=float, default=10.0)
    p.add_argument("--production-ps", type=float, default=40.0)
    p.add_argument("--timestep-fs", type=float, default=2.0)
    p.add_argument("--sample-every-fs", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--probe", default="electron", choices=("electron", "xray"))
    p.add_argument("--q-range", default="1,12", help="Qmin,Qmax in 1/Å for the F(Q) route")
    p.add_argument("--r-max", type=float, default=12.0,
                   help="largest pair distance in Å (default 12; the crystal diameter for `ued decompose --heat`)")
    p.add_argument("--results", help="cache of MD runs (default OUT/runs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        qmin, qmax = (float(x) for x in args.q_range.split(","))
    except ValueError:
        raise NclatticeError(f"--q-range must be 'Qmin,Qmax' in 1/Å, got '{args.q_range}'.") from None
    if not 0 <= qmin < qmax:
        raise NclatticeError(f"--q-range needs 0 <= Qmin < Qmax, got {qmin}, {qmax}.")
    summary = delta_t_flow(structure=args.structure, out=args.out, potential=args.potential, t0_k=args.t0,
                           delta_t_k=args.delta_t, equilibration_ps=args.equilibration_ps,
                           production_ps=args.production_ps, timestep_fs=args.timestep_fs,
                           sample_every_fs=args.sample_every_fs, seed=args.seed, probe=args.probe,
                           q_min_inv_angstrom=qmin, q_max_inv_angstrom=qmax, results=args.results,
                           r_max_angstrom=args.r_max)
    for name, p in summary["peaks"].items():
        print(f"{name:<16} r = {p['r_peak_angstrom']:.2f} Å  centre {p['delta_g_centre']:+.4f}  "
              f"flanks {p['delta_g_left_max']:+.4f} / {p['delta_g_right_max']:+.4f}  "
              f"{'broadening' if p['broadening'] else 'no clear broadening'}")
    print(f"written {Path(args.out) / 'delta_g.csv'} and delta_g.png")
    return 0
