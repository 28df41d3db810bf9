"""Singlet and triplet relaxations and the exciton-polaron displacement field.

Backends are ASE calculators behind one small interface (:class:`Backend`): a backend
prepares the structure (e.g. a vacuum box for CP2K) and builds a calculator for a given
spin multiplicity and charge; ``attempt`` > 0 asks for the fallback settings used after an
SCF failure. :class:`XtbBackend` (GFN2-xTB through tblite) is the default, the CP2K backend
lives in :mod:`nclattice.tasks.cp2k_backend`, and any ASE calculator (or a factory
``(multiplicity, charge) -> Calculator``) can be wrapped with :func:`as_backend`.

SCF non-convergence is an error, never a result: the guard retries once from a fresh guess
with looser settings (measured here: GFN2 recovers with accuracy 10 where damping and
electronic temperature did not), records the step at which it did, and otherwise raises
:class:`SCFNotConverged`.

Analysis follows the supplement of Shen et al. (supplement S4): relaxation energy
E_T(S0 geometry) - E_T(relaxed) (56 meV mean over 5 models for Cs200Pb125Br450 with
CP2K/PBE), Stokes shift = 2 x that, adiabatic gap E_T(relaxed) - E_S(relaxed) (2.479 eV),
displacement field u = r(S=1) - r(S=0) after removing rigid-body motion (tasks/alignment.py), and per species
the slope of each component of u against each coordinate (Table S2 layout).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any, Protocol

import numpy as np
from ase import Atoms
from ase.calculators.calculator import CalculationFailed, Calculator, all_changes
from ase.optimize import BFGS

from ..errors import NclatticeError
from ..results import pyplot

PPM = 1e6
OPENBLAS_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
    "/usr/lib64/libopenblas.so.0",
)


class SCFNotConverged(NclatticeError):
    """The electronic structure did not converge, also after the fallback settings."""


# ----------------------------------------------------------------------------- BLAS
@cache
def prefer_openblas(path: str | None = None) -> str | None:
    """Load a system OpenBLAS with global symbols before tblite's bundled reference BLAS.

    tblite's wheels ship a reference BLAS; a 64-atom CsPbBr3 GFN2 single point takes ~5 s with
    it and ~1 s with OpenBLAS on the same core (benchmarks/bench_spin.py). Nothing is required:
    without OpenBLAS (or with NCLATTICE_OPENBLAS=0) the bundled BLAS is used. Returns the path
    loaded, or None. Only effective before tblite's library is loaded.
    """
    if os.environ.get("NCLATTICE_OPENBLAS", "") in ("0", "no", "false"):
        return None
    if "tblite.library" in sys.modules:  # symbols already bound to the bundled BLAS
        return None
    found = ctypes.util.find_library("openblas")
    candidates = [p for p in (path, os.environ.get("NCLATTICE_OPENBLAS"), *OPENBLAS_CANDIDATES,
                              found) if p]
    for candidate in candidates:
        try:
            ctypes.CDLL(candidate, mode=ctypes.RTLD_GLOBAL)
            return candidate
        except OSError:
            continue
    return None


# ----------------------------------------------------------------------------- backends
class Backend(Protocol):
    """What the relaxation task needs from an electronic-structure backend."""

    name: str
    max_attempts: int

    def prepare(self, atoms: Atoms) -> Atoms: ...

    def calculator(self, multiplicity: int, charge: int, attempt: int = 0) -> Calculator: ...

    def settings(self, attempt: int = 0) -> dict[str, Any]: ...


@dataclass(frozen=True)
class XtbBackend:
    """GFN2-xTB through tblite; the spin state is set by the number of unpaired electrons.

    ``spin_polarization`` None is plain GFN2 with multiplicity - 1 unpaired electrons
    (restricted open-shell-like occupations); 1.0 switches on tblite's spin-polarization
    term, closer to the unrestricted Kohn-Sham of the paper (measured: 2x slower, triplet
    energy of Cs20Pb8Br36 lower by 0.03 eV). The singlet is the closed-shell one: the SAD guess
    has equal alpha and beta densities, which the SCF keeps. tblite's interface takes no
    starting spin density, so there is no defined broken-symmetry singlet here.
    """

    method: str = "GFN2-xTB"
    accuracy: float = 1.0
    retry_accuracy: float = 10.0
    electronic_temperature_k: float = 300.0
    max_iterations: int = 250
    spin_polarization: float | None = None
    singlet: str = "closed-shell"
    name: str = field(default="xtb", init=False)
    max_attempts: int = field(default=2, init=False)

    def __post_init__(self):
        if self.singlet != "closed-shell":
            raise NclatticeError(
                "the xtb backend computes the closed-shell singlet only: tblite takes no starting "
                "spin density (no per-atom magnetisation, no settable density), so a broken-symmetry "
                "singlet would be left to rounding; use --backend cp2k --singlet broken-symmetry.")

    def describe_attempt(self, attempt: int) -> str:
        return (f"{self.method} from a fresh SAD guess, accuracy "
                f"{self.accuracy if attempt == 0 else self.retry_accuracy:g}")

    def prepare(self, atoms: Atoms) -> Atoms:
        out = atoms.copy()
        out.pbc = False
        return out

    def settings(self, attempt: int = 0) -> dict[str, Any]:
        params = {k: v for k, v in asdict(self).items() if k not in ("name", "max_attempts")}
        params["accuracy_used"] = self.accuracy if attempt == 0 else self.retry_accuracy
        params["guess"] = "sad"
        return params

    def calculator(self, multiplicity: int, charge: int, attempt: int = 0) -> Calculator:
        prefer_openblas()
        from tblite.ase import TBLite  # import after the BLAS preload

        # a new object means a fresh SAD guess; the retry also loosens the accuracy
        return TBLite(method=self.method, charge=charge, multiplicity=multiplicity,
                      accuracy=self.settings(attempt)["accuracy_used"],
                      electronic_temperature=self.electronic_temperature_k,
                      max_iterations=self.max_iterations,
                      spin_polarization=self.spin_polarization, verbosity=0)


@dataclass(frozen=True)
class CalculatorBackend:
    """Any ASE calculator: a factory ``(multiplicity, charge) -> Calculator`` or one instance
    (used as given, so it must already describe the requested spin state)."""

    factory: Callable[[int, int], Calculator]
    name: str = "ase"
    spin_aware: bool = True
    max_attempts: int = field(default=1, init=False)

    def prepare(self, atoms: Atoms) -> Atoms:
        return atoms.copy()

    def settings(self, attempt: int = 0) -> dict[str, Any]:
        return {"calculator": self.name}

    def calculator(self, multiplicity: int, charge: int, attempt: int = 0) -> Calculator:
        return self.factory(multiplicity, charge)


def make_backend(name: str, **settings: Any) -> Backend:
    """A backend by name ('xtb' or 'cp2k') with its settings as keyword arguments."""
    if name == "xtb":
        return XtbBackend(**settings)
    if name == "cp2k":
        from .cp2k_backend import Cp2kBackend

        return Cp2kBackend(**settings)
    raise NclatticeError(f"unknown backend '{name}'; use xtb or cp2k (or pass an ASE calculator).")


def as_backend(backend: str | Backend | Calculator | Callable[[int, int], Calculator]) -> Backend:
    if isinstance(backend, str):
        return make_backend(backend)
    if isinstance(backend, Calculator):
        return CalculatorBackend(lambda m, q: backend, name=type(backend).__name__,
                                 spin_aware=False)
    if hasattr(backend, "calculator") and hasattr(backend, "prepare"):
        return backend
    if callable(backend):
        return CalculatorBackend(backend, name=getattr(backend, "__name__", "ase"))
    raise NclatticeError("the backend must be 'xtb', 'cp2k', an ASE calculator or a factory "
                         "(multiplicity, charge) -> calculator.")


def check_spin_parity(atoms: Atoms, multiplicity: int, charge: int) -> None:
    """Multiplicity 1 and 3 need an even electron count, 2 an odd one (cores are even)."""
    if multiplicity < 1:
        raise NclatticeError(f"the spin multiplicity must be 1 or more, got {multiplicity}.")
    electrons = int(atoms.numbers.sum()) - int(charge)
    if (electrons + multiplicity - 1) % 2 == 1:
        raise NclatticeError(
            f"{atoms.get_chemical_formula()} with charge {charge:+d} has {electrons} electrons, "
            f"which cannot form multiplicity {multiplicity}; change --charge."
        )


class GuardedCalculator(Calculator):
    """Energy and forces from a backend, retried with its fallback settings on SCF failure."""

    implemented_properties = ("energy", "free_energy", "forces")

    def __init__(self, backend: Backend, multiplicity: int, charge: int, attempt: int = 0,
                 label: str = "calculation"):
        super().__init__()
        self.backend, self.multiplicity, self.charge = backend, multiplicity, charge
        self.attempt, self.label_text = attempt, label
        self.inner = backend.calculator(multiplicity, charge, attempt)
        self.step = 0
        self.retried_at_steps: list[int] = []

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        failures: list[str] = []
        while True:
            work = self.atoms.copy()
            work.calc = self.inner
            try:
                energy, forces = work.get_potential_energy(), work.get_forces()
                break
            except CalculationFailed as exc:
                self.close()
                reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "failed"
                failures.append(f"attempt {self.attempt + 1}, {describe_attempt(self.backend, self.attempt)}: "
                                f"{reason}")
                if self.attempt + 1 >= self.backend.max_attempts:
                    raise SCFNotConverged(
                        f"the {self.backend.name} SCF of the {self.label_text} did not converge at "
                        f"step {self.step} ({'; '.join(failures)}); check the structure or change "
                        "the SCF settings."
                    ) from exc
                self.attempt += 1
                self.retried_at_steps.append(self.step)
                self.inner = self.backend.calculator(self.multiplicity, self.charge, self.attempt)
        self.results = {"energy": float(energy), "free_energy": float(energy),
                        "forces": np.array(forces)}

    def close(self) -> None:
        """Stop the engine's process if it keeps one (CP2K's shell holds the whole system)."""
        if hasattr(self.inner, "close"):
            self.inner.close()

    def scf_record(self) -> dict[str, Any]:
        """Settings of the attempt that gave the numbers, retries, and <S^2> where the engine
        reports it (CP2K; None otherwise)."""
        return {"settings": self.backend.settings(self.attempt), "attempt": self.attempt,
                "retried": bool(self.retried_at_steps), "retried_at_steps": self.retried_at_steps,
                "s_squared": getattr(self.inner, "s_squared", None)}


def describe_attempt(backend: Backend, attempt: int) -> str:
    """What one attempt of a backend does, in words (its settings where it cannot say)."""
    describe = getattr(backend, "describe_attempt", None)
    return describe(attempt) if describe is not None else f"settings {backend.settings(attempt)}"


# ----------------------------------------------------------------------------- relaxation
@dataclass
class RelaxCheckpoint:
    """Everything needed to continue a BFGS relaxation exactly where it stopped."""

    positions: np.ndarray
    step: int
    log: list[tuple[int, float, float]]
    hessian: np.ndarray | None = None
    pos0: np.ndarray | None = None
    forces0: np.ndarray | None = None
    maxstep: float = 0.2
    attempt: int = 0
    retried_at_steps: list[int] = field(default_factory=list)


@dataclass
class RelaxResult:
    atoms: Atoms
    energy_ev: float
    forces_ev_per_angstrom: np.ndarray
    max_force_ev_per_angstrom: float
    converged: bool
    steps: int
    log: list[tuple[int, float, float]]
    scf: dict[str, Any]


class _ResumableBFGS(BFGS):
    """ASE's BFGS whose restart data goes to a callback and can be handed back in memory."""

    def __init__(self, atoms, on_dump, resume: RelaxCheckpoint | None, **kwargs):
        self._on_dump, self._resume = on_dump, resume
        super().__init__(atoms, logfile=None, **kwargs)
        if resume is not None and resume.hessian is not None:
            self.read()  # BFGS's own restart path, fed by load() below

    def load(self):
        r = self._resume
        return (np.array(r.hessian), np.array(r.pos0), np.array(r.forces0), r.maxstep)

    def dump(self, data):
        if self._on_dump is not None:
            self._on_dump(data)


def max_force(forces: np.ndarray) -> float:
    """Largest per-atom force norm, ASE's fmax criterion."""
    return float(np.linalg.norm(forces, axis=1).max()) if len(forces) else 0.0


def relax(atoms: Atoms, backend: str | Backend | Calculator, multiplicity: int = 1, charge: int = 0,
          fmax: float = 0.05, max_steps: int = 500, *, label: str = "relaxation",
          resume: RelaxCheckpoint | None = None,
          on_checkpoint: Callable[[RelaxCheckpoint], None] | None = None,
          progress: Callable[[str, int, float, float], None] | None = None) -> RelaxResult:
    """BFGS relaxation in one spin state; ``max_steps`` counts the steps of earlier sessions."""
    backend = as_backend(backend)
    check_spin_parity(atoms, multiplicity, charge)
    work = backend.prepare(atoms)
    start_step, log = 0, []
    if resume is not None:
        work.positions = resume.positions
        start_step, log = resume.step, [tuple(x) for x in resume.log]
    calc = GuardedCalculator(backend, multiplicity, charge,
                             attempt=resume.attempt if resume else 0, label=label)
    if resume is not None:
        calc.retried_at_steps = list(resume.retried_at_steps)
    work.calc = calc
    calc.step = start_step
    state = {"step": start_step}

    def dump(data):  # called by BFGS right after it moved the atoms
        if on_checkpoint is not None:
            hessian, pos0, forces0, maxstep = data[:4]
            on_checkpoint(RelaxCheckpoint(
                positions=work.positions.copy(), step=state["step"] + 1, log=list(log),
                hessian=np.array(hessian), pos0=np.array(pos0), forces0=np.array(forces0),
                maxstep=float(maxstep), attempt=calc.attempt,
                retried_at_steps=list(calc.retried_at_steps)))

    opt = _ResumableBFGS(work, dump, resume)
    converged = False
    for step_converged in opt.irun(fmax=fmax, steps=max(max_steps - start_step, 0)):
        state["step"] = start_step + opt.nsteps
        calc.step = state["step"] + 1
        energy, forces = work.get_potential_energy(), work.get_forces()
        entry = (state["step"], float(energy), max_force(forces))
        if not log or log[-1][0] != entry[0]:
            log.append(entry)
        if progress is not None:
            progress(label, *entry)
        converged = bool(step_converged)
    energy, forces = work.get_potential_energy(), work.get_forces()
    calc.close()
    final = work.copy()
    final.calc = None
    final.info.update({"energy_ev": float(energy), "multiplicity": multiplicity, "charge": charge,
                       "backend": backend.name})
    return RelaxResult(atoms=final, energy_ev=float(energy), forces_ev_per_angstrom=forces.copy(),
                       max_force_ev_per_angstrom=max_force(forces), converged=converged,
                       steps=state["step"], log=log, scf=calc.scf_record())


@dataclass
class SinglePoint:
    energy_ev: float
    forces_ev_per_angstrom: np.ndarray
    scf: dict[str, Any]


def single_point(atoms: Atoms, backend: str | Backend | Calculator, multiplicity: int = 1,
                 charge: int = 0, *, label: str = "single point") -> SinglePoint:
    """Energy and forces at a fixed geometry (e.g. the vertical triplet at the singlet geometry)."""
    backend = as_backend(backend)
    check_spin_parity(atoms, multiplicity, charge)
    work = backend.prepare(atoms)
    work.calc = GuardedCalculator(backend, multiplicity, charge, label=label)
    energy = float(work.get_potential_energy())
    forces = work.get_forces().copy()
    work.calc.close()
    return SinglePoint(energy, forces, work.calc.scf_record())


# ----------------------------------------------------------------------------- analysis
def polaron_energetics(energy_singlet_ev: float, energy_triplet_vertical_ev: float,
                       energy_triplet_relaxed_ev: float) -> dict[str, float]:
    """Relaxation energy, Stokes shift (2x, as in the paper's S4), adiabatic and vertical gaps."""
    relaxation = energy_triplet_vertical_ev - energy_triplet_relaxed_ev
    return {
        "relaxation_energy_ev": relaxation,
        "stokes_shift_ev": 2.0 * relaxation,
        "adiabatic_gap_ev": energy_triplet_relaxed_ev - energy_singlet_ev,
        "vertical_gap_ev": energy_triplet_vertical_ev - energy_singlet_ev,
    }


def _slope_and_stderr(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Ordinary least-squares slope of y on x and its standard error (NaN below 3 points)."""
    n = len(x)
    sxx = float(((x - x.mean()) ** 2).sum()) if n else 0.0
    if n < 3 or sxx <= 1e-12:
        return float("nan"), float("nan")
    slope = float(((x - x.mean()) * (y - y.mean())).sum() / sxx)
    resid = y - y.mean() - slope * (x - x.mean())
    return slope, float(np.sqrt((resid @ resid) / (n - 2) / sxx))


def regression_table(coords_angstrom: np.ndarray, u_angstrom: np.ndarray, symbols: list[str],
                     exclude_outer_layers: bool = False,
                     layer_tolerance_angstrom: float = 1.0) -> dict[str, dict[str, Any]]:
    """Per species, slope of u_i against coordinate j (rows i = displacement component,
    columns j = coordinate) in ppm, with standard errors: Table S2 of Shen et al., XFEL exciton-polaron paper.

    The slope du_i/dr_j is a strain (length/length), so 'ppm of the interatomic distance'
    per interatomic distance is 1e6 x the slope whatever the length unit. With
    ``exclude_outer_layers`` the atoms of the outermost layer on both sides along j are
    left out of the fits against j, as for the paper's Fig. S4.
    """
    symbols_arr = np.asarray(symbols)
    table = {}
    for species in sorted(set(symbols)):
        sel = symbols_arr == species
        r, u = coords_angstrom[sel], u_angstrom[sel]
        slope, err = np.full((3, 3), np.nan), np.full((3, 3), np.nan)
        counts = []
        for j in range(3):
            keep = np.ones(len(r), bool)
            if exclude_outer_layers and len(r):
                keep = ((r[:, j] > r[:, j].min() + layer_tolerance_angstrom)
                        & (r[:, j] < r[:, j].max() - layer_tolerance_angstrom))
            counts.append(int(keep.sum()))
            for i in range(3):
                slope[i, j], err[i, j] = _slope_and_stderr(r[keep, j], u[keep, i])
        table[species] = {"slope_ppm": slope * PPM, "stderr_ppm": err * PPM,
                          "atoms": int(sel.sum()), "atoms_per_coordinate": counts}
    return table


def radial_profile(coords_angstrom: np.ndarray, u_angstrom: np.ndarray, symbols: list[str],
                   bin_width_angstrom: float = 1.5) -> dict[str, dict[str, list[float]]]:
    """Mean radial displacement u.r_hat (Å, > 0 outward) per species in shells of distance."""
    r = np.linalg.norm(coords_angstrom, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        u_radial = np.where(r > 1e-6, (u_angstrom * coords_angstrom).sum(1) / r, 0.0)
    edges = np.arange(0.0, r.max() + bin_width_angstrom + 1e-9, bin_width_angstrom)
    symbols_arr, out = np.asarray(symbols), {}
    for species in sorted(set(symbols)):
        sel = symbols_arr == species
        idx = np.digitize(r[sel], edges) - 1
        rows = [(0.5 * (edges[k] + edges[k + 1]), float(u_radial[sel][idx == k].mean()),
                 int((idx == k).sum())) for k in sorted(set(idx.tolist()))]
        out[species] = {"r_angstrom": [x[0] for x in rows],
                        "u_radial_angstrom": [x[1] for x in rows], "atoms": [x[2] for x in rows]}
    return out


NO_DISPLACEMENT_ANGSTROM = 1e-4  # below this a relaxation did not move a species (noise level)


def plot_displacement(coords_angstrom: np.ndarray, u_angstrom: np.ndarray, symbols: list[str],
                      table: dict[str, dict[str, Any]] | None = None, title: str = ""):
    """Figure S3/S4 of Shen et al.: per species, the (x, y) projection coloured by u_x (blue =
    towards +x) and u_x against x with its regression line."""
    plt = pyplot()

    species = sorted(set(symbols))
    symbols_arr = np.asarray(symbols)
    fig, axes = plt.subplots(2, len(species), figsize=(3.9 * len(species), 7.0), squeeze=False)
    edge = float(np.abs(coords_angstrom[:, :2]).max()) * 1.1 + 0.5
    for k, sp in enumerate(species):
        sel = symbols_arr == sp
        r, u = coords_angstrom[sel], u_angstrom[sel]
        top, bottom = axes[0, k], axes[1, k]
        limit = float(np.abs(u[:, 0]).max())  # per species: Br moves far less than Cs
        top.set(title=f"{sp}: $u_x$ (blue = +x)", xlabel="x (Å)", ylabel="y (Å)",
                xlim=(-edge, edge), ylim=(-edge, edge), aspect="equal")
        if limit < NO_DISPLACEMENT_ANGSTROM:  # colouring numerical noise would suggest a pattern
            top.scatter(r[:, 0], r[:, 1], color="0.8", s=40, edgecolors="k", linewidths=0.3)
            top.text(0.5, 0.5, f"no displacement\n(max |$u_x$| = {limit:.0e} Å)", transform=top.transAxes,
                     ha="center", va="center", fontsize=9, bbox={"facecolor": "white", "alpha": 0.8})
        else:
            im = top.scatter(r[:, 0], r[:, 1], c=u[:, 0], cmap="RdBu", vmin=-limit, vmax=limit,
                             s=40, edgecolors="k", linewidths=0.3)
            fig.colorbar(im, ax=top, label="$u_x$ (Å)", shrink=0.8)
        bottom.scatter(r[:, 0], u[:, 0] * 1e3, c=np.sign(u[:, 0]), cmap="RdBu", vmin=-1, vmax=1,
                       s=20, edgecolors="k", linewidths=0.3)
        if table is not None and np.isfinite(table[sp]["slope_ppm"][0][0]):
            s = table[sp]["slope_ppm"][0][0] / PPM
            xs = np.linspace(r[:, 0].min(), r[:, 0].max(), 2)
            bottom.plot(xs, (s * xs + (u[:, 0] - s * r[:, 0]).mean()) * 1e3, "k-",
                        label=f"slope {s * PPM:+.0f} ± {table[sp]['stderr_ppm'][0][0]:.0f} ppm")
            bottom.legend(fontsize=8)
        bottom.axhline(0, color="0.6", lw=0.5)
        bottom.set(xlabel="x (Å)", ylabel="$u_x$ (mÅ)", xlim=(-edge, edge))
    if title:
        fig.suptitle(title)
    fig.set_layout_engine("tight")
    return fig
