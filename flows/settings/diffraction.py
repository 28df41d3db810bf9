"""Settings of diffract and polaron-diffraction (the probe and peak boxes they share)."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import FiniteFloat, field_validator, model_validator

from ...tasks.beams import DEFAULT_ENERGY_KEV, DEFAULT_HKL
from .base import Settings, opt

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
