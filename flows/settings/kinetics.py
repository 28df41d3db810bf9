"""Settings of the kinetic models: auger, trapping, occupation, state filling."""

from __future__ import annotations

from typing import Self

from pydantic import FiniteFloat, model_validator

from .base import Settings, opt


class OpticalOptions(Settings):
    fluence_mj_cm2: FiniteFloat | None = opt(None, "pump fluence in mJ/cm², with wavelength and σ", gt=0, le=1e4)
    wavelength_nm: FiniteFloat | None = opt(None, "pump wavelength in nm", gt=0, le=1e5)
    cross_section_cm2: FiniteFloat | None = opt(None, "absorption cross-section at the pump in cm²", gt=0, le=1e-8)


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
