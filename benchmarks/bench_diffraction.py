"""Diffraction throughput: NUFFT vs direct sum, Debye histogram vs plain double loop, and the
XFEL paper's ensemble (random hole localization, Gamma sizes 3-15 nm) timed end to end.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_diffraction.py [--quick]
Prints per size the measured NUFFT time, the direct-sum time (measured on a subset of q points
and scaled linearly, it is exactly linear in the number of q points), their ratio and the
NUFFT's relative error on that subset; the same for the Debye routes (the double loop timed on
a subset of rows and scaled); then the paper-sized ensemble. Single thread throughout.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nclattice.flows.diffraction import PolaronSettings, parse_sizes, polaron_members
from nclattice.structures import build_cspbbr3_superellipsoid
from nclattice.tasks import diffraction as dif
from nclattice.tasks.scattering import Probe

PROBE = Probe("xray", 13.6)


def nufft_vs_direct(size_nm: float, points: int, subset: int = 400) -> None:
    atoms = build_cspbbr3_superellipsoid(size_nm, 5)
    pos, sym = atoms.positions, atoms.get_chemical_symbols()
    species, idx = dif.species_index(sym)
    box = dif.QBox((0.0, 0.0, 0.0), 4.0, points)  # whole grid |q_i| <= 4 Å⁻¹
    t0 = time.perf_counter()
    sums = dif.structure_sums_grid(pos, idx, len(species), box, "nufft", eps=1e-6)
    t_nufft = time.perf_counter() - t0
    flat = box.vectors().reshape(-1, 3)
    pick = np.random.default_rng(0).choice(len(flat), subset, replace=False)
    t0 = time.perf_counter()
    ref = dif.structure_sums_direct(pos, idx, len(species), flat[pick])
    t_direct = (time.perf_counter() - t0) * len(flat) / subset
    fast = sums.reshape(len(species), -1)[:, pick]
    err = np.linalg.norm(fast - ref) / np.linalg.norm(ref)
    print(f"{len(atoms):>7} atoms {points**3:>9.2e} q  nufft {t_nufft:7.2f} s  direct {t_direct:9.0f} s"
          f"  ratio {t_direct / t_nufft:9.0f}  rel.err {err:.1e}")


def debye_histogram_vs_loop(size_nm: float, rows: int = 256) -> None:
    atoms = build_cspbbr3_superellipsoid(size_nm, 5)
    pos, sym = atoms.positions, atoms.get_chemical_symbols()
    q = np.linspace(0.5, 10.0, 200)
    t0 = time.perf_counter()
    hist_i = dif.debye_intensity(pos, sym, PROBE, q, method="histogram")
    t_hist = time.perf_counter() - t0
    n = len(pos)
    if n <= 3000:
        t0 = time.perf_counter()
        loop_i = dif.debye_direct(pos, sym, PROBE, q)
        t_loop = time.perf_counter() - t0
        err = f"{np.abs(hist_i - loop_i).max() / loop_i.max():.1e}"
    else:  # time the first `rows` rows of the double loop against all atoms and scale
        sub = pos[np.random.default_rng(0).choice(n, rows, replace=False)]
        t0 = time.perf_counter()
        for start in range(0, rows, 4):  # 4 rows x N x 200 Q doubles stay below 0.5 GB
            r = dif.cdist(sub[start:start + 4], pos)
            np.einsum("ijq->q", dif._sinc(r[..., None] * q))
        t_loop = (time.perf_counter() - t0) * n / rows
        err = "  (scaled)"
    print(f"{n:>7} atoms  histogram {t_hist:7.2f} s  double loop {t_loop:9.0f} s  ratio {t_loop / t_hist:7.0f}"
          f"  max rel.diff {err}")


def paper_ensemble(samples: int) -> None:
    sizes = parse_sizes("gamma:shape=2,mean=5.4,min=3,max=15")
    s = PolaronSettings(model="random-hole", hole_bias="surface", sizes=sizes, samples=samples,
                        p1=0.504, p2=0.128, points=25, half_width_inv_angstrom=0.3)
    rng = np.random.default_rng(s.seed)
    log: list[dict] = []
    t0 = time.perf_counter()
    ens = dif.ensemble_intensity(polaron_members(s, rng, log=log), s.boxes(), s.probe, s.p1, s.p2)
    wall = time.perf_counter() - t0
    atoms = np.array([r["atoms"] for r in log])
    print(f"{samples} crystals (one hole each), sizes {min(r['size_nm'] for r in log):.1f}-"
          f"{max(r['size_nm'] for r in log):.1f} nm, {atoms.mean():.0f} atoms on average ({atoms.max()} max),"
          f" 4 peaks x 25^3 q, P1 = 0.504, P2 = 0.128: {wall:.0f} s ({wall / samples:.2f} s per crystal)")
    for h, v in ens.peak_shifts().items():
        d = "inward" if v["shift_inv_angstrom"] < 0 else "outward"
        print(f"   ({h}) shift {v['shift_inv_angstrom']:+.2e} 1/Å {d:>7}, "
              f"integrated change {v['integrated_change']:+.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller sizes and ensemble (a smoke run)")
    quick = ap.parse_args().quick
    sizes = (3.0, 6.0, 8.0) if quick else (4.0, 8.0, 14.0)  # 14 nm: 58k atoms
    print("3D intensity, whole grid |q_i| <= 4 1/Å, eps 1e-6, 3 species")
    for size in sizes:
        nufft_vs_direct(size, 61 if quick else 121)
    print("Debye powder, 200 Q points 0.5-10 1/Å")
    for size in sizes:
        debye_histogram_vs_loop(size)
    print("Paper-sized ensemble")
    paper_ensemble(12 if quick else 120)


if __name__ == "__main__":
    main()
