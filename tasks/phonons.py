"""Phonons of a free nanocrystal: minimisation, Hessian, modes, DOS, and lifetimes.

Hessian. Central finite differences of LAMMPS forces, H_{ia,jb} = -[F_jb(x + h e_ia) -
F_jb(x - h e_ia)] / 2h, done directly in one LAMMPS session: a free crystal has no symmetry
for phonopy's displacement machinery to exploit, and no periodic supercell is needed. H is
symmetrised and mass-weighted, D = H / sqrt(m_i m_j), and diagonalised densely (numpy eigh;
3N x 3N doubles: 72 MB and ~10 s at N = 1000, 1.9 GB at N = 5000). Frequencies
f = sqrt(λ)/2π in THz (1 eV Å⁻² amu⁻¹ = (15.633 THz · 2π)²); λ < 0 gives a negative f, flagged
as imaginary. The rigid-body modes (3 translations and 3 rotations of a free crystal; 3 + the
spin about the axis of a chain periodic along one axis; 3 for a sheet) are the eigenvectors
with the largest overlap with the mass-weighted rigid-body subspace; they are reported, not
dropped.

Lifetimes (linear response, generalized Langevin equation). In an NVE trajectory at T, the
mass-weighted velocities are projected on every mode, q̇_k(t) = Σ_i sqrt(m_i) e_ik · v_i(t),
after superposing each frame on the minimised structure. Each mode obeys
q̈ = -ω² q - ∫ K(t - s) q̇(s) ds + R(t), so its normalised velocity autocorrelation C_k(t)
has the Laplace transform C̃(s) = 1 / (s + K̃(s) + ω²/s). Evaluated at s = iω_k, where the
first and last terms cancel, the friction at the mode's own frequency is

    γ_k = Re K̃(iω_k) = Re [1 / C̃(iω_k)],    τ_k = 1 / γ_k   (energy lifetime),

with C̃ computed by numerical Laplace transform (trapezoid rule) of C_k over the correlation
window, and ω_k² = ⟨q̇_k²⟩/⟨δq_k²⟩ the mode's frequency at T (equipartition). Assumptions:
classical dynamics, modes weakly coupled (each sees the rest as a bath), the correlation
window longer than the lifetime (otherwise the result is flagged unresolved). Cross-check:
a damped-oscillator fit C(t) = e^{-Γt/2}[cos ω₁t - (Γ/2ω₁) sin ω₁t], τ = 1/Γ.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from ase import Atoms
from scipy.optimize import curve_fit

from ..errors import NclatticeError
from ..potentials import PotentialSet
from ..structio import lammps_ready, species_order, write_structure
from .alignment import kabsch
from .lammps_launch import WorkerTimeout, failure_cause, run_worker
from .md import system_commands

THZ_PER_SQRT_EV_A2_AMU = 15.6333  # sqrt(eV / (Å² amu)) / 2π in THz


# ---------------------------------------------------------------- isolated worker: minimise + Hessian


@dataclass
class StaticResult:
    positions_angstrom: np.ndarray  # minimised, in the input's frame
    hessian_ev_a2: np.ndarray | sp.csr_matrix | None  # symmetrised, (3N, 3N); None when not asked for
    minimization: dict
    timings_s: dict
    worker_max_rss_mb: float
    lammps_version: str
    energy_ev: float = float("nan")  # at the returned positions
    forces_ev_per_angstrom: np.ndarray | None = None  # (N, 3) at the returned positions
    cell_angstrom: np.ndarray | None = None  # rows; the relaxed box of a periodic structure


def dense_hessian_fits(n_atoms: int, memory_bytes: float | None = None) -> bool:
    """Whether dense diagonalisation fits: the Hessian, the dynamical matrix and the eigenvectors
    (3 x (3N)² doubles) within ``memory_bytes`` (default: a quarter of the physical memory,
    at most 6 GB)."""
    if memory_bytes is None:
        try:
            physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            physical = 8e9
        memory_bytes = min(physical / 4, 6e9)
    return 3 * (3 * n_atoms) ** 2 * 8 <= memory_bytes


def minimize_and_hessian(atoms: Atoms, potential: PotentialSet, fmax_ev_per_angstrom: float = 1e-5,
                         step_angstrom: float = 0.005, sparse: bool = False, minimize: bool = True,
                         workdir: str | Path | None = None, timeout_s: float | None = None,
                         sparse_tolerance: float = 1e-9) -> StaticResult:
    """CG minimisation and the central-difference Hessian in the isolated LAMMPS worker
    (``tasks/lammps_static_worker.py``): a LAMMPS crash fails this call with its cause, not
    the caller. ``sparse`` keeps each row's entries above ``sparse_tolerance`` x max|H| (CSR)."""
    return static_lammps(atoms, potential, fmax_ev_per_angstrom, minimize=minimize, hessian=True,
                         step_angstrom=step_angstrom, sparse=sparse, sparse_tolerance=sparse_tolerance,
                         workdir=workdir, timeout_s=timeout_s)


def static_lammps(atoms: Atoms, potential: PotentialSet, fmax_ev_per_angstrom: float = 1e-5, *,
                  minimize: bool = True, relax_box: str | None = None, hessian: bool = False,
                  step_angstrom: float = 0.005, sparse: bool = False, sparse_tolerance: float = 1e-9,
                  evaluations: int = 0, workdir: str | Path | None = None,
                  timeout_s: float | None = None) -> StaticResult:
    """Static LAMMPS work in the isolated worker: CG minimisation (``relax_box`` "iso" or "aniso":
    the periodic box too, at zero pressure), energy and forces at the result, optionally the
    central-difference Hessian and the time of ``evaluations`` force calls (``timings_s``
    'per_evaluation'). A LAMMPS crash fails this call with its cause, not the caller."""
    potential.check_covers(atoms.get_chemical_symbols())
    order = species_order(atoms)
    pbc = tuple(bool(x) for x in atoms.pbc)  # chains/sheets: periodic axes stay periodic
    if relax_box and not all(pbc):
        raise NclatticeError("relaxing the box needs a structure periodic along x, y and z.")
    cell = atoms.cell.array
    if any(pbc) and np.abs(cell - np.diag(np.diagonal(cell))).max() > 1e-9:
        raise NclatticeError("static LAMMPS runs take orthogonal cells only; build the crystal with "
                             "cubic=True or orthorhombic=True (ase.build.bulk).")
    boxed = atoms if all(pbc) else lammps_ready(atoms)  # what write_structure writes, as in MD
    shift = boxed.positions[0] - atoms.positions[0]
    masses = dict(zip(atoms.get_chemical_symbols(), atoms.get_masses(), strict=True))
    with tempfile.TemporaryDirectory(prefix="nclattice-static-") as tmp:
        work = Path(workdir if workdir is not None else tmp).resolve()
        work.mkdir(parents=True, exist_ok=True)
        for stale in ("failure.txt", "hessian.npy", "hessian.npz", "static.json"):
            (work / stale).unlink(missing_ok=True)
        data = work / "structure.data"
        write_structure(boxed, data)
        spec = {"commands": system_commands(order, {k: float(v) for k, v in masses.items()}, potential, str(data),
                                            pbc, free_boundary="m"),
                "minimize": minimize, "relax_box": relax_box, "fmax_ev_per_angstrom": fmax_ev_per_angstrom,
                "max_iterations": 20000, "hessian": hessian, "step_angstrom": step_angstrom, "sparse": sparse,
                "sparse_tolerance": sparse_tolerance, "evaluations": evaluations, "atoms": None,
                "log": str(work / "log.lammps")}
        (work / "spec.json").write_text(json.dumps(spec, indent=1))
        what = "minimisation + Hessian" if hessian else "static LAMMPS run"
        try:  # one worker slot, its own process group (killed with the caller), as the MD workers
            rc, output = run_worker("lammps_static_worker", work / "spec.json", timeout_s=timeout_s)
        except WorkerTimeout:
            raise NclatticeError(f"{what} did not finish within {timeout_s} s.") from None
        if rc != 0 or not (work / "static.json").exists():
            cause = failure_cause(work, output, rc)
            raise NclatticeError(f"{what} failed: {cause}")
        info = json.loads((work / "static.json").read_text())
        positions = np.load(work / "minimized.npy") - shift
        forces = np.load(work / "forces.npy")
        h = None
        if hessian and sparse:
            with np.load(work / "hessian.npz") as d:
                h = sp.csr_matrix((d["data"], d["indices"], d["indptr"]), shape=tuple(d["shape"]))
            h = ((h + h.T) * 0.5).tocsr()
        elif hessian:
            h = np.load(work / "hessian.npy")
            h = 0.5 * (h + h.T)
    cell = None
    if all(pbc):  # the box as LAMMPS left it, positions from its origin
        cell = np.array(info["cell_angstrom"])
        positions = positions - np.array(info["box_origin_angstrom"])
    return StaticResult(positions, h, info["minimization"], info["timings_s"], info["max_rss_mb"],
                        info["lammps_version"], info["energy_ev"], forces, cell)


def rigid_axes(pbc: tuple[bool, bool, bool] | None) -> list[int]:
    """Axes a crystal can rotate about at no energy cost: all three when free, the chain axis of
    a crystal periodic along one axis (spin), none for sheets and bulk (a rotation would turn
    the periodic cell)."""
    periodic = [i for i, p in enumerate(pbc or (False,) * 3) if p]
    return [0, 1, 2] if not periodic else periodic if len(periodic) == 1 else []


def rigid_body_basis(positions: np.ndarray, masses: np.ndarray,
                     pbc: tuple[bool, bool, bool] | None = None) -> np.ndarray:
    """Orthonormal mass-weighted translation and rotation vectors, shape (3N, 3 + rotations):
    6 for a free crystal, 4 for a chain, 3 for a sheet or bulk (see ``rigid_axes``)."""
    sq = np.sqrt(masses)
    centred = positions - np.average(positions, axis=0, weights=masses)
    vecs = []
    for axis in np.eye(3):
        vecs.append((sq[:, None] * axis[None, :]).ravel())
    for axis in np.eye(3)[rigid_axes(pbc)]:  # a rotation about a periodic axis ignores that coordinate
        vecs.append((sq[:, None] * np.cross(axis, centred)).ravel())
    q, _ = np.linalg.qr(np.array(vecs).T)
    return q


@dataclass
class Modes:
    frequencies_thz: np.ndarray  # (3N,), ascending; negative = imaginary
    eigenvectors: np.ndarray  # (3N, 3N) mass-weighted, columns
    rigid_body_modes: np.ndarray  # indices of the 6 rigid-body modes
    rigid_body_overlap: np.ndarray

    @property
    def imaginary_modes(self) -> np.ndarray:
        vib = np.setdiff1d(np.arange(len(self.frequencies_thz)), self.rigid_body_modes)
        return vib[self.frequencies_thz[vib] < 0]


def normal_modes(hessian_ev_a2: np.ndarray, masses: np.ndarray, positions: np.ndarray,
                 free: bool = True, pbc: tuple[bool, bool, bool] | None = None) -> Modes:
    """Modes of the mass-weighted Hessian; the rigid-body ones are those overlapping most with
    ``rigid_body_basis`` (6 free, 4 for a chain, 3 for a sheet: ``pbc``); ``free=False``
    takes the 3 lowest |f| (translations of a periodic cell)."""
    m3 = np.repeat(masses, 3)
    dyn = hessian_ev_a2 / np.sqrt(np.outer(m3, m3))
    lam, vec = np.linalg.eigh(dyn)
    freq = np.sign(lam) * np.sqrt(np.abs(lam)) * THZ_PER_SQRT_EV_A2_AMU
    if free:
        basis = rigid_body_basis(positions, masses, pbc)
        overlap = np.sum((basis.T @ vec) ** 2, axis=0)
        rigid = np.sort(np.argsort(overlap)[-basis.shape[1]:])
    else:
        overlap, rigid = np.zeros(len(freq)), np.sort(np.argsort(np.abs(freq))[:3])
    return Modes(freq, vec, rigid, overlap)


def normal_modes_sparse(hessian_ev_a2: sp.spmatrix, masses: np.ndarray, positions: np.ndarray,
                        n_modes: int = 300, sigma: float = -1e-3,
                        pbc: tuple[bool, bool, bool] | None = None) -> Modes:
    """The ``n_modes`` lowest modes of a sparse Hessian: Lanczos (scipy eigsh) in shift-invert
    mode about ``sigma`` (eV Å⁻² amu⁻¹; slightly negative, so D − σ is positive definite and the
    six rigid-body modes near zero are found with the rest). Eigenvectors are (3N, n_modes)."""
    from scipy.sparse.linalg import eigsh

    m3 = np.repeat(masses, 3)
    scale = sp.diags(1 / np.sqrt(m3))
    dyn = (scale @ hessian_ev_a2 @ scale).tocsc()
    k = min(n_modes, dyn.shape[0] - 2)
    lam, vec = eigsh(dyn, k=k, sigma=sigma, which="LM")
    order = np.argsort(lam)
    lam, vec = lam[order], vec[:, order]
    freq = np.sign(lam) * np.sqrt(np.abs(lam)) * THZ_PER_SQRT_EV_A2_AMU
    basis = rigid_body_basis(positions, masses, pbc)
    overlap = np.sum((basis.T @ vec) ** 2, axis=0)
    return Modes(freq, vec, np.sort(np.argsort(overlap)[-basis.shape[1]:]), overlap)


def density_of_states(frequencies_thz: np.ndarray, weights: np.ndarray | None = None,
                      sigma_thz: float = 0.1, grid_thz: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-broadened DOS, normalised to the (weighted) number of modes per THz."""
    f = np.asarray(frequencies_thz, float)
    w = np.ones_like(f) if weights is None else np.asarray(weights, float)
    grid = np.linspace(0, max(f.max() * 1.1, 1.0), 600) if grid_thz is None else grid_thz
    g = np.exp(-0.5 * ((grid[:, None] - f[None, :]) / sigma_thz) ** 2) @ w
    return grid, g / (sigma_thz * np.sqrt(2 * np.pi))


def projection_weights(eigenvectors: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fraction of each mode's (mass-weighted) amplitude on the selected atoms."""
    e2 = eigenvectors.reshape(-1, 3, eigenvectors.shape[1]) ** 2
    return e2[mask].sum(axis=(0, 1))


def mode_velocities(velocities: np.ndarray, positions: np.ndarray, reference: np.ndarray,
                    masses: np.ndarray, eigenvectors: np.ndarray, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Mode velocities q̇_k(t) and displacements q_k(t), frames in blocks (bounded memory)."""
    w = masses / masses.sum()
    ref_c = reference - np.average(reference, axis=0, weights=masses)
    sq = np.sqrt(masses)[None, :, None]
    n_frames = len(velocities)
    qdot = np.empty((n_frames, eigenvectors.shape[1]))
    q = np.empty_like(qdot)
    for start in range(0, n_frames, block):
        stop = min(start + block, n_frames)
        vb, xb = [], []
        for k in range(start, stop):
            com = np.average(positions[k], axis=0, weights=masses)
            rot = kabsch(positions[k] - com, ref_c, w)
            xb.append((positions[k] - com) @ rot.T - ref_c)
            vcom = np.average(velocities[k], axis=0, weights=masses)
            vb.append((velocities[k] - vcom) @ rot.T)
        qdot[start:stop] = (np.array(vb) * sq).reshape(stop - start, -1) @ eigenvectors
        q[start:stop] = (np.array(xb) * sq).reshape(stop - start, -1) @ eigenvectors
    return qdot, q


def autocorrelation(x: np.ndarray, n_lags: int) -> np.ndarray:
    """Normalised autocorrelation of each column (FFT, unbiased), lags 0..n_lags-1."""
    n = x.shape[0]
    x = x - x.mean(0)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(x, size, axis=0)
    acf = np.fft.irfft(spec * np.conj(spec), size, axis=0)[:n_lags]
    acf /= (n - np.arange(n_lags))[:, None]
    return acf / acf[0]


def gle_lifetime(c: np.ndarray, dt_ps: float, omega_rad_per_ps: float) -> float:
    """τ = 1/Re K̃(iω) from the numerical Laplace transform of a normalised VACF (ps)."""
    t = np.arange(len(c)) * dt_ps
    c_tilde = np.trapezoid(c * np.exp(-1j * omega_rad_per_ps * t), t)
    gamma = (1 / c_tilde).real
    return float(1 / gamma) if gamma > 0 else float("inf")


def damped_oscillator(t, gamma, omega1):
    return np.exp(-gamma * t / 2) * (np.cos(omega1 * t) - gamma / (2 * omega1) * np.sin(omega1 * t))


def fit_lifetime(c: np.ndarray, dt_ps: float, omega_rad_per_ps: float) -> float:
    """Cross-check: damped-oscillator fit of the VACF; returns τ = 1/Γ (ps) or NaN."""
    t = np.arange(len(c)) * dt_ps
    try:
        (gamma, _), _ = curve_fit(damped_oscillator, t, c, p0=(1.0, omega_rad_per_ps),
                                  bounds=([1e-6, 0.5 * omega_rad_per_ps], [1e3, 2 * omega_rad_per_ps]))
    except (RuntimeError, ValueError):
        return float("nan")
    return float(1 / gamma)


def lifetimes(qdot: np.ndarray, q: np.ndarray, dt_ps: float, modes: Modes,
              window_ps: float | None = None) -> dict[str, np.ndarray]:
    """Per-mode GLE lifetimes, fit cross-check, effective frequencies; NaN for rigid-body modes."""
    n_frames, n_modes = qdot.shape
    n_lags = n_frames // 2 if window_ps is None else min(n_frames // 2, int(window_ps / dt_ps))
    if n_lags < 10:
        raise NclatticeError("the trajectory is too short for mode autocorrelations; run a longer production.")
    acf = autocorrelation(qdot, n_lags)
    omega_eff = np.sqrt(np.var(qdot, axis=0) / np.maximum(np.var(q, axis=0), 1e-30))
    tau_gle = np.full(n_modes, np.nan)
    tau_fit = np.full(n_modes, np.nan)
    window = n_lags * dt_ps
    for k in range(n_modes):
        if k in modes.rigid_body_modes or modes.frequencies_thz[k] <= 0:
            continue
        tau_gle[k] = gle_lifetime(acf[:, k], dt_ps, omega_eff[k])
        tau_fit[k] = fit_lifetime(acf[:, k], dt_ps, omega_eff[k])
    resolved = np.isfinite(tau_gle) & (tau_gle < window / 3)
    return {"lifetimes_ps": tau_gle, "lifetimes_fit_ps": tau_fit, "resolved": resolved,
            "frequencies_md_thz": omega_eff / (2 * np.pi), "window_ps": window}


def lifetime_summary(frequencies_thz: np.ndarray, lifetimes_ps: np.ndarray, resolved: np.ndarray,
                     window_ps: float) -> dict:
    """Median lifetime, fraction below 1 ps, and the trend with frequency (median per band)."""
    ok = np.isfinite(lifetimes_ps)
    f, tau = frequencies_thz[ok], lifetimes_ps[ok]
    bands = [(0.0, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 16.0)]
    trend = []
    for lo, hi in bands:
        sel = (f >= lo) & (f < hi)
        if sel.any():
            trend.append({"band_thz": [lo, hi], "modes": int(sel.sum()),
                          "median_lifetime_ps": float(np.median(tau[sel])),
                          "resolved_fraction": float(np.mean(resolved[ok][sel]))})
    return {"median_lifetime_ps": float(np.median(tau)) if len(tau) else None,
            "fraction_below_1ps": float(np.mean(tau < 1.0)) if len(tau) else None,
            "resolved_fraction": float(np.mean(resolved[ok])) if len(tau) else None,
            "window_ps": window_ps, "trend": trend,
            "note": "unresolved lifetimes (longer than a third of the correlation window) are lower bounds"}


def harmonic_msd(modes: Modes, masses_amu: np.ndarray, temperature_k: float) -> np.ndarray:
    """Classical harmonic ⟨u_i²⟩ per atom (3D, Å²) from the modes of a minimised crystal.

    ⟨u_i²⟩ = k_B T Σ_k |e_ik|² / (m_i ω_k²) over the vibrational modes (the six rigid-body
    modes of a free crystal are left out: MD removes them by alignment). The high-temperature
    limit that equilibrium MD at low T must reproduce while every atom stays in its basin.
    Imaginary modes have no harmonic amplitude: the prediction is refused while any exist.
    """
    if len(modes.imaginary_modes):
        raise NclatticeError(f"{len(modes.imaginary_modes)} imaginary modes: the crystal is not at a minimum, "
                             "so it has no harmonic ⟨u²⟩; minimise it first.")
    vib = np.setdiff1d(np.arange(len(modes.frequencies_thz)), modes.rigid_body_modes)
    omega2 = (modes.frequencies_thz[vib] / THZ_PER_SQRT_EV_A2_AMU) ** 2  # eV / (Å² amu)
    kt_ev = 8.617333262e-5 * temperature_k
    e2 = modes.eigenvectors[:, vib] ** 2 / omega2[None, :]
    per_atom = e2.sum(axis=1).reshape(-1, 3).sum(axis=1)
    return kt_ev * per_atom / np.asarray(masses_amu, float)
