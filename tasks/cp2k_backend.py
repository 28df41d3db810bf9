"""CP2K backend: ASE's CP2K calculator (cp2k shell mode) with the polaron paper's settings.

Defaults follow seed 002 (Methods and S4): unrestricted Kohn-Sham with MULTIPLICITY 1 or 3,
PBE, DZVP-MOLOPT-SR-GTH basis, GTH-PBE pseudopotentials, a cluster in a non-periodic box with
vacuum (Martyna-Tuckerman Poisson solver). The paper does not give its cutoffs or SCF scheme;
ours (400/50 Ry, orbital transformation with an outer loop) are common choices for a gapped
cluster and every one is a field of :class:`Cp2kBackend`.

CP2K only warns when an SCF does not converge and ASE passes the energy on, so
:class:`CheckedCP2K` reads CP2K's output after each evaluation and fails on
"SCF run NOT converged". A 64-atom singlet needed ~16 GB here: the paper-sized
Cs200Pb125Br450 is a cluster job (``mpi_ranks``, see flows/polaron.py).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import CalculationFailed, Calculator
from ase.calculators.cp2k import CP2K
from ase.units import Rydberg

from ..errors import NclatticeError

SHELL_BINARIES = ("cp2k_shell.psmp", "cp2k_shell.ssmp", "cp2k_shell.popt", "cp2k_shell.sopt",
                  "cp2k_shell")
MAIN_BINARIES = ("cp2k.psmp", "cp2k.ssmp", "cp2k.popt", "cp2k.sopt", "cp2k")
NOT_CONVERGED = "SCF run NOT converged"


def find_cp2k() -> str | None:
    """The cp2k shell command installed here ('cp2k_shell.psmp' or 'cp2k.psmp -s'), or None."""
    for name in SHELL_BINARIES:
        if shutil.which(name):
            return name
    for name in MAIN_BINARIES:
        if shutil.which(name):
            return f"{name} -s"
    return None


def scf_template(eps_scf: float, outer_max_scf: int, rel_cutoff_ry: float, extra: str) -> str:
    """SCF and grid sections ASE does not write itself (it adds MAX_SCF and CUTOFF)."""
    return f"""&FORCE_EVAL
  &DFT
    &MGRID
      REL_CUTOFF [Ry] {rel_cutoff_ry:g}
    &END MGRID
    &SCF
      EPS_SCF {eps_scf:g}
      SCF_GUESS ATOMIC
      &OT
        MINIMIZER DIIS
        PRECONDITIONER FULL_SINGLE_INVERSE
      &END OT
      &OUTER_SCF
        MAX_SCF {outer_max_scf:d}
        EPS_SCF {eps_scf:g}
      &END OUTER_SCF
    &END SCF
  &END DFT
&END FORCE_EVAL
{extra}"""


def output_reports_failure(text: str) -> bool:
    """Whether a chunk of CP2K output contains its (warning-only) SCF failure message."""
    return NOT_CONVERGED in text


class CheckedCP2K(CP2K):
    """ASE's CP2K calculator that fails, instead of warning, when an SCF did not converge."""

    def calculate(self, atoms=None, properties=None, system_changes=None):
        out = Path(self.label + ".out")
        start = out.stat().st_size if out.exists() else 0
        args = (atoms, properties) if system_changes is None else (atoms, properties, system_changes)
        try:
            super().calculate(*args)
            crashed = None
        except (AssertionError, OSError, ValueError, RuntimeError) as exc:  # shell died or aborted
            crashed = exc
        text = ""
        if out.exists():
            with open(out, errors="replace") as fh:
                fh.seek(start)
                text = fh.read()
        if output_reports_failure(text) or crashed is not None:
            self.results, self.atoms = {}, None  # never serve these numbers from the cache
            reason = NOT_CONVERGED if output_reports_failure(text) else f"cp2k failed: {crashed}"
            raise CalculationFailed(f"{reason} (see {out})") from crashed


class _InputOnlyCP2K(CP2K):
    """ASE's input generator without starting the cp2k shell (for dry runs)."""

    def __init__(self, label: str, **kwargs):
        self._debug, self._force_env_id = False, None
        self._shell = SimpleNamespace(version=5.0, close=lambda: None)  # PBE needs no version
        Calculator.__init__(self, label=label, **kwargs)


@dataclass(frozen=True)
class Cp2kBackend:
    """CP2K through ASE's shell-mode calculator; all of the paper's settings are fields."""

    xc: str = "PBE"
    basis_set: str = "DZVP-MOLOPT-SR-GTH"
    basis_set_file: str = "BASIS_MOLOPT"
    pseudo_potential: str = "GTH-PBE"
    potential_file: str = "GTH_POTENTIALS"
    data_dir: str | None = None  # None: CP2K's own data directory / $CP2K_DATA_DIR
    cutoff_ry: float = 400.0
    rel_cutoff_ry: float = 50.0
    max_scf: int = 50
    outer_max_scf: int = 20
    eps_scf: float = 1e-6
    vacuum_angstrom: float = 8.0
    mpi_ranks: int = 1
    mpi_launcher: str = "mpirun -np {ranks}"
    omp_threads: int = 1
    command: str | None = None  # None: detect cp2k_shell.psmp / cp2k.psmp -s
    workdir: str = "cp2k_work"
    set_pos_file: bool = False  # True for >100 atoms under MPI (needs CP2K >= 2024.2, ASE's advice)
    extra_input: str = ""
    name: str = field(default="cp2k", init=False)
    max_attempts: int = field(default=1, init=False)

    def settings(self, attempt: int = 0) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("name", "max_attempts")}

    def prepare(self, atoms: Atoms) -> Atoms:
        """A copy centred in an orthogonal non-periodic box with ``vacuum_angstrom`` each side."""
        out = atoms.copy()
        lo, hi = out.positions.min(0), out.positions.max(0)
        lengths = hi - lo + 2 * self.vacuum_angstrom
        out.cell = np.diag(lengths)
        out.positions = out.positions - lo + self.vacuum_angstrom
        out.pbc = False
        return out

    def shell_command(self) -> str:
        binary = self.command or find_cp2k()
        if binary is None:
            raise NclatticeError("the cp2k program is not installed here (no cp2k_shell.psmp or "
                                 "cp2k.psmp on PATH); install CP2K or use --backend xtb.")
        env = f"env OMP_NUM_THREADS={self.omp_threads} "
        if self.data_dir:
            env += f"CP2K_DATA_DIR={self.data_dir} "
        launcher = self.mpi_launcher.format(ranks=self.mpi_ranks) + " " if self.mpi_ranks > 1 else ""
        return env + launcher + binary

    def _parameters(self, multiplicity: int, charge: int) -> dict[str, Any]:
        def data(name):
            return str(Path(self.data_dir) / name) if self.data_dir else name

        return dict(xc=self.xc, uks=True, multiplicity=multiplicity, charge=charge,
                    basis_set=self.basis_set, basis_set_file=data(self.basis_set_file),
                    pseudo_potential=self.pseudo_potential,
                    potential_file=data(self.potential_file), cutoff=self.cutoff_ry * Rydberg,
                    max_scf=self.max_scf, stress_tensor=False, poisson_solver="auto",
                    print_level="LOW", set_pos_file=self.set_pos_file,
                    inp=scf_template(self.eps_scf, self.outer_max_scf, self.rel_cutoff_ry,
                                     self.extra_input))

    def label(self, multiplicity: int) -> str:
        return str(Path(self.workdir).resolve() / f"spin_multiplicity{multiplicity}")

    def calculator(self, multiplicity: int, charge: int, attempt: int = 0) -> Calculator:
        os.makedirs(self.workdir, exist_ok=True)
        return CheckedCP2K(command=self.shell_command(), label=self.label(multiplicity),
                           **self._parameters(multiplicity, charge))

    def input_text(self, atoms: Atoms, multiplicity: int, charge: int) -> str:
        """The force-environment input the calculator would load for ``atoms`` (prepared)."""
        calc = _InputOnlyCP2K(label=self.label(multiplicity),
                              **self._parameters(multiplicity, charge))
        calc.atoms = self.prepare(atoms)
        return calc._generate_input() + "\n"
