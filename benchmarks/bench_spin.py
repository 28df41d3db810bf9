"""Time GFN2-xTB single points of a CsPbBr3 cluster with tblite's bundled reference BLAS and with
a system OpenBLAS preloaded (tasks.spin.prefer_openblas); print the speed-up.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_spin.py [--cells 2]

Each variant runs in its own process: the BLAS is chosen when tblite's library loads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = """
import json, time
from nclattice.structures import build_cspbbr3_cube
from nclattice.tasks.spin import prefer_openblas, single_point
atoms = build_cspbbr3_cube({cells}, vacancies="none", charge_balance="trim")
blas = prefer_openblas()
single_point(atoms, "xtb", 1)  # warm-up (library load, first allocation)
t0 = time.perf_counter()
for m in (1, 3):
    single_point(atoms, "xtb", m)
print(json.dumps({{"blas": blas, "atoms": len(atoms), "seconds": (time.perf_counter() - t0) / 2}}))
"""


def timed(cells: int, openblas: bool) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "NCLATTICE_OPENBLAS": os.environ.get("NCLATTICE_OPENBLAS", "") if openblas else "0"}
    out = subprocess.run([sys.executable, "-c", CHILD.format(cells=cells)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=2, help="cube edge (2 -> Cs20Pb8Br36, 64 atoms)")
    args = p.parse_args()
    ref = timed(args.cells, openblas=False)
    fast = timed(args.cells, openblas=True)
    print(f"atoms {ref['atoms']}: bundled BLAS {ref['seconds']:.2f} s per single point")
    if fast["blas"] is None:
        print("no system OpenBLAS found (apt-get install libopenblas0-openmp); nothing to compare")
        return
    print(f"OpenBLAS ({fast['blas']}): {fast['seconds']:.2f} s per single point")
    print(f"speed-up bundled/OpenBLAS = {ref['seconds'] / fast['seconds']:.1f}x")


if __name__ == "__main__":
    main()
