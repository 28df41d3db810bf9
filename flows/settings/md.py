"""Settings of the MD capabilities: calibrate, delta-t, phonons (and the options they share)."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import FiniteFloat, field_validator, model_validator

from .base import MAX_SEED, Settings, _finite, _floats_from_text, opt

THERMOSTATS = ("langevin", "nose-hoover", "csvr")  # == tasks.md.THERMOSTATS (checked in tests)


class MDOptions(Settings):
    """Options every MD-based capability shares (phonons call the production run md-ps)."""

    potential: str | None = opt(None, "potential name or YAML file (default: shipped set covering the elements)")
    equilibration_ps: FiniteFloat = opt(10.0, "equilibration length in ps", ge=0, le=10_000)
    production_ps: FiniteFloat = opt(20.0, "production length in ps", gt=0, le=100_000)
    timestep_fs: FiniteFloat = opt(2.0, "MD timestep in fs", gt=0, le=10)
    sample_every_fs: FiniteFloat = opt(20.0, "interval between stored frames in fs", gt=0, le=100_000)
    seed: int = opt(12345, "random seed (velocities, thermostat)", ge=1, le=MAX_SEED)
    # speed, not physics: neither enters an MD run's cache key
    mpi_ranks: int = opt(1, "MPI ranks per LAMMPS run (srun inside a Slurm job, mpiexec elsewhere)", ge=1, le=4096)
    omp_threads: int = opt(1, "OpenMP threads per rank (LAMMPS' OPENMP package, -sf omp)", ge=1, le=256)

    def md_speed(self) -> dict[str, int]:
        """The MDSettings fields that set how fast, not what, an MD run computes."""
        return {"mpi_ranks": self.mpi_ranks, "threads": self.omp_threads}

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
# the default anneal: with it a 2.0 nm CdSe dot (Zhou 2013 SW) keeps every site at 60-120 K and its
# MD ⟨u²⟩ matches the harmonic limit of the minimum (README, "MD protocol"; tests/test_harmonic_limit.py)
ANNEAL_DEFAULT_K, ANNEAL_DEFAULT_PS = 300.0, 20.0


class AnnealOptions(Settings):
    """The anneal and minimisation that start every MD run of a capability (tasks/anneal.py): done
    once per structure, potential and anneal protocol, shared by all temperatures and capabilities."""

    anneal_temperature_k: FiniteFloat = opt(ANNEAL_DEFAULT_K, "anneal at this temperature in K before minimising "
                                            "(0 = no anneal, as --no-anneal): puts loose surface atoms into a "
                                            "basin they keep during production",
                                            alias="anneal-k", ge=0, le=TEMPERATURE_RANGE_K[1])
    anneal_ps: FiniteFloat = opt(ANNEAL_DEFAULT_PS, "anneal length in ps", ge=0, le=10_000)
    anneal_timestep_fs: FiniteFloat = opt(2.0, "anneal timestep in fs", gt=0, le=10)
    no_anneal: bool = opt(False, "minimise the structure as given, without the anneal before it")


class CalibrationSettings(AnnealOptions, MDOptions):
    probe: Literal["electron", "xray"] = opt("electron", "weighting of the diffraction-weighted average")
    temperatures_k: list[float] = opt([150.0, 200.0, 250.0, 300.0, 350.0, 400.0, 450.0, 500.0],
                                      "temperatures in K: comma list or start:stop:step", alias="temperatures")
    thermostat: Literal["langevin", "nose-hoover", "csvr"] = opt("langevin", "NVT thermostat")
    drift: Literal["flag", "fail"] = opt("flag", "atoms leaving their sites (> 0.5 Å between production quarters): "
                                         "flag = warn and list them in calibration.json, fail = drop that temperature")
    no_minimize: bool = opt(False, "start MD from the structure as given instead of its energy minimum")
    potentials: list[str] | None = opt(None, "several force fields: 'all' (every shipped set covering the "
                                       "structure's elements) or a comma list of names or YAML files; one "
                                       "calibration per set, and the spread of their slopes (sample standard "
                                       "deviation) as the force-field systematic error; sets whose atoms "
                                       "leave their sites are named, with the spread over the others beside it")

    @model_validator(mode="after")
    def _anneal_needs_minimisation(self) -> Self:
        # --no-minimize alone turns the default anneal off; an anneal asked for needs its minimisation
        asked = {"anneal_temperature_k", "anneal_ps"} & self.model_fields_set
        if asked and self.anneal_temperature_k and not self.no_anneal and self.no_minimize:
            raise ValueError("--anneal-k needs the minimisation that follows it; drop --no-minimize")
        if self.potentials is not None and self.potential is not None:
            raise ValueError("give either --potential (one set) or --potentials (several), not both")
        return self

    @field_validator("potentials", mode="before")
    @classmethod
    def _parse_potentials(cls, v: Any) -> Any:
        return [x.strip() for x in v.split(",") if x.strip()] if isinstance(v, str) else v

    @field_validator("potentials")
    @classmethod
    def _check_potentials(cls, v: list[str] | None) -> list[str] | None:
        if v is None or v == ["all"]:
            return v
        if "all" in v:
            raise ValueError(f"'all' stands alone; give 'all' or a comma list of sets, got {','.join(v)}")
        if len(v) < 2 or len(set(v)) != len(v):
            raise ValueError(f"a force-field spread needs at least 2 different sets, got {','.join(v) or 'none'}")
        return v

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


class PhononSettings(AnnealOptions, MDOptions):
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
