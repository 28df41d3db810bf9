"""Settings of ued analyze, ued profiles and ued decompose."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import FiniteFloat, field_validator, model_validator

from .base import Settings, _float_list, opt
from .diffraction import _DEFAULT_BEAMS


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
    min_ring_intensity: FiniteFloat = opt(0.002, "drop rings weaker than this fraction of the strongest", ge=0,
                                          lt=1)
    fwhm_guess_inv_angstrom: FiniteFloat = opt(0.15, "starting ring FWHM in 1/Å", alias="fwhm-guess", gt=0, le=5)
    knot_spacing_fwhm: FiniteFloat = opt(5.0, "background spline knots at least this many ring FWHMs apart",
                                         alias="knot-spacing", gt=1, le=100)


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
