"""Phonon flow: minimise -> Hessian -> modes and DOS -> NVE MD -> mode lifetimes (SCIENCE.md §4)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from ..errors import NclatticeError
from ..potentials import PotentialSet
from ..provenance import input_key, provenance, structure_fingerprint
from ..results import is_complete, pyplot, read_json, result_dir, save_arrays, save_figure, write_json
from ..tasks.md import MDSettings
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
from .common import ensure_out, load_inputs
from .mdruns import md_task


@task(name="normal-modes", cache_policy=NO_CACHE)
def modes_task(atoms, potential: PotentialSet, fmax: float, step: float, results_root: str,
               sparse_modes: int | None = None):
    """Minimise and diagonalise (dense eigh, or the ``sparse_modes`` lowest modes of a sparse
    Hessian), cached under <results>/modes/<key>/. Minimisation and Hessian run in the
    isolated LAMMPS worker."""
    key = input_key("modes", atoms, potential.sha256, {"fmax": fmax, "step": step, "sparse_modes": sparse_modes})
    directory = result_dir(results_root, "modes", key)
    if is_complete(directory):
        meta = read_json(directory / "result.json")
        with np.load(directory / "modes.npz") as d:
            modes = Modes(d["frequencies_thz"], d["eigenvectors"], d["rigid_body_modes"], d["rigid_body_overlap"])
            return modes, d["positions_angstrom"], meta["minimization"], meta["timings_s"]
    static = minimize_and_hessian(atoms, potential, fmax, step, sparse=sparse_modes is not None)
    t0 = time.perf_counter()
    if sparse_modes is None:
        modes = normal_modes(static.hessian_ev_a2, atoms.get_masses(), static.positions_angstrom)
    else:
        modes = normal_modes_sparse(static.hessian_ev_a2, atoms.get_masses(), static.positions_angstrom, sparse_modes)
    timings = {**static.timings_s, "diagonalize": time.perf_counter() - t0,
               "worker_max_rss_mb": static.worker_max_rss_mb}
    save_arrays(directory / "modes.npz", frequencies_thz=modes.frequencies_thz, eigenvectors=modes.eigenvectors,
                rigid_body_modes=modes.rigid_body_modes, rigid_body_overlap=modes.rigid_body_overlap,
                positions_angstrom=static.positions_angstrom)
    write_json(directory / "result.json", {"key": key, "minimization": static.minimization, "timings_s": timings,
                                           "finite_difference_step_angstrom": step,
                                           "hessian": "sparse" if sparse_modes is not None else "dense",
                                           "provenance": provenance(potential=potential.record())})
    return modes, static.positions_angstrom, static.minimization, timings


@flow(name="phonons")
def phonons_flow(structure: str, out: str, potential: str | None = None, temperature_k: float = 300.0,
                 md_ps: float = 40.0, equilibration_ps: float = 10.0, timestep_fs: float = 1.0,
                 sample_every_fs: float = 5.0, window_ps: float = 20.0, fmax_ev_per_angstrom: float = 1e-5,
                 dos_sigma_thz: float = 0.1, seed: int = 12345, results: str | None = None,
                 sparse_modes: int | None = None) -> dict[str, Any]:
    """Write ``out/phonons.json``, ``dos.png`` and ``lifetimes.png``. Crystals whose dense
    Hessian does not fit in memory (:func:`dense_hessian_fits`) get a sparse Hessian and their
    ``sparse_modes`` lowest modes (default 300); ``sparse_modes`` forces that route."""
    atoms, pot = load_inputs(structure, potential)
    if sparse_modes is None and not dense_hessian_fits(len(atoms)):
        sparse_modes = 300
    if sparse_modes is not None and not 6 < sparse_modes < 3 * len(atoms) - 1:
        raise NclatticeError(f"--sparse-modes must lie between 7 and {3 * len(atoms) - 2}, got {sparse_modes}.")
    if window_ps * 2 > md_ps:
        raise NclatticeError(f"--md-ps ({md_ps}) must be at least twice the correlation window ({window_ps} ps).")
    out_dir = ensure_out(out)
    results_root = str(Path(results) if results else out_dir / "runs")
    modes, minimized, record, timings = modes_task(atoms, pot, fmax_ev_per_angstrom, 0.005, results_root,
                                                   sparse_modes)
    relaxed = atoms.copy()
    relaxed.positions = minimized
    settings = MDSettings(temperature_k, equilibration_ps=equilibration_ps, production_ps=md_ps,
                          timestep_fs=timestep_fs, sample_every_fs=sample_every_fs, production_ensemble="nve",
                          store_velocities=True, seed=seed, max_temperature_deviation=0.5)
    traj, _, _ = md_task(relaxed, pot, settings, results_root)
    t0 = time.perf_counter()
    qdot, q = mode_velocities(traj.velocities_angstrom_per_ps, traj.positions_angstrom, minimized,
                              atoms.get_masses(), modes.eigenvectors)
    timings["projection"] = time.perf_counter() - t0
    life = lifetimes(qdot, q, sample_every_fs / 1000, modes, window_ps=window_ps)
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
        "frequencies_thz": freq, "rigid_body_modes": modes.rigid_body_modes,
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
        "minimization": record, "timings_s": timings,
        "modes": "all (dense Hessian)" if sparse_modes is None else f"the {sparse_modes} lowest (sparse Hessian, "
                                                                    "shift-invert Lanczos)",
        "structure": {"path": str(structure), "formula": atoms.get_chemical_formula(mode="metal"),
                      "atoms": len(atoms), "fingerprint": structure_fingerprint(atoms)},
        "settings": {"temperature_k": temperature_k, "md_ps": md_ps, "equilibration_ps": equilibration_ps,
                     "timestep_fs": timestep_fs, "sample_every_fs": sample_every_fs, "window_ps": window_ps,
                     "fmax_ev_per_angstrom": fmax_ev_per_angstrom, "sparse_modes": sparse_modes},
        "provenance": provenance(seed=seed, potential=pot.record()),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "phonons.json", result)
    save_figure(_plot_dos(grid, total, projected), out_dir / "dos.png")
    save_figure(_plot_lifetimes(freq, tau, life["resolved"], life["lifetimes_fit_ps"], temperature_k),
                out_dir / "lifetimes.png")
    return result


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


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "phonons", help="normal modes, phonon DOS and lifetimes of a nanocrystal",
        description="Minimise the nanocrystal (LAMMPS CG), build the mass-weighted Hessian by central differences, "
                    "diagonalise, and compute mode lifetimes from NVE MD at --temperature. Writes OUT/phonons.json, "
                    "OUT/dos.png and OUT/lifetimes.png.")
    p.add_argument("structure", help="structure file (.extxyz)")
    p.add_argument("--out", required=True)
    p.add_argument("--potential")
    p.add_argument("--temperature", type=float, default=300.0, help="K")
    p.add_argument("--md-ps", type=float, default=40.0, help="NVE production length")
    p.add_argument("--equilibration-ps", type=float, default=10.0)
    p.add_argument("--window-ps", type=float, default=20.0, help="velocity autocorrelation window")
    p.add_argument("--fmax", type=float, default=1e-5, help="minimisation force tolerance in eV/Å")
    p.add_argument("--dos-sigma", type=float, default=0.1, help="Gaussian DOS broadening in THz")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--results", help="cache of runs (default OUT/runs)")
    p.add_argument("--sparse-modes", type=int,
                   help="sparse Hessian and only this many lowest modes (automatic when the dense one does not fit)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    r = phonons_flow(structure=args.structure, out=args.out, potential=args.potential,
                     temperature_k=args.temperature, md_ps=args.md_ps, equilibration_ps=args.equilibration_ps,
                     window_ps=args.window_ps, fmax_ev_per_angstrom=args.fmax, dos_sigma_thz=args.dos_sigma,
                     seed=args.seed, results=args.results, sparse_modes=args.sparse_modes)
    s = r["lifetime_summary"]
    n_low = int(np.sum(np.abs(r["frequencies_thz"]) < 0.05))
    print(f"modes {len(r['frequencies_thz'])}, rigid-body {len(r['rigid_body_modes'])} "
          f"(max |f| {np.abs(r['rigid_body_frequencies_thz']).max():.4f} THz), |f| < 0.05 THz: {n_low}, "
          f"imaginary: {len(r['imaginary_modes'])}")
    print(f"median lifetime {s['median_lifetime_ps']:.2f} ps, below 1 ps: {100 * s['fraction_below_1ps']:.0f} %, "
          f"resolved: {100 * s['resolved_fraction']:.0f} %")
    print(f"written {Path(args.out) / 'phonons.json'}, dos.png, lifetimes.png")
    return 0
