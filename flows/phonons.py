"""Phonons: anneal and minimise -> Hessian -> modes and DOS -> NVE MD -> mode lifetimes (plain composition,
no Prefect).

Minimisation and Hessian run in the isolated LAMMPS worker (tasks/phonons.minimize_and_hessian).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import cached
from ..errors import NclatticeError
from ..potentials import PotentialSet
from ..provenance import input_key, provenance, structure_fingerprint
from ..results import pyplot, read_json, save_arrays, save_figure
from ..tasks.phonons import (
    Modes,
    dense_hessian_fits,
    density_of_states,
    lifetime_summary,
    lifetimes,
    minimize_and_hessian,
    mode_velocities,
    normal_modes,
    normal_modes_sparse,
    projection_weights,
)
from .common import md_inputs
from .mdruns import cached_md, md_settings, minimised_start, site_drift_summary, write_minimised
from .outcomes import SCHEMA_VERSION, PhononOutcome
from .registry import Inputs
from .settings import PhononSettings


def cached_modes(atoms, potential: PotentialSet, fmax: float, step: float, results_root: str,
                 sparse_modes: int | None = None):
    """Minimise and diagonalise (dense eigh, or the ``sparse_modes`` lowest modes of a sparse
    Hessian), cached under <results>/modes/<key>/ (:func:`nclattice.cache.cached`: one computation
    per key under its lock, checksummed; a folder that does not load is recomputed). Minimisation
    and Hessian run in the isolated LAMMPS worker. Returns (modes, minimised positions,
    minimisation record, timings)."""
    key = input_key("modes", atoms, potential.sha256, {"fmax": fmax, "step": step, "sparse_modes": sparse_modes,
                                                         "rigid_basis": "by periodicity"})

    def compute(directory: Path) -> dict:
        static = minimize_and_hessian(atoms, potential, fmax, step, sparse=sparse_modes is not None)
        pbc = tuple(bool(p) for p in atoms.pbc)
        t0 = time.perf_counter()
        if sparse_modes is None:
            modes = normal_modes(static.hessian_ev_a2, atoms.get_masses(), static.positions_angstrom, pbc=pbc)
        else:
            modes = normal_modes_sparse(static.hessian_ev_a2, atoms.get_masses(), static.positions_angstrom,
                                        sparse_modes, pbc=pbc)
        timings = {**static.timings_s, "diagonalize": time.perf_counter() - t0,
                   "worker_max_rss_mb": static.worker_max_rss_mb}
        save_arrays(directory / "modes.npz", frequencies_thz=modes.frequencies_thz, eigenvectors=modes.eigenvectors,
                    rigid_body_modes=modes.rigid_body_modes, rigid_body_overlap=modes.rigid_body_overlap,
                    positions_angstrom=static.positions_angstrom)
        return {"key": key, "minimization": static.minimization, "timings_s": timings,
                "finite_difference_step_angstrom": step,
                "hessian": "sparse" if sparse_modes is not None else "dense",
                "provenance": provenance(potential=potential.record())}

    def load(directory: Path):
        meta = read_json(directory / "result.json")
        with np.load(directory / "modes.npz") as d:
            modes = Modes(d["frequencies_thz"], d["eigenvectors"], d["rigid_body_modes"], d["rigid_body_overlap"])
            return modes, d["positions_angstrom"], meta["minimization"], meta["timings_s"]

    value, _, _ = cached(results_root, "modes", key, compute, load)
    return value


def run_phonons(structure: str | Path | Inputs, settings: PhononSettings, out: str | Path,
                results: str | Path | None = None) -> dict[str, Any]:
    """Write ``out/phonons.json``, ``dos.png``, ``lifetimes.png`` and ``minimised.extxyz`` (the annealed
    and minimised structure whose Hessian gives the modes). Crystals whose dense
    Hessian does not fit in memory (:func:`dense_hessian_fits`) get a sparse Hessian and their
    ``sparse_modes`` lowest modes (default 300); ``sparse_modes`` forces that route."""
    s = settings
    temperature_k, window_ps, dos_sigma_thz, sparse_modes = s.temperature_k, s.window_ps, s.dos_sigma_thz, \
        s.sparse_modes
    structure, atoms, pot = md_inputs("phonons", structure, s)
    if sparse_modes is None and not dense_hessian_fits(len(atoms)):
        sparse_modes = 300
    if sparse_modes is not None and not 6 < sparse_modes < 3 * len(atoms) - 1:
        raise NclatticeError(f"--sparse-modes must lie between 7 and {3 * len(atoms) - 2}, got {sparse_modes}.")
    md = md_settings(s, temperature_k, production_ensemble="nve", store_velocities=True,
                     max_temperature_deviation=0.5)
    out_dir = Path(out)
    results_root = str(Path(results) if results else out_dir / "runs")
    # the Hessian at the annealed minimum (its minimisation only tightens the force tolerance to --fmax)
    start, minimised = minimised_start(atoms, pot, s, results_root, s.seed)
    modes, minimized, record, timings = cached_modes(start, pot, s.fmax_ev_per_angstrom, s.fd_step_angstrom,
                                                     results_root, sparse_modes)
    relaxed = start.copy()
    relaxed.positions = minimized
    traj, _, _ = cached_md(relaxed, pot, md, results_root)
    t0 = time.perf_counter()
    qdot, q = mode_velocities(traj.velocities_angstrom_per_ps, traj.positions_angstrom, minimized,
                              atoms.get_masses(), modes.eigenvectors)
    timings["projection"] = time.perf_counter() - t0
    life = lifetimes(qdot, q, s.sample_every_fs / 1000, modes, window_ps=window_ps)
    vib = np.setdiff1d(np.arange(len(modes.frequencies_thz)), modes.rigid_body_modes)
    freq = modes.frequencies_thz
    grid, total = density_of_states(freq[vib], sigma_thz=dos_sigma_thz)
    projected = {}
    symbols = np.array(atoms.get_chemical_symbols())
    groups = {el: symbols == el for el in sorted(set(symbols))}
    if "region" in atoms.arrays:
        groups.update({f"region:{r}": atoms.arrays["region"] == r for r in sorted(set(atoms.arrays["region"]))})
    for name, mask in groups.items():
        projected[name] = density_of_states(freq[vib], projection_weights(modes.eigenvectors, mask)[vib],
                                            dos_sigma_thz, grid)[1]
    tau = life["lifetimes_ps"]
    summary = lifetime_summary(freq, tau, life["resolved"], life["window_ps"])
    result = {
        "schema_version": SCHEMA_VERSION, "frequencies_thz": freq, "rigid_body_modes": modes.rigid_body_modes,
        "rigid_body_frequencies_thz": freq[modes.rigid_body_modes], "imaginary_modes": modes.imaginary_modes,
        "lifetimes_ps": [None if not np.isfinite(t) else float(t) for t in tau],
        "lifetimes_fit_ps": [None if not np.isfinite(t) else float(t) for t in life["lifetimes_fit_ps"]],
        "lifetime_resolved": life["resolved"], "frequencies_md_thz": life["frequencies_md_thz"],
        "lifetime_method": "GLE friction at the mode frequency, tau = 1/Re[1/C~(i omega)], numerical Laplace "
                           "transform of the mode velocity autocorrelation from NVE MD; cross-check: "
                           "damped-oscillator fit (lifetimes_fit_ps)",
        "lifetime_summary": summary, "md_mean_temperature_k": float(traj.temperature_k.mean()),
        "dos": {"frequency_thz": grid, "total": total, "projected": projected, "sigma_thz": dos_sigma_thz,
                "broadening": "Gaussian"},
        "minimization": record, "timings_s": timings, "minimised": minimised,
        "md_protocol": {f"{temperature_k:g}": {"site_drift": traj.site_drift}},  # as calibrate and delta-t
        "site_drift_summary": site_drift_summary({f"{temperature_k:g}": traj.site_drift}),
        "modes": "all (dense Hessian)" if sparse_modes is None else f"the {sparse_modes} lowest (sparse Hessian, "
                                                                    "shift-invert Lanczos)",
        "structure": {"path": str(structure), "formula": atoms.get_chemical_formula(mode="metal"),
                      "atoms": len(atoms), "fingerprint": structure_fingerprint(atoms)},
        "settings": {**s.canonical(), "md_ps": s.production_ps, "sparse_modes": sparse_modes},
        "provenance": provenance(seed=s.seed, potential=pot.record()),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_minimised(out_dir, start, minimised)
    save_figure(_plot_dos(grid, total, projected), out_dir / "dos.png")
    save_figure(_plot_lifetimes(freq, tau, life["resolved"], life["lifetimes_fit_ps"], temperature_k),
                out_dir / "lifetimes.png")
    outcome = PhononOutcome.of(result)
    outcome.to_json(out_dir)  # last: its presence marks a complete result
    return outcome


def _plot_dos(grid, total, projected):
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(grid, total, color="k", lw=1.2, label="total")
    for name, g in projected.items():
        ax.plot(grid, g, lw=0.9, label=name)
    ax.set_xlabel("frequency (THz)")
    ax.set_ylabel("DOS (modes/THz)")
    ax.legend(fontsize=7)
    fig.set_layout_engine("tight")
    return fig


def _plot_lifetimes(freq, tau, resolved, tau_fit, temperature_k):
    plt = pyplot()

    ok = np.isfinite(tau)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.scatter(freq[ok & resolved], tau[ok & resolved], s=8, label="GLE (resolved)")
    ax.scatter(freq[ok & ~resolved], tau[ok & ~resolved], s=8, marker="^", color="0.6",
               label="GLE, unresolved (τ ≳ window/3)")
    fit_ok = np.isfinite(tau_fit)
    ax.scatter(freq[fit_ok], tau_fit[fit_ok], s=4, marker="x", alpha=0.5, label="damped-oscillator fit")
    ax.set_yscale("log")
    ax.axhline(1.0, color="k", lw=0.5, ls=":")
    ax.set_xlabel("frequency (THz)")
    ax.set_ylabel("lifetime (ps)")
    ax.set_title(f"phonon lifetimes at {temperature_k:g} K")
    ax.legend(fontsize=7)
    fig.set_layout_engine("tight")
    return fig
