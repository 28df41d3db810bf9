"""Validation of interatomic parameter sets against measured bulk data.

For a set and its bulk crystal: the 0 K lattice constant (cell relaxed with the set), the bulk
modulus (Birch-Murnaghan fit of E(V) over ±3 % in volume, positions relaxed at each volume),
a 300 K NVT run of a periodic supercell at the relaxed lattice constant (phase kept: largest
deviation of time-averaged positions from the lattice sites, and the space group of the
time-averaged structure), the MD speed (atom-steps per second of wall time, one thread), and
the per-element one-dimensional ⟨u_n²⟩ = ⟨u²⟩_3D/3 at 300 K against the quantum Debye model
with the measured Debye temperatures (tasks/debye.py). Ratios are reported, never tuned.
Optionally the harmonic phonons of the relaxed periodic supercell (Γ point of the supercell, the
Hessian by central differences): its density of states, highest frequency, and the classical
harmonic ⟨u_n²⟩ per element at 300 K, the limit the MD value approaches when anharmonicity is small.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.eos import EquationOfState
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS
from ase.units import GPa

from ..potentials import PotentialSet
from .debye import msd_1d_angstrom2
from .lammps_calc import lammps_calculator
from .md import MDSettings, run_nvt
from .msd import msd_from_frames


@dataclass(frozen=True)
class BulkReference:
    """Measured bulk data a set is compared with (each number with its source)."""

    formula: str
    lattice: str  # rocksalt, zincblende, perovskite, wurtzite
    a_angstrom: float
    spacegroup: int
    repeat: tuple[int, int, int]
    bulk_modulus_gpa: float | None = None
    c_angstrom: float | None = None
    debye_temperatures_k: dict[str, float] = field(default_factory=dict)
    sources: str = ""


def bulk_cell(ref: BulkReference, a: float, c: float | None = None) -> Atoms:
    """Conventional orthogonal cell of the reference lattice with lattice constant a (and c)."""
    if ref.lattice == "perovskite":
        cs, pb, br = (s for s in ("Cs", "Pb", "Br"))
        return Atoms([pb, br, br, br, cs], scaled_positions=[(0, 0, 0), (0.5, 0, 0), (0, 0.5, 0),
                                                              (0, 0, 0.5), (0.5, 0.5, 0.5)],
                     cell=np.eye(3) * a, pbc=True)
    if ref.lattice == "wurtzite":
        return bulk(ref.formula, "wurtzite", a=a, c=c or ref.c_angstrom, orthorhombic=True)
    return bulk(ref.formula, ref.lattice, a=a, cubic=True)


def relax_bulk(atoms: Atoms, potential: PotentialSet, fmax: float = 1e-4) -> Atoms:
    """Cell and positions relaxed with the set (BFGS on the Frechet cell filter)."""
    relaxed = atoms.copy()
    relaxed.calc = lammps_calculator(relaxed, potential)
    BFGS(FrechetCellFilter(relaxed), logfile=None).run(fmax=fmax, steps=500)
    return relaxed


def bulk_modulus_gpa(atoms: Atoms, potential: PotentialSet, strain: float = 0.03, points: int = 7) -> float:
    """B from a Birch-Murnaghan fit of E(V); positions relaxed at every volume."""
    volumes, energies = [], []
    for s in np.linspace(1 - strain, 1 + strain, points):
        scaled = atoms.copy()
        scaled.set_cell(atoms.cell * s ** (1 / 3), scale_atoms=True)
        scaled.calc = lammps_calculator(scaled, potential)
        BFGS(scaled, logfile=None).run(fmax=1e-4, steps=300)
        volumes.append(scaled.get_volume())
        energies.append(scaled.get_potential_energy())
    _, _, b = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    return float(b / GPa)


def md_check(relaxed_cell: Atoms, ref: BulkReference, potential: PotentialSet, temperature_k: float = 300.0,
             production_ps: float = 20.0, equilibration_ps: float = 5.0, seed: int = 2024) -> dict:
    """NVT of the periodic supercell: phase kept, speed, per-element ⟨u_n²⟩ against the Debye model."""
    import spglib

    cell = relaxed_cell.repeat(ref.repeat)
    cell.pbc = True
    settings = MDSettings(temperature_k=temperature_k, equilibration_ps=equilibration_ps,
                          production_ps=production_ps, seed=seed)
    t0 = time.perf_counter()
    traj = run_nvt(cell, potential, settings)
    wall = time.perf_counter() - t0
    steps = sum(settings.steps[:1]) + settings.steps[1] * settings.steps[2]
    result = msd_from_frames(traj.positions_angstrom, traj.masses_amu, pbc=(True, True, True))
    mean = traj.positions_angstrom.mean(0)
    drift = mean - cell.positions
    drift -= np.average(drift, axis=0, weights=cell.get_masses())
    averaged = cell.copy()
    averaged.positions = mean
    group = spglib.get_symmetry_dataset((averaged.cell.array, averaged.get_scaled_positions(),
                                         averaged.numbers), symprec=0.2)
    symbols = np.array(cell.get_chemical_symbols())
    per_element = {}
    for el in sorted(set(symbols)):
        md_value = float(result.per_atom_angstrom2[symbols == el].mean() / 3)
        entry = {"md_u1d_angstrom2": md_value}
        theta = ref.debye_temperatures_k.get(el)
        if theta:
            measured = msd_1d_angstrom2(float(cell.get_masses()[symbols == el][0]), theta, temperature_k)
            entry.update({"debye_u1d_angstrom2": measured, "ratio_md_to_measured": md_value / measured})
        per_element[el] = entry
    return {"atoms": len(cell), "production_ps": production_ps,
            "max_site_deviation_angstrom": float(np.linalg.norm(drift, axis=1).max()),
            "spacegroup_time_averaged": int(group.number) if group is not None else None,
            "phase_kept": bool(group is not None and group.number == ref.spacegroup),
            "atom_steps_per_s": len(cell) * steps / wall, "mean_temperature_k": float(traj.temperature_k.mean()),
            "per_element": per_element}


def bulk_phonons(relaxed_cell: Atoms, ref: BulkReference, potential: PotentialSet,
                 temperature_k: float = 300.0) -> dict:
    """Harmonic modes of the periodic supercell at the relaxed lattice constant: DOS (0.1 THz
    Gaussian broadening), highest and median frequency, classical harmonic ⟨u_n²⟩ per element."""
    from .phonons import density_of_states, harmonic_msd, minimize_and_hessian, normal_modes

    cell = relaxed_cell.repeat(ref.repeat)
    cell.pbc = True
    static = minimize_and_hessian(cell, potential, minimize=False)
    modes = normal_modes(static.hessian_ev_a2, cell.get_masses(), cell.positions, free=False)
    vib = np.setdiff1d(np.arange(len(modes.frequencies_thz)), modes.rigid_body_modes)
    freq = modes.frequencies_thz[vib]
    grid, dos = density_of_states(freq, grid_thz=np.linspace(0.0, 10.0, 201))
    symbols = np.array(cell.get_chemical_symbols())
    out = {"atoms": len(cell), "max_frequency_thz": float(freq.max()), "median_frequency_thz": float(np.median(freq)),
           "imaginary_modes": int((freq < 0).sum()), "dos_grid_thz": grid.round(3).tolist(),
           "dos_per_thz": dos.round(4).tolist()}
    if not out["imaginary_modes"]:
        per_atom = harmonic_msd(modes, cell.get_masses(), temperature_k)
        out["harmonic_u1d_angstrom2"] = {el: float(per_atom[symbols == el].mean() / 3) for el in sorted(set(symbols))}
    return out


def validate(potential: PotentialSet, ref: BulkReference, production_ps: float = 20.0,
             phonons: bool = False) -> dict:
    """All validation numbers of one set against one bulk reference."""
    relaxed = relax_bulk(bulk_cell(ref, ref.a_angstrom), potential)
    lengths = relaxed.cell.cellpar()[:3]
    a = float(lengths[0])
    c = float(lengths[2]) if ref.lattice == "wurtzite" else None
    out = {"reference": ref.__dict__, "a_angstrom": a, "a_ratio": a / ref.a_angstrom}
    if c is not None:
        out.update({"c_angstrom": c, "c_ratio": c / float(ref.c_angstrom)})
    b = bulk_modulus_gpa(relaxed, potential)
    out["bulk_modulus_gpa"] = b
    if ref.bulk_modulus_gpa:
        out["bulk_modulus_ratio"] = b / ref.bulk_modulus_gpa
    out["md_300k"] = md_check(relaxed, ref, potential, production_ps=production_ps)
    if phonons:
        out["phonons"] = bulk_phonons(relaxed, ref, potential)
    return out
