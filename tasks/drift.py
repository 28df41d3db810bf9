"""Site drift: atoms that leave their lattice site during production MD.

A Debye-Waller ⟨u²⟩ assumes every atom vibrates about one site. An atom that hops (a surface
atom settling into another basin, a crystal started away from its minimum) adds the square of
its jump to ⟨u²⟩ and contaminates a temperature calibration. The check: superpose the frames
on their mean structure (rigid-body translation and rotation removed), cut production into
``n_blocks`` consecutive blocks (default 4: quarters), take each atom's mean position per
block, and call its drift the largest distance between any block mean and the atom's site:
its position in the minimised crystal MD started from (superposed on the mean structure), or
the first block's mean when there was no minimisation. Block means average the thermal
motion away (their noise is ~√(⟨u²⟩/n_eff), a few hundredths of an Å), so a drift above
``threshold_angstrom`` (default 0.5 Å, about a fifth of a Cd–Se bond) is a site change, not
vibration. The largest single-frame excursion from the atom's mean position is reported
beside it (it includes thermal motion: ~3-4 rms amplitudes).
"""

from __future__ import annotations

import numpy as np

from ..errors import NclatticeError
from .alignment import superpose
from .msd import remove_rigid_body_motion

DRIFT_POLICIES = ("flag", "fail")
LABELS = ("region", "surface", "layer")


class DriftError(NclatticeError):
    """Atoms left their sites during production and the policy is 'fail'."""


def site_drift(frames: np.ndarray, masses: np.ndarray, symbols: list[str], arrays: dict | None = None,
               sites: np.ndarray | None = None, threshold_angstrom: float = 0.5, n_blocks: int = 4,
               pbc: tuple[bool, bool, bool] | None = None) -> dict:
    """Per-atom drift from its site and largest excursion; the atoms above the threshold, labelled.

    ``sites``: the positions MD started from (the minimised crystal); without them the first
    block's mean positions are the sites.
    """
    frames = np.asarray(frames, float)
    if frames.ndim != 3 or len(frames) < n_blocks:
        return {"checked": False, "reason": f"fewer than {n_blocks} frames"}
    aligned = remove_rigid_body_motion(frames, masses, pbc=pbc)  # a chain only spins about its axis
    means = np.array([b.mean(0) for b in np.array_split(aligned, n_blocks, axis=0)])  # (blocks, atoms, 3)
    reference = means[0] if sites is None else superpose(np.asarray(sites, float), aligned.mean(0), masses)
    drift = np.linalg.norm(means - reference, axis=2).max(0)
    excursion = np.linalg.norm(aligned - aligned.mean(0), axis=2).max(0)
    arrays = arrays or {}
    drifting = np.flatnonzero(drift > threshold_angstrom)
    atoms = []
    for i in drifting:
        row = {"index": int(i), "element": symbols[i], "drift_angstrom": round(float(drift[i]), 4),
               "max_excursion_angstrom": round(float(excursion[i]), 4)}
        for label in LABELS:
            if label in arrays:
                value = np.asarray(arrays[label])[i]
                row[label] = value.item() if hasattr(value, "item") else value
        atoms.append(row)
    surface = np.asarray(arrays["surface"], bool) if "surface" in arrays else None
    return {
        "checked": True, "threshold_angstrom": threshold_angstrom, "blocks": n_blocks,
        "method": "largest distance between an atom's block-mean position and its site ("
                  + ("the minimised start" if sites is not None else "its first-block mean")
                  + ") after rigid-body alignment",
        "n_drifting": len(atoms),
        "n_drifting_surface": int(surface[drifting].sum()) if surface is not None else None,
        "max_drift_angstrom": float(drift.max()), "median_drift_angstrom": float(np.median(drift)),
        "max_excursion_angstrom": float(excursion.max()), "atoms": atoms,
    }


def apply_drift_policy(report: dict, policy: str, where: str) -> str | None:
    """'flag': return a warning line (None if nothing drifted); 'fail': raise DriftError."""
    if policy not in DRIFT_POLICIES:
        raise NclatticeError(f"drift policy must be one of {', '.join(DRIFT_POLICIES)}, not '{policy}'.")
    if not report.get("n_drifting"):
        return None
    worst = max(report["atoms"], key=lambda a: a["drift_angstrom"])
    labels = ", ".join(f"{k} {worst[k]}" for k in LABELS if k in worst)
    message = (f"{where}: {report['n_drifting']} atoms left their sites by more than "
               f"{report['threshold_angstrom']} Å (largest {worst['drift_angstrom']:.2f} Å: atom {worst['index']} "
               f"{worst['element']}{', ' + labels if labels else ''}); their ⟨u²⟩ includes the jump")
    if policy == "fail":
        raise DriftError(message + "; anneal longer or hotter before the minimisation (--anneal-ps, "
                                   "--anneal-k) or accept the atoms with --drift flag")
    return "WARNING " + message
