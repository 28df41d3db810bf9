"""The polaron composition (`nclattice spin-relax`): singlet relaxation, vertical triplet single point,
triplet relaxation, and the displacement field between the two relaxed geometries.

Composition only; the physics is in tasks/spin.py (and tasks/cp2k_backend.py). Stages write
checkpoints (geometry, BFGS Hessian, log) to ``OUT/.progress/spin-relax/<input key>/`` (a
cache.py key folder, under its lock) after every step, so a killed run
continues where it stopped; the checkpoints go once every stage has converged. Results:
``OUT/singlet.extxyz`` and ``OUT/triplet.extxyz`` (same atoms, same order: the input of the
diffraction ``dft`` model), ``OUT/spin.json`` (written last) and ``OUT/displacement.png``.

Paper-sized model on a cluster (Cs200Pb125Br450, CP2K/PBE as in Shen et al.). Check the inputs here::

    nclattice build cspbbr3 --cells 5 --vacancies tetra -o tetra.extxyz
    nclattice spin-relax tetra.extxyz --backend cp2k --dry-run --out cp2k_inputs

then run the same flow on the cluster, one node per model, e.g. in a Slurm job::

    nclattice spin-relax tetra.extxyz --backend cp2k --cp2k-ranks 128 --out tetra_polaron

or, for the five vacancy models side by side, ``nclattice.flows.deployments.polaron_models_flow(cells=5,
backend="cp2k", backend_settings={"mpi_ranks": 128})`` through a Prefect deployment whose work pool runs on the
cluster (a Dask runner from dask-jobqueue for one node per model). A killed job resumes from
``.progress``. A field computed elsewhere enters with ``--import-triplet``.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from ..cache import key_dir, key_lock
from ..errors import NclatticeError
from ..provenance import file_sha256, input_key, provenance, structure_fingerprint
from ..results import read_json, save_arrays, save_figure
from ..structio import read_structure, write_structure
from ..tasks.alignment import displacement_field
from ..tasks.spin import (
    Backend,
    RelaxCheckpoint,
    RelaxResult,
    SinglePoint,
    as_backend,
    check_spin_parity,
    make_backend,
    plot_displacement,
    polaron_energetics,
    prefer_openblas,
    radial_profile,
    regression_table,
    relax,
    single_point,
)
from .outcomes import SCHEMA_VERSION, PolaronEnsembleOutcome, SpinDryRunOutcome, SpinOutcome
from .registry import Inputs, prepared
from .settings import SpinRelaxSettings

RESULT_FILES = ("singlet.extxyz", "triplet.extxyz", "spin.json", "displacement.png")
PROGRESS_DIR = ".progress"  # checkpoints of unfinished stages: OUT/.progress/spin-relax/<key>/


@dataclass(frozen=True)
class PolaronSettings:
    fmax_ev_per_angstrom: float = 0.05
    max_steps: int = 500
    charge: int = 0
    exclude_outer_layers: bool = False
    radial_bin_angstrom: float = 1.5

    def validate(self) -> None:
        if not (np.isfinite(self.fmax_ev_per_angstrom) and self.fmax_ev_per_angstrom > 0):
            raise NclatticeError(f"--fmax must be a positive force in eV/Å, got {self.fmax_ev_per_angstrom}.")
        if self.max_steps < 1:
            raise NclatticeError(f"--max-steps must be at least 1, got {self.max_steps}.")


def print_progress(label: str, step: int, energy_ev: float, fmax: float) -> None:
    print(f"{label:<8} step {step:4d}  E = {energy_ev:.6f} eV  max|F| = {fmax:.4f} eV/Å", flush=True)


# ------------------------------------------------------------------ checkpoints (resume)
# A stage's checkpoint lives in the cache key folder of its inputs, OUT/.progress/spin-relax/<key>/
# (cache.key_dir), written only under that folder's lock (cache.key_lock): other inputs never
# find it, and two runs into one OUT never write it at once.
def save_checkpoint(path: Path, ckpt: RelaxCheckpoint) -> None:
    arrays = {"positions": ckpt.positions, "step": np.array(ckpt.step),
              "log": np.array(ckpt.log, float).reshape(-1, 3), "maxstep": np.array(ckpt.maxstep),
              "attempt": np.array(ckpt.attempt),
              "retried_at_steps": np.array(ckpt.retried_at_steps, int)}
    if ckpt.hessian is not None:
        arrays.update(hessian=ckpt.hessian, pos0=ckpt.pos0, forces0=ckpt.forces0)
    save_arrays(path, **arrays)


def load_checkpoint(path: Path) -> RelaxCheckpoint | None:
    """The saved state of a stage, or None (absent or unreadable)."""
    try:
        with np.load(path) as d:
            has_h = "hessian" in d
            return RelaxCheckpoint(
                positions=d["positions"], step=int(d["step"]),
                log=[(int(s), float(e), float(f)) for s, e, f in d["log"]],
                hessian=d["hessian"] if has_h else None, pos0=d["pos0"] if has_h else None,
                forces0=d["forces0"] if has_h else None, maxstep=float(d["maxstep"]),
                attempt=int(d["attempt"]), retried_at_steps=[int(x) for x in d["retried_at_steps"]])
    except (OSError, KeyError, ValueError):
        return None


def _stage(atoms: Atoms, backend: Backend, multiplicity: int, settings: PolaronSettings,
           label: str, progress_dir: Path | None, progress) -> RelaxResult:
    path = progress_dir / f"{label}.npz" if progress_dir is not None else None
    resume = load_checkpoint(path) if path is not None else None
    if resume is not None and progress is not None:
        print(f"{label:<8} resuming at step {resume.step} from {path}", flush=True)
    save = (lambda c: save_checkpoint(path, c)) if path is not None else None
    return relax(atoms, backend, multiplicity, settings.charge, settings.fmax_ev_per_angstrom,
                 settings.max_steps, label=label, resume=resume, on_checkpoint=save,
                 progress=progress)


# ------------------------------------------------------------------ composition
@dataclass
class PolaronRun:
    singlet: RelaxResult
    vertical: SinglePoint
    triplet: RelaxResult
    key: str

    @property
    def converged(self) -> bool:
        return self.singlet.converged and self.triplet.converged


def polaron_key(atoms: Atoms, backend: Backend, settings: PolaronSettings) -> str:
    """Inputs that define the physics (not max_steps: a larger budget continues the same run)."""
    physics = {k: v for k, v in asdict(settings).items() if k != "max_steps"}
    return input_key("spin-relax", atoms, backend.name, backend.settings(), physics)


def run_polaron(atoms: Atoms, backend: str | Backend, settings: PolaronSettings = PolaronSettings(),
                progress_dir: Path | None = None, progress=print_progress) -> PolaronRun:
    """S=0 relaxation, S=1 single point at that geometry, S=1 relaxation from it; checkpoints
    go to ``progress_dir`` (the caller holds its lock, see :func:`spin_relax`)."""
    backend = as_backend(backend)
    if getattr(backend, "spin_aware", True) is False:
        raise NclatticeError("the polaron flow needs two spin states; pass a factory "
                             "(multiplicity, charge) -> calculator instead of one calculator.")
    settings.validate()
    check_spin_parity(atoms, 3, settings.charge)
    key = polaron_key(atoms, backend, settings)
    singlet = _stage(atoms, backend, 1, settings, "singlet", progress_dir, progress)
    if not singlet.converged:
        return PolaronRun(singlet, SinglePoint(float("nan"), np.zeros((0, 3)), {}), singlet, key)
    vertical = single_point(singlet.atoms, backend, 3, settings.charge, label="vertical triplet")
    triplet = _stage(singlet.atoms, backend, 3, settings, "triplet", progress_dir, progress)
    return PolaronRun(singlet, vertical, triplet, key)


def analyze_pair(singlet: Atoms, triplet: Atoms, settings: PolaronSettings = PolaronSettings()
                 ) -> dict[str, Any]:
    """Displacement field, Table-S2 regression and radial profile of two relaxed geometries."""
    coords, u = displacement_field(singlet, triplet)
    symbols = singlet.get_chemical_symbols()
    table = regression_table(coords, u, symbols, settings.exclude_outer_layers)
    per_species = {sp: {"max_angstrom": float(np.linalg.norm(u[np.array(symbols) == sp], axis=1).max()),
                        "rms_angstrom": float(np.sqrt((u[np.array(symbols) == sp] ** 2).sum(1).mean()))}
                   for sp in sorted(set(symbols))}
    return {"coords_angstrom": coords, "u_angstrom": u, "regression": table,
            "radial_profile": radial_profile(coords, u, symbols, settings.radial_bin_angstrom),
            "displacement_summary": per_species}


def spin_record(run: PolaronRun | None, analysis: dict[str, Any], backend: Backend | None,
                settings: PolaronSettings, structure: dict[str, Any], energies: dict | None = None
                ) -> dict[str, Any]:
    """The spin.json payload (energies from the run, or from imported files, or null)."""
    if run is not None:
        energies = {"energy_singlet_ev": run.singlet.energy_ev,
                    "energy_triplet_vertical_ev": run.vertical.energy_ev,
                    "energy_triplet_relaxed_ev": run.triplet.energy_ev}
    energies = energies or {}
    e = [energies.get(k) for k in ("energy_singlet_ev", "energy_triplet_vertical_ev",
                                   "energy_triplet_relaxed_ev")]
    derived = (polaron_energetics(*e) if None not in e else
               dict.fromkeys(("relaxation_energy_ev", "stokes_shift_ev", "adiabatic_gap_ev",
                              "vertical_gap_ev")))
    if None in e[1:] and None not in (e[0], e[2]):
        derived["adiabatic_gap_ev"] = e[2] - e[0]
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "backend": backend.name if backend is not None else "imported",
        "backend_settings": backend.settings() if backend is not None else None,
        "singlet_state": getattr(backend, "singlet", None),
        **{k: v for k, v in zip(("energy_singlet_ev", "energy_triplet_vertical_ev",
                                 "energy_triplet_relaxed_ev"), e, strict=True)},
        **derived,
        "converged": None, "structure": structure, "settings": asdict(settings),
        "displacement_regression": {
            sp: {"slope_ppm": t["slope_ppm"], "stderr_ppm": t["stderr_ppm"], "atoms": t["atoms"],
                 "atoms_per_coordinate": t["atoms_per_coordinate"]}
            for sp, t in analysis["regression"].items()},
        "regression_layout": "rows = displacement component (ux, uy, uz), columns = coordinate "
                             "(x, y, z); slope du_i/dr_j x 1e6 (ppm), OLS standard errors",
        "displacement_summary": analysis["displacement_summary"],
        "radial_profile": analysis["radial_profile"],
    }
    if run is not None:
        start = run.triplet.log[0][1] if run.triplet.log else float("nan")
        record.update({
            "input_key": run.key,
            "converged": {"singlet": run.singlet.converged, "triplet": run.triplet.converged},
            "max_force_ev_per_angstrom": {"singlet": run.singlet.max_force_ev_per_angstrom,
                                          "triplet": run.triplet.max_force_ev_per_angstrom},
            "steps": {"singlet": run.singlet.steps, "triplet": run.triplet.steps},
            "scf": {"singlet": run.singlet.scf, "triplet_vertical": run.vertical.scf,
                    "triplet": run.triplet.scf,
                    # the relaxation starts on the same SCF branch as the vertical point?
                    "triplet_start_energy_ev": start,
                    "triplet_start_matches_vertical": bool(abs(start - run.vertical.energy_ev) < 1e-3)},
            "log": {"singlet": run.singlet.log, "triplet": run.triplet.log},
            # <S^2> as the engine reports it (CP2K; 0 for the restricted closed shell)
            "s_squared": {"singlet": run.singlet.scf.get("s_squared"),
                          "triplet_vertical": run.vertical.scf.get("s_squared"),
                          "triplet": run.triplet.scf.get("s_squared")},
        })
    record["provenance"] = provenance(blas=prefer_openblas() or "bundled with tblite",
                                      reference="Shen et al., CsPbBr3 exciton polaron, supplement S4 / Table S2")
    return record


def write_outputs(out: Path, singlet: Atoms, triplet: Atoms, analysis: dict[str, Any],
                  record: dict[str, Any]) -> None:
    """Structures and figure first, spin.json last (it marks the result complete)."""
    write_structure(singlet, out / "singlet.extxyz")
    write_structure(triplet, out / "triplet.extxyz")
    fig = plot_displacement(analysis["coords_angstrom"], analysis["u_angstrom"],
                            singlet.get_chemical_symbols(), analysis["regression"],
                            title=f"{singlet.get_chemical_formula('metal')}: triplet − singlet")
    save_figure(fig, out / "displacement.png")
    SpinOutcome.of(record).to_json(out)


def structure_record(atoms: Atoms, path: Path | None) -> dict[str, Any]:
    return {"formula": atoms.get_chemical_formula("metal"), "atoms": len(atoms),
            "file": str(path) if path else None, "sha256": file_sha256(path) if path else None,
            "fingerprint": structure_fingerprint(atoms)}


def spin_relax(atoms: Atoms, backend: str | Backend, settings: PolaronSettings, out: Path,
               source: Path | None = None, allow_unconverged: bool = False,
               progress=print_progress) -> SpinOutcome:
    """Run (or reuse) the polaron calculation for one structure and write OUT's files."""
    backend = as_backend(backend)
    settings.validate()
    key = polaron_key(atoms, backend, settings)
    done = out / "spin.json"
    if done.exists() and read_json(done).get("input_key") == key:
        print(f"already complete: {done}", flush=True)
        return SpinOutcome.from_json(done)
    progress_dir = key_dir(out / PROGRESS_DIR, "spin-relax", key)
    with key_lock(progress_dir, waiting=lambda line: print(line, flush=True)):
        if done.exists() and read_json(done).get("input_key") == key:  # finished meanwhile
            return SpinOutcome.from_json(done)
        run = run_polaron(atoms, backend, settings, progress_dir, progress)
        # an unconverged triplet may be written on request; without a singlet there is no triplet
        if not run.singlet.converged or (not run.triplet.converged and not allow_unconverged):
            stage = "singlet" if not run.singlet.converged else "triplet"
            r = run.singlet if stage == "singlet" else run.triplet
            raise NclatticeError(
                f"the {stage} relaxation did not reach max|F| <= {settings.fmax_ev_per_angstrom} eV/Å "
                f"in {r.steps} steps (now {r.max_force_ev_per_angstrom:.3f}); re-run with a larger "
                f"--max-steps to continue from {progress_dir} (or --allow-unconverged).")
        run.triplet.atoms.info["energy_triplet_vertical_ev"] = run.vertical.energy_ev
        analysis = analyze_pair(run.singlet.atoms, run.triplet.atoms, settings)
        record = spin_record(run, analysis, backend, settings, structure_record(atoms, source))
        write_outputs(out, run.singlet.atoms, run.triplet.atoms, analysis, record)
        if run.converged:  # the lock holder removes its own checkpoints
            shutil.rmtree(out / PROGRESS_DIR, ignore_errors=True)
    return SpinOutcome.from_json(done)


# ------------------------------------------------------------------ import and dry run
def import_displacement_field(singlet_path: str | Path, triplet_path: str | Path
                              ) -> tuple[Atoms, Atoms]:
    """Two relaxed geometries from anywhere (same atoms, same order), checked for pairing."""
    singlet, triplet = read_structure(singlet_path), read_structure(triplet_path)
    if len(singlet) != len(triplet) or singlet.get_chemical_symbols() != triplet.get_chemical_symbols():
        raise NclatticeError(f"'{singlet_path}' and '{triplet_path}' do not list the same atoms in "
                             "the same order; export both geometries of one relaxation sequence.")
    return singlet, triplet


def import_field(singlet_path: Path, triplet_path: Path, settings: PolaronSettings, out: Path
                 ) -> SpinOutcome:
    singlet, triplet = import_displacement_field(singlet_path, triplet_path)
    energies = {"energy_singlet_ev": singlet.info.get("energy_ev"),
                "energy_triplet_relaxed_ev": triplet.info.get("energy_ev"),
                "energy_triplet_vertical_ev": triplet.info.get("energy_triplet_vertical_ev")}
    analysis = analyze_pair(singlet, triplet, settings)
    record = spin_record(None, analysis, None, settings, structure_record(singlet, singlet_path),
                         energies)
    record["imported_from"] = {"singlet": str(singlet_path), "triplet": str(triplet_path)}
    write_outputs(out, singlet, triplet, analysis, record)
    return SpinOutcome.from_json(out)


def write_cp2k_inputs(atoms: Atoms, backend, charge: int, out: Path, structure: Path | None = None) -> list[Path]:
    """Dry run: the CP2K inputs of the singlet and triplet stages, the shell command and (given the
    structure file) a Slurm batch script with estimated memory and walltime (flows/cluster.py)."""
    from ..atomicio import write_text_atomic
    from ..tasks.cp2k_backend import find_cp2k

    check_spin_parity(atoms, 3, charge)
    paths = [write_text_atomic(out / "cp2k" / f"{name}.inp",
                               backend.input_text(atoms, m, charge, project=name))
             for name, m in (("singlet", 1), ("triplet", 3))]
    binary = backend.command or find_cp2k() or "cp2k.psmp -s"
    note = (f"# cp2k shell command used by the flow (ASE CP2K calculator, positions sent per step)\n"
            f"{replace(backend, command=binary).shell_command()}\n")
    paths.append(write_text_atomic(out / "cp2k" / "command.txt", note))
    if structure is not None:
        from .cluster import cp2k_batch_script

        box = float(backend.prepare(atoms).get_volume())
        script = cp2k_batch_script(str(Path(structure).resolve()), str(out.resolve()), backend.mpi_ranks,
                                   len(atoms), box, [f"--charge {charge}"] if charge else [])
        paths.append(write_text_atomic(out / "cp2k" / "job.sbatch", script))
    return paths


# ------------------------------------------------------------------ ensembles (flows/deployments.py runs them)
def write_vacancy_models(cells: int, vacancies: tuple[str, ...], out: Path) -> dict[str, str]:
    """One charge-balanced CsPbBr3 cube per Cs-vacancy pattern, written to OUT/<pattern>/input.extxyz."""
    from ..structures import build_cspbbr3_cube

    return {v: str(write_structure(build_cspbbr3_cube(cells, vacancies=v, charge_balance="require"),
                                   out / v / "input.extxyz")) for v in vacancies}


def relax_model(structure: str, out: str, backend: str, backend_settings, fmax, max_steps, charge):
    """One model of an ensemble: its spin relaxation into ``out``."""
    atoms = read_structure(structure)
    be = make_backend(backend, **(backend_settings or {}))
    settings = PolaronSettings(fmax_ev_per_angstrom=fmax, max_steps=max_steps, charge=charge)
    return spin_relax(atoms, be, settings, Path(out), source=Path(structure), progress=None)


def summarize_models(records: dict[str, dict[str, Any]]) -> PolaronEnsembleOutcome:
    """Mean and spread of the relaxation energy and of the Table-S2 slopes over the models."""
    e = np.array([r["relaxation_energy_ev"] for r in records.values()], float)
    species = sorted(set.intersection(*(set(r["displacement_regression"]) for r in records.values())))
    slopes = {sp: np.array([r["displacement_regression"][sp]["slope_ppm"] for r in records.values()],
                           float) for sp in species}
    with warnings.catch_warnings():  # a species with no regression (one atom) stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_slopes = {sp: np.nanmean(s, axis=0) for sp, s in slopes.items()}
    return PolaronEnsembleOutcome.of(
        {"models": list(records), "relaxation_energy_ev": dict(zip(records, e.tolist(), strict=True)),
         "relaxation_energy_mean_ev": float(e.mean()), "stokes_shift_mean_ev": float(2 * e.mean()),
         "relaxation_energy_std_ev": float(e.std(ddof=1)) if len(e) > 1 else None,
         "slope_ppm_mean": mean_slopes,
         "provenance": provenance()})


# ------------------------------------------------------------------ entry (settings in, result out)
def backend_for(s: SpinRelaxSettings, out: Path):
    """The electronic-structure backend a spin-relax request names."""
    if s.backend == "xtb":
        return make_backend("xtb", spin_polarization=s.spin_polarization,
                            electronic_temperature_k=s.electronic_temperature_k)
    from ..tasks.cp2k_backend import parse_backend_options

    options = {"mpi_ranks": s.cp2k_ranks, "command": s.cp2k_command, "data_dir": s.cp2k_data_dir,
               "workdir": str(Path(out) / "cp2k_work"), "singlet": s.singlet}
    if s.vacuum_angstrom is not None:
        options["vacuum_angstrom"] = s.vacuum_angstrom
    options.update(parse_backend_options(s.cp2k_option))
    return make_backend("cp2k", **options)


def physics_settings(s: SpinRelaxSettings) -> PolaronSettings:
    settings = PolaronSettings(fmax_ev_per_angstrom=s.fmax_ev_per_angstrom, max_steps=s.max_steps,
                               charge=s.charge, exclude_outer_layers=s.exclude_outer_layers)
    settings.validate()
    return settings


def run_spin_relax(structure: str | Path | Inputs, settings: SpinRelaxSettings, out: str | Path,
                   progress=print_progress) -> SpinOutcome | SpinDryRunOutcome:
    """Relax (or import, or dry-run) one structure; returns spin.json's outcome (or the dry run's: files written)."""
    s, out = settings, Path(out)
    inputs = prepared("spin-relax", s, structure)
    structure, atoms = inputs.structure, inputs.atoms
    physics = physics_settings(s)
    backend = backend_for(s, out)
    if s.import_triplet is not None:
        return import_field(structure, Path(s.import_triplet), physics, out)
    check_spin_parity(atoms, 3, s.charge)
    if s.dry_run:
        dry = SpinDryRunOutcome.of({"dry_run": [str(p) for p in write_cp2k_inputs(atoms, backend, s.charge, out,
                                                                                   structure)]})
        dry.to_json(out)
        return dry
    if s.backend == "cp2k":
        backend.shell_command()  # fails now, with one line, if cp2k is not installed
    if progress is not None:
        print(f"{atoms.get_chemical_formula('metal')}: {len(atoms)} atoms, backend {backend.name}, "
              f"fmax {s.fmax_ev_per_angstrom} eV/Å", flush=True)
    return spin_relax(atoms, backend, physics, out, source=structure, allow_unconverged=s.allow_unconverged,
                      progress=progress)
