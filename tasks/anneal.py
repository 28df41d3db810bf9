"""The start of every MD-based analysis: the crystal annealed, then minimised.

An as-cut nanocrystal has two-coordinated surface atoms in shallow minima; minimised as cut,
MD at 50-150 K carries some of them over to deeper minima, and their jumps add to ⟨u²⟩
(a 2.0 nm CdSe dot with Zhou 2013 Stillinger-Weber: 5-9 atoms off their sites, Cd ⟨u²⟩ up to
+32 % above the harmonic limit). A short Langevin anneal lets them find a deeper basin before
the conjugate-gradient minimisation, so that production MD vibrates about one minimum.

The anneal and minimisation run in the MD worker (:func:`nclattice.tasks.md.run_nvt`, the one
way LAMMPS MD is launched), followed by a single MD step that is discarded: the worker's
minimised sites are the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ase import Atoms

from ..potentials import PotentialSet
from .md import MDError, MDSettings, run_nvt

ANNEAL_THERMOSTAT = "langevin"


@dataclass(frozen=True)
class AnnealProtocol:
    """Anneal (Langevin NVT at ``temperature_k`` for ``duration_ps``; 0 K = none), then CG minimisation."""

    temperature_k: float
    duration_ps: float
    timestep_fs: float = 2.0
    damping_ps: float = 0.1
    seed: int = 12345
    fmax_ev_per_angstrom: float = 1e-4  # largest force component at the minimum

    @property
    def anneals(self) -> bool:
        return self.temperature_k > 0 and self.duration_ps > 0

    def record(self) -> dict:
        """The protocol as stored with the structure (0 K and 0 ps when there is no anneal)."""
        fields = asdict(self)
        if not self.anneals:
            fields.update(temperature_k=0.0, duration_ps=0.0)
        return {"anneal_temperature_k": fields["temperature_k"], "anneal_ps": fields["duration_ps"],
                "anneal_timestep_fs": self.timestep_fs, "anneal_damping_ps": self.damping_ps,
                "anneal_thermostat": ANNEAL_THERMOSTAT if self.anneals else "none", "anneal_seed": self.seed,
                "minimisation": "LAMMPS min_style cg",
                "minimisation_fmax_ev_per_angstrom": self.fmax_ev_per_angstrom}


def anneal_and_minimise(atoms: Atoms, potential: PotentialSet, protocol: AnnealProtocol,
                        workdir: str | Path | None = None,
                        progress: Callable[[str], None] | None = None) -> tuple[Atoms, dict]:
    """The annealed and minimised crystal (labels and info kept) and its record: the protocol,
    the minimised potential energy ``energy_ev`` and the minimisation record."""
    settings = MDSettings(
        temperature_k=protocol.temperature_k if protocol.anneals else 1.0,
        equilibration_ps=0.0, production_ps=protocol.timestep_fs / 1000, timestep_fs=protocol.timestep_fs,
        sample_every_fs=protocol.timestep_fs, damping_ps=protocol.damping_ps, seed=protocol.seed,
        minimize_first=True, minimize_fmax_ev_per_angstrom=protocol.fmax_ev_per_angstrom,
        anneal_temperature_k=protocol.temperature_k if protocol.anneals else 0.0,
        anneal_ps=protocol.duration_ps if protocol.anneals else 0.0,
        max_temperature_deviation=1e9)  # the one step after the minimum is discarded: its T is not checked
    try:
        traj = run_nvt(atoms, potential, settings, workdir=workdir, progress=progress)
    except MDError as exc:
        what = "anneal and minimisation" if protocol.anneals else "minimisation"
        raise MDError(str(exc).replace(f"MD at {settings.temperature_k} K", f"the {what}", 1)) from None
    minimisation = traj.minimization
    summary = {**protocol.record(), "energy_ev": minimisation["energy_final_ev"],
               "minimisation_converged": minimisation["converged"],
               "minimisation_max_force_ev_per_angstrom": minimisation["max_force_ev_per_angstrom"],
               "potential": potential.name}
    minimised = atoms.copy()
    minimised.positions = traj.site_positions_angstrom
    minimised.info.update(summary)  # written into the extxyz header with the structure
    return minimised, {**summary, "minimization": minimisation, "lammps_version": traj.lammps_version}
