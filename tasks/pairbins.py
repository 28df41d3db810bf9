"""Compiled pair-distance binning: the inner loop of the exact Debye sum.

Every unordered pair of atoms is visited once (O(N²), the exact route has no way around
that), but in a compiled loop with no temporary arrays: about 6 ns per pair on one core
against ~30 ns for blocked numpy distance matrices plus ``bincount``
(``benchmarks/bench_powder.py`` measures both side by side). numba compiles the loop on
first use and caches the machine code beside this file.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _bin_pairs(x, y, same, inv_width, count, total):  # pragma: no cover - compiled
    for i in range(x.shape[0]):
        xi0, xi1, xi2 = x[i, 0], x[i, 1], x[i, 2]
        for j in range(i + 1 if same else 0, y.shape[0]):
            d0, d1, d2 = xi0 - y[j, 0], xi1 - y[j, 1], xi2 - y[j, 2]
            d = np.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
            k = int(d * inv_width)
            count[k] += 1.0
            total[k] += d


def bin_pair_distances(x: np.ndarray, y: np.ndarray, same: bool, bin_width_angstrom: float,
                       n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(pair counts, summed distances) per bin of width ``bin_width_angstrom`` for all pairs
    between the rows of x and y; with ``same`` (x is y) each unordered pair once."""
    count, total = np.zeros(n_bins), np.zeros(n_bins)
    _bin_pairs(np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64),
               bool(same), 1.0 / bin_width_angstrom, count, total)
    return count, total
