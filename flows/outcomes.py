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

from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import NclatticeError

SCHEMA_VERSION = 2  # 2: settings recorded by field name (settings models); 1: earlier files


class Outcome(BaseModel):
    """Base of the result records: unknown keys kept, ``schema_version`` defaulting to 1 for old files."""

    model_config = ConfigDict(extra="allow")
    file: ClassVar[str] = "result.json"
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
            return cls.model_validate({"schema_version": SCHEMA_VERSION, **to_jsonable(record)})
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
        return key in type(self).model_fields or key in (self.model_extra or {})

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def keys(self) -> list[str]:
        return [*type(self).model_fields, *(self.model_extra or {})]

    def headline(self) -> str:
        return f"{self.file} (schema {self.schema_version})"


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


class SpinOutcome(Outcome):
    file: ClassVar[str] = "spin.json"
    backend: str
    relaxation_energy_ev: float | None = None

    def headline(self) -> str:
        e = "n/a" if self.relaxation_energy_ev is None else f"{1000 * self.relaxation_energy_ev:.1f} meV"
        return f"polaron relaxation energy {e} ({self.backend})"


class DiffractionOutcome(Outcome):
    file: ClassVar[str] = "result.json"
    files: list[str] = []

    def headline(self) -> str:
        extra = self.model_extra or {}
        if "peak_shifts" in extra:
            shifts = ", ".join(f"({h}) {v['shift_inv_angstrom']:+.2e}" for h, v in extra["peak_shifts"].items())
            return f"{extra.get('model')} model, {extra.get('crystals')} crystal(s): peak shifts (1/Å) {shifts}"
        return f"{extra.get('formula')}: {extra.get('atoms')} atoms; {', '.join(self.files)}"


class UedOutcome(Outcome):
    file: ClassVar[str] = "ued.json"
    delays_ps: list[float]
    delta_msd_angstrom2: list[float]
    primary_fluence_mj_cm2: float | None = None
    delta_t_k: list[float] | None = None

    def headline(self) -> str:
        fluence = "" if self.primary_fluence_mj_cm2 is None else f" at {self.primary_fluence_mj_cm2:g} mJ/cm²"
        if self.delta_t_k:
            return f"ΔT at the last delay {self.delta_t_k[-1]:.1f} K{fluence} ({len(self.delays_ps)} delays)"
        return f"Δ<u²> at the last delay {self.delta_msd_angstrom2[-1]:.2e} Å²{fluence} ({len(self.delays_ps)} delays)"


class _LatticeTemperature(Outcome):
    """With an exciton energy and the atom count: the heating curves as a lattice ΔT (Dulong-Petit)."""

    heat_capacity_ev_per_k: float | None = None
    kelvin_per_exciton_energy: float | None = None
    lattice_temperature_note: str | None = None
    delta_t_k: list[float] | None = None
    delta_t_stderr_k: list[float] | None = None


class _HeatingCurve(_LatticeTemperature):
    """A Gillespie heating curve of an NC ensemble (energies in band-edge exciton energies per NC)."""

    times_ps: list[float]
    delta_energy_per_nc: list[float]
    delta_energy_stderr: list[float]
    excitons_mean: list[float]
    time_constant_ps: float
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


class DecompositionOutcome(Outcome):
    file: ClassVar[str] = "decomposition.json"
    delays_ps: list[float]
    disorder_b: list[float]
    disorder_b_stderr: list[float]

    def headline(self) -> str:
        b, e = self.disorder_b[-1], self.disorder_b_stderr[-1]
        return f"last delay: disorder b = {b:.3g} ± {e:.2g} (z = {b / e:.1f})"
