"""Worker process for static LAMMPS work: ``python -m nclattice.tasks.lammps_static_worker spec.json``.

Minimises a structure (conjugate gradients) and builds its Hessian by central differences of
the forces, in its own process so that a LAMMPS crash fails this step alone. The spec (JSON)
holds the LAMMPS commands that set the system up, the minimisation settings, the
finite-difference step, which atoms to displace and where to write. Outputs beside the spec:
``minimized.npy`` (positions in the data file's frame), ``hessian.npy`` (dense, rows of the
displaced coordinates) or ``hessian.npz`` (sparse CSR: data, indices, indptr, shape), and
``static.json`` (minimisation record, timings, LAMMPS version); or ``failure.txt`` with the cause.

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

from .lammps_launch import die_with_parent, error_text, minimize_commands, open_lammps
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


def _forces(lmp, n: int, flat_positions: np.ndarray | None = None) -> np.ndarray:
    if flat_positions is not None:
        lmp.scatter_atoms("x", 1, 3, np.ctypeslib.as_ctypes(np.ascontiguousarray(flat_positions)))
    lmp.command("run 0 pre yes post no")
    return np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(3 * n).copy()


def _minimize(lmp, n: int, spec: dict) -> dict:
    fmax = spec["fmax_ev_per_angstrom"]
    for command in minimize_commands(fmax, spec["max_iterations"]):
        lmp.command(command)
    worst = float(np.abs(_forces(lmp, n)).max())
    return {"max_force_ev_per_angstrom": worst, "converged": worst <= fmax * 1.0001,
            "energy_ev": float(lmp.get_thermo("pe")), "algorithm": "LAMMPS min_style cg"}


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
    version = str(lmp.version())
    lmp.close()
    (work / "static.json").write_text(json.dumps({
        "minimization": record, "lammps_version": version,
        "timings_s": {"minimize": t1 - t0, "hessian": time.perf_counter() - t1},
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main(sys.argv[1])
