"""Surface normals and facet families of surface atoms."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from .labels import _minimum_image, pairs_within

FAMILIES = {
    "100": np.eye(3),
    "110": np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1], [1, -1, 0], [1, 0, -1], [0, 1, -1]])
    / np.sqrt(2),
    "111": np.array([[1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1]]) / np.sqrt(3),
}


def surface_normals(atoms: Atoms, radius_angstrom: float) -> np.ndarray:
    """Outward unit normal per atom: minus the mean direction to neighbours within a radius.

    Interior atoms have (near) zero vectors; only ``surface`` atoms are meaningful.
    """
    i, j, _ = pairs_within(atoms, radius_angstrom)
    vec = _minimum_image(atoms.positions[j] - atoms.positions[i], atoms)
    total = np.zeros((len(atoms), 3))
    np.add.at(total, i, -vec)
    norm = np.linalg.norm(total, axis=1, keepdims=True)
    return np.divide(total, norm, out=np.zeros_like(total), where=norm > 1e-6)


def facet_family(normals: np.ndarray, max_angle_deg: float = 15.0,
                 families: tuple[str, ...] = ("100", "111")) -> np.ndarray:
    """Label each normal by the crystallographic family within ``max_angle_deg``, else ''."""
    labels = np.full(len(normals), "", dtype="U4")
    best = np.zeros(len(normals))
    cos_limit = np.cos(np.radians(max_angle_deg))
    for name in families:
        cos = np.abs(normals @ FAMILIES[name].T).max(1)
        better = (cos >= cos_limit) & (cos > best)
        labels[better] = name
        best = np.where(better, cos, best)
    return labels
