"""Settings of every capability, each option declared once (type, default, unit, range, help).

A settings model is what a flow takes; the command line generates its options from the same
model (`nclattice.cli.options`) and a campaign validates its ``with:`` blocks straight into it.
Field names carry units (``temperature_k``); the alias is the option name users type
(``--temperature`` on the command line, ``temperature:`` in a campaign). Values are checked
here (finite, in range, consistent with each other) before any work starts.

This module imports pydantic, the standard library and tasks/beams.py (constants); the
recipe logic of ``BuildSettings`` lives in structures/recipes.py, imported when a recipe is checked.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError, field_validator, model_validator

from ..errors import NclatticeError
from ..tasks.beams import DEFAULT_ENERGY_KEV, DEFAULT_HKL

THERMOSTATS = ("langevin", "nose-hoover", "csvr")  # == tasks.md.THERMOSTATS (checked in tests)
MAX_BUILD_ATOMS = 2_000_000  # beyond this, building and every analysis exhaust a workstation's memory
MAX_SEED = 899_999_999  # LAMMPS seeds are positive integers below 900 million


class SettingsError(NclatticeError):
    """A value does not validate; ``field`` is the option name (alias), ``reason`` the sentence."""

    def __init__(self, field: str | None, reason: str, what: str = ""):
        self.field, self.reason = field, (f"{reason.rstrip('.')} ({what})." if what else reason)
        label = f"--{field} ({what})" if what else f"--{field}"
        super().__init__(f"{label}: {reason}" if field else reason)


def opt(default: Any = ..., help: str = "", *, alias: str | None = None, nargs: str | int | None = None,
        path: bool = False, metavar: str | tuple[str, ...] | None = None, repeat: bool = False,
        **constraints: Any) -> Any:
    """A settings field: default, help text (with unit), option name, command-line shape
    (``nargs``; ``repeat``: the option may be given several times, values collected in a list)."""
    extra = {k: v for k, v in {"nargs": nargs, "path": path, "metavar": metavar, "repeat": repeat}.items() if v}
    return Field(default, alias=alias, description=help, json_schema_extra=extra or None, **constraints)


class Settings(BaseModel):
    """Base of all settings models: unknown options are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True,
                              alias_generator=lambda name: name.replace("_", "-"))

    @classmethod
    def option_name(cls, field: str) -> str:
        info = cls.model_fields[field]
        return info.alias or field.replace("_", "-")

    @classmethod
    def parse(cls, options: dict[str, Any]) -> Self:
        """Validate options given by option name or field name; raises SettingsError (one sentence)."""
        try:
            return cls.model_validate(options)
        except ValidationError as exc:
            raise _one_error(cls, exc) from None

    def canonical(self) -> dict[str, Any]:
        """JSON-ready values by field name: 6 and 6.0 give the same dict (and the same key)."""
        return self.model_dump(mode="json")

    def path_fields(self) -> list[str]:
        return [n for n, f in type(self).model_fields.items() if (f.json_schema_extra or {}).get("path")]


def _one_error(cls: type[Settings], exc: ValidationError) -> SettingsError:
    err = exc.errors()[0]
    loc = [p for p in err["loc"] if isinstance(p, str)]
    msg = err["msg"].removeprefix("Value error, ")
    if not loc:
        return SettingsError(None, msg.rstrip(".") + ".")
    by_option = {cls.option_name(n): n for n in cls.model_fields}
    name = by_option.get(loc[0], loc[0])
    if err["type"] == "extra_forbidden":
        known = ", ".join(cls.option_name(n) for n in cls.model_fields)
        return SettingsError(name, f"unknown option; the options are {known}.")
    option = cls.option_name(name) if name in cls.model_fields else name
    if err["type"] == "missing":
        return SettingsError(option, "is required.")
    msg = _FRIENDLY.get(err["type"], lambda ctx: msg[0].lower() + msg[1:])(err.get("ctx") or {})
    got = err.get("input")
    what = _short(cls.model_fields[name].description or "") if name in cls.model_fields else ""
    if err["type"] == "value_error" or got is None:
        return SettingsError(option, msg.rstrip(".") + ".")
    return SettingsError(option, f"{msg}, got {got!r}.", what)


def _short(description: str) -> str:
    """The first clause of a help text: what the option is, with its unit."""
    return description.split(";")[0].split(" (")[0].split(", e.g.")[0].strip()


_FRIENDLY = {
    "finite_number": lambda ctx: "must be a finite number",
    "greater_than": lambda ctx: "must be positive" if ctx["gt"] == 0 else f"must be greater than {ctx['gt']}",
    "greater_than_equal": lambda ctx: "must not be negative" if ctx["ge"] == 0 else f"must be at least {ctx['ge']}",
    "less_than": lambda ctx: f"must be less than {ctx['lt']}",
    "less_than_equal": lambda ctx: f"must be at most {ctx['le']}",
    "float_parsing": lambda ctx: "must be a number",
    "float_type": lambda ctx: "must be a number",
    "int_parsing": lambda ctx: "must be a whole number",
    "int_from_float": lambda ctx: "must be a whole number",
    "int_type": lambda ctx: "must be a whole number",
    "literal_error": lambda ctx: f"must be one of {ctx['expected']}",
    "bool_parsing": lambda ctx: "must be true or false",
}


def _floats_from_text(value: Any, what: str) -> Any:
    """'150,200,250' or '150:500:50' (start:stop:step, inclusive) -> floats; lists pass through."""
    if not isinstance(value, str):
        return value
    try:
        if ":" in value:
            start, stop, step = (float(x) for x in value.split(":"))
            if not (step > 0 and math.isfinite(start) and math.isfinite(stop)) or (stop - start) / step > 10_000:
                raise ValueError
            n = math.floor((stop - start) / step + 1e-9) + 1
            return [round(start + i * step, 9) for i in range(max(n, 0))]
        return [float(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"cannot read {what} '{value}'; give comma-separated numbers (150,200,250) or "
                         "start:stop:step") from None


def _finite(values: list[float], what: str) -> None:
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{what} must be finite numbers, got {values}")


# ----------------------------------------------------------------------------- MD
class MDOptions(Settings):
    """Options every MD-based capability shares (phonons call the production run md-ps)."""

    potential: str | None = opt(None, "potential name or YAML file (default: shipped set covering the elements)")
    equilibration_ps: FiniteFloat = opt(10.0, "equilibration length in ps", ge=0, le=10_000)
    production_ps: FiniteFloat = opt(20.0, "production length in ps", gt=0, le=100_000)
    timestep_fs: FiniteFloat = opt(2.0, "MD timestep in fs", gt=0, le=10)
    sample_every_fs: FiniteFloat = opt(20.0, "interval between stored frames in fs", gt=0, le=100_000)
    seed: int = opt(12345, "random seed (velocities, thermostat)", ge=1, le=MAX_SEED)

    @model_validator(mode="after")
    def _sampling(self) -> Self:
        if self.sample_every_fs < self.timestep_fs:
            raise ValueError(f"--sample-every-fs ({self.sample_every_fs} fs) is shorter than --timestep-fs "
                             f"({self.timestep_fs} fs)")
        if self.sample_every_fs > 1000 * self.production_ps:
            raise ValueError(f"--sample-every-fs ({self.sample_every_fs} fs) is longer than the production run "
                             f"({self.production_ps} ps)")
        return self


TEMPERATURE_RANGE_K = (1.0, 3000.0)  # the potentials are fitted to solids well below their melting points


class AnnealOptions(Settings):
    """An anneal before the minimisation that starts every MD run of a capability."""

    anneal_temperature_k: FiniteFloat = opt(0.0, "anneal at this temperature in K before minimising (0 = no anneal): "
                                            "puts loose surface atoms into a basin they keep during production",
                                            alias="anneal-k", ge=0, le=TEMPERATURE_RANGE_K[1])
    anneal_ps: FiniteFloat = opt(20.0, "anneal length in ps (with --anneal-k)", ge=0, le=10_000)


class CalibrationSettings(AnnealOptions, MDOptions):
    probe: Literal["electron", "xray"] = opt("electron", "weighting of the diffraction-weighted average")
    temperatures_k: list[float] = opt([150.0, 200.0, 250.0, 300.0, 350.0, 400.0, 450.0, 500.0],
                                      "temperatures in K: comma list or start:stop:step", alias="temperatures")
    thermostat: Literal["langevin", "nose-hoover", "csvr"] = opt("langevin", "NVT thermostat")
    drift: Literal["flag", "fail"] = opt("flag", "atoms leaving their sites (> 0.5 Å between production quarters): "
                                         "flag = warn and list them in calibration.json, fail = drop that temperature")
    no_minimize: bool = opt(False, "start MD from the structure as given instead of its energy minimum")

    @model_validator(mode="after")
    def _anneal_needs_minimisation(self) -> Self:
        if self.anneal_temperature_k and self.no_minimize:
            raise ValueError("--anneal-k needs the minimisation that follows it; drop --no-minimize")
        return self

    @field_validator("temperatures_k", mode="before")
    @classmethod
    def _parse_temperatures(cls, v: Any) -> Any:
        return _floats_from_text(v, "temperatures")

    @field_validator("temperatures_k")
    @classmethod
    def _check_temperatures(cls, v: list[float]) -> list[float]:
        _finite(v, "temperatures")
        lo, hi = TEMPERATURE_RANGE_K
        if len(v) < 3:
            raise ValueError(f"a calibration needs at least 3 temperatures, got {v}")
        if not all(lo <= t <= hi for t in v):
            raise ValueError(f"temperatures must be positive and lie between {lo:g} and {hi:g} K, got {v}")
        return sorted(set(v))


class DeltaTSettings(AnnealOptions, MDOptions):
    probe: Literal["electron", "xray"] = opt("electron", "weighting of the diffraction-weighted average")
    production_ps: FiniteFloat = opt(40.0, "production length in ps", gt=0, le=100_000)
    t0_k: FiniteFloat = opt(300.0, "base temperature T0 in K", alias="t0", ge=TEMPERATURE_RANGE_K[0],
                            le=TEMPERATURE_RANGE_K[1])
    delta_t_k: FiniteFloat = opt(14.0, "temperature rise ΔT in K (non-zero; may be negative)", alias="delta-t",
                                 ge=-1000, le=1000)
    q_range_inv_angstrom: tuple[float, float] = opt((1.0, 12.0), "Qmin,Qmax in 1/Å for the F(Q) route",
                                                    alias="q-range", metavar="QMIN,QMAX")
    r_max_angstrom: FiniteFloat = opt(12.0, "largest pair distance in Å (the crystal diameter for ued decompose "
                                      "--heat)", alias="r-max", gt=1, le=1000)
    smoothing_angstrom: FiniteFloat = opt(0.02, "Gaussian smoothing of G(r) in Å (0 = none)", alias="smoothing",
                                          ge=0, le=1)

    @field_validator("q_range_inv_angstrom", mode="before")
    @classmethod
    def _parse_q(cls, v: Any) -> Any:
        return _floats_from_text(v, "q-range")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        qmin, qmax = self.q_range_inv_angstrom
        _finite([qmin, qmax], "q-range")
        if not 0 <= qmin < qmax <= 50:
            raise ValueError(f"--q-range needs 0 <= Qmin < Qmax <= 50 1/Å, got {qmin:g},{qmax:g}")
        if self.delta_t_k == 0:
            raise ValueError("--delta-t must be non-zero (a temperature rise in K)")
        if not TEMPERATURE_RANGE_K[0] <= self.t0_k + self.delta_t_k <= TEMPERATURE_RANGE_K[1]:
            raise ValueError(f"--t0 + --delta-t = {self.t0_k + self.delta_t_k:g} K lies outside "
                             f"{TEMPERATURE_RANGE_K[0]:g}-{TEMPERATURE_RANGE_K[1]:g} K")
        return self


class PhononSettings(MDOptions):
    temperature_k: FiniteFloat = opt(300.0, "MD temperature in K", alias="temperature", ge=TEMPERATURE_RANGE_K[0],
                                     le=TEMPERATURE_RANGE_K[1])
    production_ps: FiniteFloat = opt(40.0, "NVE production length in ps", alias="md-ps", gt=0, le=100_000)
    timestep_fs: FiniteFloat = opt(1.0, "MD timestep in fs", gt=0, le=10)
    sample_every_fs: FiniteFloat = opt(5.0, "interval between stored frames in fs", gt=0, le=1000)
    window_ps: FiniteFloat = opt(20.0, "velocity autocorrelation window in ps", gt=0)
    fmax_ev_per_angstrom: FiniteFloat = opt(1e-5, "minimisation force tolerance in eV/Å", alias="fmax", gt=0, le=1)
    dos_sigma_thz: FiniteFloat = opt(0.1, "Gaussian DOS broadening in THz", alias="dos-sigma", gt=0, le=10)
    fd_step_angstrom: FiniteFloat = opt(0.005, "finite-difference displacement of the Hessian in Å",
                                        alias="fd-step", gt=0, le=0.1)
    sparse_modes: int | None = opt(None, "sparse Hessian and only this many lowest modes (automatic when the dense "
                                   "one does not fit)", ge=7)

    @model_validator(mode="after")
    def _window(self) -> Self:
        if 2 * self.window_ps > self.production_ps:
            raise ValueError(f"--md-ps ({self.production_ps:g} ps) must be at least twice the correlation window "
                             f"--window-ps ({self.window_ps:g} ps)")
        return self


# ----------------------------------------------------------------------------- spin
class SpinRelaxSettings(Settings):
    backend: Literal["xtb", "cp2k"] = opt("xtb", "GFN2-xTB via tblite (default) or CP2K/PBE via its shell")
    fmax_ev_per_angstrom: FiniteFloat = opt(0.05, "force convergence in eV/Å", alias="fmax", gt=0, le=10)
    max_steps: int = opt(500, "BFGS steps per stage, counting steps of earlier (killed) runs", ge=1, le=100_000)
    charge: int = opt(0, "total charge in e", ge=-50, le=50)
    spin_polarization: FiniteFloat | None = opt(None, "xtb: tblite spin-polarization scaling (e.g. 1.0); "
                                                "default off", ge=0, le=10)
    electronic_temperature_k: FiniteFloat = opt(300.0, "xtb: electronic temperature in K",
                                                alias="electronic-temperature", gt=0, le=50_000)
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
                                 "DZVP-MOLOPT-SR-GTH, GTH-PBE, UKS; cutoff by element (300 Ry with B-F, else 250 Ry), "
                                 "REL_CUTOFF 40 Ry, OT with FULL_ALL, EPS_SCF 1e-5, one thread and one rank",
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
                                        ("cp2k-data-dir", self.cp2k_data_dir)) if given]
            if stray:
                raise ValueError(f"{', '.join('--' + s for s in stray)} applies to --backend cp2k only")
        else:
            from ..tasks.cp2k_backend import parse_backend_options

            try:
                parse_backend_options(self.cp2k_option)
            except NclatticeError as exc:
                raise ValueError(str(exc).rstrip(".")) from None
        return self


# ----------------------------------------------------------------------------- diffraction
_DEFAULT_BEAMS = f"default {DEFAULT_ENERGY_KEV['xray']:g} for X-rays, {DEFAULT_ENERGY_KEV['electron']:g} for electrons"


class ProbeOptions(Settings):
    probe: Literal["xray", "electron"] = opt("xray", "X-rays or electrons")
    energy_kev: FiniteFloat | None = opt(None, f"photon or beam energy in keV ({_DEFAULT_BEAMS})", gt=0, le=1e5)
    anomalous: bool = opt(False, "add Chantler f', f'' (X-rays; unreliable next to absorption edges)")
    hkl: tuple[str, ...] = opt(DEFAULT_HKL, "peaks, e.g. 200 110 111 400", nargs="+")
    half_width_inv_angstrom: FiniteFloat = opt(0.3, "box half width around each peak in 1/Å", alias="half-width",
                                               gt=0, le=5)
    points: int = opt(25, "grid points per axis of each box (odd)", ge=3, le=401)
    lattice_constant_angstrom: FiniteFloat | None = opt(None, "lattice constant a in Å for hkl boxes (default: "
                                                        "the structure's a, and c)",
                                                        alias="lattice-constant", gt=0, le=100)

    @field_validator("hkl", mode="before")
    @classmethod
    def _hkl_text(cls, v: Any) -> Any:
        if isinstance(v, (str, int)):
            v = [v]
        return tuple(str(h) for h in v) if isinstance(v, (list, tuple)) else v

    @field_validator("hkl")
    @classmethod
    def _hkl(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for h in v:
            parts = h.split(",") if "," in h else list(h.strip())
            try:
                hkl = [int(p) for p in parts]
            except ValueError:
                hkl = []
            if len(hkl) != 3:
                raise ValueError(f"cannot read Miller indices from '{h}'; write e.g. 200 or -1,1,0")
            if not any(hkl):
                raise ValueError("000 is the forward beam, not a Bragg peak; pick e.g. 200")
        return v

    @field_validator("points")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"must be odd (a point at the peak centre), got {v}")
        return v

    def energy(self) -> float:
        return self.energy_kev if self.energy_kev is not None else DEFAULT_ENERGY_KEV[self.probe]


class DiffractSettings(ProbeOptions):
    powder: bool = opt(False, "Debye powder pattern, S(Q), F(Q), G(r)")
    q_range_inv_angstrom: tuple[FiniteFloat, FiniteFloat] = opt((0.3, 12.0), "powder Q range in 1/Å",
                                                                alias="q-range", nargs=2, metavar=("QMIN", "QMAX"))
    q_points: int = opt(600, "powder Q points", ge=2, le=1_000_000)
    r_max_angstrom: FiniteFloat = opt(30.0, "largest r of G(r) in Å", alias="r-max", gt=0, le=10_000)
    powder_method: Literal["auto", "histogram", "nufft", "direct"] = opt(
        "auto", "powder route: exact pair histogram, NUFFT orientational average (no N² term), the cheaper of "
        "the two (auto), or the plain double sum")
    grid: Literal["box", "whole", "slice"] | None = opt(
        None, "3D intensity: boxes around --hkl, a cube up to --q-max, or the qz = 0 plane")
    q_max_inv_angstrom: FiniteFloat = opt(3.0, "half width of the whole grid / slice in 1/Å", alias="q-max", gt=0,
                                          le=50)
    method: Literal["nufft", "direct"] = opt("nufft", "3D intensity route")

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.powder and self.grid is None:
            raise ValueError("nothing to compute; add --powder and/or --grid box|whole|slice")
        q_min, q_max = self.q_range_inv_angstrom
        if self.powder and not 0 < q_min < q_max:
            raise ValueError(f"the powder needs 0 < QMIN < QMAX, got {q_min:g} {q_max:g}")
        return self


class PolaronDiffractionSettings(ProbeOptions):
    model: Literal["dft", "orthorhombic", "random-hole", "localized"] = opt(..., "displacement-field model")
    hole_bias: Literal["center", "uniform", "surface"] = opt(
        "surface", "random-hole: hole positions (surface = the paper's l5-norm bias)")
    k_cs: FiniteFloat = opt(20.0, "restoring constant of Cs in eV/Å²", gt=0, le=1e4)
    k_pb: FiniteFloat = opt(20.0, "restoring constant of Pb in eV/Å²", gt=0, le=1e4)
    k_br: FiniteFloat = opt(5.0, "restoring constant of Br in eV/Å²", gt=0, le=1e4)
    electron_field: Literal["paper", "sphere"] = opt(
        "paper", "electron sphere field: -r/(L/2)^3 at every atom (paper) or exact outside the sphere")
    sizes: str = opt("gamma:shape=2,mean=5.4,min=3,max=15",
                     "edge lengths in nm: gamma:shape=..,mean=..,min=..,max=.. or fixed:4.9[,5.5]")
    samples: int = opt(32, "crystals in the ensemble (one hole each)", ge=1, le=100_000)
    seed: int = opt(0, "random seed", ge=0, le=2**32 - 1)
    p1: FiniteFloat = opt(1.0, "fraction of crystals with one exciton", ge=0, le=1)
    p2: FiniteFloat = opt(0.0, "fraction with two (twice the displacement)", ge=0, le=1)
    t_center: FiniteFloat = opt(0.8, "orthorhombic: t at the centre", ge=0, le=1)
    amplitude_angstrom: FiniteFloat = opt(0.15, "localized: displacement in Å", alias="amplitude", gt=0, le=5)
    spin_dir: str | None = opt(None, "dft: directory with singlet.extxyz and triplet.extxyz (nclattice spin-relax)",
                               path=True)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.p1 + self.p2 > 1 + 1e-12:
            raise ValueError(f"the occupations --p1 + --p2 must not exceed 1, got {self.p1 + self.p2:g}")
        if self.model == "dft" and self.spin_dir is None:
            raise ValueError("the dft model needs --spin-dir, a directory holding singlet.extxyz and triplet.extxyz")
        if self.model != "dft" and self.spin_dir is not None:
            raise ValueError("--spin-dir applies to --model dft only")
        return self


# ----------------------------------------------------------------------------- UED
def _float_list(v: Any) -> Any:
    return _floats_from_text(v, "list") if isinstance(v, str) else v


class CalibrationInput(Settings):
    """The MD calibration a UED analysis turns Δ<u²> into ΔT with."""

    calibration: str | None = opt(None, "calibration.json from the MD calibration", path=True)
    calibration_key: str = opt("diffraction_weighted", "which fit of the calibration")


class DisorderTest(Settings):
    """The localized-disorder test of the Debye-Waller fits (peaks or fitted rings)."""

    q2_max_fit: FiniteFloat = opt(40.0, "peaks with Q² above this (1/Å²) are tested for localized disorder",
                                  gt=0, le=1e4)
    z_threshold: FiniteFloat = opt(3.0, "significance for a disorder flag", gt=0, le=100)


class UedSettings(DisorderTest, CalibrationInput):
    lattice: list[FiniteFloat] | None = opt(None, "for h,k,l data: a (cubic), a,c (hexagonal) or 6 values, in Å",
                                            metavar="A[,C,...]")
    through_origin: bool = opt(False, "fit the DW line with zero intercept")
    fluence: FiniteFloat | None = opt(None, "fluence (mJ/cm²) whose results go to the top level (default highest)",
                                      ge=0)
    plot_delays: list[FiniteFloat] | None = opt(None, "delays (ps) to show in dw_vs_q2.png", metavar="T1,T2,...")
    mean_excitons: FiniteFloat | None = opt(None, "⟨N⟩ for an Auger-heating fit of ΔT(t)", gt=0, le=1e4)
    excitons_per_mj_cm2: FiniteFloat | None = opt(None, "⟨N⟩ per fluence unit (10 at 510 nm in the CdSe/CdS "
                                                  "UED study)", gt=0, le=1e4)
    n_atoms: int | None = opt(None, "atoms per NC: ΔE = 3 N k_B ΔT", ge=1)
    disorder_peaks: tuple[str, str] | None = opt(None, "excess loss of HIGH beyond LOW rescaled by the DW law",
                                                 nargs=2, metavar=("HIGH", "LOW"))

    @field_validator("lattice", "plot_delays", mode="before")
    @classmethod
    def _lists(cls, v: Any) -> Any:
        return _float_list(v)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.mean_excitons is not None and self.excitons_per_mj_cm2 is not None:
            raise ValueError("give --mean-excitons or --excitons-per-mj-cm2, not both")
        if self.lattice is not None and (len(self.lattice) not in (1, 2, 6) or min(self.lattice) <= 0):
            raise ValueError(f"--lattice takes 1, 2 or 6 positive values (Å, degrees), got {self.lattice}")
        return self


class ProfileOptions(CalibrationInput):
    """Options shared by `ued profiles` and `ued decompose` (radial profiles I(Q, t))."""

    structure: str = opt(..., "the crystal (.extxyz from nclattice build)", path=True)
    probe: Literal["electron", "xray"] = opt("electron", "electrons or X-rays")
    energy_kev: FiniteFloat | None = opt(None, f"probe energy in keV ({_DEFAULT_BEAMS})", gt=0, le=1e5)
    q_range_inv_angstrom: tuple[FiniteFloat, FiniteFloat] | None = opt(
        None, "Qmin,Qmax in 1/Å to use (default: all)", alias="q-range", metavar="QMIN,QMAX")
    plot_delays: list[FiniteFloat] | None = opt(None, "delays (ps) to show in the figures", metavar="T1,T2,...")

    @field_validator("q_range_inv_angstrom", "plot_delays", mode="before")
    @classmethod
    def _lists(cls, v: Any) -> Any:
        return _float_list(v)

    @model_validator(mode="after")
    def _q_order(self) -> Self:
        if self.q_range_inv_angstrom is not None and not 0 <= self.q_range_inv_angstrom[0] < \
                self.q_range_inv_angstrom[1]:
            raise ValueError(f"--q-range needs 0 <= Qmin < Qmax, got {self.q_range_inv_angstrom}")
        return self


class UedProfilesSettings(DisorderTest, ProfileOptions):
    resolution_inv_angstrom: FiniteFloat = opt(0.1, "merge rings closer than this, in 1/Å", alias="resolution",
                                               gt=0, le=5)
    min_ring_intensity: FiniteFloat = opt(0.02, "drop rings weaker than this fraction of the strongest", ge=0,
                                          lt=1)
    fwhm_guess_inv_angstrom: FiniteFloat = opt(0.15, "starting ring FWHM in 1/Å", alias="fwhm-guess", gt=0, le=5)
    baseline_terms: int = opt(10, "Legendre terms fitted with the rings", ge=0, le=50)


class UedDecomposeSettings(ProfileOptions):
    heat: str | None = opt(None, "a nclattice delta-t output directory (MD ΔT heating)", path=True)
    heat_model: Literal["debye-waller"] = opt("debye-waller", "heating model without --heat")
    disorder_rms_angstrom: FiniteFloat = opt(0.3, "3D rms displacement of surface atoms in Å",
                                             alias="disorder-rms", gt=0, le=5)
    background_terms: int = opt(0, "extra Legendre components in Q", ge=0, le=20)
    r_range_angstrom: tuple[FiniteFloat, FiniteFloat] = opt((1.5, 10.0), "rmin,rmax of the ΔG(r) fit in Å",
                                                          alias="r-range", metavar="RMIN,RMAX")

    @field_validator("r_range_angstrom", mode="before")
    @classmethod
    def _r(cls, v: Any) -> Any:
        return _float_list(v)

    @model_validator(mode="after")
    def _r_order(self) -> Self:
        if not 0 < self.r_range_angstrom[0] < self.r_range_angstrom[1]:
            raise ValueError(f"--r-range needs 0 < rmin < rmax in Å, got {self.r_range_angstrom}")
        return self


# ----------------------------------------------------------------------------- kinetics
class OpticalOptions(Settings):
    fluence_mj_cm2: FiniteFloat | None = opt(None, "pump fluence in mJ/cm², with wavelength and σ", gt=0, le=1e4)
    wavelength_nm: FiniteFloat | None = opt(None, "pump wavelength in nm", gt=0, le=1e5)
    cross_section_cm2: FiniteFloat | None = opt(None, "absorption cross-section at the pump in cm²", gt=0, le=1e-8)

    def mean_from(self, mean: float | None, name: str) -> tuple[float, dict[str, Any]]:
        """⟨N⟩ given directly or as σ·J from fluence, wavelength and cross-section."""
        optical = (self.fluence_mj_cm2, self.wavelength_nm, self.cross_section_cm2)
        if mean is not None and any(v is not None for v in optical):
            raise NclatticeError(f"give either --{name} or --fluence-mj-cm2/--wavelength-nm/--cross-section-cm2.")
        if mean is not None:
            return mean, {"mean_from": "given"}
        if any(v is None for v in optical):
            raise NclatticeError(f"give --{name}, or all of --fluence-mj-cm2, --wavelength-nm and "
                                 "--cross-section-cm2.")
        from ..tasks.kinetics import mean_excitations

        return mean_excitations(*optical), {"fluence_mj_cm2": self.fluence_mj_cm2,
                                            "wavelength_nm": self.wavelength_nm,
                                            "cross_section_cm2": self.cross_section_cm2, "mean_from": "sigma*J"}


class AugerSettings(OpticalOptions):
    mean_excitons: FiniteFloat | None = opt(None, "⟨N⟩ excitons per NC (or give the optical options)", gt=0,
                                            le=1000)
    tau_auger_ps: FiniteFloat = opt(..., "biexciton Auger lifetime τ_AR in ps", gt=0, le=1e6)
    n_nc: int = opt(20000, "NCs in the ensemble", ge=10, le=10_000_000)
    seed: int = opt(0, "random seed", ge=0, le=2**32 - 1)
    t_max_ps: FiniteFloat = opt(1000.0, "end of the time grid in ps", gt=0, le=1e7)
    n_times: int = opt(201, "time points", ge=5, le=100_000)
    exciton_energy_ev: FiniteFloat | None = opt(
        None, "band-edge exciton energy in eV (with --n-atoms: ΔT(t) of the lattice)", gt=0, le=20)
    n_atoms: int | None = opt(None, "atoms per NC (with --exciton-energy-ev): ΔT = ΔE / (3 N k_B), the classical "
                                    "heat capacity MD calibrations sample", ge=1, le=100_000_000)

    @model_validator(mode="after")
    def _resolvable(self) -> Self:
        if self.t_max_ps < self.tau_auger_ps / 50:
            raise ValueError(f"--t-max-ps ({self.t_max_ps:g} ps) is too short to see Auger heating with "
                             f"--tau-auger-ps {self.tau_auger_ps:g} ps; use at least {self.tau_auger_ps / 50:g} ps")
        if (self.exciton_energy_ev is None) != (self.n_atoms is None):
            raise ValueError("--exciton-energy-ev and --n-atoms go together (the lattice temperature rise needs the "
                             "energy per exciton and the NC's heat capacity); give both or neither")
        return self


class TrappingSettings(AugerSettings):
    tau_trap_ps: FiniteFloat = opt(..., "hole trapping time in ps (3.5-6 ps in CdSe/CdS)", gt=0, le=1e6)
    trap_energy: FiniteFloat = opt(0.0, "energy left in the lattice per trapping event (exciton energies)", ge=0,
                                   le=100)
    n_nc: int = opt(5000, "NCs in the ensemble", ge=10, le=10_000_000)
    t_max_ps: FiniteFloat = opt(200.0, "end of the time grid in ps", gt=0, le=1e7)


class OccupationSettings(OpticalOptions):
    gamma0_t: FiniteFloat | None = opt(None, "γ0·t at the end of the pulse (= σ·J)", ge=0, le=1000)
    gamma_ratio: FiniteFloat = opt(0.4, "γ1/γ0", ge=0, le=100)


class StateFillingSettings(OpticalOptions):
    mean_excitations: FiniteFloat | None = opt(None, "n̄ excitations per QD", ge=0, le=1000)
    p_trap: FiniteFloat = opt(..., "hot-carrier trapping probability per excitation", ge=0, le=1)
    g_e: int = opt(2, "band-edge electron degeneracy", ge=1, le=100)
    g_h: int = opt(4, "band-edge hole degeneracy", ge=1, le=100)
    trap_oscillator_strength: FiniteFloat = opt(0.0, "relative oscillator strength kept by a trapped pair "
                                                "(refined model: 0.3)", ge=0, le=1)
    untrapped_fraction: FiniteFloat = opt(0.0, "fraction of QDs that never trap", ge=0, le=1)
    stokes_shift_ev: FiniteFloat = opt(0.0, "emission Stokes shift in eV (refined: 0.07)", ge=0, le=5)
    linewidth_ev: FiniteFloat = opt(0.1, "band-edge line FWHM in eV", gt=0, le=5)


# ----------------------------------------------------------------------------- build

class BuildSettings(Settings):
    """One nanocrystal recipe; which options apply depends on ``kind`` (anything else is an error)."""

    kind: Literal["cdse", "cdse-cds", "pbse", "cspbbr3", "inp-znse-zns"] = opt(..., "nanocrystal family")
    diameter_nm: FiniteFloat | None = opt(None, "diameter in nm (cdse; pbse: {100} facet distance)",
                                          alias="diameter", gt=0)
    core_diameter_nm: FiniteFloat | None = opt(None, "core diameter in nm (core/shell kinds)",
                                               alias="core-diameter", gt=0)
    shell_ml: list[int] | None = opt(None, "shell monolayers (cdse-cds: one value; inp-znse-zns: ZnSe ZnS)",
                                     nargs="+")
    preset: Literal["msd", "phonons"] | None = opt(
        None, "cdse-cds shell of the CdSe/CdS UED study: msd = 8 ML, phonons = 4 ML")
    attached: Literal["none", "dimer", "chain", "square"] | None = opt(None, "pbse oriented attachment along <100>")
    facet_ratio: FiniteFloat | None = opt(None, "pbse h111/h100 (default 0.866)", gt=0)
    polar_facets: Literal["half", "full"] | None = opt(
        None, "pbse outer {111} layers: half = every other row kept (dipole-free, stoichiometric; "
        "default), full = as cut (polar, unstable in MD)")
    cells: int | None = opt(None, "cspbbr3 cube edge in PbBr6 octahedra (5 -> Cs200Pb125Br450)", ge=1)
    vacancies: Literal["tetra", "box", "facet4", "none"] | None = opt(None, "cspbbr3 Cs-vacancy pattern")
    phase: Literal["cubic", "orthorhombic"] | None = opt(None, "cspbbr3 phase (default cubic)")
    lattice_constant_angstrom: FiniteFloat | None = opt(None, "lattice constant in Å (pbse, cspbbr3)",
                                                        alias="lattice-constant", gt=0, le=50)
    shape: Literal["cube", "superellipsoid", "octahedron", "sphere"] | None = opt(
        None, "cspbbr3: cube (default) or superellipsoid; inp-znse-zns: octahedron = {111} facets with the "
        "sphere's volume (default; a stable bare core) or sphere (the earlier cut; its bare core reconstructs in MD)")
    size_nm: FiniteFloat | None = opt(None, "cspbbr3 superellipsoid edge length L in nm", alias="size", gt=0)
    exponent: FiniteFloat | None = opt(None, "cspbbr3 superellipsoid exponent p (default 5)", gt=0)
    charge_balance: Literal["report", "require", "trim"] = opt(
        "report", "report the net formal charge, require zero, or trim surface atoms to zero")

    OPTIONS_BY_KIND: ClassVar[dict[str, set[str]]] = {
        "cdse": {"diameter_nm"},
        "cdse-cds": {"core_diameter_nm", "shell_ml", "preset"},
        "pbse": {"diameter_nm", "attached", "facet_ratio", "polar_facets", "lattice_constant_angstrom"},
        "cspbbr3": {"cells", "vacancies", "phase", "lattice_constant_angstrom", "shape", "size_nm", "exponent"},
        "inp-znse-zns": {"core_diameter_nm", "shell_ml", "shape"},
    }

    @field_validator("shell_ml", mode="before")
    @classmethod
    def _one_or_more(cls, v: Any) -> Any:
        return [v] if isinstance(v, (int, float, str)) else v

    @model_validator(mode="after")
    def _applies(self) -> Self:
        given = {k for k in self.model_fields_set if getattr(self, k) is not None} - {"kind", "charge_balance"}
        stray = given - self.OPTIONS_BY_KIND[self.kind]
        if stray:
            raise ValueError(f"{', '.join('--' + self.option_name(s) for s in sorted(stray))} does not apply to "
                             f"'{self.kind}'")
        from ..structures.recipes import estimated_atoms

        name, params = self.builder()
        atoms = estimated_atoms(name, params)
        if atoms > MAX_BUILD_ATOMS:
            raise ValueError(f"this {self.kind} would hold about {atoms:.2g} atoms, more than the "
                             f"{MAX_BUILD_ATOMS:,} this tool builds; choose a smaller size")
        return self

    def builder(self) -> tuple[str, dict[str, Any]]:
        """The builder name and its keyword arguments (structures.build(name, **params))."""
        from ..structures.recipes import builder_call

        return builder_call(self)
