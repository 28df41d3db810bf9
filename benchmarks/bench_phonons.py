"""Cost of the phonon pipeline versus nanocrystal size: Hessian, diagonalisation, projection.

Run:  .venv/bin/python benchmarks/bench_phonons.py [--diameters 2.0,2.5,3.0,3.5] [--frames 2000]

Each stage is timed (wall s) and its peak memory estimated from the arrays it holds (the
3N x 3N Hessian and eigenvectors dominate). The projection uses synthetic velocities of the
right shape (frames x atoms x 3), so only the linear algebra is measured. The last lines are
fitted exponents t ∝ N^k per stage.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nclattice.potentials import load
from nclattice.structures import build_cdse
from nclattice.tasks.phonons import LammpsSession, hessian, mode_velocities, normal_modes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--diameters", default="2.0,2.5,3.0,3.5")
    parser.add_argument("--frames", type=int, default=2000)
    args = parser.parse_args()
    pot = load("zhou2013-sw")
    rows = []
    print(f"{'atoms':>6} {'3N':>6} {'hessian_s':>10} {'eigh_s':>8} {'project_s':>10} {'matrix_MB':>10}")
    for d in (float(x) for x in args.diameters.split(",")):
        nc = build_cdse(d)
        session = LammpsSession(nc, pot)
        session.minimize(1e-5)
        t0 = time.perf_counter()
        h = hessian(session)
        t1 = time.perf_counter()
        x = session.positions()
        session.close()
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
