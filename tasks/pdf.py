"""Pair distribution functions of a finite nanocrystal from MD frames.

Pair distances are histogrammed from the frames directly (LAMMPS' ``compute rdf`` normalises
by the box volume, meaningless for a free crystal). With H_ab(r) the number of a-b pairs
(counted once per unordered pair) per bin, averaged over frames, and scattering weights f:

    R(r) = 2 Σ_ab f_a f_b H_ab(r) / (N ⟨f⟩² Δr)      neighbours per atom per Å (weighted)
    G(r) = R(r)/r - 4π ρ0 r γ0(r)                       direct-space route

ρ0 = N/V of the volume-equivalent sphere of diameter D and γ0(r) = 1 - 3r/2D + r³/2D³ its
shape function, so G oscillates about zero at short r. The reciprocal-space route computes

    F(Q) = Q [S(Q) - 1] = 2 Σ_ab f_a f_b Σ_r H_ab(r) sin(Qr) / (N ⟨f⟩² r)   (Debye, Faber-Ziman)
    G(r) = (2/π) ∫_{Qmin}^{Qmax} F(Q) sin(Qr) dQ

which carries the experiment's termination ripples. The weights f are constants per element
(see tasks.msd.diffraction_weights): the Q dependence of f is not included here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial import cKDTree

from ..errors import NclatticeError


@dataclass
class PairHistograms:
    r_edges_angstrom: np.ndarray
    counts: dict[tuple[str, str], np.ndarray]  # pairs per bin, per frame, unordered, a <= b
    n_atoms: int
    species_counts: dict[str, int]
    r_sums: dict[tuple[str, str], np.ndarray] | None = None  # summed distances per bin (mean = r_sums/counts)

    @property
    def r_angstrom(self) -> np.ndarray:
        return 0.5 * (self.r_edges_angstrom[1:] + self.r_edges_angstrom[:-1])

    @property
    def dr(self) -> float:
        return float(self.r_edges_angstrom[1] - self.r_edges_angstrom[0])

    def weighted(self, weights: dict[str, float]) -> np.ndarray:
        """2 Σ_ab f_a f_b H_ab(r) / (N ⟨f⟩²): weighted neighbours per atom per bin."""
        mean_f = sum(weights[s] * n for s, n in self.species_counts.items()) / self.n_atoms
        total = np.zeros(len(self.r_angstrom))
        for (a, b), h in self.counts.items():
            total += 2 * weights[a] * weights[b] * h
        return total / (self.n_atoms * mean_f**2)


def pair_histograms(frames: np.ndarray, symbols: list[str], r_max_angstrom: float = 12.0,
                    dr_angstrom: float = 0.01) -> PairHistograms:
    """Frame-averaged pair-distance histograms per species pair, up to ``r_max``."""
    frames = np.atleast_3d(np.asarray(frames, float))
    if frames.ndim != 3 or frames.shape[-1] != 3:
        raise NclatticeError("frames must have shape (frames, atoms, 3).")
    symbols = np.asarray(symbols)
    species = sorted(set(symbols))
    code = np.searchsorted(species, symbols)
    n_s = len(species)
    edges = np.arange(0.0, r_max_angstrom + dr_angstrom / 2, dr_angstrom)
    n_bins = len(edges) - 1
    total = np.zeros(n_s * n_s * n_bins)
    r_total = np.zeros(n_s * n_s * n_bins)
    for frame in frames:
        pairs = cKDTree(frame).query_pairs(r_max_angstrom, output_type="ndarray")
        if len(pairs) == 0:
            continue
        d = np.linalg.norm(frame[pairs[:, 0]] - frame[pairs[:, 1]], axis=1)
        a, b = np.minimum(code[pairs[:, 0]], code[pairs[:, 1]]), np.maximum(code[pairs[:, 0]], code[pairs[:, 1]])
        idx = np.minimum((d / dr_angstrom).astype(int), n_bins - 1)
        key = (a * n_s + b) * n_bins + idx
        total += np.bincount(key, minlength=total.size)
        r_total += np.bincount(key, weights=d, minlength=total.size)
    total = total.reshape(n_s, n_s, n_bins) / len(frames)
    r_total = r_total.reshape(n_s, n_s, n_bins) / len(frames)
    keys = [(i, j) for i in range(n_s) for j in range(i, n_s)]
    counts = {(species[i], species[j]): total[i, j] for i, j in keys}
    r_sums = {(species[i], species[j]): r_total[i, j] for i, j in keys}
    return PairHistograms(edges, counts, len(symbols), {s: int(np.sum(symbols == s)) for s in species}, r_sums)


def sphere_shape_function(r: np.ndarray, diameter: float) -> np.ndarray:
    x = np.clip(r / diameter, 0, 1)
    return 1 - 1.5 * x + 0.5 * x**3


def g_of_r(hist: PairHistograms, weights: dict[str, float], diameter_angstrom: float,
           smoothing_angstrom: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Direct-space reduced PDF G(r) (Å⁻²) of a finite crystal, Gaussian-smoothed."""
    r = hist.r_angstrom
    radial = hist.weighted(weights) / hist.dr
    if smoothing_angstrom > 0:
        radial = gaussian_filter1d(radial, smoothing_angstrom / hist.dr, mode="constant")
    rho0 = hist.n_atoms / (np.pi * diameter_angstrom**3 / 6)
    g = radial / np.maximum(r, 1e-12) - 4 * np.pi * rho0 * r * sphere_shape_function(r, diameter_angstrom)
    return r, g


def f_of_q(hist: PairHistograms, weights: dict[str, float], q_inv_angstrom: np.ndarray) -> np.ndarray:
    """Reduced structure function F(Q) = Q[S(Q) - 1] from the histograms (Debye equation), each
    bin at its mean pair distance when known (exact to second order in the bin width; the bin
    centre is off by up to Q·Δr/2 in phase)."""
    q = np.asarray(q_inv_angstrom, float)
    if hist.r_sums is None:
        r = hist.r_angstrom
        return np.sin(np.outer(q, r)) @ (hist.weighted(weights) / r)
    mean_f = sum(weights[s] * n for s, n in hist.species_counts.items()) / hist.n_atoms
    out = np.zeros(q.size)
    for (a, b), h in hist.counts.items():
        occ = h > 0
        r = hist.r_sums[(a, b)][occ] / h[occ]
        out += np.sin(np.outer(q, r)) @ (2 * weights[a] * weights[b] * h[occ] / r)
    return out / (hist.n_atoms * mean_f**2)


def g_from_f(q_inv_angstrom: np.ndarray, f_q: np.ndarray, r_angstrom: np.ndarray,
             window: str = "none") -> np.ndarray:
    """G(r) = (2/π) ∫ F(Q) sin(Qr) dQ over the given Q range (trapezoid rule)."""
    q = np.asarray(q_inv_angstrom, float)
    f = np.asarray(f_q, float)
    if window == "lorch":  # damps termination ripples at the cost of resolution
        x = np.pi * q / q.max()
        f = f * np.where(x > 0, np.sin(x) / np.where(x > 0, x, 1), 1.0)
    elif window != "none":
        raise NclatticeError(f"window must be 'none' or 'lorch', not '{window}'.")
    return 2 / np.pi * np.trapezoid(f[None, :] * np.sin(np.outer(r_angstrom, q)), q, axis=1)


def peak_near(r: np.ndarray, g: np.ndarray, lo: float, hi: float) -> float:
    """Position of the maximum of g within [lo, hi] (Å)."""
    sel = (r >= lo) & (r <= hi)
    if not sel.any():
        raise NclatticeError(f"no r values between {lo} and {hi} Å.")
    return float(r[sel][np.argmax(g[sel])])


def broadening_signature(r: np.ndarray, delta_g: np.ndarray, r_peak: float,
                         half_width_angstrom: float = 0.35) -> dict:
    """Thermal broadening at a peak: ΔG dips at the centre and rises on both flanks.

    Returns the centre value and the largest value on each flank within ``half_width``.
    """
    centre = float(np.interp(r_peak, r, delta_g))
    left = (r >= r_peak - half_width_angstrom) & (r < r_peak)
    right = (r > r_peak) & (r <= r_peak + half_width_angstrom)
    rise_left, rise_right = float(delta_g[left].max()), float(delta_g[right].max())
    return {"r_peak_angstrom": r_peak, "delta_g_centre": centre, "delta_g_left_max": rise_left,
            "delta_g_right_max": rise_right,
            "broadening": bool(centre < 0 < rise_left and rise_right > 0)}


# wurtzite CdSe/CdS pair-correlation peaks named in Guzelturk et al., Nat. Commun. 2021 (search windows, Å)
WURTZITE_PEAKS = {"first_neighbour": (2.35, 2.8), "a_axis": (3.9, 4.5), "c_axis": (6.8, 7.6)}
