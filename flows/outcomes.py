"""Typed result records of the capabilities: the keys each result file must hold, one headline each.

A result file is JSON written last by its capability: the flow builds its record, turns it into
the capability's outcome (``of``), writes it with ``to_json`` and returns it. These models read
it back (``from_json``), check the keys the rest of the project relies on, and say in one line
what came out (``headline``, printed by the command line and the campaign report). An outcome
also reads like the record it holds (``outcome["key"]``, ``"key" in outcome``, ``get``). Extra
keys are kept as they are, and a file without ``schema_version`` (written before the field
existed) loads as version 1, so existing result directories keep working.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import NclatticeError

SCHEMA_VERSION = 2  # 2: settings recorded by field name (settings models); 1: earlier files

FLAGGED_POTENTIALS = ("too stiff", "too soft", "provisional")  # validation statuses a report must show as warnings
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass(frozen=True)
class Number:
    """One headline number of a result: what it is, its value, unit and standard error.

    ``stderr`` None: no uncertainty is estimated for it. ``text``: a result given in words
    (peak positions, signs) where it is not one number.
    """

    key: str
    label: str
    value: float | None = None
    unit: str = ""
    stderr: float | None = None
    text: str | None = None

    def __str__(self) -> str:
        if self.text is not None:
            return self.text
        return format_value(self.value, self.stderr, self.unit)


def format_value(value: float | None, stderr: float | None = None, unit: str = "") -> str:
    """``1.23 ± 0.04 ps``, ``(7.14 ± 0.03) × 10⁻⁵ Å²/K``: the error's two significant digits set the decimals."""
    if value is None or not math.isfinite(value):
        return "n/a"
    exponent = math.floor(math.log10(abs(value))) if value and not 1e-3 <= abs(value) < 1e5 else 0
    v, scale = value / 10**exponent, f" × 10{str(exponent).translate(_SUPERSCRIPT)}" if exponent else ""
    if stderr is not None and math.isfinite(stderr) and stderr > 0:
        e = stderr / 10**exponent
        decimals = min(8, max(0, 1 - math.floor(math.log10(e))))
        text = f"{v:.{decimals}f} ± {e:.{decimals}f}"
        text = f"({text}){scale}" if scale else text
    else:
        text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}{scale}"
    return f"{text} {unit}".strip()


class Outcome(BaseModel):
    """Base of the result records: unknown keys kept, ``schema_version`` defaulting to 1 for old files."""

    model_config = ConfigDict(extra="allow")
    file: ClassVar[str] = "result.json"
    versioned: ClassVar[bool] = True  # False: ``of`` writes no schema_version (a file keyed by names, peak_shifts.json)
    schema_version: int = 1

    @classmethod
    def from_json(cls, path: str | Path) -> Self:
        """Load a result file; a missing, truncated or foreign file is one NclatticeError sentence."""
        import json

        path = Path(path)
        if path.is_dir():
            path = path / cls.file
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else type(exc).__name__
            raise NclatticeError(f"'{path}' is not a complete {cls.file} ({reason}); run the analysis again.") \
                from None

    @classmethod
    def of(cls, record: dict[str, Any]) -> Self:
        """The outcome of a record a flow built (numpy values converted as in the file)."""
        from ..provenance import to_jsonable

        try:
            version = {"schema_version": SCHEMA_VERSION} if cls.versioned else {}
            return cls.model_validate({**version, **to_jsonable(record)})
        except ValidationError as exc:
            raise NclatticeError(f"the {cls.file} record is incomplete ({exc.errors()[0]['msg']}); "
                                 "this is a bug in nclattice, please report it.") from None

    def to_json(self, path: str | Path) -> Path:
        """Write the result file (atomically); ``path`` is the file or its folder."""
        from ..results import write_json

        path = Path(path)
        return write_json(path / self.file if path.is_dir() or not path.suffix else path,
                          self.model_dump(mode="python", exclude_unset=True))

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields:
            return getattr(self, key)
        extra = self.model_extra or {}
        if key in extra:
            return extra[key]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        """As for the record: a declared field counts when the record held it (defaults do not)."""
        return key in self.model_fields_set or key in (self.model_extra or {})

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def keys(self) -> list[str]:
        return [k for k in type(self).model_fields if k in self.model_fields_set] + list(self.model_extra or {})

    def headline(self) -> str:
        return f"{self.file} (schema {self.schema_version})"

    # ---- what a report shows: one sentence, numbers, warnings, figure captions, provenance
    def _record(self, key: str, default: Any = None) -> Any:
        """A recorded key, typed field or extra (files written before a field existed lack it)."""
        if key in type(self).model_fields:
            return getattr(self, key)
        return (self.model_extra or {}).get(key, default)

    def description(self) -> str:
        """What the capability computed, in one sentence."""
        return ""

    def numbers(self) -> list[Number]:
        """The headline numbers; the first is the key number of the result."""
        return [Number("headline", "result", text=self.headline())]

    def key_number(self) -> Number:
        return self.numbers()[0]

    def number(self, key: str) -> Number | None:
        return next((n for n in self.numbers() if n.key == key), None)

    def warnings(self) -> list[str]:
        """What a reader must see before trusting the numbers (one sentence each)."""
        potential = self.potential()
        status = (potential.get("validation") or {}).get("status", "")
        if status in FLAGGED_POTENTIALS:
            summary = (potential.get("validation") or {}).get("summary", "")
            return [f"The potential {potential.get('name')} is flagged '{status}'"
                    + (f": {summary.rstrip('.')}." if summary else ".")]
        return []

    def figures(self) -> dict[str, str]:
        """Figure file -> caption naming the quantity plotted and its units."""
        return {}

    def potential(self) -> dict[str, Any]:
        """The potential's record (name, citation, doi, validation), empty where none was used."""
        record = dict((self._record("provenance") or {}).get("potential") or {})
        if "validation" not in record and self._record("potential_validation"):
            record["validation"] = self._record("potential_validation")
        return record

    def code_version(self) -> str:
        """'nclattice 0.1.0 (git 92b54648a2ef)' from the provenance record; "" where there is none."""
        prov = self._record("provenance") or {}
        if not prov:
            return ""
        return f"nclattice {prov.get('nclattice', '?')} (git {str(prov.get('git_commit', '?'))[:12]})"

    def provenance_items(self) -> list[tuple[str, str]]:
        """(label, text) pairs: structure, potential, model, versions, commit, when it was made."""
        prov = self._record("provenance") or {}
        out = []
        structure = self._record("structure")
        if isinstance(structure, dict) and structure:
            atoms = f", {structure['atoms']} atoms" if structure.get("atoms") else ""
            where = structure.get("path") or structure.get("file") or ""
            out.append(("structure", f"{structure.get('formula', '?')}{atoms}" + (f" ({where})" if where else "")))
        potential = self.potential()
        if potential:
            validation = potential.get("validation") or {}
            doi = f", doi:{potential['doi']}" if potential.get("doi") else ""
            out.append(("potential", f"{potential.get('name')} ({potential.get('form', '')}): "
                                     f"{potential.get('citation', '')}{doi}"))
            if validation:
                out.append(("validation", f"{validation.get('status', '?')}: {validation.get('summary', '')}"))
        if prov.get("model") or prov.get("analysis"):
            out.append(("model", prov.get("model") or prov.get("analysis")))
        if prov.get("seed") is not None:
            out.append(("seed", str(prov["seed"])))
        packages = ", ".join(f"{k} {v}" for k, v in (prov.get("packages") or {}).items())
        if prov:
            out.append(("versions", f"nclattice {prov.get('nclattice', '?')}, Python {prov.get('python', '?')}"
                                    + (f"; {packages}" if packages else "")))
            out.append(("code", f"git {prov.get('git_commit', 'unknown')}, made {prov.get('created_utc', '?')} "
                                f"on {prov.get('host', '?')}"))
        return out


def _formula(structure: Any) -> str:
    """'Cd93S60Se34 (187 atoms)' from a structure record."""
    if not isinstance(structure, dict):
        return "the structure"
    atoms = f" ({structure['atoms']:,} atoms)" if structure.get("atoms") else ""
    return f"{structure.get('formula', 'the structure')}{atoms}"


def drift_warnings(protocol: Any) -> list[str]:
    """One sentence when atoms left their sites during any MD run of the result."""
    moved = {t: (p.get("site_drift") or {}) for t, p in (protocol or {}).items() if isinstance(p, dict)}
    counts = {t: d.get("n_drifting", 0) for t, d in moved.items() if d.get("n_drifting")}
    if not counts:
        return []
    per = ", ".join(f"{n} at {t} K" for t, n in sorted(counts.items(), key=lambda kv: float(kv[0])))
    surface = sum(d.get("n_drifting_surface", 0) for d in moved.values())
    where = " (all on the surface)" if surface == sum(counts.values()) else ""
    return [f"Atoms left their sites during the MD: {per}{where}; their jumps are included in the result."]


def _fit_warning(what: str, value: float | None, stderr: float | None, limit: float = 0.5) -> list[str]:
    """A fitted time constant whose standard error exceeds ``limit`` of its value: the fit barely converged."""
    if value and stderr is not None and abs(stderr / value) > limit:
        return [f"The fit of {what} barely converged: its standard error is {100 * abs(stderr / value):.0f} % of "
                "the value."]
    return []


class CalibrationOutcome(Outcome):
    file: ClassVar[str] = "calibration.json"
    temperatures_k: list[float]
    fit: dict[str, dict[str, Any]]  # per group (element, region, diffraction_weighted): <u²> = a + bT
    failed: list[dict[str, Any]] = []
    msd_angstrom2: dict[str, list[float]] = {}
    msd_stderr_angstrom2: dict[str, list[float | None]] = {}
    directional_msd_1d_angstrom2: dict[str, Any] = {}
    fit_directional_1d: dict[str, Any] = {}
    md_protocol: dict[str, Any] = {}  # per temperature: minimisation, anneal, atoms off their sites
    structure: dict[str, Any] = {}
    potential_validation: dict[str, Any] | None = None
    settings: dict[str, Any] = {}
    msd_definition: str | None = None
    wall_s: float | None = None
    provenance: dict[str, Any] = {}

    def headline(self) -> str:
        f = self.fit["diffraction_weighted"]
        failed = f", {len(self.failed)} temperature(s) failed" if self.failed else ""
        return (f"slope b = {f['slope_angstrom2_per_k']:.3e} ± {f['slope_stderr']:.1e} Å²/K "
                f"(R² = {f['r2']:.4f}, diffraction-weighted, {len(self.temperatures_k)} temperatures{failed})")

    def description(self) -> str:
        t = self.temperatures_k
        return (f"Mean-square displacement ⟨u²⟩ of {_formula(self._record('structure'))} from MD at {len(t)} "
                f"temperatures ({min(t):g}–{max(t):g} K), fitted with a line whose slope b turns a measured "
                "Δ⟨u²⟩ into a lattice temperature rise.")

    def numbers(self) -> list[Number]:
        f = self.fit["diffraction_weighted"]
        return [Number("slope", "slope b of ⟨u²⟩(T), diffraction-weighted", f["slope_angstrom2_per_k"], "Å²/K",
                       f["slope_stderr"]),
                Number("r2", "linearity of ⟨u²⟩(T): R² of the line", f["r2"], text=f"R² = {f['r2']:.4f}"),
                Number("temperatures", "temperatures", len(self.temperatures_k),
                       text=f"{len(self.temperatures_k)} ({'/'.join(f'{t:g}' for t in self.temperatures_k)} K)")]

    def warnings(self) -> list[str]:
        out = super().warnings() + drift_warnings(self._record("md_protocol"))
        if self.failed:
            out.append(f"{len(self.failed)} temperature(s) failed and are left out of the fit: "
                       + "; ".join(str(f.get("error", f)) for f in self.failed))
        if self.fit["diffraction_weighted"]["r2"] < 0.99:
            out.append(f"⟨u²⟩(T) is not linear (R² = {self.fit['diffraction_weighted']['r2']:.3f}): the "
                       "calibration is unreliable.")
        return out

    def figures(self) -> dict[str, str]:
        return {"calibration.png": "Mean-square displacement ⟨u²⟩ (Å², 3D) against temperature (K), with the "
                                   "linear fits whose slope b (Å²/K) is the calibration."}


class DeltaTOutcome(Outcome):
    file: ClassVar[str] = "delta_t.json"
    t0_k: float
    t1_k: float
    peaks: dict[str, dict[str, Any]]  # per wurtzite peak: ΔG(r) at the centre and flanks, broadening
    probe: str | None = None
    weights: dict[str, float] = {}
    mean_temperature_k: list[float] = []
    frames: list[int] = []
    smoothing_angstrom: float | None = None
    md_protocol: dict[str, Any] = {}
    q_range_inv_angstrom: list[float] = []
    structure: dict[str, Any] = {}
    provenance: dict[str, Any] = {}

    def headline(self) -> str:
        broad = [k for k, v in self.peaks.items() if v["broadening"]]
        where = ", ".join(broad) if broad else "no peak"
        return f"ΔG(r) from {self.t0_k:g} K to {self.t1_k:g} K: broadening at {where}"

    def description(self) -> str:
        return (f"Change ΔG(r) of the pair distribution function of {_formula(self._record('structure'))} heated "
                f"from {self.t0_k:g} K to {self.t1_k:g} K (MD at both temperatures, {self._record('probe', '')} "
                "weights), as ultrafast diffraction sees a temperature jump.")

    def numbers(self) -> list[Number]:
        where = ", ".join(f"{p['r_peak_angstrom']:.2f}" for p in self.peaks.values())
        dips = sum(bool(p["broadening"]) for p in self.peaks.values())
        out = [Number("dips", "ΔG(r) dips at the pair peaks",
                      text=f"{where} Å ({dips} of {len(self.peaks)} peaks broadened)" if self.peaks else
                      "no wurtzite pair peaks analysed")]
        measured = self._record("mean_temperature_k")
        if measured:
            out.append(Number("temperatures", "mean MD temperatures",
                              text=" and ".join(f"{t:.1f}" for t in measured) + " K"))
        out.append(Number("delta_t", "temperature jump ΔT", self.t1_k - self.t0_k, "K"))
        return out

    def warnings(self) -> list[str]:
        out = super().warnings() + drift_warnings(self._record("md_protocol"))
        if self.peaks and not any(p["broadening"] for p in self.peaks.values()):
            out.append("No pair peak shows the broadening signature (a dip with rises on both flanks): the MD "
                       "is too short or ΔT too small for this structure.")
        return out

    def figures(self) -> dict[str, str]:
        return {"delta_g.png": f"Top: pair distribution G(r) (Å⁻²) at {self.t0_k:g} K against r (Å). Bottom: "
                               f"ΔG(r) (Å⁻²) for ΔT = {self.t1_k - self.t0_k:g} K, directly and via F(Q) over "
                               "the finite Q range; dotted lines mark the pair peaks."}


class PhononOutcome(Outcome):
    file: ClassVar[str] = "phonons.json"
    frequencies_thz: list[float]
    lifetime_summary: dict[str, Any]
    rigid_body_modes: list[int] = []
    rigid_body_frequencies_thz: list[float] = []
    imaginary_modes: list[int] = []
    lifetimes_ps: list[float | None] = []
    lifetimes_fit_ps: list[float | None] = []
    lifetime_resolved: list[bool] = []
    frequencies_md_thz: list[float | None] = []
    lifetime_method: str | None = None
    md_mean_temperature_k: float | None = None
    dos: dict[str, Any] = {}
    minimization: dict[str, Any] = {}
    timings_s: dict[str, Any] = {}
    modes: str | None = None
    structure: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    provenance: dict[str, Any] = {}

    def headline(self) -> str:
        s = self.lifetime_summary
        return (f"{len(self.frequencies_thz)} modes; median lifetime {s['median_lifetime_ps']:.2f} ps, "
                f"{100 * s['fraction_below_1ps']:.0f} % below 1 ps")

    def description(self) -> str:
        temperature = (self._record("settings") or {}).get("temperature_k")
        at = f" at {temperature:g} K" if temperature else ""
        return (f"Vibrational modes of {_formula(self._record('structure'))} from the Hessian at its energy "
                f"minimum, and each mode's lifetime{at} from the friction kernel of MD velocities.")

    def numbers(self) -> list[Number]:
        s = self.lifetime_summary
        low = next((b for b in s.get("trend", []) if b["band_thz"][1] <= 0.5), None)
        out = [Number("median_lifetime", "median phonon lifetime", s["median_lifetime_ps"], "ps"),
               Number("fraction_below_1ps", "modes with lifetime below 1 ps", 100 * s["fraction_below_1ps"], "%"),
               Number("modes", "modes", len(self.frequencies_thz),
                      text=f"{len(self.frequencies_thz):,} up to {max(self.frequencies_thz):.1f} THz")]
        if low:
            out.append(Number("slow_modes", "median lifetime below 0.5 THz", low["median_lifetime_ps"], "ps"))
        return out

    def warnings(self) -> list[str]:
        out = super().warnings() + drift_warnings(self._record("md_protocol"))
        imaginary = self._record("imaginary_modes") or []
        if imaginary:
            out.append(f"{len(imaginary)} imaginary mode(s): the minimum is not a true minimum.")
        resolved = self.lifetime_summary.get("resolved_fraction")
        if resolved is not None and resolved < 0.5:
            out.append(f"Only {100 * resolved:.0f} % of the lifetimes are resolved; the others are lower bounds "
                       "(longer than a third of the correlation window).")
        if (self._record("minimization") or {}).get("converged") is False:
            out.append("The energy minimisation did not converge.")
        return out

    def figures(self) -> dict[str, str]:
        return {"dos.png": "Phonon density of states (modes/THz) against frequency (THz), total and projected on "
                           "elements and regions.",
                "lifetimes.png": "Phonon lifetime (ps, log scale) of each mode against its frequency (THz): "
                                 "resolved lifetimes, lower bounds (longer than a third of the correlation "
                                 "window) and the damped-oscillator cross-check."}


class SpinOutcome(Outcome):
    file: ClassVar[str] = "spin.json"
    backend: str  # "xtb", "cp2k" or "imported"
    relaxation_energy_ev: float | None = None
    backend_settings: dict[str, Any] | None = None
    singlet_state: str | None = None  # cp2k: "closed-shell" or "broken-symmetry"
    energy_singlet_ev: float | None = None
    energy_triplet_vertical_ev: float | None = None
    energy_triplet_relaxed_ev: float | None = None
    stokes_shift_ev: float | None = None
    adiabatic_gap_ev: float | None = None
    vertical_gap_ev: float | None = None
    converged: dict[str, bool | None] | None = None  # per state; None for imported geometries
    structure: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    displacement_regression: dict[str, Any] = {}  # per species: slope_ppm, stderr_ppm (3x3), atoms
    regression_layout: str | None = None
    displacement_summary: dict[str, Any] = {}  # per species: max and rms displacement (Å)
    radial_profile: dict[str, Any] = {}
    input_key: str | None = None
    max_force_ev_per_angstrom: dict[str, float | None] = {}
    steps: dict[str, int | None] = {}
    scf: dict[str, Any] = {}
    log: dict[str, Any] = {}  # per state: (step, energy, fmax) rows
    s_squared: dict[str, float | None] = {}
    imported_from: dict[str, str] | None = None
    provenance: dict[str, Any] = {}

    def headline(self) -> str:
        e = "n/a" if self.relaxation_energy_ev is None else f"{1000 * self.relaxation_energy_ev:.1f} meV"
        return f"polaron relaxation energy {e} ({self.backend})"

    def description(self) -> str:
        method = {"xtb": "GFN2-xTB", "cp2k": "PBE (CP2K)"}.get(self.backend, self.backend)
        return (f"Singlet and triplet (exciton) geometries of {_formula(self._record('structure'))} relaxed with "
                f"{method}; the relaxation energy is what the triplet gains by leaving the singlet geometry.")

    def numbers(self) -> list[Number]:
        e = self.relaxation_energy_ev
        out = [Number("relaxation_energy", "singlet → triplet relaxation energy",
                      None if e is None else 1000 * e, "meV")]
        for key, label in (("adiabatic_gap_ev", "adiabatic gap"), ("vertical_gap_ev", "vertical gap")):
            if self._record(key) is not None:
                out.append(Number(key.removesuffix("_ev"), label, self._record(key), "eV"))
        return out

    def warnings(self) -> list[str]:
        out = super().warnings()
        converged = self._record("converged") or {}
        stuck = [state for state, ok in converged.items() if ok is False]
        if stuck:
            out.append(f"The {' and '.join(stuck)} relaxation did not converge (written with --allow-unconverged).")
        return out

    def figures(self) -> dict[str, str]:
        return {"displacement.png": "Triplet − singlet displacement along x, u_x, per element: top, coloured on "
                                    "the atoms' x-y positions (Å; colour scale u_x in Å); bottom, u_x (mÅ) against "
                                    "x (Å) with the linear strain fit (ppm)."}


class SpinDryRunOutcome(Outcome):
    """``spin-relax --backend cp2k --dry-run``: the CP2K inputs and command written, nothing run."""

    file: ClassVar[str] = "cp2k/dry_run.json"
    dry_run: list[str]  # the files written (inputs and the command line)

    def headline(self) -> str:
        return f"CP2K dry run: {len(self.dry_run)} file(s) written, nothing run"


class PolaronEnsembleOutcome(Outcome):
    """Mean and spread of the polaron relaxation energy and Table-S2 slopes over several models."""

    file: ClassVar[str] = "polaron_models.json"
    models: list[str]
    relaxation_energy_ev: dict[str, float | None]  # per model
    relaxation_energy_mean_ev: float
    stokes_shift_mean_ev: float
    relaxation_energy_std_ev: float | None = None  # None for one model
    slope_ppm_mean: dict[str, Any] = {}  # per species: 3x3 mean slopes (NaN where no model had one)
    provenance: dict[str, Any] = {}

    def headline(self) -> str:
        std = "" if self.relaxation_energy_std_ev is None else f" ± {1000 * self.relaxation_energy_std_ev:.1f}"
        return (f"polaron relaxation energy {1000 * self.relaxation_energy_mean_ev:.1f}{std} meV over "
                f"{len(self.models)} model(s)")


class PeakShiftsOutcome(Outcome):
    """Per hkl (the keys "200", "110", ...): peak shift, integrated change, warning, ... (extra keys)."""

    file: ClassVar[str] = "peak_shifts.json"
    versioned: ClassVar[bool] = False  # its keys are the hkl labels and provenance, as before
    provenance: dict[str, Any] = {}

    def peaks(self) -> dict[str, dict[str, Any]]:
        return dict(self.model_extra or {})

    def headline(self) -> str:
        shifts = ", ".join(f"({h}) {v['shift_inv_angstrom']:+.2e}" for h, v in self.peaks().items())
        return f"peak shifts (1/Å) {shifts}"


class DiffractionOutcome(Outcome):
    """``diffract`` (formula, atoms, probe, powder/grid) or ``polaron-diffraction`` (model, peak shifts).

    Its list of warnings stays the extra key ``warnings`` (the name is the method below)."""

    file: ClassVar[str] = "result.json"
    files: list[str] = []
    # diffract
    atoms: int | None = None
    formula: str | None = None
    probe: dict[str, Any] = {}  # kind, energy_kev, wavelength_angstrom, form-factor tables
    absorption_edges_within_1_kev: list[Any] = []
    powder: dict[str, Any] = {}  # q_range_inv_angstrom, q_of_max_intensity
    grid: list[dict[str, Any]] = []  # the reciprocal-space boxes
    # polaron-diffraction
    model: str | None = None
    crystals: int | None = None
    settings: dict[str, Any] = {}
    peak_shifts: dict[str, dict[str, Any]] = {}  # per hkl: shift_inv_angstrom, integrated_change, warning
    mean_size_nm: float | None = None
    wall_s: float | None = None
    provenance: dict[str, Any] = {}

    def headline(self) -> str:
        if "peak_shifts" in self:
            shifts = ", ".join(f"({h}) {v['shift_inv_angstrom']:+.2e}" for h, v in self.peak_shifts.items())
            return f"{self.model} model, {self.crystals} crystal(s): peak shifts (1/Å) {shifts}"
        return f"{self.formula}: {self.atoms} atoms, {self.probe_text()}; {', '.join(self.files)}"

    def probe_text(self) -> str:
        """'X-ray 13.6 keV (λ 0.9116 Å)' from the probe record."""
        p = self.probe
        if not p:
            return "probe not recorded"
        name = "X-ray" if p.get("probe") == "xray" else p.get("probe")
        wavelength = p.get("wavelength_angstrom")
        return f"{name} {p.get('energy_kev'):g} keV" + (f" (λ {wavelength:.4g} Å)" if wavelength else "")

    def description(self) -> str:
        if "peak_shifts" in self:
            return (f"Bragg peak shifts when a polaron distorts the crystal ({self.model} displacement "
                    f"model, {self.crystals} crystal(s)), as a diffraction pump-probe experiment sees them.")
        return f"Diffraction intensities of {self.formula} ({self.atoms} atoms)."

    def numbers(self) -> list[Number]:
        if "peak_shifts" not in self:
            return [Number("atoms", "atoms", self.atoms)]
        shifts = self.peak_shifts
        words = ", ".join(f"({h}) {'inward' if v['shift_inv_angstrom'] < 0 else 'outward'}" for h, v in shifts.items())
        out = [Number("peak_shifts", "peak shifts", text=words)]
        out += [Number(f"shift_{h}", f"({h}) peak shift", v["shift_inv_angstrom"], "Å⁻¹") for h, v in shifts.items()]
        return out

    def warnings(self) -> list[str]:
        listed = [str(w) for w in (self.model_extra or {}).get("warnings") or []]
        per_peak = [str(v["warning"]) for v in self.peak_shifts.values() if v.get("warning")]
        return super().warnings() + (listed or per_peak)

    def figures(self) -> dict[str, str]:
        return {"delta_slices.png": "Intensity change ΔI / I_max around each Bragg peak, in slices through "
                                    "reciprocal space (q in Å⁻¹).",
                "powder.png": "Powder pattern: F(Q) = Q[S(Q) − 1] (Å⁻¹) against Q (Å⁻¹), and G(r) (Å⁻²) against "
                              "r (Å).",
                "intensity_slices.png": "Diffracted intensity I(q) in slices through reciprocal space (q in "
                                        "Å⁻¹)."}


class UedOutcome(Outcome):
    """``ued analyze`` and ``ued profiles``: Δ⟨u²⟩(t) from the Debye–Waller fit per delay, ΔT(t) with a
    calibration. Columns are per delay; None where a delay had no fit."""

    file: ClassVar[str] = "ued.json"
    delays_ps: list[float]
    delta_msd_angstrom2: list[float | None]
    primary_fluence_mj_cm2: float | None = None  # ued analyze: the series the headline numbers are of
    delta_t_k: list[float | None] | None = None
    fluence_mj_cm2: float | None = None
    delta_msd_stderr: list[float | None] = []
    slope_angstrom2: list[float | None] = []
    intercept: list[float | None] = []
    intercept_stderr: list[float | None] = []
    intercept_z: list[float | None] = []
    intercept_p_value: list[float | None] = []
    chi2_reduced: list[float | None] = []
    n_fit_peaks: list[int | None] = []
    disorder_flags: list[Any] = []
    disorder_summary: dict[str, Any] = {}
    localized_disorder_detected: bool | None = None
    peaks: dict[str, Any] = {}  # names, q_inv_angstrom, s_inv_angstrom, hkl
    fits: dict[str, Any] = {}  # single/double exponential of Δ⟨u²⟩(t)
    peak_msd: dict[str, Any] = {}  # per peak: ⟨Δu²⟩ along Q and its fit
    direction_resolved: dict[str, Any] = {}  # per hkl family (with --lattice)
    high_q_excess: dict[str, Any] = {}  # with --disorder-peaks
    # with a calibration
    delta_t_stderr_k: list[float | None] = []
    delta_t_stat_stderr_k: list[float | None] = []
    delta_t_force_field_systematic_k: list[float | None] | float | None = None
    delta_t_per_force_field_k: dict[str, Any] = {}
    force_field_estimator: str | None = None
    force_field_warning: Any = None
    fits_delta_t: dict[str, Any] = {}
    delta_energy_ev: list[float | None] = []  # with --n-atoms
    delta_energy_stderr_ev: list[float | None] = []
    auger_fit: dict[str, Any] = {}  # with --mean-excitons
    # ued analyze: every series; ued profiles: the rings fitted
    series: list[dict[str, Any]] = []
    fluence_scaling: list[Any] = []
    rings: list[dict[str, Any]] = []
    lattice_strain: dict[str, Any] = {}
    ring_fit: dict[str, Any] = {}
    conventions: dict[str, Any] = {}
    calibration: dict[str, Any] | None = None
    inputs: dict[str, Any] = {}
    provenance: dict[str, Any] = {}

    def headline(self) -> str:
        fluence = "" if self.primary_fluence_mj_cm2 is None else f" at {self.primary_fluence_mj_cm2:g} mJ/cm²"
        if self.delta_t_k:
            return f"ΔT at the last delay {self.delta_t_k[-1]:.1f} K{fluence} ({len(self.delays_ps)} delays)"
        return f"Δ<u²> at the last delay {self.delta_msd_angstrom2[-1]:.2e} Å²{fluence} ({len(self.delays_ps)} delays)"

    def data_files(self) -> list[str]:
        return [str(p) for p in (self._record("inputs") or {}).get("data", [])]

    def synthetic_data(self) -> list[str]:
        """The input series whose header says they are synthetic example data."""
        return [Path(p).name for p in self.data_files() if _is_synthetic(Path(p))]

    def description(self) -> str:
        names = ", ".join(Path(p).name for p in self.data_files()) or "the UED series"
        converted = ("converted to a lattice temperature rise with the MD calibration" if self.delta_t_k
                     else "(no calibration given, so no temperature)")
        return (f"Debye–Waller analysis of {names}: at each delay the loss −ln(I/I0) against Q² gives the "
                f"change Δ⟨u²⟩, {converted}.")

    def numbers(self) -> list[Number]:
        fluence = "" if self.primary_fluence_mj_cm2 is None else f" at {self.primary_fluence_mj_cm2:g} mJ/cm²"
        stderr = self._record("delta_t_stderr_k") or []
        out = []
        if self.delta_t_k:
            out.append(Number("delta_t_last", f"lattice ΔT at the last delay ({self.delays_ps[-1]:g} ps){fluence}",
                              self.delta_t_k[-1], "K", stderr[-1] if len(stderr) == len(self.delta_t_k) else None))
        msd_err = self._record("delta_msd_stderr") or []
        out.append(Number("delta_msd_last", f"Δ⟨u²⟩ at the last delay{fluence}", self.delta_msd_angstrom2[-1], "Å²",
                          msd_err[-1] if len(msd_err) == len(self.delta_msd_angstrom2) else None))
        rise = self._rise_fit()
        if rise:
            out.append(Number("rise_time", "rise time τ (single exponential)", rise["time_constants_ps"][0], "ps",
                              rise["time_constants_stderr_ps"][0]))
        out.append(Number("delays", "delays", len(self.delays_ps)))
        return out

    def _rise_fit(self) -> dict[str, Any] | None:
        """The single-exponential fit of ΔT(t) (or of Δ⟨u²⟩(t) without a calibration)."""
        fits = self._record("fits_delta_t") or self._record("fits") or {}
        single = fits.get("single") or fits.get("delta_msd_single")
        return single if single and single.get("time_constants_ps") else None

    def warnings(self) -> list[str]:
        synthetic = self.synthetic_data()
        out = super().warnings()
        if synthetic:
            out.append(f"{', '.join(synthetic)}: SYNTHETIC example data (a forward model plus noise), not a "
                       "measurement.")
        rise = self._rise_fit()
        if rise:
            out += _fit_warning("the rise time", rise["time_constants_ps"][0], rise["time_constants_stderr_ps"][0],
                                limit=0.5)
        return out

    def figures(self) -> dict[str, str]:
        fluence = "" if self.primary_fluence_mj_cm2 is None else f" ({self.primary_fluence_mj_cm2:g} mJ/cm² series)"
        return {"dw_vs_q2.png": f"Debye–Waller plot{fluence}: −ln(I/I0) against Q² (Å⁻²) at selected delays, "
                                "with the fitted lines.",
                "delta_t.png": (f"Lattice ΔT (K) against delay (ps){fluence}, with the single-exponential fit."
                                if self.delta_t_k else f"Δ⟨u²⟩ (Å²) against delay (ps){fluence}."),
                "ring_fit.png": "Fitted diffraction rings: I(Q) against Q (Å⁻¹).",
                "strain.png": "Relative ring position change (lattice strain) against delay (ps)."}


class UedImagesOutcome(Outcome):
    file: ClassVar[str] = "images.json"
    delays_ps: list[float]
    n_frames: int
    rejected: list[dict[str, Any]] = []

    def headline(self) -> str:
        return (f"{self.n_frames} frames integrated into {len(self.delays_ps)} delays, "
                f"{len(self.rejected)} rejected")


class _LatticeTemperature(Outcome):
    """With an exciton energy and the atom count: the heating curves as a lattice ΔT (Dulong-Petit)."""

    heat_capacity_ev_per_k: float | None = None
    kelvin_per_exciton_energy: float | None = None
    lattice_temperature_note: str | None = None
    delta_t_k: list[float] | None = None
    delta_t_stderr_k: list[float] | None = None


class _HeatingCurve(_LatticeTemperature):
    """A Gillespie heating curve of an NC ensemble (energies in band-edge exciton energies per NC)."""

    time_constant_ps: float
    times_ps: list[float] = []
    delta_energy_per_nc: list[float] = []
    delta_energy_stderr: list[float] = []
    excitons_mean: list[float] = []
    time_constant_stderr_ps: float | None = None
    time_constant_ci95_ps: list[float | None] | None = None
    amplitude: float | None = None
    energy_unit: str = "one band-edge exciton's energy per NC"
    inputs: dict[str, Any] = {}
    provenance: dict[str, Any] = {}


class AugerOutcome(_HeatingCurve):
    file: ClassVar[str] = "auger.json"
    final_excitons_mean: float
    rise_time_63_ps: float | None = None
    master_equation_time_constant_by_window_ps: dict[str, Any] = {}
    final_energy_per_nc: float | None = None
    master_equation: dict[str, Any] = {}
    poisson_closure_delta_energy_per_nc: list[float] = []
    paper_time_constant_ps: float | None = None
    delta_t_end_k: float | None = None
    delta_t_complete_k: float | None = None

    def headline(self) -> str:
        dt = "" if self.delta_t_end_k is None else f", lattice ΔT at the end {self.delta_t_end_k:.1f} K"
        return f"Auger heating: τ = {self.time_constant_ps:.1f} ps, final ⟨N⟩ = {self.final_excitons_mean:.2f}{dt}"

    def description(self) -> str:
        i = self._record("inputs") or {}
        return (f"Lattice heating by Auger recombination in {i.get('n_nc', 'an ensemble of')} NCs with "
                f"⟨N⟩ = {i.get('mean_excitons', '?'):g} excitons and biexciton lifetime τ_AR = "
                f"{i.get('tau_auger_ps', '?'):g} ps (Gillespie simulation, checked against the master equation).")

    def numbers(self) -> list[Number]:
        out = [Number("time_constant", "heating time constant τ (single exponential)", self.time_constant_ps, "ps",
                      self._record("time_constant_stderr_ps"))]
        if self._record("rise_time_63_ps") is not None:
            out.append(Number("rise_time_63_ps", "63 % rise time (no fit)", self._record("rise_time_63_ps"), "ps"))
        if self.delta_t_end_k is not None:
            out.append(Number("delta_t_end_k", "lattice ΔT at the end", self.delta_t_end_k, "K"))
        out.append(Number("final_excitons", "⟨N⟩ left at the end", self.final_excitons_mean))
        return out

    def warnings(self) -> list[str]:
        return super().warnings() + _fit_warning("the heating curve", self.time_constant_ps,
                                                 self._record("time_constant_stderr_ps"))

    def figures(self) -> dict[str, str]:
        return {"auger.png": "Energy deposited per NC (exciton energies; lattice ΔT in K where given) against time "
                             "(ps), Gillespie ensemble against master equation, and ⟨N⟩ excitons per NC."}


class TrappingOutcome(_HeatingCurve):
    file: ClassVar[str] = "trapping.json"
    suppression_factor: float | None
    delta_energy_per_nc_auger_only: list[float] = []
    trapped_mean: list[float] = []
    time_constant_auger_only_ps: float | None = None
    delta_t_auger_only_k: list[float] | None = None

    def headline(self) -> str:
        s = "n/a" if self.suppression_factor is None else f"{self.suppression_factor:.2f}x"
        return f"trapping: Auger heating suppressed {s}, τ = {self.time_constant_ps:.1f} ps"

    def description(self) -> str:
        i = self._record("inputs") or {}
        return (f"Auger heating at ⟨N⟩ = {i.get('mean_excitons', '?'):g} competing with hot-hole trapping "
                f"(τ_trap = {i.get('tau_trap_ps', '?'):g} ps, τ_AR = {i.get('tau_auger_ps', '?'):g} ps), against "
                "Auger heating alone.")

    def numbers(self) -> list[Number]:
        out = [Number("suppression", "heating of Auger alone over heating with trapping", self.suppression_factor,
                      "×"),
               Number("time_constant", "heating time constant with trapping", self.time_constant_ps, "ps",
                      self._record("time_constant_stderr_ps"))]
        if self._record("time_constant_auger_only_ps") is not None:
            out.append(Number("time_constant_auger_only", "heating time constant, Auger alone",
                              self._record("time_constant_auger_only_ps"), "ps"))
        return out

    def warnings(self) -> list[str]:
        return super().warnings() + _fit_warning("the heating curve", self.time_constant_ps,
                                                 self._record("time_constant_stderr_ps"))

    def figures(self) -> dict[str, str]:
        return {"trapping.png": "Energy deposited per NC (exciton energies) against time (ps), with hole trapping "
                                "and for Auger heating alone."}


class OccupationOutcome(Outcome):
    file: ClassVar[str] = "occupation.json"
    p0: float
    p1: float
    p2: float
    mean_pairs: float
    gamma0_t: float | None = None
    gamma_ratio: float | None = None
    # "curve" (the same quantities against gamma0_t) stays an extra key: tests/test_outcomes.py reads it as one
    inputs: dict[str, Any] = {}
    provenance: dict[str, Any] = {}

    def headline(self) -> str:
        return f"P0 = {self.p0:.3f}, P1 = {self.p1:.3f}, P2 = {self.p2:.3f}, mean pairs = {self.mean_pairs:.3f}"

    def description(self) -> str:
        return (f"Probabilities of zero, one and two excitons after a resonant pump (γ0·t = "
                f"{self._record('gamma0_t', 0):g}, γ1/γ0 = {self._record('gamma_ratio', 0):g}), each exciton "
                "reducing the absorption.")

    def numbers(self) -> list[Number]:
        return [Number("occupation", "P0 / P1 / P2", text=f"{self.p0:.3f} / {self.p1:.3f} / {self.p2:.3f}"),
                Number("mean_pairs", "mean pairs probed", self.mean_pairs)]

    def figures(self) -> dict[str, str]:
        return {"occupation.png": "Occupation probabilities P0, P1, P2 and the mean pairs (dimensionless) against "
                                  "γ0·t."}


class StateFillingOutcome(Outcome):
    file: ClassVar[str] = "state_filling.json"
    bleach: float
    bleach_without_trapping: float
    n_eff: float | None
    gain_max: float
    gain_max_without_trapping: float | None = None
    mean_p_trap: float | None = None
    bleach_unit: str | None = None
    p_cool: dict[str, Any] = {}
    gain_max_up_to_mean: float | None = None
    bleach_at_saturation: float | None = None
    gain_max_at_saturation: float | None = None
    curve: dict[str, list[float | None]] = {}  # against the mean number of excitations
    paper: dict[str, Any] = {}  # the measured values of Vonk et al. 2025
    inputs: dict[str, Any] = {}
    provenance: dict[str, Any] = {}

    def headline(self) -> str:
        n_eff = "above the trap-free maximum" if self.n_eff is None else f"{self.n_eff:.2f}"
        return (f"bleach {self.bleach:.3f} (no trapping {self.bleach_without_trapping:.3f}), n_eff = {n_eff}, "
                f"max gain {self.gain_max:.3f}")

    def description(self) -> str:
        i = self._record("inputs") or {}
        return (f"Band-edge bleach and optical gain of QDs at n̄ = {i.get('mean_excitations', '?'):g} excitations "
                f"per QD with a hot-carrier trapping probability P_trap = {i.get('p_trap', '?'):g} per excitation.")

    def numbers(self) -> list[Number]:
        n_eff = Number("n_eff", "effective excitations n̄_eff", self.n_eff) if self.n_eff is not None else \
            Number("n_eff", "effective excitations n̄_eff", text="above the trap-free maximum")
        return [n_eff, Number("bleach", "band-edge bleach −ΔA/A0", self.bleach),
                Number("gain_max", "largest gain (A0)", self.gain_max)]

    def figures(self) -> dict[str, str]:
        return {"state_filling.png": "Band-edge bleach −ΔA/A0 and largest gain (units of A0) against n̄ "
                                     "excitations per QD, with and without trapping."}


class DecompositionOutcome(Outcome):
    """Per delay: heating (Δ⟨u²⟩ or the MD run's amplitude a) plus b × the surface-disorder pattern."""

    file: ClassVar[str] = "decomposition.json"
    delays_ps: list[float]
    disorder_b: list[float]
    disorder_b_stderr: list[float]
    fluence_mj_cm2: float | None = None
    disorder_z: list[float | None] = []
    chi2_reduced: list[float | None] = []
    delta_msd_angstrom2: list[float | None] = []  # --heat-model debye-waller
    delta_msd_stderr: list[float | None] = []
    heat_amplitude_a: list[float | None] = []  # --heat DELTA_T_DIR
    heat_amplitude_stderr: list[float | None] = []
    delta_t_k: list[float | None] = []
    delta_t_stderr_k: list[float | None] = []
    delta_t_stat_stderr_k: list[float | None] = []
    delta_t_force_field_systematic_k: list[float | None] | float | None = None
    r_space: dict[str, Any] = {}  # the same columns from ΔG(r)
    model: dict[str, Any] = {}  # heat and disorder models, equation
    calibration: dict[str, Any] | None = None
    inputs: dict[str, Any] = {}
    provenance: dict[str, Any] = {}

    def headline(self) -> str:
        b, e = self.disorder_b[-1], self.disorder_b_stderr[-1]
        return f"last delay: disorder b = {b:.3g} ± {e:.2g} (z = {b / e:.1f})"

    def description(self) -> str:
        return ("Decomposition of the UED profile changes at each delay into lattice heating and localized surface "
                "disorder.")

    def numbers(self) -> list[Number]:
        return [Number("disorder_b", f"disorder amplitude b at the last delay ({self.delays_ps[-1]:g} ps)",
                       self.disorder_b[-1], "", self.disorder_b_stderr[-1])]

    def figures(self) -> dict[str, str]:
        return {"decomposition_fits.png": "Profile change ΔI(Q) and ΔG(r) at selected delays with the heating "
                                          "and disorder components (Q in Å⁻¹, r in Å).",
                "decomposition_time.png": "Heating and disorder amplitudes against delay (ps)."}


def _is_synthetic(path: Path) -> bool:
    """An example series written by examples/generate_examples.py says so on its first line."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            return f.readline().upper().startswith("# SYNTHETIC")
    except OSError:
        return False
