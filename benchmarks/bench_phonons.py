"""Cost of the phonon pipeline versus nanocrystal size: Hessian, diagonalisation, projection.

Run:  .venv/bin/python benchmarks/bench_phonons.py [--diameters 2.0,2.5,3.0,3.5] [--frames 2000]
      .venv/bin/python benchmarks/bench_phonons.py --preset phonons [--md-ps 20] [--sparse-modes K]

``--preset phonons`` runs the whole phonon flow (minimisation and Hessian in the LAMMPS worker,
modes, DOS, NVE MD, lifetimes) on the CdSe/CdS paper's 4 ML crystal (3 nm core + 4 ML CdS,
as ``nclattice build cdse-cds --core-diameter 3 --preset phonons``) and prints the wall time of
each stage and the peak memory (maxrss) of this process and of its largest worker.

Each stage is timed (wall s) and its peak memory estimated from the arrays it holds (the
3N x 3N Hessian and eigenvectors dominate). The projection uses synthetic velocities of the
right shape (frames x atoms x 3), so only the linear algebra is measured. The last lines are
fitted exponents t ∝ N^k per stage.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import numpy as np

from nclattice.potentials import load
from nclattice.structio import write_structure
from nclattice.structures import build_cdse, build_cdse_cds
from nclattice.structures.spheres import CDSE_CDS_PRESETS
from nclattice.tasks.phonons import minimize_and_hessian, mode_velocities, normal_modes


def full_run(preset: str, md_ps: float, sparse_modes: int | None) -> None:
    from nclattice.flows.phonons import run_phonons
    from nclattice.flows.settings import PhononSettings

    nc = build_cdse_cds(3.0, CDSE_CDS_PRESETS[preset])
    print(f"CdSe/CdS 3 nm core + {CDSE_CDS_PRESETS[preset]} ML: {len(nc)} atoms ({3 * len(nc)} modes), "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/cs.extxyz"
        write_structure(nc, path)
        t0 = time.perf_counter()
        settings = PhononSettings(temperature_k=300.0, production_ps=md_ps, equilibration_ps=5.0, timestep_fs=1.0,
                                  sample_every_fs=5.0, window_ps=md_ps / 2, sparse_modes=sparse_modes)
        r = run_phonons(path, settings, f"{tmp}/out")
        wall = time.perf_counter() - t0
    t = r["timings_s"]
    s = r["lifetime_summary"]
    kb = 1024
    print(f"modes: {r['modes']}; rigid-body max |f| {max(abs(x) for x in r['rigid_body_frequencies_thz']):.4f} THz, "
          f"imaginary {len(r['imaginary_modes'])}, highest {max(r['frequencies_thz']):.2f} THz")
    print(f"minimise {t['minimize']:.0f} s, Hessian {t['hessian']:.0f} s, diagonalise {t['diagonalize']:.0f} s, "
          f"projection {t['projection']:.0f} s; end to end {wall:.0f} s ({wall / 60:.1f} min) for "
          f"{md_ps:g} ps NVE + 5 ps equilibration")
    print(f"lifetimes: median {s['median_lifetime_ps']:.2f} ps, below 1 ps {100 * s['fraction_below_1ps']:.0f} %, "
          f"resolved {100 * s['resolved_fraction']:.0f} %")
    print(f"peak memory (maxrss): this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kb:.0f} MB, "
          f"largest worker {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kb:.0f} MB "
          f"(Hessian worker {t['worker_max_rss_mb']:.0f} MB); load {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--diameters", default="2.0,2.5,3.0,3.5")
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--preset", choices=sorted(CDSE_CDS_PRESETS), help="end-to-end run of a paper's crystal")
    parser.add_argument("--md-ps", type=float, default=20.0)
    parser.add_argument("--sparse-modes", type=int)
    args = parser.parse_args()
    if args.preset:
        full_run(args.preset, args.md_ps, args.sparse_modes)
        return
    pot = load("zhou2013-sw")
    rows = []
    print(f"{'atoms':>6} {'3N':>6} {'hessian_s':>10} {'eigh_s':>8} {'project_s':>10} {'matrix_MB':>10}")
    for d in (float(x) for x in args.diameters.split(",")):
        nc = build_cdse(d)
        static = minimize_and_hessian(nc, pot, fmax_ev_per_angstrom=1e-5)  # in the isolated worker
        t0, t1 = 0.0, static.timings_s["hessian"]
        h, x = static.hessian_ev_a2, static.positions_angstrom
        modes = normal_modes(h, nc.get_masses(), x)
        t2 = time.perf_counter()
        rng = np.random.default_rng(0)
        v = rng.normal(size=(args.frames, len(nc), 3))
        frames = x + 0.01 * rng.normal(size=(args.frames, len(nc), 3))
        mode_velocities(v, frames, x, nc.get_masses(), modes.eigenvectors)
        t3 = time.perf_counter()
        mb = 2 * h.nbytes / 1e6  # Hessian + eigenvectors
        rows.append((len(nc), t1 - t0, t2 - t1, t3 - t2))
        print(f"{len(nc):>6} {3 * len(nc):>6} {t1 - t0:>10.2f} {t2 - t1:>8.2f} {t3 - t2:>10.2f} {mb:>10.0f}",
              flush=True)
    n = np.log([r[0] for r in rows])
    for k, name in enumerate(("hessian", "eigh", "projection"), start=1):
        slope = np.polyfit(n, np.log([r[k] for r in rows]), 1)[0]
        print(f"scaling exponent {name:<10} t ∝ N^{slope:.2f}")


if __name__ == "__main__":
    main()
