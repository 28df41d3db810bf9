"""Coulomb of charged free crystals: the routes side by side, speed and force error.

Run:  .venv/bin/python benchmarks/bench_coulomb.py [--diameters 2,3,4,5] [--evaluations 20]

For PbSe dots (Schapotschnikow et al. charges ±1.29 e; Coulomb only, so the numbers isolate
the long-range part) it times one force evaluation by (a) the numpy exact direct sum, the
reference, (b) LAMMPS with the exact route (plain Coulomb cut-off beyond the crystal) and
(c) LAMMPS with PPPM in a vacuum box (the route of chains and of free crystals above
the exact-sum size), and prints the relative RMS force error of (b) and (c)
against (a) and which route nclattice picks automatically at that size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from nclattice.potentials import coulomb_route, load, registry
from nclattice.structures.rocksalt import build_pbse
from nclattice.tasks.phonons import static_lammps

COULOMB_EV_ANGSTROM = 14.399645
CHARGES_ONLY = """name: charges-only
form: buckingham-coulomb
elements: [Pb, Se]
citation: Schapotschnikow et al., Nano Lett. 10, 3966 (2010) charges only (benchmark)
doi: 10.1021/nl101793b
charges: {Pb: 1.29, Se: -1.29}
cutoff_angstrom: 8
"""


def exact_numpy(positions: np.ndarray, charges: np.ndarray) -> np.ndarray:
    forces = np.zeros_like(positions)
    for i in range(len(positions)):  # row by row: memory stays O(N)
        d = positions[i] - positions
        r = np.linalg.norm(d, axis=1)
        r[i] = np.inf
        forces[i] = COULOMB_EV_ANGSTROM * charges[i] * np.sum((charges / r**3)[:, None] * d, axis=0)
    return forces


def lammps_route(atoms, pot, work: Path, evaluations: int) -> tuple[np.ndarray, float]:
    """Forces of the unminimised dot and the seconds of one force evaluation (mean of
    ``evaluations``), from the static LAMMPS worker."""
    result = static_lammps(atoms, pot, minimize=False, evaluations=evaluations, workdir=work / "static")
    return result.forces_ev_per_angstrom, result.timings_s["per_evaluation"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--diameters", default="2,3,4,5", help="PbSe dot diameters in nm")
    parser.add_argument("--evaluations", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "q.yaml").write_text(CHARGES_ONLY)
        pot = load(work / "q.yaml")
        print("atoms  auto   numpy_exact_s  lammps_exact_s  lammps_pppm_s  exact/numpy  pppm/exact  "
              "err_exact  err_pppm")
        for diameter in (float(d) for d in args.diameters.split(",")):
            atoms = build_pbse(diameter)
            charges = np.where(np.array(atoms.get_chemical_symbols()) == "Pb", 1.29, -1.29)
            t0 = time.perf_counter()
            reference = exact_numpy(atoms.positions, charges)
            t_numpy = time.perf_counter() - t0
            f_exact, t_exact = lammps_route(atoms, pot, work, args.evaluations)
            saved = registry.EXACT_COULOMB_MAX_ATOMS
            registry.EXACT_COULOMB_MAX_ATOMS = 0
            try:
                f_pppm, t_pppm = lammps_route(atoms, pot, work, args.evaluations)
            finally:
                registry.EXACT_COULOMB_MAX_ATOMS = saved

            def err(f, ref=reference):
                return np.sqrt(np.mean(np.sum((f - ref) ** 2, 1)) / np.mean(np.sum(ref**2, 1)))

            print(f"{len(atoms):5d}  {coulomb_route(False, len(atoms)):5s}  {t_numpy:13.4f}  {t_exact:14.4f}  "
                  f"{t_pppm:13.4f}  {t_exact / t_numpy:11.3f}  {t_pppm / t_exact:10.2f}  {err(f_exact):9.1e}  "
                  f"{err(f_pppm):8.3f}", flush=True)


if __name__ == "__main__":
    main()
