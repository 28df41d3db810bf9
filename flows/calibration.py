"""Calibration: MD at a series of temperatures -> ⟨u²⟩(T) fits -> calibration.json.

One cached MD run per temperature, run side by side (each in its own LAMMPS worker, one
thread each); a failed temperature is reported with its cause and the fit uses the rest.
Plain composition: no Prefect here (the Prefect flow wrapping it is in flows/deployments.py).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from ..errors import NclatticeError
from ..provenance import provenance, structure_fingerprint
from ..results import save_figure
from ..tasks.calibration import (
    DEFAULT_KEY,
    build_calibration,
    force_field_spread,
    plot_calibration,
    plot_calibration_comparison,
    plot_force_fields,
)
from ..tasks.drift import apply_drift_policy
from ..tasks.md import cpu_count
from ..tasks.msd import lattice_directions, msd_from_frames, summarize
from ..tasks.octahedra import octahedra_check
from .common import load_potential_sets, md_inputs
from .mdruns import cached_md, md_settings, minimised_start, site_drift_summary, write_minimised
from .outcomes import SCHEMA_VERSION, CalibrationOutcome
from .registry import Inputs, prepared
from .settings import CalibrationSettings


def run_calibration(structure: str | Path | Inputs, settings: CalibrationSettings, out: str | Path,
                    results: str | Path | None = None,
                    overrides: dict[str, dict[str, Any]] | None = None) -> CalibrationOutcome:
    """Run the temperature series and write ``out/calibration.json``, ``calibration.png`` and
    ``minimised.extxyz`` (the annealed and minimised structure every temperature starts from).

    ``overrides`` maps a temperature (as text) to MDSettings fields for that run only.
    ``settings.drift``: 'flag' warns when atoms leave their sites during production (they stay in
    the fit and are listed in calibration.json); 'fail' drops that temperature as failed.
    ``settings.potentials``: one calibration per force field (run_force_field_calibrations).
    """
    if settings.potentials:
        return run_force_field_calibrations(structure, settings, out, results, overrides)
    s = settings
    structure, atoms, pot = md_inputs("calibrate", structure, s)
    temps = list(s.temperatures_k)
    out_dir = Path(out)
    results_root = str(Path(results) if results else out_dir / "runs")
    start, minimised = minimised_start(atoms, pot, s, results_root, s.seed, minimise=not s.no_minimize)
    md = {t: md_settings(s, t, **(overrides or {}).get(f"{t:g}", {})) for t in temps}
    summaries, failed, protocol = {}, [], {}
    t0 = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=max(1, min(cpu_count(), len(temps))), thread_name_prefix="md")
    with pool:
        runs = {pool.submit(cached_md, start, pot, md[t], results_root): t for t in temps}
        _collect(runs, summaries, failed, protocol, s, atoms)
    if len(summaries) < 3:
        raise NclatticeError(
            f"only {len(summaries)} of {len(temps)} temperatures finished; a calibration needs 3 "
            f"(failures: {'; '.join(f['error'] for f in failed)})."
        )
    ok_temps = sorted(summaries)
    calibration = build_calibration(ok_temps, [summaries[t] for t in ok_temps])
    calibration.update({
        "schema_version": SCHEMA_VERSION, "failed": failed, "md_protocol": protocol, "minimised": minimised,
        "site_drift_summary": site_drift_summary({f"{t:g}": protocol[f"{t:g}"]["site_drift"]
                                                  for t in sorted(ok_temps)}),
        "structure": {"path": str(structure), "formula": atoms.get_chemical_formula(mode="metal"),
                      "atoms": len(atoms), "fingerprint": structure_fingerprint(atoms),
                      "pbc": [bool(p) for p in atoms.pbc]},
        "potential_validation": pot.validation,
        "settings": {**s.canonical(), "overrides": overrides or {}},
        "msd_definition": "3D positional variance about mean positions after removing rigid-body motion",
        "wall_s": time.perf_counter() - t0,
        "provenance": provenance(seed=s.seed, potential=pot.record()),
    })
    out_dir.mkdir(parents=True, exist_ok=True)
    write_minimised(out_dir, start, minimised)
    save_figure(plot_calibration(calibration), out_dir / "calibration.png")
    outcome = CalibrationOutcome.of(calibration)
    outcome.to_json(out_dir)  # last: its presence marks a complete result
    return outcome


def run_force_field_calibrations(structure: str | Path | Inputs, settings: CalibrationSettings, out: str | Path,
                                 results: str | Path | None = None,
                                 overrides: dict[str, dict[str, Any]] | None = None) -> CalibrationOutcome:
    """One calibration per force field of ``settings.potentials`` (OUT/potentials/<set>/, MD runs
    cached in one shared folder), then OUT/calibration.json: the first set's calibration (the
    default set for 'all') with ``force_field_spread`` (tasks.calibration.force_field_spread) and
    ``potentials`` (each set's slope file, validation and failures) added, OUT/calibration.png and
    OUT/calibration_force_fields.png (⟨u²⟩(T) of every set)."""
    out_dir = Path(out)
    results_root = Path(results) if results else out_dir / "runs"
    inputs = prepared("calibrate", settings, structure)
    sets = load_potential_sets(set(inputs.atoms.get_chemical_symbols()), list(settings.potentials or []))
    calibrations: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    for i, (spec, pot) in enumerate(sets, start=1):
        print(f"--- force field {i}/{len(sets)}: {pot.name} ---", flush=True)
        one = settings.model_copy(update={"potentials": None, "potential": spec})
        given = Inputs(structure=inputs.structure, atoms=inputs.atoms, potential=pot)  # read once, for every set
        calibrations[pot.name] = run_calibration(given, one, out_dir / "potentials" / pot.name, results_root,
                                                 overrides)
    spread = force_field_spread(calibrations)
    first = calibrations[sets[0][1].name]
    failed = [{**f, "potential": name} for name, c in calibrations.items() for f in c["failed"]]
    combined = {**first, "force_field_spread": spread, "wall_s": time.perf_counter() - t0, "failed": failed,
                "settings": {**settings.canonical(), "overrides": overrides or {}},
                "potentials": {name: {"calibration": f"potentials/{name}/calibration.json",
                                      "potential_validation": c["potential_validation"], "failed": c["failed"],
                                      "potential": c["provenance"].get("potential")}
                               for name, c in calibrations.items()}}
    if spread["warning"]:  # the summary's first line names every set whose atoms left their sites
        combined["site_drift_summary"] = " ".join(filter(None, [first.get("site_drift_summary"),
                                                                f"WARNING force-field spread: {spread['warning']}"]))
    save_figure(plot_calibration(first), out_dir / "calibration.png")
    save_figure(plot_force_fields(calibrations), out_dir / "calibration_force_fields.png")
    outcome = CalibrationOutcome.of(combined)
    outcome.to_json(out_dir)  # last: its presence marks a complete result
    return outcome


def _collect(runs: dict, summaries: dict, failed: list, protocol: dict, s: CalibrationSettings, atoms) -> None:
    """Per finished temperature: the MSD summary (and the site-drift record), or
    the failure with its cause (with ``drift='fail'``, atoms off their sites are a failure)."""
    for done, future in enumerate(as_completed(runs), start=1):
        t = runs[future]
        try:
            traj, _, cached = future.result()
            protocol[f"{t:g}"] = {"site_drift": traj.site_drift}  # the start: calibration.json "minimised"
            if {"Pb", "Br"} <= set(traj.symbols):  # perovskite: are the PbBr6 octahedra kept?
                protocol[f"{t:g}"]["octahedra"] = octahedra_check(atoms.positions, traj.positions_angstrom,
                                                                  traj.symbols, traj.masses_amu,
                                                                  traj.site_positions_angstrom)
            apply_drift_policy(traj.site_drift, s.drift, f"MD at {t:g} K")  # 'flag' was printed by cached_md
        except Exception as exc:  # the run's own exception names the cause
            failed.append({"temperature_k": t, "error": str(exc)})
            print(f"[{done}/{len(runs)}] {t:g} K FAILED: {exc}", flush=True)
            continue
        result = msd_from_frames(traj.positions_angstrom, traj.masses_amu, pbc=tuple(atoms.pbc))
        summaries[t] = summarize(result, traj.symbols, traj.arrays, probe=s.probe,
                                 directions=lattice_directions(atoms.info))
        note = "cached" if cached else f"{traj.wall_s:.1f} s"
        octahedra = protocol[f"{t:g}"].get("octahedra", {})
        extra = (f"; Pb-Br {octahedra['change_vs_start']:+.1%} vs start ("
                 f"{octahedra.get('change_vs_minimised', float('nan')):+.1%} vs minimised), octahedra kept "
                 f"{octahedra['octahedra_kept_fraction']:.0%}" if octahedra.get("octahedra_kept_fraction") is not None
                 else "")
        print(f"[{done}/{len(runs)}] {t:g} K done ({note}); "
              f"<u²> = {summaries[t]['groups'][DEFAULT_KEY]['msd_angstrom2']:.4f} Å²{extra}", flush=True)


def debye_calibration_files(debye_temperatures: str, settings: CalibrationSettings, out: str | Path,
                            structure: str | Path | None = None) -> dict[str, Any]:
    """The quantum Debye-model calibration (no MD): per-element Debye temperatures ('Pb=111,Se=205');
    a structure, if given, sets the composition. Writes OUT/calibration.json and calibration.png."""
    from ..structio import read_structure
    from ..tasks.debye import debye_calibration, parse_debye_temperatures

    thetas = parse_debye_temperatures(debye_temperatures)
    composition = None
    if structure:
        symbols = read_structure(structure).get_chemical_symbols()
        composition = {el: symbols.count(el) for el in sorted(set(symbols))}
    calibration = debye_calibration(thetas, list(settings.temperatures_k), composition, probe=settings.probe)
    calibration["provenance"] = provenance(seed=None, potential=None)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_figure(plot_calibration(calibration), out_dir / "calibration.png")
    outcome = CalibrationOutcome.of(calibration)
    outcome.to_json(out_dir)
    return outcome


def comparison_figure(calibration: dict[str, Any], other: dict[str, Any], out: str | Path) -> Path:
    """OUT/calibration_compare.png: this calibration beside another one."""
    return save_figure(plot_calibration_comparison(calibration, other), Path(out) / "calibration_compare.png")
