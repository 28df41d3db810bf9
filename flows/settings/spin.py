"""Settings of spin-relax (singlet and triplet relaxations, xtb or CP2K)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import FiniteFloat, model_validator

from ...errors import NclatticeError
from .base import Settings, opt


class SpinRelaxSettings(Settings):
    backend: Literal["xtb", "cp2k"] = opt("xtb", "GFN2-xTB via tblite (default) or CP2K/PBE via its shell")
    fmax_ev_per_angstrom: FiniteFloat = opt(0.05, "force convergence in eV/Å", alias="fmax", gt=0, le=10)
    max_steps: int = opt(500, "BFGS steps per stage, counting steps of earlier (killed) runs", ge=1, le=100_000)
    charge: int = opt(0, "total charge in e", ge=-50, le=50)
    spin_polarization: FiniteFloat | None = opt(None, "xtb: tblite spin-polarization scaling (e.g. 1.0); "
                                                "default off", ge=0, le=10)
    electronic_temperature_k: FiniteFloat = opt(300.0, "xtb: electronic temperature in K",
                                                alias="electronic-temperature", gt=0, le=50_000)
    singlet: Literal["closed-shell", "broken-symmetry"] = opt(
        "closed-shell", "which S=0 state: closed-shell (restricted, alpha = beta: the same state on every "
        "machine) or broken-symmetry (cp2k only: unrestricted Sz = 0 from a guess with one unpaired electron "
        "up on one half of the structure and one down on the other; <S^2> near 1 for two unpaired "
        "electrons); spin.json records which, with <S^2>")
    cp2k_ranks: int = opt(1, "cp2k: MPI ranks", ge=1, le=100_000)
    cp2k_command: str | None = opt(None, "cp2k: shell command (default: detect cp2k_shell.psmp / cp2k.psmp -s)")
    cp2k_data_dir: str | None = opt(None, "cp2k: basis/potential directory", path=True)
    vacuum_angstrom: FiniteFloat | None = opt(None, "cp2k: vacuum each side in Å (default 3.5 for H and first-row "
                                              "atoms, 5 otherwise); the box is a cube of side extent + 2 x vacuum "
                                              "(wavelet Poisson solver, non-periodic); if CP2K finds density on "
                                              "the walls the run stops and names the value to try",
                                              alias="vacuum", gt=0, le=100)
    cp2k_option: list[str] = opt([], "cp2k: any Cp2kBackend setting KEY=VALUE, repeatable, e.g. cutoff_ry=400, "
                                 "basis_set=SZV-MOLOPT-SR-GTH, max_scf=1, poisson_solver=mt. Defaults: PBE, "
                                 "DZVP-MOLOPT-SR-GTH, GTH-PBE, RKS singlet and UKS triplet; cutoff by element (300 Ry "
                                 "with B-F, else 250 Ry), REL_CUTOFF 40 Ry, OT with FULL_ALL, EPS_SCF 1e-5, one "
                                 "thread and one rank; after a failed SCF one retry by diagonalisation, Broyden "
                                 "mixing, 300 K smearing (fallback_max_scf=200)",
                                 repeat=True, metavar="KEY=VALUE")
    dry_run: bool = opt(False, "cp2k: write OUT/cp2k/*.inp and the command, run nothing")
    import_triplet: str | None = opt(None, "analyse STRUCTURE (singlet) and this triplet geometry, computed "
                                     "anywhere", path=True)
    exclude_outer_layers: bool = opt(False, "leave the outermost layer along each axis out of its regression")
    allow_unconverged: bool = opt(False, "write results even if the triplet relaxation hit --max-steps "
                                  "(flagged in spin.json); the singlet must converge")

    @model_validator(mode="after")
    def _backend_options(self) -> Self:
        if self.backend == "xtb":
            stray = [n for n, given in (("cp2k-ranks", self.cp2k_ranks != 1), ("dry-run", self.dry_run),
                                        ("cp2k-command", self.cp2k_command),
                                        ("vacuum", self.vacuum_angstrom is not None),
                                        ("cp2k-option", self.cp2k_option),
                                        ("cp2k-data-dir", self.cp2k_data_dir),
                                        ("singlet broken-symmetry", self.singlet != "closed-shell")) if given]
            if stray:
                raise ValueError(f"{', '.join('--' + s for s in stray)} applies to --backend cp2k only")
        else:
            from ...tasks.cp2k_backend import parse_backend_options

            try:
                parse_backend_options(self.cp2k_option)
            except NclatticeError as exc:
                raise ValueError(str(exc).rstrip(".")) from None
        return self
