"""Strong scaling of the LAMMPS worker: 1 rank vs 2 MPI ranks vs 1 rank x 2 OpenMP threads.

Run on an idle machine (>= 2 free cores; the numbers mean nothing under load):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_mpi.py [--production-ps 1] [--only sw|pbse]

Systems: the 8 ML CdSe/CdS nanocrystal of the MSD calibration (3 nm core, 10,901 atoms, Zhou et al.
Stillinger-Weber: short range) and the 6 nm PbSe dot (Schapotschnikow et al., Buckingham + Coulomb:
long range). Each configuration runs the same MD through the project's own launch path
(tasks/lammps_launch.py: mpiexec.gforker over shared memory, or srun inside a Slurm job; for
comparison also MPICH's hydra mpiexec, which the project does not use because it listens on
0.0.0.0), with no
minimisation and no equilibration, twice: ``--production-ps`` and twice that. The difference of the
two walls is the cost of the extra MD steps alone (start-up, data file and neighbour set-up cancel);
the script prints ns/day-like throughput as atom-steps per second and the speed-up over 1 rank.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from nclattice.flows.settings import BuildSettings
from nclattice.potentials import default_for
from nclattice.structures import build
from nclattice.tasks import lammps_launch
from nclattice.tasks.md import MDSettings, run_nvt

# as `nclattice build cdse-cds --core-diameter 3 --preset msd` and `nclattice build pbse --diameter 6`
SYSTEMS = {
    "sw": ("CdSe/CdS 3 nm core + 8 ML (Zhou SW)", {"kind": "cdse-cds", "core-diameter": 3, "preset": "msd"}),
    "pbse": ("PbSe 6 nm (Buckingham + Coulomb)", {"kind": "pbse", "diameter": 6}),
}
CONFIGS = {"1 rank": {}, "2 MPI ranks": {"mpi_ranks": 2}, "2 ranks, hydra": {"mpi_ranks": 2, "hydra": True},
           "2 OpenMP threads": {"threads": 2}}


def hydra_launcher(ranks: int, threads: int = 1) -> list[str]:
    """For comparison only: MPICH's default launcher (hydra), which keeps a port open on 0.0.0.0."""
    return [str(Path(sys.prefix) / "bin" / "mpiexec"), "-n", str(ranks)] if ranks > 1 else []


def steps_per_s(atoms, pot, production_ps: float, timestep_fs: float, hydra: bool = False, **speed) -> float:
    original = lammps_launch.mpi_launcher
    lammps_launch.mpi_launcher = hydra_launcher if hydra else original
    try:
        return _steps_per_s(atoms, pot, production_ps, timestep_fs, **speed)
    finally:
        lammps_launch.mpi_launcher = original


def _steps_per_s(atoms, pot, production_ps: float, timestep_fs: float, **speed) -> float:
    walls = []
    for ps in (production_ps, 2 * production_ps):
        settings = MDSettings(300, equilibration_ps=0, production_ps=ps, timestep_fs=timestep_fs,
                              sample_every_fs=100 * timestep_fs, minimize_first=False, seed=7,
                              max_temperature_deviation=1.0, **speed)
        t0 = time.perf_counter()
        run_nvt(atoms, pot, settings)
        walls.append(time.perf_counter() - t0)
    extra_steps = production_ps * 1000 / timestep_fs
    if walls[1] <= walls[0]:  # too few steps to see past the noise: run longer
        return float("nan")
    return extra_steps / (walls[1] - walls[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--production-ps", type=float, default=1.0)
    ap.add_argument("--only", choices=sorted(SYSTEMS))
    args = ap.parse_args()
    for key, (label, recipe) in SYSTEMS.items():
        if args.only and key != args.only:
            continue
        kind, params = BuildSettings.parse(recipe).builder()
        atoms = build(kind, **params)
        pot = default_for(set(atoms.get_chemical_symbols()))
        timestep = 2.0 if key == "sw" else 1.0
        print(f"{label}: {len(atoms)} atoms, potential {pot.name}, {args.production_ps:g} ps extra MD")
        base = None
        for name, speed in CONFIGS.items():
            rate = steps_per_s(atoms, pot, args.production_ps, timestep, **speed)
            base = base if base is not None else rate
            print(f"  {name:18s} {rate:8.2f} steps/s  {rate * len(atoms):10.3g} atom-steps/s  "
                  f"speed-up {rate / base:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
