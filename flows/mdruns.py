"""MD runs as cached, resumable units: ``<results>/md/<key>/`` keyed on the canonical hash of
(structure, potential file hash, settings, nclattice version), through :mod:`nclattice.cache`.
A finished run is loaded, never recomputed; a killed or corrupted run is redone; two requests
for one key compute it once. Shared by calibration, ΔT and phonon flows.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from ase import Atoms
from prefect import task
from prefect.cache_policies import NO_CACHE

from ..cache import cached
from ..potentials import PotentialSet
from ..provenance import input_key, provenance
from ..results import read_json, save_arrays
from ..tasks.md import MDSettings, Trajectory, run_nvt


def md_key(atoms: Atoms, potential: PotentialSet, settings: MDSettings) -> str:
    # threads and MPI ranks change speed, not physics: leave them out of the key
    physics = {k: v for k, v in asdict(settings).items() if k not in ("threads", "mpi_ranks")}
    return input_key("md", atoms, potential.sha256, physics)


def load_trajectory(directory: Path, atoms: Atoms, settings: MDSettings) -> Trajectory:
    meta = read_json(directory / "result.json")
    with np.load(directory / "trajectory.npz") as data:
        return Trajectory(
            symbols=atoms.get_chemical_symbols(), masses_amu=atoms.get_masses(),
            times_ps=data["times_ps"], positions_angstrom=data["positions_angstrom"].astype(float),
            velocities_angstrom_per_ps=(data["velocities_angstrom_per_ps"].astype(float)
                                        if "velocities_angstrom_per_ps" in data.files else None),
            temperature_k=data["temperature_k"], potential_energy_ev=data["potential_energy_ev"],
            settings=settings, potential=meta["potential"], wall_s=meta["wall_s"],
            lammps_version=meta["lammps_version"],
            arrays={k: np.asarray(v) for k, v in atoms.arrays.items() if k not in ("numbers", "positions")},
        )


def _report(message: str) -> None:
    """Progress to the console and, inside a Prefect run, to its logs."""
    print(f"  {message}", flush=True)
    try:
        from prefect import get_run_logger

        get_run_logger().info(message)
    except Exception:  # outside a Prefect run there is no run logger: the console line suffices
        pass


def cached_md(atoms: Atoms, potential: PotentialSet, settings: MDSettings,
              results_root: str | Path) -> tuple[Trajectory, Path, bool]:
    """Run (or load) one MD trajectory; returns (trajectory, result directory, was_cached)."""
    key = md_key(atoms, potential, settings)

    def compute(directory: Path) -> dict:
        work = directory / "work"
        shutil.rmtree(work, ignore_errors=True)  # leftovers of a killed run; we hold the key's lock
        t0 = time.perf_counter()
        traj = run_nvt(atoms, potential, settings, workdir=work, progress=_report)
        velocities = ({} if traj.velocities_angstrom_per_ps is None
                      else {"velocities_angstrom_per_ps": traj.velocities_angstrom_per_ps.astype(np.float32)})
        save_arrays(directory / "trajectory.npz", times_ps=traj.times_ps, **velocities,
                    positions_angstrom=traj.positions_angstrom.astype(np.float32),
                    temperature_k=traj.temperature_k, potential_energy_ev=traj.potential_energy_ev)
        shutil.move(str(work / "log.lammps"), directory / "log.lammps")
        shutil.rmtree(work, ignore_errors=True)
        return {
            "key": key, "kind": "md-nvt", "settings": asdict(settings),
            "potential": potential.record(), "n_atoms": len(atoms),
            "formula": atoms.get_chemical_formula(mode="metal"),
            "frames": traj.n_frames, "mean_temperature_k": float(traj.temperature_k.mean()),
            "wall_s": time.perf_counter() - t0, "lammps_version": traj.lammps_version,
            "provenance": provenance(seed=settings.seed, potential=potential.record(),
                                     lammps_version=traj.lammps_version),
        }

    return cached(results_root, "md", key, compute,
                  lambda directory: load_trajectory(directory, atoms, settings), waiting=_report)


@task(name="md-nvt", cache_policy=NO_CACHE, retries=0)
def md_task(atoms: Atoms, potential: PotentialSet, settings: MDSettings, results_root: str):
    """Prefect task around :func:`cached_md` (file-level caching keyed on the inputs)."""
    return cached_md(atoms, potential, settings, results_root)
