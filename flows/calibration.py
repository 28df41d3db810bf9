"""Calibration flow: MD at a series of temperatures -> ⟨u²⟩(T) fits -> calibration.json.

One cached MD task per temperature, run side by side (each in its own LAMMPS worker, one
thread each); a failed temperature is reported with its cause and the fit uses the rest.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from ..errors import NclatticeError
from ..provenance import provenance, structure_fingerprint
from ..results import read_json, save_figure, write_json
from ..tasks.calibration import (
    DEFAULT_KEY,
    build_calibration,
    delta_t_from_delta_msd,
    plot_calibration,
    plot_calibration_comparison,
)
from ..tasks.md import MDSettings, cpu_count
from ..tasks.msd import lattice_directions, msd_from_frames, summarize
from .common import ensure_out, load_inputs, parse_float_list
from .mdruns import md_task

DEFAULT_TEMPERATURES = [150.0, 200.0, 250.0, 300.0, 350.0, 400.0, 450.0, 500.0]


@flow(name="calibration", task_runner=ThreadPoolTaskRunner(max_workers=cpu_count()))
def calibration_flow(structure: str, out: str, potential: str | None = None,
                     temperatures_k: list[float] | None = None, equilibration_ps: float = 10.0,
                     production_ps: float = 20.0, timestep_fs: float = 2.0, sample_every_fs: float = 20.0,
                     thermostat: str = "langevin", seed: int = 12345, probe: str = "electron",
                     results: str | None = None,
                     overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run the temperature series and write ``out/calibration.json`` and ``calibration.png``.

    ``overrides`` maps a temperature (as text) to MDSettings fields for that run only.
    """
    atoms, pot = load_inputs(structure, potential)
    temps = sorted(temperatures_k or DEFAULT_TEMPERATURES)
    if any(t <= 0 for t in temps):
        raise NclatticeError(f"temperatures must be positive, got {temps}.")
    out_dir = ensure_out(out)
    results_root = str(Path(results) if results else out_dir / "runs")
    base = MDSettings(temperature_k=temps[0], equilibration_ps=equilibration_ps, production_ps=production_ps,
                      timestep_fs=timestep_fs, sample_every_fs=sample_every_fs, thermostat=thermostat, seed=seed)
    runs = {}
    for t in temps:
        settings = replace(base, temperature_k=t, **(overrides or {}).get(f"{t:g}", {}))
        settings.validate()
        runs[md_task.submit(atoms, pot, settings, results_root)] = t
    summaries, failed, done = {}, [], 0
    t0 = time.perf_counter()
    for future in as_completed(list(runs)):
        t = runs[future]
        done += 1
        try:
            traj, _, cached = future.result()
        except Exception as exc:  # the task's own exception names the cause
            failed.append({"temperature_k": t, "error": str(exc)})
            print(f"[{done}/{len(runs)}] {t:g} K FAILED: {exc}", flush=True)
            continue
        result = msd_from_frames(traj.positions_angstrom, traj.masses_amu, pbc=tuple(atoms.pbc))
        summaries[t] = summarize(result, traj.symbols, traj.arrays, probe=probe,
                                 directions=lattice_directions(atoms.info))
        note = "cached" if cached else f"{traj.wall_s:.1f} s"
        print(f"[{done}/{len(runs)}] {t:g} K done ({note}); "
              f"<u²> = {summaries[t]['groups'][DEFAULT_KEY]['msd_angstrom2']:.4f} Å²", flush=True)
    if len(summaries) < 3:
        raise NclatticeError(
            f"only {len(summaries)} of {len(temps)} temperatures finished; a calibration needs 3 "
            f"(failures: {'; '.join(f['error'] for f in failed)})."
        )
    ok_temps = sorted(summaries)
    calibration = build_calibration(ok_temps, [summaries[t] for t in ok_temps])
    calibration.update({
        "failed": failed,
        "structure": {"path": str(structure), "formula": atoms.get_chemical_formula(mode="metal"),
                      "atoms": len(atoms), "fingerprint": structure_fingerprint(atoms),
                      "pbc": [bool(p) for p in atoms.pbc]},
        "potential_validation": pot.validation,
        "settings": {"equilibration_ps": equilibration_ps, "production_ps": production_ps,
                     "timestep_fs": timestep_fs, "sample_every_fs": sample_every_fs,
                     "thermostat": thermostat, "probe": probe, "overrides": overrides or {}},
        "msd_definition": "3D positional variance about mean positions after removing rigid-body motion",
        "wall_s": time.perf_counter() - t0,
        "provenance": provenance(seed=seed, potential=pot.record()),
    })
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "calibration.json", calibration)
    _fit_artifact(calibration)
    save_figure(plot_calibration(calibration), out_dir / "calibration.png")
    return calibration


def _fit_artifact(calibration: dict[str, Any]) -> None:
    """The fit table in the Prefect UI (the JSON on disk is the result; this is for browsing)."""
    from prefect.artifacts import create_table_artifact

    rows = [{"group": k, "slope_angstrom2_per_k": f"{f['slope_angstrom2_per_k']:.4e}",
             "slope_stderr": f"{f['slope_stderr']:.1e}", "intercept_angstrom2": f"{f['intercept_angstrom2']:.4f}",
             "r2": f"{f['r2']:.4f}"} for k, f in calibration["fit"].items()]
    try:
        create_table_artifact(table=rows, key="calibration-fit",
                              description=f"<u²>(T) fits of {calibration['structure']['formula']}")
    except Exception as exc:  # never lose a finished calibration over a UI artifact
        print(f"note: could not create the Prefect table artifact ({exc})")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate", help="MD temperature series -> Debye-Waller <u²>(T) calibration",
        description="Run NVT MD of a nanocrystal at several temperatures, fit <u²> = a + bT per element/"
                    "region and for the diffraction-weighted average, and write OUT/calibration.json and "
                    "OUT/calibration.png. With --apply, convert a measured Δ<u²> into ΔT ± σ instead.")
    p.add_argument("structure", nargs="?", help="structure file (.extxyz from nclattice build)")
    p.add_argument("--out", help="output directory")
    p.add_argument("--potential", help="potential name or YAML file (default: shipped set covering the elements)")
    p.add_argument("--temperatures", default="150:500:50", help="K, comma list or start:stop:step")
    p.add_argument("--equilibration-ps", type=float, default=10.0)
    p.add_argument("--production-ps", type=float, default=20.0)
    p.add_argument("--timestep-fs", type=float, default=2.0)
    p.add_argument("--sample-every-fs", type=float, default=20.0)
    p.add_argument("--thermostat", default="langevin", choices=("langevin", "nose-hoover", "csvr"))
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--probe", default="electron", choices=("electron", "xray"),
                   help="weighting of the diffraction-weighted average")
    p.add_argument("--results", help="cache of MD runs (default OUT/runs)")
    p.add_argument("--apply", metavar="CALIBRATION_JSON", help="convert --delta-msd with this calibration")
    p.add_argument("--delta-msd", type=float, help="measured 3D Δ<u²> in Å² (with --apply)")
    p.add_argument("--delta-msd-stderr", type=float, default=0.0, help="its standard error in Å²")
    p.add_argument("--key", default=DEFAULT_KEY, help="which fit to use (default diffraction_weighted)")
    p.add_argument("--debye-temperatures", metavar="EL=K,...",
                   help="no MD: calibrate from the quantum Debye model with these per-element Debye "
                        "temperatures (e.g. Pb=111,Se=205); STRUCTURE, if given, sets the composition")
    p.add_argument("--compare", metavar="CALIBRATION_JSON",
                   help="also draw OUT/calibration_compare.png: this calibration beside another one")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.apply:
        if args.delta_msd is None:
            raise NclatticeError("--apply needs --delta-msd (the measured 3D Δ<u²> in Å²).")
        path = Path(args.apply)
        if not path.is_file():
            raise NclatticeError(f"calibration file '{path}' does not exist.")
        dt, sigma = delta_t_from_delta_msd(read_json(path), args.delta_msd, args.delta_msd_stderr, args.key)
        print(f"ΔT = {dt:.2f} ± {sigma:.2f} K  (Δ<u²> = {args.delta_msd} Å², fit '{args.key}')")
        return 0
    if args.debye_temperatures:
        return run_debye(args)
    if not args.structure or not args.out:
        raise NclatticeError("calibrate needs a STRUCTURE file and --out DIR (or --apply FILE --delta-msd X).")
    temps = parse_float_list(args.temperatures, "temperatures")
    other = _read_compare(args.compare)
    calibration = calibration_flow(
        structure=args.structure, out=args.out, potential=args.potential, temperatures_k=temps,
        equilibration_ps=args.equilibration_ps, production_ps=args.production_ps,
        timestep_fs=args.timestep_fs, sample_every_fs=args.sample_every_fs, thermostat=args.thermostat,
        seed=args.seed, probe=args.probe, results=args.results)
    fit = calibration["fit"][DEFAULT_KEY]
    print(f"\nslope b = {fit['slope_angstrom2_per_k']:.3e} ± {fit['slope_stderr']:.1e} Å²/K "
          f"(R² = {fit['r2']:.4f}, diffraction-weighted)")
    validation = calibration["potential_validation"]
    print(f"potential validation: {validation.get('status')}"
          + (f" ({validation['summary']})" if validation.get("summary") else ""))
    print(f"written {Path(args.out) / 'calibration.json'} and calibration.png")
    _compare(calibration, other, Path(args.out))
    return 1 if calibration["failed"] else 0


def _read_compare(path: str | None) -> dict | None:
    if path is None:
        return None
    if not Path(path).is_file():
        raise NclatticeError(f"--compare file '{path}' does not exist.")
    return read_json(Path(path))


def _compare(calibration: dict, other: dict | None, out_dir: Path) -> None:
    if other is not None:
        save_figure(plot_calibration_comparison(calibration, other), out_dir / "calibration_compare.png")
        print(f"written {out_dir / 'calibration_compare.png'}")


def run_debye(args: argparse.Namespace) -> int:
    """calibrate --debye-temperatures: the Debye-model calibration, no MD."""
    from ..structio import read_structure
    from ..tasks.debye import debye_calibration, parse_debye_temperatures

    if not args.out:
        raise NclatticeError("calibrate --debye-temperatures needs --out DIR.")
    thetas = parse_debye_temperatures(args.debye_temperatures)
    temps = parse_float_list(args.temperatures, "temperatures")
    other = _read_compare(args.compare)
    composition = None
    if args.structure:
        symbols = read_structure(args.structure).get_chemical_symbols()
        composition = {el: symbols.count(el) for el in sorted(set(symbols))}
    calibration = debye_calibration(thetas, temps, composition, probe=args.probe)
    calibration["provenance"] = provenance(seed=None, potential=None)
    out_dir = ensure_out(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "calibration.json", calibration)
    save_figure(plot_calibration(calibration), out_dir / "calibration.png")
    for el in thetas:
        fit = calibration["fit"][el]
        msd, t = calibration["msd_angstrom2"][el], calibration["temperatures_k"]
        print(f"{el}: <u²> = {msd[0]:.4f} Å² at {t[0]:g} K to {msd[-1]:.4f} Å² at {t[-1]:g} K; "
              f"slope b = {fit['slope_angstrom2_per_k']:.3e} Å²/K (R² = {fit['r2']:.4f})")
    print(f"Debye model, quantum form; written {out_dir / 'calibration.json'} and calibration.png")
    _compare(calibration, other, out_dir)
    return 0
