"""MD runs as cached, resumable units: ``<results>/md/<key>/`` keyed on the canonical hash of
(structure, potential file hash, settings, nclattice version), through :mod:`nclattice.cache`.
A finished run is loaded, never recomputed; a killed or corrupted run is redone; two requests
for one key compute it once. Shared by calibration, ΔT and phonon flows.

Every MD-based capability starts from one annealed and minimised structure per (structure,
potential, anneal protocol): :func:`minimised_start`, cached under ``<results>/minimised/<key>/``
and shared by all temperatures and capabilities; the capability writes it beside its result
as ``minimised.extxyz``. :func:`md_settings` is the one mapping from a capability's MD options
to the worker's :class:`~nclattice.tasks.md.MDSettings`.
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
from ..structio import read_structure, write_structure
from ..tasks.anneal import AnnealProtocol, anneal_and_minimise
from ..tasks.drift import apply_drift_policy
from ..tasks.md import MDSettings, Trajectory, run_nvt
from .outcomes import drift_warnings
from .settings import AnnealOptions, MDOptions

MINIMISED_FILE = "minimised.extxyz"  # the annealed and minimised start, beside each MD-based result


def md_settings(options: MDOptions, temperature_k: float, **fields) -> MDSettings:
    """The worker's settings for one MD run of a capability: its MD options (and thermostat, where
    it has one) at ``temperature_k``, plus capability-specific ``fields``. The run starts from
    :func:`minimised_start`'s structure, so the worker does not minimise again."""
    base = {"equilibration_ps": options.equilibration_ps, "production_ps": options.production_ps,
            "timestep_fs": options.timestep_fs, "sample_every_fs": options.sample_every_fs, "seed": options.seed,
            "minimize_first": False, **options.md_speed()}  # ranks and threads: speed, not in the key
    if "thermostat" in type(options).model_fields:
        base["thermostat"] = options.thermostat
    settings = MDSettings(temperature_k=temperature_k, **{**base, **fields})
    settings.validate()
    return settings


def anneal_protocol(options: AnnealOptions, seed: int) -> AnnealProtocol:
    """The anneal and minimisation that start a capability's MD (``--no-anneal``: minimisation only)."""
    off = options.no_anneal or not options.anneal_temperature_k
    return AnnealProtocol(temperature_k=0.0 if off else options.anneal_temperature_k,
                          duration_ps=0.0 if off else options.anneal_ps,
                          timestep_fs=options.anneal_timestep_fs, seed=seed)


def cached_minimised(atoms: Atoms, potential: PotentialSet, protocol: AnnealProtocol,
                     results_root: str | Path) -> tuple[Atoms, dict, Path, bool]:
    """The annealed and minimised crystal, computed once per (structure, potential, protocol) under
    ``<results>/minimised/<key>/minimised.extxyz``; returns (atoms, record, folder, was_cached)."""
    key = input_key("minimised", atoms, potential.sha256, asdict(protocol))

    def compute(directory: Path) -> dict:
        work = directory / "work"
        shutil.rmtree(work, ignore_errors=True)  # leftovers of a killed run; we hold the key's lock
        t0 = time.perf_counter()
        what = f"anneal {protocol.duration_ps:g} ps at {protocol.temperature_k:g} K and minimisation" \
            if protocol.anneals else "minimisation"
        _report(f"{what} of the starting structure ({len(atoms)} atoms)")
        minimised, record = anneal_and_minimise(atoms, potential, protocol, workdir=work,  # its MD step: no line
                                                progress=lambda line: None if line.startswith("MD ") else _report(line))
        write_structure(minimised, directory / MINIMISED_FILE)
        shutil.move(str(work / "log.lammps"), directory / "log.lammps")
        shutil.rmtree(work, ignore_errors=True)
        return {"key": key, "kind": "minimised", **record, "n_atoms": len(atoms),
                "wall_s": time.perf_counter() - t0,
                "provenance": provenance(seed=protocol.seed, potential=potential.record(),
                                         lammps_version=record["lammps_version"])}

    def load(directory: Path) -> tuple[Atoms, dict]:
        return read_structure(directory / MINIMISED_FILE), read_json(directory / "result.json")

    (minimised, record), directory, was_cached = cached(results_root, "minimised", key, compute, load,
                                                        waiting=_report)
    return minimised, record, directory, was_cached


def minimised_start(atoms: Atoms, potential: PotentialSet, options: AnnealOptions, results_root: str | Path,
                    seed: int, minimise: bool = True) -> tuple[Atoms, dict | None]:
    """The structure a capability's MD starts from, and its record for the result file (None when
    ``minimise`` is off: the structure as given)."""
    if not minimise:
        return atoms, None
    minimised, record, _, _ = cached_minimised(atoms, potential, anneal_protocol(options, seed),
                                                       results_root)
    keep = ("anneal_temperature_k", "anneal_ps", "anneal_timestep_fs", "anneal_damping_ps", "anneal_thermostat",
            "anneal_seed", "minimisation", "minimisation_fmax_ev_per_angstrom", "energy_ev",
            "minimisation_converged", "minimisation_max_force_ev_per_angstrom", "minimization",
            "key")  # the cache folder is <results>/minimised/<key>/
    return minimised, {"file": MINIMISED_FILE, **{k: record[k] for k in keep if k in record}}


def write_minimised(out_dir: str | Path, minimised: Atoms, record: dict | None) -> None:
    """``out_dir/minimised.extxyz``: the start of the capability's MD (nothing when it was not minimised)."""
    if record is not None:
        write_structure(minimised, Path(out_dir) / MINIMISED_FILE)


def site_drift_summary(drifts: dict[str, dict]) -> str | None:
    """One sentence when atoms left their sites in production ({temperature in K as text: site_drift}),
    else None: the first line of a capability's summary, the same sentence as its outcome's warning."""
    found = drift_warnings({t: {"site_drift": d} for t, d in drifts.items()})
    return (f"WARNING {found[0]} Anneal longer or hotter (--anneal-ps, --anneal-k) or see site_drift in the result."
            if found else None)


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

