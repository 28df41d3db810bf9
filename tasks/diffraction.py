"""Kinematic diffraction of nanocrystals: 3D intensity, powder (Debye), S(Q), F(Q), G(r),
differences, peak shifts and incoherent ensembles.

Conventions. ``Q = 4π sinθ/λ`` in Å⁻¹ everywhere; the amplitude is
``A(q) = Σ_j f_j(|q|) exp(+i q·r_j)`` and the intensity ``I = |A|²`` (electrons² for X-rays,
Å² for electrons). Because f depends only on the species and |q|, the amplitude is computed
as ``A = Σ_s f_s(|q|) S_s(q)`` with per-species structure sums ``S_s = Σ_{j∈s} exp(i q·r_j)``,
which a non-uniform FFT evaluates for all species in one call (finufft, ``n_trans``):

- type 1 on a uniform grid ``q = c + Δq·m`` (m integer): with ``x_j = Δq·r_j mod 2π`` and
  strengths ``exp(i c·r_j)`` the sum is exact for any Δq (the modes are integers, so the
  2π-periodicity of x costs nothing);
- type 3 at arbitrary points (slices at any angle, spherical shells).

A direct sum evaluates the same structure sums in chunks; tests use it as the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NclatticeError
from .scattering import Probe

# ---------------------------------------------------------------- species bookkeeping


def species_index(symbols: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Sorted distinct species and each atom's index into that list."""
    species, idx = np.unique(np.asarray(symbols), return_inverse=True)
    return [str(s) for s in species], idx.astype(np.int64)


def _strengths(idx: np.ndarray, n_species: int, phase: np.ndarray | None = None) -> np.ndarray:
    """(n_species, N) complex one-hot masks (times a phase): one NUFFT transform per species."""
    c = np.zeros((n_species, idx.size), complex)
    c[idx, np.arange(idx.size)] = 1.0 if phase is None else phase
    return c


# ---------------------------------------------------------------- reciprocal-space boxes


@dataclass(frozen=True)
class QBox:
    """A uniform reciprocal-space grid: ``points`` per axis (1 along ``flat_axis`` for a slice),
    spacing ``2·half_width/(points−1)``, centred on ``center_inv_angstrom`` (Cartesian axes)."""

    center_inv_angstrom: tuple[float, float, float]
    half_width_inv_angstrom: float
    points: int
    flat_axis: int | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if self.points < 3 or self.points % 2 == 0:
            raise NclatticeError(f"a q box needs an odd number of points per axis (>= 3), got {self.points}.")
        if not self.half_width_inv_angstrom > 0:
            raise NclatticeError("the q-box half width must be a positive number of Å⁻¹.")

    @property
    def step_inv_angstrom(self) -> float:
        return 2 * self.half_width_inv_angstrom / (self.points - 1)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(1 if ax == self.flat_axis else self.points for ax in range(3))  # type: ignore[return-value]

    def modes(self, axis: int) -> np.ndarray:
        n = self.shape[axis]
        return np.arange(n) - n // 2

    def axes(self) -> list[np.ndarray]:
        """q values (Å⁻¹) along x, y, z."""
        return [self.center_inv_angstrom[a] + self.step_inv_angstrom * self.modes(a) for a in range(3)]

    def vectors(self) -> np.ndarray:
        """(*shape, 3) q vectors."""
        return np.stack(np.meshgrid(*self.axes(), indexing="ij"), axis=-1)

    def describe(self) -> dict:
        return {"shape": "cube" if self.flat_axis is None else "slice", "label": self.label,
                "center_inv_angstrom": list(self.center_inv_angstrom),
                "half_width_inv_angstrom": self.half_width_inv_angstrom,
                "points_per_axis": self.points, "step_inv_angstrom": self.step_inv_angstrom,
                "flat_axis": self.flat_axis, "axes": "Cartesian x, y, z (cubic <100> for CsPbBr3)"}


def parse_hkl(text: str) -> tuple[int, int, int]:
    """'200' or '-1,1,0' → (h, k, l)."""
    t = text.strip()
    parts = t.split(",") if "," in t else list(t)
    try:
        hkl = tuple(int(p) for p in parts)
    except ValueError:
        hkl = ()
    if len(hkl) != 3:
        raise NclatticeError(f"cannot read Miller indices from '{text}'; write e.g. 200 or -1,1,0.")
    return hkl  # type: ignore[return-value]


def reciprocal_vector(hkl: Sequence[int], cell_angstrom: np.ndarray | float) -> np.ndarray:
    """G = 2π (h b1 + k b2 + l b3) for a cell given as a 3x3 row matrix or a cubic constant."""
    cell = np.eye(3) * cell_angstrom if np.ndim(cell_angstrom) == 0 else np.asarray(cell_angstrom, float)
    recip = 2 * np.pi * np.linalg.inv(cell).T
    return np.asarray(hkl, float) @ recip


def crystal_cell(info: Mapping[str, Any], lattice_constant_angstrom: float | None = None) -> np.ndarray:
    """The conventional cell (rows, Å) in the structure's own frame, from its recipe in ``info``.

    Hexagonal (wurtzite) crystals get a and c, everything else a cubic cell.
    ``lattice_constant_angstrom`` overrides a (a hexagonal cell keeps its c/a).
    """
    from ..structures.lattice import hexagonal_cell

    a_recorded = info.get("a_angstrom")
    a = lattice_constant_angstrom or a_recorded
    if a is None:
        raise NclatticeError("boxes around hkl need --lattice-constant (the structure does not record one).")
    if info.get("lattice") in ("wurtzite", "hexagonal"):
        if info.get("c_angstrom") is None or a_recorded is None:
            raise NclatticeError("this hexagonal structure does not record a and c; rebuild it with nclattice build.")
        return hexagonal_cell(float(a), float(info["c_angstrom"]) * float(a) / float(a_recorded))
    return float(a) * np.eye(3)


def box_around(hkl: Sequence[int], cell_angstrom: np.ndarray | float, half_width_inv_angstrom: float,
               points: int, flat_axis: int | None = None) -> QBox:
    """Box (or slice through the peak) centred on the reciprocal-lattice point of ``hkl``."""
    g = reciprocal_vector(hkl, cell_angstrom)
    return QBox(tuple(float(v) for v in g), half_width_inv_angstrom, points, flat_axis,
                label="".join(str(int(v)) for v in hkl))


# ---------------------------------------------------------------- structure sums


def structure_sums_direct(positions: np.ndarray, idx: np.ndarray, n_species: int,
                          q_vectors: np.ndarray, chunk_elements: int = 2_000_000) -> np.ndarray:
    """Reference path: S_s(q) = Σ_{j∈s} exp(i q·r_j) summed explicitly, (n_species, *q.shape[:-1])."""
    q = np.asarray(q_vectors, float).reshape(-1, 3)
    onehot = np.zeros((idx.size, n_species))
    onehot[np.arange(idx.size), idx] = 1.0
    out = np.empty((q.shape[0], n_species), complex)
    step = max(1, chunk_elements // max(idx.size, 1))
    for start in range(0, q.shape[0], step):
        phase = np.exp(1j * (q[start:start + step] @ positions.T))
        out[start:start + step] = phase @ onehot
    return out.T.reshape(n_species, *np.shape(q_vectors)[:-1])


def structure_sums_grid(positions: np.ndarray, idx: np.ndarray, n_species: int, box: QBox,
                        method: str = "nufft", eps: float = 1e-9) -> np.ndarray:
    """Per-species structure sums on a uniform box, (n_species, *box.shape)."""
    if method == "direct":
        return structure_sums_direct(positions, idx, n_species, box.vectors())
    if method != "nufft":
        raise NclatticeError(f"method must be 'nufft' or 'direct', not '{method}'.")
    import finufft

    center = np.asarray(box.center_inv_angstrom, float)
    x = np.mod(box.step_inv_angstrom * positions + np.pi, 2 * np.pi) - np.pi
    c = _strengths(idx, n_species, np.exp(1j * positions @ center))
    xs = [np.ascontiguousarray(x[:, a]) for a in range(3)]
    sums = finufft.nufft3d1(*xs, c, box.shape, eps=eps, isign=1, nthreads=1)
    return sums.reshape(n_species, *box.shape)


def structure_sums_points(positions: np.ndarray, idx: np.ndarray, n_species: int, q_vectors: np.ndarray,
                          method: str = "nufft", eps: float = 1e-9) -> np.ndarray:
    """Per-species structure sums at arbitrary q (type-3 NUFFT), (n_species, *q.shape[:-1])."""
    if method == "direct":
        return structure_sums_direct(positions, idx, n_species, q_vectors)
    if method != "nufft":
        raise NclatticeError(f"method must be 'nufft' or 'direct', not '{method}'.")
    import finufft

    q = np.asarray(q_vectors, float).reshape(-1, 3)
    xs = [np.ascontiguousarray(positions[:, a]) for a in range(3)]
    qs = [np.ascontiguousarray(q[:, a]) for a in range(3)]
    sums = finufft.nufft3d3(*xs, _strengths(idx, n_species), *qs, eps=eps, isign=1, nthreads=1)
    return sums.reshape(n_species, *np.shape(q_vectors)[:-1])


def intensity_from_sums(sums: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """I = |Σ_s f_s S_s|² for sums and factors of the same shape (n_species, ...)."""
    return np.abs((factors * sums).sum(0)) ** 2


def kinematic_intensity(positions: np.ndarray, symbols: Sequence[str], probe: Probe,
                        box: QBox | None = None, q_vectors: np.ndarray | None = None,
                        method: str = "nufft", eps: float = 1e-9) -> np.ndarray:
    """Kinematic intensity of one crystal on a box (type 1) or at given q vectors (type 3)."""
    species, idx = species_index(symbols)
    pos = np.asarray(positions, float)
    if (box is None) == (q_vectors is None):
        raise NclatticeError("give either a q box or q vectors for the 3D intensity, not both.")
    if box is not None:
        sums = structure_sums_grid(pos, idx, len(species), box, method, eps)
        qmag = np.linalg.norm(box.vectors(), axis=-1)
    else:
        sums = structure_sums_points(pos, idx, len(species), q_vectors, method, eps)
        qmag = np.linalg.norm(q_vectors, axis=-1)
    return intensity_from_sums(sums, probe.factors(species, qmag))


# ---------------------------------------------------------------- orientational average, line scans


def sphere_quadrature(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre (cos θ) × uniform (φ) rule exact for spherical harmonics up to ``degree``;
    unit vectors (n, 3) and weights summing to 1."""
    n_theta = degree // 2 + 1
    n_phi = degree + 1
    x, w = np.polynomial.legendre.leggauss(n_theta)
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    sin_t = np.sqrt(1 - x**2)
    dirs = np.stack([np.outer(sin_t, np.cos(phi)), np.outer(sin_t, np.sin(phi)),
                     np.outer(x, np.ones(n_phi))], axis=-1).reshape(-1, 3)
    weights = np.repeat(w / 2, n_phi) / n_phi
    return dirs, weights


def orientational_average(positions: np.ndarray, symbols: Sequence[str], probe: Probe,
                          q_inv_angstrom: np.ndarray, method: str = "nufft", eps: float = 1e-12,
                          extra_degree: int = 24) -> np.ndarray:
    """Powder intensity as the average of the 3D intensity over directions of q.

    |A(q)|² on a sphere of radius Q is band-limited to degree ≈ 2·Q·r_max (Jacobi–Anger), so a
    product Gauss rule of that degree plus a margin integrates it to machine precision."""
    pos = np.asarray(positions, float) - np.mean(positions, axis=0)
    r_max = float(np.linalg.norm(pos, axis=1).max())
    out = []
    for q in np.atleast_1d(q_inv_angstrom):
        dirs, w = sphere_quadrature(int(np.ceil(2 * q * r_max)) + extra_degree)
        out.append(kinematic_intensity(pos, symbols, probe, q_vectors=q * dirs, method=method, eps=eps) @ w)
    return np.array(out)


def line_profile(positions: np.ndarray, symbols: Sequence[str], probe: Probe, direction: np.ndarray,
                 q_inv_angstrom: np.ndarray, method: str = "nufft") -> np.ndarray:
    """3D intensity along q = Q·n̂ (a radial line through a Bragg peak)."""
    n = np.asarray(direction, float) / np.linalg.norm(direction)
    q = np.outer(q_inv_angstrom, n)
    return kinematic_intensity(positions, symbols, probe, q_vectors=q, method=method)


def peak_maximum(q_inv_angstrom: np.ndarray, intensity: np.ndarray) -> float:
    """Position of the maximum, refined by a parabola through the three highest-adjacent points."""
    k = int(np.argmax(intensity))
    if k == 0 or k == len(intensity) - 1:
        raise NclatticeError("the intensity maximum lies at the edge of the scanned q range; widen it.")
    y0, y1, y2 = intensity[k - 1:k + 2]
    dq = q_inv_angstrom[k + 1] - q_inv_angstrom[k]
    return float(q_inv_angstrom[k] + 0.5 * dq * (y0 - y2) / (y0 - 2 * y1 + y2))


# ---------------------------------------------------------------- powder: Debye equation


@dataclass(frozen=True)
class PairHistogram:
    """Unordered pair distances per species pair (a ≤ b) binned at ``bin_width_angstrom``;
    ``mean_r`` is the mean distance inside each bin, which keeps the Debye sum second-order
    accurate in the bin width."""

    species: list[str]
    counts_per_species: np.ndarray  # (n_species,)
    pairs: list[tuple[int, int]]  # (a, b) with a <= b
    counts: list[np.ndarray]  # per pair: counts in occupied bins
    mean_r: list[np.ndarray]  # per pair: mean distance of those bins (Å)
    bin_width_angstrom: float


def pair_histogram(positions: np.ndarray, symbols: Sequence[str],
                   bin_width_angstrom: float = 0.005) -> PairHistogram:
    """All i < j distances binned per species pair, with the mean distance of each bin.

    O(N²) distances in a compiled loop (:mod:`.pairbins`, no distance matrices: memory is
    the histogram alone), atoms sorted by species so that each call bins one species pair."""
    from .pairbins import bin_pair_distances  # numba: imported (and compiled) on first use

    species, idx = species_index(symbols)
    order = np.argsort(idx, kind="stable")
    pos = np.asarray(positions, float)[order]
    bounds = np.searchsorted(idx[order], np.arange(len(species) + 1))
    extent = pos.max(0) - pos.min(0) if len(pos) else np.zeros(3)
    n_bins = int(np.linalg.norm(extent) / bin_width_angstrom) + 2
    pairs, counts, mean_r = [], [], []
    for a in range(len(species)):
        for b in range(a, len(species)):
            count, total = bin_pair_distances(pos[bounds[a]:bounds[a + 1]], pos[bounds[b]:bounds[b + 1]],
                                              a == b, bin_width_angstrom, n_bins)
            occ = np.nonzero(count)[0]
            pairs.append((a, b))
            counts.append(count[occ])
            mean_r.append(total[occ] / count[occ])
    return PairHistogram(species, np.bincount(idx, minlength=len(species)).astype(float), pairs, counts,
                         mean_r, float(bin_width_angstrom))


def _sinc(x: np.ndarray) -> np.ndarray:
    return np.sinc(x / np.pi)  # numpy's sinc is sin(πx)/(πx)


def debye_from_histogram(hist: PairHistogram, probe: Probe, q_inv_angstrom: np.ndarray,
                         chunk_elements: int = 4_000_000) -> np.ndarray:
    """Debye intensity I(Q) = Σ_a N_a|f_a|² + Σ_{a≤b} 2 Re(f_a f_b*) Σ_bins n(r) sin(Qr)/(Qr),
    with r the mean distance inside each bin (error second order in the bin width: below
    1e-6 of the maximum for 0.005 Å bins up to Q = 12 Å⁻¹, where bin centres give ~1e-3)."""
    q = np.atleast_1d(np.asarray(q_inv_angstrom, float))
    f = probe.factors(hist.species, q)  # (ns, nq)
    intensity = (hist.counts_per_species[:, None] * np.abs(f) ** 2).sum(0)
    for (a, b), n, r in zip(hist.pairs, hist.counts, hist.mean_r, strict=True):
        weight = 2 * np.real(f[a] * np.conj(f[b]))
        zero = r <= 0  # coincident atoms: sinc(0) = 1
        n_over_r = np.where(zero, 0.0, n / np.where(zero, 1.0, r))
        step = max(1, chunk_elements // max(r.size, 1))
        for s in range(0, q.size, step):
            qs = q[s:s + step]
            pair_sum = np.sin(np.outer(qs, r)) @ n_over_r / np.where(qs == 0, 1.0, qs)
            intensity[s:s + step] += weight[s:s + step] * (pair_sum + n[zero].sum())
    return intensity


POWDER_METHODS = ("auto", "histogram", "nufft", "direct")


def powder_cost_s(n_atoms: int, n_species: int, diameter_angstrom: float, q_inv_angstrom: np.ndarray,
                  margin: int = 12) -> dict[str, float]:
    """Predicted single-core seconds of the two fast powder routes (constants measured on one
    core: ~6 ns per pair distance binned by the compiled loop, ~4 µs per quadrature node and species in the
    type-3 NUFFT) and the NUFFT's fine-grid memory (bytes), for choosing between them."""
    qd = np.abs(np.atleast_1d(q_inv_angstrom)) * diameter_angstrom
    nodes = float(np.sum((qd + margin + 2) / 4 * (np.pi / 4 * qd + margin + 2)))
    grid = (1.25 * float(qd.max()) / np.pi + 20) ** 3  # finufft's type-3 grid per axis: 2σ·(D/2)·Qmax/π
    return {"histogram": 6e-9 * n_atoms * (n_atoms - 1) / 2, "nufft": 4e-6 * nodes * n_species,
            "nufft_grid_bytes": 16 * n_species * grid}


def choose_powder_method(n_atoms: int, n_species: int, diameter_angstrom: float, q_inv_angstrom: np.ndarray,
                         memory_bytes: float = 2e9) -> str:
    """'nufft' where it is predicted faster and its FFT grid fits in ``memory_bytes``, else 'histogram'."""
    cost = powder_cost_s(n_atoms, n_species, diameter_angstrom, q_inv_angstrom)
    if cost["nufft"] < cost["histogram"] and cost["nufft_grid_bytes"] <= memory_bytes:
        return "nufft"
    return "histogram"


def debye_intensity(positions: np.ndarray, symbols: Sequence[str], probe: Probe,
                    q_inv_angstrom: np.ndarray, method: str = "auto",
                    bin_width_angstrom: float = 0.005) -> np.ndarray:
    """Powder intensity of one crystal. ``method``: 'histogram' (exact Debye sum through the
    pair-distance histogram, O(N²)), 'nufft' (orientational average of the 3D intensity,
    :func:`debye_nufft`, no N² term at fixed Q·D), 'auto' (the cheaper of the two
    by :func:`choose_powder_method`), or 'direct' (the plain double sum, a reference). All agree
    to ≤ 1e-4 of the maximum over 0.5–12 Å⁻¹."""
    if method not in POWDER_METHODS:
        raise NclatticeError(f"powder method must be one of {', '.join(POWDER_METHODS)}, not '{method}'.")
    if method == "auto":
        pos = np.asarray(positions, float)
        diameter = 2 * float(np.linalg.norm(pos - 0.5 * (pos.max(0) + pos.min(0)), axis=1).max())
        method = choose_powder_method(len(pos), len(set(symbols)), diameter, q_inv_angstrom)
    if method == "histogram":
        return debye_from_histogram(pair_histogram(positions, symbols, bin_width_angstrom), probe,
                                    q_inv_angstrom)
    if method == "nufft":
        return debye_nufft(positions, symbols, probe, q_inv_angstrom)
    return debye_direct(positions, symbols, probe, q_inv_angstrom)


def debye_direct(positions: np.ndarray, symbols: Sequence[str], probe: Probe,
                 q_inv_angstrom: np.ndarray, rows: int = 64) -> np.ndarray:
    """Reference: Σ_ij f_i f_j* sin(Q r_ij)/(Q r_ij) as a plain (row-blocked) double loop."""
    from scipy.spatial.distance import cdist  # scipy.spatial: ~0.2 s of imports, for this reference only

    species, idx = species_index(symbols)
    pos = np.asarray(positions, float)
    q = np.atleast_1d(np.asarray(q_inv_angstrom, float))
    f = probe.factors(species, q)[idx]  # (N, nq)
    intensity = np.zeros(q.size)
    for start in range(0, len(pos), rows):
        r = cdist(pos[start:start + rows], pos)  # (B, N)
        kernel = _sinc(r[..., None] * q)  # (B, N, nq)
        intensity += np.real(np.einsum("iq,ijq,jq->q", f[start:start + rows], kernel, np.conj(f)))
    return intensity


# ---------------------------------------------------------------- powder: spherical quadrature of the NUFFT intensity


def shell_rule(q_times_d: float, margin: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Half of an inversion-symmetric product rule on the unit sphere that integrates |A(q)|²
    over a shell of radius Q exactly for a crystal whose pair distances are ≤ D (q_times_d = Q·D).

    On the shell, |A|² = Σ_ij f_i f_j* exp(iq·r_ij) has spherical-harmonic degree ≤ Q·D (the
    Bessel coefficients j_l(Q r_ij) of the Jacobi–Anger expansion die off beyond l ≈ Q r_ij),
    so Gauss–Legendre in cos θ with ⌈(L+1)/2⌉ nodes, L = ⌈Q·D⌉ + margin, is exact in θ. On the
    ring at polar angle θ the φ-degree is only Q·D·sin θ, so each ring gets an even number of
    uniform φ nodes ≥ Q·D·sin θ + margin + 1 (π/4 of the points of a plain product rule).
    Only the rings with cos θ > 0 are returned: their antipodes (−x, φ + π) complete the rule,
    and A(−q) follows from the structure sums at q by conjugation. Weights sum to 1/2."""
    degree = int(np.ceil(q_times_d)) + margin
    n_theta = 2 * ((degree + 2) // 4 + 1)  # even: no node at cos θ = 0, 2·n_theta − 1 ≥ degree
    from scipy.special import roots_legendre

    x, w = roots_legendre(n_theta)  # O(n) nodes (numpy's leggauss is O(n³))
    x, w = x[x > 0], w[x > 0]
    sin_t = np.sqrt(1 - x * x)
    n_phi = 2 * (np.ceil(q_times_d * sin_t).astype(np.int64) // 2 + margin // 2 + 1)
    ring = np.repeat(np.arange(len(x)), n_phi)
    phi = 2 * np.pi * (np.arange(len(ring)) - np.repeat(np.cumsum(n_phi) - n_phi, n_phi)) / n_phi[ring]
    dirs = np.stack([sin_t[ring] * np.cos(phi), sin_t[ring] * np.sin(phi), x[ring]], axis=1)
    return dirs, (w / 2 / n_phi)[ring]


def debye_nufft(positions: np.ndarray, symbols: Sequence[str], probe: Probe, q_inv_angstrom: np.ndarray,
                eps: float = 1e-6, margin: int = 12, max_targets: int = 2_000_000) -> np.ndarray:
    """Powder intensity as the exact orientational average of the 3D kinematic intensity:
    per-species structure sums at the nodes of :func:`shell_rule` on every |Q| shell, all
    shells of a batch in one type-3 NUFFT (finufft), I(Q) = Σ_nodes w [|A(q)|² + |A(−q)|²].

    Accuracy: the rule is exact for the band-limited |A|², so the error is the NUFFT's,
    ~eps relative to the maximum (tested ≤ 1e-4 of the maximum over 0.5–12 Å⁻¹ against the
    exact Debye sum). Cost: about (Q·D)² nodes per shell (D the crystal's largest extent) and a
    fine FFT grid of ~(1.25·Q·D/π)³ points per batch, each summed over N atoms once: it grows
    as N^(2/3) per shell rather than N² (for fixed Q grid) and wins over the pair histogram when
    N² exceeds about a thousand times the total node count (large crystals, moderate Q·D)."""
    import finufft

    species, idx = species_index(symbols)
    pos = np.asarray(positions, float)
    pos = pos - 0.5 * (pos.max(0) + pos.min(0))
    diameter = 2 * float(np.linalg.norm(pos, axis=1).max()) if len(pos) > 1 else 0.0
    q = np.atleast_1d(np.asarray(q_inv_angstrom, float))
    f = probe.factors(species, q)  # (ns, nq)
    strengths = _strengths(idx, len(species))
    xs = [np.ascontiguousarray(pos[:, a]) for a in range(3)]
    intensity = np.zeros(q.size)
    batch: list[tuple[int, np.ndarray, np.ndarray]] = []

    def flush() -> None:
        targets = np.concatenate([qk * dirs for k, dirs, _ in batch for qk in (q[k],)])
        # σ = 1.25 keeps the fine grid (~(σ·Q·D/π)³ points per species) 4x smaller than σ = 2
        grid = (2 * abs(q[batch[-1][0]]) * diameter / np.pi) ** 3
        sums = finufft.nufft3d3(*xs, strengths, *(np.ascontiguousarray(targets[:, a]) for a in range(3)),
                                eps=eps, isign=1, nthreads=1, upsampfac=1.25 if grid > 2e7 else 2.0)
        start = 0
        for k, dirs, w in batch:
            s = sums[:, start:start + len(dirs)]
            start += len(dirs)
            plus = np.abs(f[:, k] @ s) ** 2
            minus = np.abs(f[:, k] @ np.conj(s)) ** 2
            intensity[k] = w @ (plus + minus)
        batch.clear()

    size = 0
    for k in np.argsort(q):
        dirs, w = shell_rule(abs(q[k]) * diameter, margin)
        batch.append((int(k), dirs, w))
        size += len(dirs)
        if size >= max_targets:
            flush()
            size = 0
    if batch:
        flush()
    return intensity


# ---------------------------------------------------------------- S(Q), F(Q), G(r)


@dataclass(frozen=True)
class PowderPattern:
    """Powder observables of one structure or ensemble, Faber–Ziman normalisation."""

    q_inv_angstrom: np.ndarray
    intensity: np.ndarray
    structure_factor: np.ndarray  # S(Q)
    reduced_structure_factor: np.ndarray  # F(Q) = Q (S − 1), Å⁻¹
    r_angstrom: np.ndarray
    pdf: np.ndarray  # G(r), Å⁻²


def composition_averages(species: Sequence[str], counts: np.ndarray, probe: Probe,
                         q_inv_angstrom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """<|f|²> and |<f>|² over the composition at each Q."""
    c = np.asarray(counts, float) / np.sum(counts)
    f = probe.factors(list(species), q_inv_angstrom)
    return (c[:, None] * np.abs(f) ** 2).sum(0), np.abs((c[:, None] * f).sum(0)) ** 2


def structure_functions(q_inv_angstrom: np.ndarray, intensity: np.ndarray, n_atoms: float,
                        mean_f2: np.ndarray, f_mean2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """S(Q) = 1 + (I/N − <|f|²>)/|<f>|² and F(Q) = Q (S − 1)."""
    s = 1 + (np.asarray(intensity) / n_atoms - mean_f2) / f_mean2
    return s, np.asarray(q_inv_angstrom) * (s - 1)


def reduced_pdf(q_inv_angstrom: np.ndarray, f_of_q: np.ndarray, r_angstrom: np.ndarray,
                q_min: float | None = None, q_max: float | None = None, lorch: bool = False) -> np.ndarray:
    """G(r) = (2/π) ∫_{Qmin}^{Qmax} F(Q) sin(Qr) dQ (trapezoid), the experiment's Q window;
    the optional Lorch window trades resolution for weaker termination ripples."""
    q = np.asarray(q_inv_angstrom, float)
    keep = (q >= (q_min if q_min is not None else q[0])) & (q <= (q_max if q_max is not None else q[-1]))
    q, fq = q[keep], np.asarray(f_of_q)[keep]
    if lorch:
        fq = fq * _sinc(np.pi * q / q[-1])
    return 2 / np.pi * np.trapezoid(fq * np.sin(np.outer(r_angstrom, q)), q, axis=1)


def powder_pattern(q_inv_angstrom: np.ndarray, intensity: np.ndarray, species: Sequence[str],
                   counts: np.ndarray, probe: Probe, r_angstrom: np.ndarray,
                   q_min: float | None = None, q_max: float | None = None,
                   lorch: bool = False) -> PowderPattern:
    """S, F and G from a (possibly ensemble-averaged) Debye intensity; counts per species are
    per crystal (or ensemble means), as is the intensity."""
    mean_f2, f_mean2 = composition_averages(species, counts, probe, q_inv_angstrom)
    s, fq = structure_functions(q_inv_angstrom, intensity, float(np.sum(counts)), mean_f2, f_mean2)
    g = reduced_pdf(q_inv_angstrom, fq, r_angstrom, q_min, q_max, lorch)
    return PowderPattern(np.asarray(q_inv_angstrom, float), np.asarray(intensity, float), s, fq,
                         np.asarray(r_angstrom, float), g)


def powder_difference(pumped: PowderPattern, dark: PowderPattern) -> dict[str, np.ndarray]:
    """ΔI(Q), ΔS(Q), ΔF(Q) and ΔG(r) = pumped − dark on the same Q and r grids."""
    if not (np.array_equal(pumped.q_inv_angstrom, dark.q_inv_angstrom)
            and np.array_equal(pumped.r_angstrom, dark.r_angstrom)):
        raise NclatticeError("powder differences need both patterns on the same Q and r grids.")
    return {"q_inv_angstrom": dark.q_inv_angstrom, "delta_intensity": pumped.intensity - dark.intensity,
            "delta_structure_factor": pumped.structure_factor - dark.structure_factor,
            "delta_reduced_structure_factor": pumped.reduced_structure_factor - dark.reduced_structure_factor,
            "r_angstrom": dark.r_angstrom, "delta_pdf": pumped.pdf - dark.pdf}


# ---------------------------------------------------------------- peak shifts


def shift_warning(box: QBox, shift_inv_angstrom: float, integrated_change: float) -> str | None:
    """A sentence when a peak shift is no small shift: larger than its box half width, or the
    integrated intensity changed by more than half (the dark peak has left or lost its box).

    The estimate linearises ΔI around the dark peak; far outside that regime it is a number
    without meaning and must not be read as a shift.
    """
    half = box.half_width_inv_angstrom
    if abs(shift_inv_angstrom) <= half and abs(integrated_change) <= 0.5:
        return None
    return (f"({box.label}) the fitted shift {shift_inv_angstrom:+.3g} 1/Å with ΔI_int {integrated_change:+.0%} "
            f"is outside the small-shift regime (box half width {half:g} 1/Å): the displacement is too large "
            f"for a peak-shift estimate; do not read this value as a shift.")


def peak_shift(box: QBox, intensity_dark: np.ndarray, intensity_pumped: np.ndarray) -> dict:
    """Signed shift of a Bragg peak along q̂ = G/|G| (Å⁻¹, negative = inward, towards q = 0)
    and the relative change of the intensity integrated over ``box``.

    ``shift_inv_angstrom`` is the rigid translation δ of the dark peak along q̂ that best
    reproduces ΔI = I_pumped − I_dark in the box, ΔI ≈ −δ ∂I_dark/∂q_∥ (least squares):
    δ = −Σ ΔI ∂_∥I / Σ (∂_∥I)². For a uniform strain it equals the centroid shift; unlike the
    plain centroid of the box it does not depend on where the box edges cut the size fringes
    of a small crystal (measured: for a 4 nm CsPbBr3 crystal and a central hole the box
    centroid of (110) changes sign between half widths 0.15, 0.25 and 0.4 Å⁻¹, this does not).
    ``centroid_shift_inv_angstrom`` is that plain centroid difference,
    <(q−G)·q̂>_pumped − <(q−G)·q̂>_dark over the box, kept for comparison."""
    g = np.asarray(box.center_inv_angstrom, float)
    if not np.linalg.norm(g) > 0:
        raise NclatticeError("a peak shift needs a box centred away from q = 0.")
    if box.flat_axis is not None:
        raise NclatticeError("peak shifts need a 3D box around the peak, not a slice.")
    ghat = g / np.linalg.norm(g)
    along = (box.vectors() - g) @ ghat
    delta = intensity_pumped - intensity_dark
    gradients = np.gradient(intensity_dark, box.step_inv_angstrom)
    d_along = sum(gr * c for gr, c in zip(gradients, ghat, strict=True))
    dark_sum, pumped_sum = float(intensity_dark.sum()), float(intensity_pumped.sum())
    c_dark = float((intensity_dark * along).sum() / dark_sum)
    c_pumped = float((intensity_pumped * along).sum() / pumped_sum)
    shift, change = float(-(delta * d_along).sum() / (d_along**2).sum()), (pumped_sum - dark_sum) / dark_sum
    return {"shift_inv_angstrom": shift, "integrated_change": change,
            "warning": shift_warning(box, shift, change),
            "centroid_shift_inv_angstrom": c_pumped - c_dark,
            "integrated_dark": dark_sum, "integrated_pumped": pumped_sum,
            "peak_max_delta_relative": float(np.abs(delta).max() / intensity_dark.max()),
            "sign_convention": "negative = inward (towards q = 0)",
            "shift_definition": "least-squares translation of the dark peak along G/|G| fitting dI",
            "integration_box": box.describe()}


# ---------------------------------------------------------------- ensembles


@dataclass(frozen=True)
class GammaSizes:
    """Edge lengths L (nm) from a Gamma distribution truncated to [min, max]; ``mean_nm`` is the
    mean of the untruncated distribution (scale = mean/shape), as the XFEL paper states it."""

    shape: float = 2.0
    mean_nm: float = 5.4
    min_nm: float = 3.0
    max_nm: float = 15.0

    def __post_init__(self) -> None:
        if not (self.shape > 0 and self.mean_nm > 0 and 0 < self.min_nm < self.max_nm):
            raise NclatticeError("gamma sizes need shape > 0, mean > 0 and 0 < min < max (nm).")

    def _dist(self):
        from scipy.stats import gamma

        return gamma(self.shape, scale=self.mean_nm / self.shape)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Inverse-CDF draws restricted to the bounds (no rejection loop)."""
        d = self._dist()
        lo, hi = d.cdf(self.min_nm), d.cdf(self.max_nm)
        return np.asarray(d.ppf(lo + (hi - lo) * rng.random(n)), float)

    def truncated_mean_nm(self) -> float:
        from scipy.integrate import quad

        d = self._dist()
        norm = d.cdf(self.max_nm) - d.cdf(self.min_nm)
        return float(quad(lambda x: x * d.pdf(x), self.min_nm, self.max_nm)[0] / norm)


def occupation_weighted(i_dark: np.ndarray, i_one: np.ndarray, i_two: np.ndarray | None,
                        p1: float, p2: float) -> np.ndarray:
    """Pumped intensity (1 − P1 − P2) I_0 + P1 I_1 + P2 I_2 (Shen et al., XFEL exciton-polaron paper, supplement S2)."""
    if not (0 <= p1 <= 1 and 0 <= p2 <= 1 and p1 + p2 <= 1 + 1e-12):
        raise NclatticeError(f"occupations need 0 ≤ P1, P2 and P1 + P2 ≤ 1, got P1={p1}, P2={p2}.")
    pumped = (1 - p1 - p2) * i_dark + p1 * i_one
    if p2 > 0:
        if i_two is None:
            raise NclatticeError("P2 > 0 needs the intensity of the doubly excited crystal.")
        pumped = pumped + p2 * i_two
    return pumped


@dataclass
class EnsembleIntensity:
    """Incoherent sums over crystals on common boxes: dark and pumped per box, and the count."""

    boxes: list[QBox]
    dark: list[np.ndarray]
    pumped: list[np.ndarray]
    samples: int = 0

    @classmethod
    def empty(cls, boxes: Sequence[QBox]) -> EnsembleIntensity:
        return cls(list(boxes), [np.zeros(b.shape) for b in boxes], [np.zeros(b.shape) for b in boxes])

    def mean(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        n = max(self.samples, 1)
        return [d / n for d in self.dark], [p / n for p in self.pumped]

    def peak_shifts(self) -> dict[str, dict]:
        dark, pumped = self.mean()
        return {b.label: peak_shift(b, d, p) for b, d, p in zip(self.boxes, dark, pumped, strict=True)}


# one ensemble member: dark positions, symbols and pumped displacement (one excitation)
Member = tuple[np.ndarray, Sequence[str], np.ndarray]


def accumulate_member(ens: EnsembleIntensity, member: Member, probe: Probe, p1: float = 1.0,
                      p2: float = 0.0, eps: float = 1e-9) -> None:
    """Add one crystal's dark and occupation-weighted pumped intensity (two excitations =
    twice the displacement, the paper's assumption) to the ensemble sums."""
    positions, symbols, displacement = member
    species, idx = species_index(symbols)
    for k, box in enumerate(ens.boxes):
        f = probe.factors(species, np.linalg.norm(box.vectors(), axis=-1))

        def intensity(pos: np.ndarray, box: QBox = box, f: np.ndarray = f) -> np.ndarray:
            return intensity_from_sums(structure_sums_grid(pos, idx, len(species), box, "nufft", eps), f)

        dark = intensity(positions)
        one = intensity(positions + displacement)
        two = intensity(positions + 2 * displacement) if p2 > 0 else None
        ens.dark[k] += dark
        ens.pumped[k] += occupation_weighted(dark, one, two, p1, p2)
    ens.samples += 1


def ensemble_intensity(members: Iterable[Member], boxes: Sequence[QBox], probe: Probe,
                       p1: float = 1.0, p2: float = 0.0, eps: float = 1e-9,
                       progress: Callable[[int], None] | None = None) -> EnsembleIntensity:
    """Incoherent average over an iterable of members (dark positions, symbols, displacement)."""
    ens = EnsembleIntensity.empty(boxes)
    for member in members:
        accumulate_member(ens, member, probe, p1, p2, eps)
        if progress is not None:
            progress(ens.samples)
    return ens

