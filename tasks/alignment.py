"""Rigid-body superposition (weighted Kabsch) and the displacement field between two structures.

One convention throughout: ``mobile`` is moved onto ``target`` (or ``reference``), weights are
per atom (masses for an Eckart-like frame), rotations act on column vectors (``R @ r``, so on
rows of positions as ``positions @ R.T``), and no mirror is ever used (det R = +1).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from ..errors import NclatticeError


def kabsch(mobile: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Rotation R (3x3, det +1) minimising Σ w_i |R·mobile_i - target_i|² for coordinates already
    centred on their weighted centres (the Kabsch SVD solution)."""
    w = np.ones(len(mobile)) if weights is None else np.asarray(weights, float)
    h = (mobile * w[:, None]).T @ target
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def superpose(mobile: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """``mobile`` rotated and translated onto ``target`` (weighted least squares, no mirror)."""
    w = np.ones(len(mobile)) if weights is None else np.asarray(weights, float)
    w = w / w.sum()
    cm, ct = w @ mobile, w @ target
    return (mobile - cm) @ kabsch(mobile - cm, target - ct, w).T + ct


def displacement_field(reference: Atoms, moved: Atoms, mass_weighted: bool = True
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of ``reference`` (Å, relative to its weighted centre) and the field
    u = r(moved) - r(reference) (Å) after the rigid translation and rotation of ``moved`` are
    removed (mass-weighted by default: an Eckart-like frame), e.g. triplet minus singlet."""
    if len(reference) != len(moved) or reference.get_chemical_symbols() != moved.get_chemical_symbols():
        raise NclatticeError("the two structures must hold the same atoms in the same order; use the "
                             "singlet/triplet pair written by one spin-relax run.")
    weights = reference.get_masses() if mass_weighted else np.ones(len(reference))
    ref = reference.positions
    aligned = superpose(moved.positions, ref, weights)
    centre = weights @ ref / weights.sum()
    return ref - centre, aligned - ref
