"""Worker process for static LAMMPS work: ``python -m nclattice.tasks.lammps_static_worker spec.json``.

Minimises a structure (conjugate gradients; optionally the periodic box too, ``fix box/relax``),
and optionally builds its Hessian by central differences of the forces, in its own process so
that a LAMMPS crash fails this step alone. The spec (JSON) holds the LAMMPS commands that set the
system up, the minimisation settings, the box relaxation (``relax_box``: null, "iso" or "aniso"),
whether to build the Hessian, the finite-difference step, which atoms to displace, how many force
evaluations to time (``evaluations``) and where to write. Outputs beside the spec:
``minimized.npy`` (positions in the data file's frame), ``forces.npy`` (forces there),
``hessian.npy`` (dense, rows of the displaced coordinates) or ``hessian.npz`` (sparse CSR: data,
indices, indptr, shape), and ``static.json`` (minimisation record, energy, box, timings, LAMMPS
version); or ``failure.txt`` with the cause.

Sparse rows keep the entries above ``sparse_tolerance`` times the largest |H|: a displaced atom
changes the forces only on atoms within the potential's cut-off (3-body terms included), so
each row has O(1) entries and the matrix O(N) memory.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from .lammps_launch import die_with_parent, error_text, finish, minimize_commands, open_lammps
from .lammps_launch import fail as _fail


def main(spec_path: str) -> None:
    die_with_parent()  # a killed caller takes this worker with it
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    work = Path(spec_path).resolve().parent
    lmp = open_lammps(spec["log"], spec.get("threads", 1))
    try:
        _run(lmp, spec, work)
    except Exception as exc:  # LAMMPS raises its ERROR text as an exception
        origin, text = error_text(exc)
        _fail(work, f"{origin}: {text}")
    else:
        finish(lmp)


def _forces(lmp, n: int, flat_positions: np.ndarray | None = None) -> np.ndarray:
    if flat_positions is not None:
        lmp.scatter_atoms("x", 1, 3, np.ctypeslib.as_ctypes(np.ascontiguousarray(flat_positions)))
    lmp.command("run 0 pre yes post no")
    return np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(3 * n).copy()


def _box(lmp) -> tuple[list[float], list[list[float]]]:
    """(origin, cell rows) of the LAMMPS box."""
    lo, hi, xy, yz, xz, _, _ = lmp.extract_box()
    return list(lo), [[hi[0] - lo[0], 0.0, 0.0], [xy, hi[1] - lo[1], 0.0], [xz, yz, hi[2] - lo[2]]]


def _minimize(lmp, n: int, spec: dict) -> dict:
    """CG on the positions; with ``relax_box`` also the box lengths until the diagonal pressure is
    below ``pressure_tolerance_gpa``: positions minimised at fixed box, then each axis scaled by a
    secant step on its own pressure component, repeated. (``fix box/relax`` inside the minimiser
    stops with 'linesearch alpha is zero' for PPPM Coulomb sets, whose k-space grid is set up once
    per minimisation, so the box is moved here between minimisations.)"""
    fmax = spec["fmax_ev_per_angstrom"]
    mode = spec.get("relax_box")
    record = {"algorithm": "LAMMPS min_style cg" + (f", box lengths by secant steps ({mode})" if mode else "")}
    tolerance = spec.get("pressure_tolerance_gpa", 1e-4)
    log_length, pressure, stiffness = None, None, np.full(3, 100.0)  # GPa per unit log-strain, a first guess
    cycles = 0
    while cycles < (100 if mode else 1):
        cycles += 1
        for command in minimize_commands(fmax, spec["max_iterations"]):
            lmp.command(command)
        if not mode:
            break
        now_length = np.log(np.diagonal(_box(lmp)[1]))
        now = np.array([lmp.get_thermo(f"p{c}{c}") for c in "xyz"]) * 1e-4  # bar -> GPa
        if mode == "iso":
            now = np.full(3, now.mean())
        if np.abs(now).max() <= tolerance:
            break
        if pressure is not None:  # secant: dP/dln L per axis, kept if physical (pressure falls as L grows)
            moved = now_length - log_length
            slope = -(now - pressure) / np.where(np.abs(moved) > 1e-12, moved, np.inf)
            stiffness = np.where(slope > 1.0, slope, stiffness)
        log_length, pressure = now_length, now
        step = np.clip(now / stiffness, -0.02, 0.02)  # compressed (P > 0): expand
        scales = [float(x) for x in np.exp(step)]
        lmp.command(f"change_box all x scale {scales[0]!r} y scale {scales[1]!r} z scale {scales[2]!r} remap")
    worst = float(np.abs(_forces(lmp, n)).max())
    converged = worst <= fmax * 1.0001
    if mode:
        diagonal = [float(lmp.get_thermo(f"p{c}{c}")) * 1e-4 for c in "xyz"]
        record.update({"pressure_diagonal_gpa": diagonal, "box_cycles": cycles})
        converged = converged and max(map(abs, diagonal)) <= tolerance * (1.0001 if mode == "aniso" else 3)
    record.update({"max_force_ev_per_angstrom": worst, "converged": converged,
                   "energy_ev": float(lmp.get_thermo("pe"))})
    return record


def _hessian_rows(lmp, n: int, x0: np.ndarray, coords: np.ndarray, step: float, progress_every: int):
    """Yield (coordinate, row of H) for each displaced coordinate: H_k = -(F(x+h e_k) - F(x-h e_k)) / 2h."""
    for i, k in enumerate(coords):
        xp, xm = x0.copy(), x0.copy()
        xp[k] += step
        xm[k] -= step
        yield k, -(_forces(lmp, n, xp) - _forces(lmp, n, xm)) / (2 * step)
        if progress_every and (i + 1) % progress_every == 0:
            print(f"progress hessian {i + 1} {len(coords)}", flush=True)


def _run(lmp, spec: dict, work: Path) -> None:
    for command in spec["commands"]:
        lmp.command(command)
    n = lmp.get_natoms()
    t0 = time.perf_counter()
    record = _minimize(lmp, n, spec) if spec["minimize"] else {"skipped": True}
    t1 = time.perf_counter()
    x0 = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(3 * n).copy()
    np.save(work / "minimized.npy", x0.reshape(n, 3))
    np.save(work / "forces.npy", _forces(lmp, n).reshape(n, 3))
    energy = float(lmp.get_thermo("pe"))
    origin, cell = _box(lmp)
    timings = {"minimize": t1 - t0}
    if spec.get("evaluations"):  # the atoms do not move (no integrator): one force call per step
        t = time.perf_counter()
        lmp.command(f"run {int(spec['evaluations'])} pre no post no")
        timings["per_evaluation"] = (time.perf_counter() - t) / int(spec["evaluations"])
    if spec.get("hessian", True):
        timings["hessian"] = _write_hessian(lmp, n, x0, spec, work)
    version = str(lmp.version())
    lmp.close()
    (work / "static.json").write_text(json.dumps({
        "minimization": record, "energy_ev": energy, "box_origin_angstrom": origin, "cell_angstrom": cell,
        "lammps_version": version, "timings_s": timings,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _write_hessian(lmp, n: int, x0: np.ndarray, spec: dict, work: Path) -> float:
    """hessian.npy or hessian.npz of the displaced atoms' coordinates; returns its seconds."""
    t1 = time.perf_counter()
    atoms = np.asarray(spec.get("atoms") or range(n), dtype=np.int64)
    coords = (3 * atoms[:, None] + np.arange(3)).ravel()
    every = max(1, len(coords) // 20)
    rows = _hessian_rows(lmp, n, x0, coords, spec["step_angstrom"], every)
    if spec["sparse"]:
        data, indices, indptr = [], [], [0]
        tol = spec["sparse_tolerance"]
        scale = 0.0
        for _, row in rows:
            scale = max(scale, float(np.abs(row).max()))
            keep = np.nonzero(np.abs(row) > tol * scale)[0]
            data.append(row[keep])
            indices.append(keep)
            indptr.append(indptr[-1] + len(keep))
        np.savez(work / "hessian.part.npz", data=np.concatenate(data), indices=np.concatenate(indices),
                 indptr=np.asarray(indptr), shape=np.array([len(coords), 3 * n]), rows=coords)
        (work / "hessian.part.npz").replace(work / "hessian.npz")
    else:
        h = np.empty((len(coords), 3 * n))
        for i, (_, row) in enumerate(rows):
            h[i] = row
        np.save(work / "hessian.part.npy", h)
        (work / "hessian.part.npy").replace(work / "hessian.npy")
    _forces(lmp, n, x0)
    return time.perf_counter() - t1


if __name__ == "__main__":
    main(sys.argv[1])
