"""MD runs as cached, resumable units: ``<results>/md/<key>/`` keyed on the canonical hash of
(structure, potential file hash, settings, nclattice version), through :mod:`nclattice.cache`.
A finished run is loaded, never recomputed; a killed or corrupted run is redone; two requests
for one key compute it once. Shared by calibration, ΔT and phonon flows.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from ase import Atoms

from ..cache import cached
from ..potentials import PotentialSet
from ..provenance import input_key, provenance
from ..results import read_json, save_arrays
from ..tasks.drift import apply_drift_policy
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
            lammps_version=meta["lammps_version"], minimization=meta.get("minimization", {}),
            site_drift=meta.get("site_drift", {}),
            site_positions_angstrom=(data["site_positions_angstrom"] if "site_positions_angstrom" in data.files
                                     else None),
            arrays={k: np.asarray(v) for k, v in atoms.arrays.items() if k not in ("numbers", "positions")},
        )


def _report(message: str) -> None:
    """Progress to the console and, inside a Prefect run, to its logs.

    Prefect is asked only when something already imported it (a ``--prefect`` run, a campaign): a
    plain command never pays its import on a progress line.
    """
    print(f"  {message}", flush=True)
    if "prefect.context" not in sys.modules:
        return
    from prefect.context import FlowRunContext, TaskRunContext
    from prefect.logging import get_run_logger

    if FlowRunContext.get() is not None or TaskRunContext.get() is not None:
        get_run_logger().info(message)


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
        if traj.site_positions_angstrom is not None:
            velocities["site_positions_angstrom"] = traj.site_positions_angstrom
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
            "minimization": traj.minimization, "site_drift": traj.site_drift,
            "provenance": provenance(seed=settings.seed, potential=potential.record(),
                                     lammps_version=traj.lammps_version),
        }

    traj, directory, was_cached = cached(results_root, "md", key, compute,
                                         lambda directory: load_trajectory(directory, atoms, settings),
                                         waiting=_report)
    warning = apply_drift_policy(traj.site_drift, "flag", f"MD at {settings.temperature_k:g} K")
    if warning:  # every flow using MD sees atoms that left their sites
        _report(warning)
    return traj, directory, was_cached

