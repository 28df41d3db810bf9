"""MD throughput: nclattice's isolated worker against a plain LAMMPS input of the same run.

Run:  .venv/bin/python benchmarks/bench_md.py [--sizes 1000,5000,15000] [--steps 2000]

For each size (CdSe spheres with the Zhou 2013 SW potential, Langevin NVT at 300 K, frames
every 10 steps) it runs (a) nclattice.tasks.md.run_nvt, frames gathered through the Python
module, and (b) the wheel's ``lmp`` on an input file with the same commands and a ``dump``
at the same stride, and prints wall times, their ratio (target <= 1.05) and MD steps/s.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from nclattice.potentials import load
from nclattice.structio import lammps_ready, species_order, write_structure
from nclattice.structures import build_cdse
from nclattice.tasks.lammps_env import lmp_executable, worker_environment
from nclattice.tasks.md import MDSettings, lammps_setup, run_nvt


def diameter_for(n_atoms: int) -> float:
    """Wurtzite CdSe holds 4 atoms per 112.2 Å³: the sphere diameter (nm) for ~n atoms."""
    volume = n_atoms * 112.2 / 4
    return (6 * volume / 3.14159) ** (1 / 3) / 10


def plain_lammps(atoms, pot, settings, work: Path) -> float:
    boxed = lammps_ready(atoms)
    data = work / "structure.data"
    write_structure(boxed, data)
    order = species_order(atoms)
    masses = {el: float(atoms.get_masses()[atoms.get_chemical_symbols().index(el)]) for el in order}
    equil, stride, n_frames = settings.steps
    cmds = lammps_setup(order, masses, pot, settings, str(data), periodic=False)
    cmds += [f"run {equil}", "reset_timestep 0",
             f"dump traj all custom {stride} {work / 'traj.dump'} id x y z", "dump_modify traj sort id",
             f"run {stride * n_frames}"]
    (work / "in.lmp").write_text("\n".join(cmds) + "\n")
    t0 = time.perf_counter()
    subprocess.run([lmp_executable(), "-in", "in.lmp", "-log", "log.plain", "-screen", "none", "-nocite"],
                   cwd=work, check=True, env=worker_environment(1))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,5000,15000")
    parser.add_argument("--steps", type=int, default=2000, help="production steps (equilibration: 10 %%)")
    args = parser.parse_args()
    pot = load("zhou2013-sw")
    print(f"{'atoms':>7} {'steps':>6} {'nclattice_s':>12} {'plain_lmp_s':>12} {'ratio':>7} {'steps/s':>9} "
          f"{'atom-steps/s':>13}")
    for target in (int(x) for x in args.sizes.split(",")):
        atoms = build_cdse(diameter_for(target))
        dt = 2.0
        settings = MDSettings(300, equilibration_ps=args.steps * dt / 10000, production_ps=args.steps * dt / 1000,
                              timestep_fs=dt, sample_every_fs=10 * dt, seed=1)
        total_steps = sum(settings.steps[:1]) + settings.steps[1] * settings.steps[2]
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run_nvt(atoms, pot, settings, workdir=Path(tmp) / "ncl")
            t_ncl = time.perf_counter() - t0
            work = Path(tmp) / "plain"
            work.mkdir()
            t_plain = plain_lammps(atoms, pot, settings, work)
        rate = total_steps / t_ncl
        print(f"{len(atoms):>7} {total_steps:>6} {t_ncl:>12.2f} {t_plain:>12.2f} {t_ncl / t_plain:>7.3f} "
              f"{rate:>9.1f} {rate * len(atoms):>13.3g}", flush=True)


if __name__ == "__main__":
    main()
