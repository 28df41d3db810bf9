"""Checks on finished calibration runs: per-element ⟨u²⟩ and slopes, atoms kept, octahedra, speed.

    .venv/bin/python scripts/md_run_checks.py CALIBRATION_DIR [CALIBRATION_DIR ...]

For each directory written by `nclattice calibrate` (its calibration.json and runs/md/*): the
per-element 3D ⟨u²⟩ at 300 K and the slope b with R², the directional one-dimensional ⟨u_n²⟩
at 300 K, the largest nearest-neighbour distance of any atom in the last frame of every run (an
atom that left the crystal has none within a few Å), for structures with Pb and Br the
octahedra check of nclattice.tasks.octahedra (the fixed list of starting Pb-Br bonds; mean
length from time-averaged positions against the start and the minimised structure, the biased
mean instantaneous distance beside it, octahedra kept, bonds broken), the site-drift summary,
and the MD speed in atom-steps per second.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from nclattice.structio import read_structure
from nclattice.tasks.octahedra import octahedra_check


def _nearest(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """Nearest-neighbour distance of every atom, periodic images included along periodic axes."""
    offsets = {tuple((np.array(shift) - 1) * np.asarray(pbc, int)) for shift in np.ndindex(3, 3, 3)}
    images = [positions + np.array(offset) @ cell for offset in sorted(offsets)]
    d, _ = cKDTree(np.vstack(images)).query(positions, k=2)
    return d[:, 1]


def check(directory: Path) -> dict:
    cal = json.loads((directory / "calibration.json").read_text())
    atoms = read_structure(cal["structure"]["path"])
    symbols = np.array(atoms.get_chemical_symbols())
    temps = cal["temperatures_k"]
    i300 = temps.index(300.0) if 300.0 in temps else len(temps) // 2
    out = {"structure": cal["structure"]["path"], "atoms": len(atoms),
           "potential": cal["provenance"]["potential"]["name"],
           "validation": cal.get("potential_validation", {}).get("status"),
           "per_element": {el: {"msd_300k_angstrom2": cal["msd_angstrom2"][el][i300],
                                "slope_angstrom2_per_k": cal["fit"][el]["slope_angstrom2_per_k"],
                                "r2": cal["fit"][el]["r2"]} for el in sorted(set(symbols))},
           "directional_1d_300k": {d: v[i300] for d, v in cal["directional_msd_1d_angstrom2"].items()},
           "runs": []}
    for run in sorted((directory / "runs" / "md").glob("*/result.json")):
        res = json.loads(run.read_text())
        with np.load(run.parent / "trajectory.npz") as data:
            frames = data["positions_angstrom"]
            sites = data["site_positions_angstrom"] if "site_positions_angstrom" in data.files else None
        settings = res["settings"]
        steps = (settings["equilibration_ps"] + settings["production_ps"]) * 1000 / settings["timestep_fs"]
        drift = res.get("site_drift", {})
        entry = {"temperature_k": res["settings"]["temperature_k"],
                 "largest_nearest_neighbour_angstrom": float(_nearest(frames[-1], atoms.cell.array, atoms.pbc).max()),
                 "atom_steps_per_s": res["n_atoms"] * steps / res["wall_s"],
                 "drifting_atoms": drift.get("n_drifting"), "drifting_surface_atoms": drift.get("n_drifting_surface"),
                 "max_drift_angstrom": drift.get("max_drift_angstrom")}
        if {"Pb", "Br"} <= set(symbols):
            entry["octahedra"] = octahedra_check(atoms.positions, frames, list(symbols), atoms.get_masses(), sites)
        out["runs"].append(entry)
    return out


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(json.dumps(check(Path(arg)), indent=1))
