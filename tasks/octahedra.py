"""Whether a perovskite keeps its BX6 octahedra (PbBr6 in CsPbBr3) during MD.

Bonds: the B-X pairs of the starting structure closer than ``bond_factor`` (1.2) times the
shortest B-X distance: six per interior B, a FIXED list, so an X that leaves its octahedron
stays in the average and no new pair enters it.

Bond length in a run: the distance between the two atoms' time-averaged positions (frames
superposed on their mean structure first). The mean instantaneous distance ⟨|r_ij(t)|⟩ is
biased upwards by thermal motion perpendicular to the bond, by about ⟨Δu_⊥²⟩/(2 r), i.e.
2σ²/r for two atoms vibrating isotropically with σ² per component: 3-4 % for Pb-Br at 300-450 K
with a soft lattice, although no bond stretches. Both are reported; the time-averaged one is
the measure of the octahedron's size. Each is compared with the start (the built structure)
and, when given, with the minimised structure MD started from (the set's own 0 K bonds).

A bond is broken when its time-averaged length exceeds ``broken_factor`` (1.25) times its
starting length; an octahedron is kept when none of its bonds is broken and the six X nearest to
its B in the time-averaged structure are its original six.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .msd import remove_rigid_body_motion


def starting_bonds(positions: np.ndarray, symbols: list[str], center: str = "Pb", ligand: str = "Br",
                   bond_factor: float = 1.2) -> np.ndarray:
    """(n_bonds, 2) indices (B, X) of the B-X pairs shorter than bond_factor x the shortest one."""
    symbols = np.asarray(symbols)
    b, x = np.flatnonzero(symbols == center), np.flatnonzero(symbols == ligand)
    if len(b) == 0 or len(x) == 0:
        return np.zeros((0, 2), int)
    d, j = cKDTree(positions[x]).query(positions[b], k=min(6, len(x)))
    d, j = np.atleast_2d(d), np.atleast_2d(j)
    keep = d < bond_factor * d.min()
    return np.column_stack([np.repeat(b, keep.sum(1)), x[j[keep]]])


def octahedra_check(start: np.ndarray, frames: np.ndarray, symbols: list[str], masses: np.ndarray,
                    sites: np.ndarray | None = None, center: str = "Pb", ligand: str = "Br",
                    broken_factor: float = 1.25) -> dict:
    """Mean B-X bond length of the starting octahedra in a trajectory, against the start and the
    minimised ``sites``; octahedra kept and bonds broken (see the module docstring)."""
    bonds = starting_bonds(start, symbols, center, ligand)
    if len(bonds) == 0:
        return {"checked": False, "reason": f"no {center}-{ligand} bonds in the structure"}
    aligned = remove_rigid_body_motion(np.asarray(frames, float), np.asarray(masses, float))
    mean = aligned.mean(0)

    def lengths(x: np.ndarray) -> np.ndarray:
        return np.linalg.norm(x[..., bonds[:, 1], :] - x[..., bonds[:, 0], :], axis=-1)

    r_start, r_mean, r_inst = lengths(start), lengths(mean), lengths(aligned).mean(0)
    symbols = np.asarray(symbols)
    b_atoms, x_atoms = np.flatnonzero(symbols == center), np.flatnonzero(symbols == ligand)
    _, nearest = cKDTree(mean[x_atoms]).query(mean[b_atoms], k=min(6, len(x_atoms)))
    original = {b: set(bonds[bonds[:, 0] == b, 1]) for b in b_atoms}
    full = [b for b in b_atoms if len(original[b]) == 6]  # interior B with a complete octahedron
    broken = r_mean > broken_factor * r_start
    kept = [set(x_atoms[np.atleast_1d(nearest[k])]) == original[b] and not broken[bonds[:, 0] == b].any()
            for k, b in enumerate(b_atoms) if b in full]
    out = {
        "checked": True, "bonds": len(bonds), "complete_octahedra": len(full),
        "mean_bond_start_angstrom": float(r_start.mean()),
        "mean_bond_time_averaged_angstrom": float(r_mean.mean()),
        "mean_instantaneous_distance_angstrom": float(r_inst.mean()),
        "change_vs_start": float(r_mean.mean() / r_start.mean() - 1),
        "instantaneous_change_vs_start": float(r_inst.mean() / r_start.mean() - 1),
        "octahedra_kept_fraction": float(np.mean(kept)) if kept else None,
        "bonds_broken": int(np.count_nonzero(broken)),
        "longest_bond_ratio": float((r_mean / r_start).max()),
    }
    if sites is not None:
        r_sites = lengths(np.asarray(sites, float))
        out.update({"mean_bond_minimised_angstrom": float(r_sites.mean()),
                    "change_vs_minimised": float(r_mean.mean() / r_sites.mean() - 1),
                    "minimised_change_vs_start": float(r_sites.mean() / r_start.mean() - 1)})
    return out
