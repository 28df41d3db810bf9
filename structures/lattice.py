"""Bulk lattice points around a centre: the raw material every builder cuts from."""

from __future__ import annotations

import numpy as np

SQRT3 = np.sqrt(3.0)


def lattice_points(cell: np.ndarray, basis_frac: np.ndarray, radius: float,
                   center: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All sites of a periodic crystal within ``radius`` (Å) of ``center``.

    Returns (positions, basis_index): Cartesian positions relative to ``center`` and, per
    site, which basis atom it is (so callers map basis atoms to species).
    """
    cell = np.asarray(cell, float)
    basis_frac = np.asarray(basis_frac, float)
    center = np.zeros(3) if center is None else np.asarray(center, float)
    volume = abs(np.linalg.det(cell))
    heights = [volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3]))
               for i in range(3)]
    # the centre in fractional coordinates tells where to start the index ranges
    frac_center = np.linalg.solve(cell.T, center)
    ranges = [np.arange(int(np.floor(fc - radius / h)) - 1, int(np.ceil(fc + radius / h)) + 2)
              for fc, h in zip(frac_center, heights, strict=True)]
    grid = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)
    frac = (grid[:, None, :] + basis_frac[None, :, :]).reshape(-1, 3)
    index = np.tile(np.arange(len(basis_frac)), len(grid))
    pos = frac @ cell - center
    keep = np.einsum("ij,ij->i", pos, pos) <= radius**2
    return pos[keep], index[keep]


def hexagonal_cell(a: float, c: float) -> np.ndarray:
    """Hexagonal cell rows a1 along x, a2 at 120° in the xy plane, c along z (Å)."""
    return np.array([[a, 0, 0], [-a / 2, a * SQRT3 / 2, 0], [0, 0, c]])


def wurtzite_cell(a: float, c: float, u: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Hexagonal cell, basis (fractional) and sublattice of each basis atom."""
    cell = hexagonal_cell(a, c)
    basis = np.array([[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5],
                      [1 / 3, 2 / 3, u], [2 / 3, 1 / 3, 0.5 + u]])
    return cell, basis, ["cation", "cation", "anion", "anion"]


def zincblende_cell(a: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    basis = np.vstack([fcc, fcc + 0.25])
    return a * np.eye(3), basis, ["cation"] * 4 + ["anion"] * 4


def rocksalt_cell(a: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    basis = np.vstack([fcc, fcc + np.array([0.5, 0, 0])])
    return a * np.eye(3), basis, ["cation"] * 4 + ["anion"] * 4
