"""One registry: analysis name -> (flow function, settings model, what it takes as input).

The command line, campaigns and Prefect deployments all find a capability here. Flow functions
are named by module path and imported on first use, so reading the registry costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import NclatticeError
from . import outcomes as oc
from . import settings as st

if TYPE_CHECKING:
    from ase import Atoms

    from ..potentials import PotentialSet


@dataclass(frozen=True)
class Capability:
    name: str
    settings: type[st.Settings]
    target: str  # "module:function" under nclattice.flows; the function takes (inputs..., settings, out)
    inputs: Literal["structure", "data", "none"]
    md_cache: bool = False  # takes ``results`` (the shared cache of MD runs)
    outcome: type[oc.Outcome] = oc.Outcome  # the typed record of its result file
    flow_name: str = ""  # its Prefect flow's name (default: the analysis name)
    help: str = ""  # one line: what it computes and its result file
    parse_data: str = ""  # "module:function" (data, settings) -> parsed data files, when they are parsed ahead
    data_folders: bool = False  # a data input may be a folder (detector frames)

    @property
    def prefect_name(self) -> str:
        return self.flow_name or self.name

    @property
    def summary(self) -> str:
        """The result file (written last) that marks the work complete."""
        return self.outcome.file

    def load(self, out: str | Path) -> oc.Outcome:
        return self.outcome.from_json(Path(out) / self.summary)

    def function(self):
        module, _, name = self.target.partition(":")
        return getattr(import_module(f"nclattice.flows.{module}"), name)

    def run(self, settings: st.Settings, out: str | Path, *, structure: str | Path | None = None,
            data: Sequence[str | Path] | None = None, results: str | Path | None = None,
            inputs: Inputs | None = None) -> Any:
        """Run in this process (no Prefect); returns the result record written under ``out``.

        ``inputs`` are what ``preflight`` read; without them the flow checks and reads the files itself.
        """
        fn = self.function()
        extra = {"results": results} if self.md_cache else {}
        if self.inputs == "structure":
            return fn(inputs or structure, settings, out, **extra)
        if self.inputs == "data":
            return fn(inputs or data, settings, out, **extra)
        return fn(settings, out, **extra)


CAPABILITIES: dict[str, Capability] = {c.name: c for c in (
    Capability("calibrate", st.CalibrationSettings, "calibration:run_calibration", "structure", True,
               oc.CalibrationOutcome, "calibration",
               "MD temperature series -> Debye-Waller <u²>(T) calibration (OUT/calibration.json)"),
    Capability("delta-t", st.DeltaTSettings, "delta_t:run_delta_t", "structure", True, oc.DeltaTOutcome,
               help="MD at T0 and T0 + ΔT -> ΔG(r) (OUT/delta_t.json, delta_g.csv)"),
    Capability("phonons", st.PhononSettings, "phonons:run_phonons", "structure", True, oc.PhononOutcome,
               help="normal modes, DOS and lifetimes (OUT/phonons.json)"),
    Capability("spin-relax", st.SpinRelaxSettings, "polaron:run_spin_relax", "structure", False, oc.SpinOutcome,
               help="singlet and triplet relaxations and the displacement field (OUT/spin.json)"),
    Capability("diffract", st.DiffractSettings, "diffraction:run_diffract", "structure", False,
               oc.DiffractionOutcome, "diffraction",
               "powder and 3D kinematic diffraction of one structure (OUT/result.json)"),
    Capability("polaron-diffraction", st.PolaronDiffractionSettings, "diffraction:run_polaron_diffraction",
               "none", False, oc.DiffractionOutcome,
               help="ΔI around Bragg peaks for a polaron displacement model (OUT/result.json)"),
    Capability("ued", st.UedSettings, "ued:run_ued", "data", False, oc.UedOutcome, "ued-analyze",
               "Debye-Waller analysis of UED time series, ΔT(t) with a calibration (OUT/ued.json)",
               parse_data="ued:parse_data"),
    Capability("ued-profiles", st.UedProfilesSettings, "ued_profiles:run_ued_profiles", "data", False,
               oc.UedOutcome, help="ring fits of radial profiles I(Q, t) -> Δ<u²>(t), ΔT(t) (OUT/ued.json)"),
    Capability("ued-decompose", st.UedDecomposeSettings, "ued_profiles:run_ued_decompose", "data", False,
               oc.DecompositionOutcome,
               help="radial profiles split into heating and surface disorder (OUT/decomposition.json)"),
    Capability("ued-images", st.UedImagesSettings, "ued_images:run_ued_images", "data", False, oc.UedImagesOutcome,
               help="detector frames -> radial profiles (pyFAI), with a structure the ued profiles analysis "
                    "(OUT/images.json)", data_folders=True),
    Capability("kinetics-auger", st.AugerSettings, "kinetics:run_auger", "none", False, oc.AugerOutcome,
               help="Auger heating of an exciton ensemble (OUT/auger.json)"),
    Capability("kinetics-trapping", st.TrappingSettings, "kinetics:run_trapping", "none", False,
               oc.TrappingOutcome, help="Auger heating with hole trapping (OUT/trapping.json)"),
    Capability("kinetics-occupation", st.OccupationSettings, "kinetics:run_occupation", "none", False,
               oc.OccupationOutcome, help="pair occupations at the end of the pump (OUT/occupation.json)"),
    Capability("kinetics-state-filling", st.StateFillingSettings, "kinetics:run_state_filling", "none", False,
               oc.StateFillingOutcome, help="band-edge bleach with hot-carrier trapping (OUT/state_filling.json)"),
)}


def capability(name: str) -> Capability:
    try:
        return CAPABILITIES[name]
    except KeyError:
        raise NclatticeError(f"unknown analysis '{name}'; choose one of {', '.join(CAPABILITIES)}.") from None


@dataclass(frozen=True)
class Inputs:
    """A capability's input files, checked and read once by ``preflight``; the flow uses them as they are."""

    structure: Path | None = None  # the structure file, and its content:
    atoms: Atoms | None = None
    potential: PotentialSet | None = None  # MD capabilities: the potential that covers the atoms
    potential_is_default: bool = False  # chosen from the shipped set (no --potential)
    data: tuple[Path, ...] = ()  # data files, and what ``parse_data`` made of them
    parsed: Any = None


def read_checked(structure: str | Path | None) -> Atoms:
    """The structure file, read; a missing, empty or unreadable file is one sentence."""
    from ..structio import read_structure

    if structure is None:
        raise NclatticeError("a structure file is needed.")
    try:
        atoms = read_structure(structure)
    except NclatticeError:
        raise
    except Exception as exc:
        raise NclatticeError(f"cannot read structure file '{structure}' ({type(exc).__name__}); write it with "
                             "nclattice build or as extended XYZ.") from None
    if len(atoms) == 0:
        raise NclatticeError(f"structure file '{structure}' holds no atoms.")
    return atoms


def potential_for(settings: st.Settings, symbols: set[str], base: Path | None = None) -> tuple[PotentialSet, bool]:
    """The potential an MD request names (a shipped name, or a YAML file relative to ``base``), or the
    shipped default for the elements; it must cover them. Returns (potential, chosen by default)."""
    from ..potentials import default_for, load

    name = getattr(settings, "potential", None)
    if name and base is not None and Path(name).suffix and not Path(name).is_absolute():
        name = str(base / name)
    pot = load(name) if name else default_for(symbols)
    pot.check_covers(symbols)
    return pot, not name


def preflight(cap: Capability, settings: st.Settings, structure: str | Path | None = None,
              data: Sequence[str | Path] | None = None) -> Inputs:
    """Check every input before any work and return what was read: files exist and parse, a
    potential covers the elements. The command line, campaigns and Prefect flows all call this."""
    for name in settings.path_fields():
        value = getattr(settings, name)
        if value is not None and not Path(value).exists():
            raise NclatticeError(f"--{settings.option_name(name)} '{value}' does not exist.")
    if cap.inputs == "structure":
        atoms = read_checked(structure)
        potential, default = None, False
        if cap.md_cache:
            symbols = set(atoms.get_chemical_symbols())
            if getattr(settings, "potentials", None):  # several force fields: each must cover the elements
                from .common import load_potential_sets

                load_potential_sets(symbols, settings.potentials, quiet=True)
            else:
                potential, default = potential_for(settings, symbols)
        return Inputs(structure=Path(structure), atoms=atoms, potential=potential, potential_is_default=default)
    if cap.inputs == "data":
        paths = tuple(Path(d) for d in data or [])
        for d in paths:
            if not (d.is_file() or (cap.data_folders and d.is_dir())):
                raise NclatticeError(f"data file '{d}' does not exist.")
        parsed = None
        if cap.parse_data:
            module, _, name = cap.parse_data.partition(":")
            parsed = getattr(import_module(f"nclattice.flows.{module}"), name)(paths, settings)
        return Inputs(data=paths, parsed=parsed)
    return Inputs()


def prepared(name: str, settings: st.Settings, given: Inputs | str | Path | Sequence[str | Path]) -> Inputs:
    """A flow's inputs: preflight's (used as they are), or checked and read now from a path or paths."""
    if isinstance(given, Inputs):
        return given
    cap = capability(name)
    if cap.inputs == "data":
        return preflight(cap, settings, data=list(given))
    return preflight(cap, settings, structure=given)
