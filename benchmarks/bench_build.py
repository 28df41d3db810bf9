"""Structure building: time per nanocrystal size, and the bond search against ASE's.

Run:  .venv/bin/python benchmarks/bench_build.py
Prints, per size, the build time and the ratio of ASE's neighbour list to the cKDTree bond
search the builders use (same bonds; the ratio is how many times faster ours is).
"""

from __future__ import annotations

import time

import numpy as np
from ase.neighborlist import neighbor_list

from nclattice.structures import build_cdse, build_cdse_cds
from nclattice.structures.labels import binary_bond_model, bonds
from nclattice.structures.materials import WURTZITE


def timed(fn, *args, repeat: int = 3):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    wz = WURTZITE["CdSe"]
    model = binary_bond_model(["Cd"], ["S", "Se"], wz.u * wz.c, 4)
    print(f"{'system':<24} {'atoms':>7} {'build_s':>8} {'bonds_s':>8} {'ase_s':>8} {'ase/ours':>9}")
    for label, fn, args in [("CdSe 3 nm", build_cdse, (3.0,)),
                            ("CdSe 4 nm", build_cdse, (4.0,)),
                            ("CdSe 5 nm", build_cdse, (5.0,)),
                            ("CdSe/CdS 3 nm + 8 ML", build_cdse_cds, (3.0, 8))]:
        t_build, atoms = timed(fn, *args)
        t_ours, (i, _, _) = timed(bonds, atoms, model)
        if len(atoms) <= 3000:  # ASE's list is superlinear on cell-less clusters
            t_ase, (ia, _) = timed(lambda a: neighbor_list("ij", a, model.cutoffs()), atoms, repeat=1)
            assert len(ia) == len(i), "both methods must find the same bonds"
            ratio = f"{t_ase / t_ours:9.0f}"
            ase_s = f"{t_ase:8.3f}"
        else:
            ratio, ase_s = f"{'skipped':>9}", f"{'-':>8}"
        print(f"{label:<24} {len(atoms):>7} {t_build:>8.3f} {t_ours:>8.4f} {ase_s} {ratio}")


if __name__ == "__main__":
    main()
