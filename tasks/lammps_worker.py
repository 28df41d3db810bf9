"""Worker process for one MD run: ``python -m nclattice.tasks.lammps_worker spec.json``.

Runs in its own process so that a LAMMPS crash cannot take the caller down. Writes
``trajectory.npz`` and ``trajectory.json`` beside the spec, or ``failure.txt`` with the cause.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from .lammps_launch import die_with_parent, error_text, finish, open_lammps
from .lammps_launch import fail as _fail

# LAMMPS errors that a too-large timestep or an unstable structure produces in a free crystal
BLOW_UP_SIGNS = ("Too many neighbor bins", "Lost atoms", "Out of range atoms", "Neighbor list overflow",
                 "Bond atoms missing", "Non-numeric")


def main(spec_path: str) -> None:
    die_with_parent()
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    work = Path(spec_path).resolve().parent
    os.chdir(work)  # the spec's file names are relative to its folder
    lmp = open_lammps(spec["log"], spec.get("threads", 1))
    try:
        _run(lmp, spec, work)
    except Exception as exc:  # LAMMPS raises its ERROR text as an exception
        origin, text = error_text(exc)
        if any(sign in text for sign in BLOW_UP_SIGNS):
            text += (f" (atoms flew apart: the timestep {spec['timestep_fs']} fs is too large "
                     "or the structure is unstable)")
        _fail(work, f"{origin}: {text}")
    else:
        finish(lmp)


def _progress(rank: int, phase: str, done: int, total: int) -> None:
    """A line the parent process turns into progress output: 'progress PHASE DONE TOTAL'."""
    if rank == 0:
        print(f"progress {phase} {done} {total}", flush=True)


def _check_temperature(lmp, work: Path, spec: dict, where: str) -> float:
    temp = lmp.get_thermo("temp")
    target = spec["temperature_k"]
    if not np.isfinite(temp) or temp > 10 * target + 1000:
        _fail(work, f"temperature ran away to {temp:.0f} K (target {target} K) {where}; the timestep "
                    f"{spec['timestep_fs']} fs is too large or the structure is unstable")
    return temp


def _minimize(lmp, command: str) -> tuple[dict, np.ndarray]:
    """Run one LAMMPS 'minimize' command; return (energies, largest force, atom movement), sites."""
    n_atoms = lmp.get_natoms()

    def gather(name: str) -> np.ndarray:
        return np.ctypeslib.as_array(lmp.gather_atoms(name, 1, 3)).reshape(n_atoms, 3).copy()

    lmp.command("run 0 post no")
    e0, x0 = float(lmp.get_thermo("pe")), gather("x")
    lmp.command(command)
    lmp.command("run 0 post no")  # forces at the minimum
    sites = gather("x")
    boxlo, boxhi, _, _, _, periodicity, _ = lmp.extract_box()
    delta, length = sites - x0, np.array(boxhi) - np.array(boxlo)
    for axis in np.flatnonzero(periodicity):  # an atom wrapped across a periodic face did not move by L
        delta[:, axis] -= length[axis] * np.round(delta[:, axis] / length[axis])
    moved = np.linalg.norm(delta, axis=1)
    fmax, tolerance = float(np.abs(gather("f")).max()), float(command.split()[2])
    return {"energy_initial_ev": e0, "energy_final_ev": float(lmp.get_thermo("pe")),
            "max_force_ev_per_angstrom": fmax, "force_tolerance_ev_per_angstrom": tolerance,
            "converged": fmax <= tolerance * 1.0001, "max_displacement_angstrom": float(moved.max()),
            "rms_displacement_angstrom": float(np.sqrt(np.mean(moved**2))),
            "algorithm": "LAMMPS min_style cg"}, sites


def _run(lmp, spec: dict, work: Path) -> None:
    rank = lmp.extract_setting("world_rank")
    minimization, sites = {}, None
    for command in spec["commands"]:
        if command.startswith("minimize "):
            minimization, sites = _minimize(lmp, command)
        else:
            lmp.command(command)
    total_equil = spec["equilibration_steps"]
    remaining, chunk = total_equil, max(10 * spec["stride"], 100)
    while remaining > 0:  # in chunks, so that a blow-up is caught with its cause
        lmp.command(f"run {min(chunk, remaining)}")
        remaining -= chunk
        _check_temperature(lmp, work, spec, "during equilibration")
    if total_equil:
        _progress(rank, "equilibration", total_equil, total_equil)
    lmp.command("reset_timestep 0")
    if spec["production_ensemble"] == "nve" and spec["thermostat"] != "nose-hoover":
        lmp.command("unfix thermostat")  # microcanonical production: no thermostat friction
    elif spec["production_ensemble"] == "nve":
        lmp.command("unfix integrate")
        lmp.command("fix integrate all nve")
    n_atoms, stride, n_frames = lmp.get_natoms(), spec["stride"], spec["n_frames"]
    positions = np.empty((n_frames, n_atoms, 3))
    velocities = np.empty((n_frames, n_atoms, 3)) if spec["store_velocities"] else None
    temps, pes = np.empty(n_frames), np.empty(n_frames)
    target = spec["temperature_k"]
    for k in range(n_frames):
        lmp.command(f"run {stride} pre {'yes' if k == 0 else 'no'} post no")
        temps[k] = _check_temperature(lmp, work, spec, f"after {(k + 1) * stride} production steps")
        pes[k] = lmp.get_thermo("pe")
        if not np.isfinite(pes[k]):
            _fail(work, f"energy became NaN after {(k + 1) * stride} production steps; "
                        f"the timestep {spec['timestep_fs']} fs is too large or atoms overlap")
        positions[k] = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(n_atoms, 3)
        if (k + 1) % max(1, n_frames // 4) == 0:
            _progress(rank, "production", (k + 1) * stride, n_frames * stride)
        if velocities is not None:  # metal units: Å/ps
            velocities[k] = np.ctypeslib.as_array(lmp.gather_atoms("v", 1, 3)).reshape(n_atoms, 3)
    mean_t = temps.mean()
    if abs(mean_t / target - 1) > spec["max_temperature_deviation"]:
        _fail(work, f"mean production temperature {mean_t:.0f} K is far from the target {target} K; "
                    f"the timestep {spec['timestep_fs']} fs is too large or the thermostat too weak")
    version = str(lmp.version())
    lmp.close()
    if rank != 0:
        return
    times = (np.arange(n_frames) + 1) * stride * spec["timestep_fs"] / 1000
    extra = {} if velocities is None else {"velocities": velocities}
    if sites is not None:
        extra["sites"] = sites  # the minimised positions: the sites of the drift check
    np.savez(spec["output"] + ".part.npz", positions=positions, temperature_k=temps, pe_ev=pes,
             times_ps=times, **extra)
    Path(spec["output"] + ".part.npz").replace(spec["output"])
    (work / "trajectory.json").write_text(json.dumps({"lammps_version": version, "minimization": minimization}),
                                          encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
