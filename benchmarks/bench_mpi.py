"""Strong scaling of the LAMMPS worker: 1 rank vs 2 MPI ranks vs 1 rank x 2 OpenMP threads.

Run on an idle machine (>= 2 free cores; the numbers mean nothing under load):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_mpi.py [--production-ps 2] [--repeat 3] [--only sw|pbse]

Systems: the 8 ML CdSe/CdS nanocrystal of the MSD calibration (3 nm core, 10,901 atoms, Zhou et al.
Stillinger-Weber: short range) and the 6 nm PbSe dot (Schapotschnikow et al., Buckingham + Coulomb:
long range). Each configuration runs the same MD through the project's own launch path
(tasks/lammps_launch.py: mpiexec.gforker over shared memory, or srun inside a Slurm job; for
comparison also MPICH's hydra mpiexec, which the project does not use because it listens on
0.0.0.0). Each run minimises (CG) and equilibrates first (``--equilibration-ps``, default 1 ps:
the unrelaxed lattice relaxes for picoseconds and the Stillinger-Weber cost per step doubles
meanwhile). The speed figure is LAMMPS's own "Loop time" summed over the production runs (MD
steps per second; start-up, minimisation and Python sampling excluded); the worker's whole wall is
printed beside it, with its ratio to 1 rank. The configurations are run interleaved ``--repeat``
times and the medians compared, so that a slow spell of a shared host hits all of them alike.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
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


def steps_per_s(atoms, pot, production_ps: float, timestep_fs: float, hydra: bool = False,
                **speed) -> tuple[float, float]:
    """(MD steps per second of LAMMPS's own loop time, wall of the whole worker in s)."""
    original = lammps_launch.mpi_launcher
    lammps_launch.mpi_launcher = hydra_launcher if hydra else original
    try:
        return _steps_per_s(atoms, pot, production_ps, timestep_fs, **speed)
    finally:
        lammps_launch.mpi_launcher = original


LOOP = re.compile(r"^Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps", re.M)


def _steps_per_s(atoms, pot, production_ps: float, timestep_fs: float, equilibration_ps: float = 1.0,
                 **speed) -> tuple[float, float]:
    # minimised and equilibrated first: the unrelaxed lattice relaxes for picoseconds and the
    # Stillinger-Weber cost per step doubles meanwhile, which would blur the comparison
    settings = MDSettings(300, equilibration_ps=equilibration_ps, production_ps=production_ps,
                          timestep_fs=timestep_fs,
                          sample_every_fs=100 * timestep_fs, minimize_first=True, seed=7,
                          max_temperature_deviation=1.0, **speed)
    with tempfile.TemporaryDirectory(prefix="nclattice-bench-mpi-") as tmp:
        t0 = time.perf_counter()
        run_nvt(atoms, pot, settings, workdir=tmp)
        wall = time.perf_counter() - t0
        log = (Path(tmp) / "log.lammps").read_text(encoding="utf-8")
    loops = LOOP.findall(log[log.rindex("reset_timestep 0"):])  # production only
    seconds = sum(float(t) for t, _, _ in loops)
    steps = sum(int(n) for _, _, n in loops)
    return steps / seconds, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--production-ps", type=float, default=2.0)
    ap.add_argument("--equilibration-ps", type=float, default=1.0, help="after CG, before timing (default 1)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per configuration, interleaved (default 3)")
    ap.add_argument("--only", choices=sorted(SYSTEMS))
    args = ap.parse_args()
    for key, (label, recipe) in SYSTEMS.items():
        if args.only and key != args.only:
            continue
        kind, params = BuildSettings.parse(recipe).builder()
        atoms = build(kind, **params)
        pot = default_for(set(atoms.get_chemical_symbols()))
        timestep = 2.0 if key == "sw" else 1.0
        print(f"{label}: {len(atoms)} atoms, potential {pot.name}, {args.production_ps:g} ps production "
              f"after CG + {args.equilibration_ps:g} ps, {args.repeat} interleaved runs each", flush=True)
        rates = {name: [] for name in CONFIGS}
        walls = {name: [] for name in CONFIGS}
        for _ in range(args.repeat):  # interleaved: a slow spell of the host hits every configuration
            for name, speed in CONFIGS.items():
                rate, wall = steps_per_s(atoms, pot, args.production_ps, timestep,
                                         equilibration_ps=args.equilibration_ps, **speed)
                rates[name].append(rate)
                walls[name].append(wall)
        base, base_wall = statistics.median(rates["1 rank"]), statistics.median(walls["1 rank"])
        for name in CONFIGS:
            rate, wall = statistics.median(rates[name]), statistics.median(walls[name])
            print(f"  {name:18s} {rate:8.2f} steps/s (min {min(rates[name]):.2f}, max {max(rates[name]):.2f})"
                  f"  {rate * len(atoms):9.3g} atom-steps/s  speed-up {rate / base:4.2f}x"
                  f"   whole worker {wall:6.1f} s ({base_wall / wall:4.2f}x)", flush=True)


if __name__ == "__main__":
    main()
