"""Free-nanocrystal NVT molecular dynamics with LAMMPS, one isolated worker process per run.

Each run writes a LAMMPS data file and a JSON spec into a work directory and starts
``python -m nclattice.tasks.lammps_worker`` through :mod:`nclattice.tasks.lammps_launch` (on
``mpi_ranks`` MPI ranks: srun inside Slurm, mpiexec elsewhere, shared memory only; with
``threads > 1`` LAMMPS' OPENMP styles).
A LAMMPS error, a segfault, NaN energies or a run that heats far away from its target
therefore fail that run alone, with a message naming the cause.

Protocol: optionally an anneal (Langevin MD at ``anneal_temperature_k``), then the crystal is
minimised (conjugate gradient, ``minimize_first``; energies, largest force and how far atoms
moved are recorded, the minimised positions are the atoms' sites), then velocities drawn at T
with zero linear and angular momentum, thermostat (Langevin by default, with its net random
force removed), linear and angular momentum re-zeroed every 100 steps so the crystal neither
drifts nor spins, equilibration, then production with frames kept every ``sample_every_fs``.
Atoms that leave their site during production are reported (:mod:`nclattice.tasks.drift`).
Free crystals use shrink-wrapped boundaries and 6 removed degrees of freedom in the
temperature. Same seed, same inputs: the same trajectory.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from ..errors import NclatticeError
from ..potentials import PotentialSet, lammps_boundary
from ..potentials.registry import lammps_word
from ..runtime import usable_cores
from ..structio import lammps_ready, species_order, write_structure
from .lammps_launch import WorkerTimeout, failure_cause, minimize_commands, run_worker

THERMOSTATS = ("langevin", "nose-hoover", "csvr")


class MDError(NclatticeError):
    """An MD run failed; the message names the cause."""


@dataclass(frozen=True)
class MDSettings:
    temperature_k: float
    equilibration_ps: float = 10.0
    production_ps: float = 20.0
    timestep_fs: float = 2.0
    sample_every_fs: float = 20.0
    thermostat: str = "langevin"
    damping_ps: float = 0.1
    seed: int = 12345
    threads: int = 1
    mpi_ranks: int = 1
    neighbor_one: int | None = None  # raise LAMMPS' 'neigh_modify one' for long Coulomb cut-offs
    max_temperature_deviation: float = 0.25  # production mean T within this fraction of target
    production_ensemble: str = "nvt"  # "nve": thermostat off after equilibration (phonon lifetimes)
    store_velocities: bool = False
    # minimise the crystal (LAMMPS CG) before velocities are drawn, so MD starts in its basin
    minimize_first: bool = True
    minimize_fmax_ev_per_angstrom: float = 1e-4  # largest force component at the minimum
    # optional anneal before that minimisation (0 K = none): surface atoms of an as-cut crystal
    # sit in shallow minima that MD leaves even at 50 K; annealing finds a deeper basin
    anneal_temperature_k: float = 0.0
    anneal_ps: float = 20.0

    def validate(self) -> None:
        checks = [
            (self.temperature_k > 0, f"temperature must be positive, got {self.temperature_k} K"),
            (self.production_ps > 0, f"production time must be positive, got {self.production_ps} ps"),
            (self.equilibration_ps >= 0, f"equilibration time cannot be negative ({self.equilibration_ps} ps)"),
            (0 < self.timestep_fs, f"timestep must be positive, got {self.timestep_fs} fs"),
            (self.sample_every_fs >= self.timestep_fs,
             f"sampling interval {self.sample_every_fs} fs is shorter than the timestep {self.timestep_fs} fs"),
            (self.thermostat in THERMOSTATS, f"thermostat must be one of {', '.join(THERMOSTATS)}"),
            (self.damping_ps > 0, f"thermostat damping must be positive, got {self.damping_ps} ps"),
            (self.production_ensemble in ("nvt", "nve"),
             f"production ensemble must be nvt or nve, not '{self.production_ensemble}'"),
            (self.anneal_temperature_k >= 0 and self.anneal_ps >= 0,
             "anneal temperature and time cannot be negative"),
            (not self.anneal_temperature_k or self.minimize_first, "an anneal needs minimize_first"),
            (self.minimize_fmax_ev_per_angstrom > 0,
             f"minimisation force tolerance must be positive, got {self.minimize_fmax_ev_per_angstrom} eV/Å"),
            (isinstance(self.seed, int) and 0 < self.seed < 900_000_000,
             f"seed must be an integer between 1 and 899999999, got {self.seed}"),
        ]
        for ok, message in checks:
            if not ok:
                raise MDError(message + ".")

    @property
    def steps(self) -> tuple[int, int, int]:
        """(equilibration steps, steps between frames, number of frames)."""
        stride = max(1, round(self.sample_every_fs / self.timestep_fs))
        n_frames = max(1, round(self.production_ps * 1000 / (stride * self.timestep_fs)))
        return round(self.equilibration_ps * 1000 / self.timestep_fs), stride, n_frames


@dataclass
class Trajectory:
    symbols: list[str]
    masses_amu: np.ndarray
    times_ps: np.ndarray
    positions_angstrom: np.ndarray  # (frames, atoms, 3)
    velocities_angstrom_per_ps: np.ndarray | None
    temperature_k: np.ndarray
    potential_energy_ev: np.ndarray
    settings: MDSettings
    potential: dict
    wall_s: float
    lammps_version: str
    arrays: dict = field(default_factory=dict)  # per-atom labels of the structure (region, ...)
    minimization: dict = field(default_factory=dict)  # record of the pre-MD minimisation ({} if none)
    site_drift: dict = field(default_factory=dict)  # tasks.drift.site_drift of the production run
    site_positions_angstrom: np.ndarray | None = None  # the sites: minimised start (or the input)

    @property
    def n_frames(self) -> int:
        return len(self.times_ps)


def system_commands(type_order: list[str], masses: dict[str, float], potential: PotentialSet,
                    data_file: str, periodic: bool | tuple[bool, bool, bool],
                    free_boundary: str = "s", workdir: str | Path | None = None) -> list[str]:
    """Units, atom style, box, data file, masses, charges and the potential: a system ready to run.

    ``periodic`` is one flag or one per axis (chains 'p s s', sheets 'p p s');
    ``free_boundary`` is the LAMMPS boundary of non-periodic axes ('s' shrink-wraps for MD,
    'm' keeps a minimum box for static calculations). The atom count and box of the data file
    choose the Coulomb route of charged sets, which may change the boundary (a periodic vacuum box
    for chains and large free crystals, a fixed z for sheets; see potentials.registry); a relative
    ``data_file`` is read from ``workdir`` (the worker's cwd). A data file that cannot be read
    leaves a charged free crystal on the PPPM vacuum-box route.
    """
    axes = (periodic,) * 3 if isinstance(periodic, bool) else tuple(bool(p) for p in periodic)
    n_atoms, box_diagonal = data_file_extent(Path(workdir or ".") / data_file)
    boundary = lammps_boundary(potential, axes, n_atoms, free_boundary)
    read = f"read_data {lammps_word(str(data_file))}"
    cmds = ["units metal", "atom_style atomic", f"boundary {boundary}", "atom_modify map array", read]
    # (LAMMPS' default spatial sort of atoms stays on: every read and write of per-atom data goes
    # by atom ID (gather/scatter), and 2-rank MD of the SW NC went from 1.59x to 1.89x with it)
    cmds += [f"mass {i} {masses[el]}" for i, el in enumerate(type_order, start=1)]
    return cmds + charge_commands(potential, type_order) + potential.lammps_commands(
        type_order, periodic=axes, n_atoms=n_atoms, span_angstrom=box_diagonal)


def charge_commands(potential: PotentialSet, type_order: list[str]) -> list[str]:
    """Charges of a charged set as a per-atom property (the atoms stay atom_style atomic), by type;
    after the atoms exist, before the pair style. Nothing for an uncharged set."""
    if not potential.charged:
        return []
    return ["fix charges all property/atom q ghost yes",
            *(f"set type {i} charge {potential.charges()[el]}" for i, el in enumerate(type_order, start=1))]


def data_file_extent(data_file: str | Path) -> tuple[int | None, float | None]:
    """Atom count and box diagonal (an upper bound of any interatomic distance) of a data file."""
    n_atoms, lengths = None, []
    if not Path(data_file).is_file():
        return None, None
    with open(data_file, encoding="utf-8") as fh:
        for line in fh:
            words = line.split()
            if len(words) >= 2 and words[1] == "atoms":
                n_atoms = int(words[0])
            elif len(words) >= 4 and words[2][1:] == "lo" and words[3][1:] == "hi":
                lengths.append(float(words[1]) - float(words[0]))
            elif words and words[0] in ("Atoms", "Masses"):
                break
    return n_atoms, (float(np.linalg.norm(lengths)) if len(lengths) == 3 else None)


def lammps_setup(type_order: list[str], masses: dict[str, float], potential: PotentialSet,
                 settings: MDSettings, data_file: str, periodic: bool | tuple[bool, bool, bool],
                 workdir: str | Path | None = None) -> list[str]:
    """LAMMPS commands up to (not including) the first ``run``; shared with the benchmark.

    Rigid-body motion: a free crystal has its linear and angular momentum zeroed (6 degrees of
    freedom removed from the temperature); a partly periodic one (chain, sheet) only its linear
    momentum (3): angular momentum about a periodic axis is not defined by LAMMPS' unwrapped
    coordinates, and a chain's spin about its own axis is removed later in the analysis.
    """
    axes = (periodic,) * 3 if isinstance(periodic, bool) else tuple(bool(p) for p in periodic)
    free, periodic = not any(axes), all(axes)
    t, dt_ps = settings.temperature_k, settings.timestep_fs / 1000
    seed = settings.seed
    cmds = system_commands(type_order, masses, potential, data_file, axes, workdir=workdir)
    neigh = "neigh_modify every 1 delay 0 check yes"
    if settings.neighbor_one:
        neigh += f" one {settings.neighbor_one} page {20 * settings.neighbor_one}"
    cmds += [neigh, f"timestep {dt_ps}"]
    if settings.mpi_ranks > 1:
        # Rebalance the ranks' slabs by their neighbour-list length (the pair work): with an
        # all-pairs Coulomb sum and Newton's third law the lower slab computes every cross pair
        # (3:1 for 2 ranks on the PbSe dot); see benchmarks/bench_mpi.py for the figures
        cmds.append("fix balance all balance 100 1.05 shift xyz 10 1.05 weight neigh 1.0")
    if not periodic:
        cmds.append(f"compute_modify thermo_temp extra/dof {6 if free else 3}")
    if settings.anneal_temperature_k and settings.anneal_ps:
        cmds += anneal_commands(settings, free)
    if settings.minimize_first:  # the worker records energies and forces around this 'minimize'
        cmds += minimize_commands(settings.minimize_fmax_ev_per_angstrom)
    cmds.append(f"velocity all create {t} {seed} mom yes rot {'yes' if free else 'no'} dist gaussian")
    damp = settings.damping_ps
    if settings.thermostat == "langevin":
        cmds += [f"fix thermostat all langevin {t} {t} {damp} {seed + 1} zero yes", "fix integrate all nve"]
    elif settings.thermostat == "csvr":
        cmds += [f"fix thermostat all temp/csvr {t} {t} {damp} {seed + 1}", "fix integrate all nve"]
    else:
        cmds += [f"fix integrate all nvt temp {t} {t} {damp}"]
    angular = " angular" if free else ""
    cmds += [f"fix zero_momentum all momentum 100 linear 1 1 1{angular}",
             "thermo_style custom step temp pe etotal", "thermo 1000"]
    return cmds


def anneal_commands(settings: MDSettings, free: bool) -> list[str]:
    """Langevin MD at the anneal temperature, then the fixes removed (the minimisation follows)."""
    t, seed = settings.anneal_temperature_k, settings.seed + 2
    steps = round(settings.anneal_ps * 1000 / settings.timestep_fs)
    angular = " angular" if free else ""
    return [f"velocity all create {t} {seed} mom yes rot {'yes' if free else 'no'} dist gaussian",
            f"fix anneal all langevin {t} {t} {settings.damping_ps} {seed + 1} zero yes", "fix anneal_nve all nve",
            f"fix anneal_zero all momentum 100 linear 1 1 1{angular}", f"run {steps}",
            "unfix anneal", "unfix anneal_nve", "unfix anneal_zero", "velocity all set 0 0 0"]


def prepare_run(atoms: Atoms, potential: PotentialSet, settings: MDSettings, workdir: Path) -> dict:
    """Write the data file and the worker spec; return the spec."""
    settings.validate()
    symbols = atoms.get_chemical_symbols()
    potential.check_covers(symbols)
    order = species_order(atoms)
    periodic = tuple(bool(p) for p in atoms.pbc)
    boxed = lammps_ready(atoms)
    shift = (boxed.positions[0] - atoms.positions[0]).tolist()  # same for all atoms before wrapping
    boxed.wrap()  # LAMMPS wants every atom inside the box along periodic axes
    write_structure(boxed, workdir / "structure.data")
    masses = {el: float(atoms.get_masses()[symbols.index(el)]) for el in order}
    equil, stride, n_frames = settings.steps
    # file names are relative to the work directory (the worker's cwd): LAMMPS splits a
    # read_data path at spaces, so an output folder named "run dir" must never reach it
    return {
        "commands": lammps_setup(order, masses, potential, settings, "structure.data", periodic, workdir),
        "equilibration_steps": equil, "stride": stride, "n_frames": n_frames,
        "timestep_fs": settings.timestep_fs, "temperature_k": settings.temperature_k,
        "max_temperature_deviation": settings.max_temperature_deviation,
        "output": "trajectory.npz", "log": "log.lammps",
        "production_ensemble": settings.production_ensemble, "thermostat": settings.thermostat,
        "store_velocities": settings.store_velocities,
        "shift_angstrom": shift, "threads": settings.threads,
    }


def _progress_line(settings: MDSettings, progress: Callable[[str], None] | None):
    if progress is None:
        return None
    return lambda phase, done, total: progress(f"MD {settings.temperature_k:g} K: {phase} "
                                               f"{100 * done // max(total, 1)} % (step {done}/{total})")


def run_nvt(atoms: Atoms, potential: PotentialSet, settings: MDSettings,
            workdir: str | Path | None = None, timeout_s: float | None = None,
            progress: Callable[[str], None] | None = None, max_workers: int | None = None) -> Trajectory:
    """Run one NVT trajectory of a free (or fully periodic) crystal in an isolated worker.

    ``progress`` receives a short line after equilibration and at every quarter of production.
    ``max_workers`` caps the LAMMPS workers running at once (default: the usable cores).
    """
    with tempfile.TemporaryDirectory(prefix="nclattice-md-") as tmp:
        # absolute: the worker starts inside ``work``, where a relative path means something else
        work = Path(workdir if workdir is not None else tmp).resolve()
        work.mkdir(parents=True, exist_ok=True)
        spec = prepare_run(atoms, potential, settings, work)
        spec_path = work / "spec.json"
        spec_path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
        t0 = time.perf_counter()
        try:
            rc, output = run_worker("lammps_worker", spec_path, threads=settings.threads, ranks=settings.mpi_ranks,
                                    timeout_s=timeout_s, on_progress=_progress_line(settings, progress),
                                    max_workers=max_workers, notify=progress)
        except WorkerTimeout:
            raise MDError(f"MD at {settings.temperature_k} K did not finish within {timeout_s} s.") from None
        if rc != 0 or not (work / spec["output"]).exists():
            cause = failure_cause(work, output, rc)
            raise MDError(f"MD at {settings.temperature_k} K failed: {cause}")
        with np.load(work / spec["output"]) as data:
            out = {k: data[k] for k in data.files}
        info = json.loads((work / "trajectory.json").read_text(encoding="utf-8"))
    from .drift import site_drift

    arrays = {k: np.asarray(v) for k, v in atoms.arrays.items() if k not in ("numbers", "positions")}
    positions = unwrap_periodic(out["positions"] - np.array(spec["shift_angstrom"]), atoms)
    sites = (unwrap_periodic(out["sites"] - np.array(spec["shift_angstrom"]), atoms) if "sites" in out
             else atoms.positions)
    return Trajectory(
        symbols=atoms.get_chemical_symbols(), masses_amu=atoms.get_masses(),
        times_ps=out["times_ps"], positions_angstrom=positions,
        velocities_angstrom_per_ps=out.get("velocities"),
        temperature_k=out["temperature_k"], potential_energy_ev=out["pe_ev"], settings=settings,
        potential=potential.record(), wall_s=time.perf_counter() - t0,
        lammps_version=info["lammps_version"], arrays=arrays, minimization=info.get("minimization", {}),
        site_drift=site_drift(positions, atoms.get_masses(), atoms.get_chemical_symbols(), arrays, sites,
                              pbc=tuple(bool(p) for p in atoms.pbc)),
        site_positions_angstrom=sites,
    )


def unwrap_periodic(frames: np.ndarray, atoms: Atoms) -> np.ndarray:
    """Undo LAMMPS' wrapping along periodic axes: each atom is placed at the image nearest its
    starting position (thermal motion stays far below half a period)."""
    out = np.array(frames, float)
    for axis in np.flatnonzero(atoms.pbc):
        length = atoms.cell[axis, axis]
        out[..., axis] += length * np.round((atoms.positions[:, axis] - out[..., axis]) / length)
    return out


def cpu_count() -> int:
    return usable_cores()
