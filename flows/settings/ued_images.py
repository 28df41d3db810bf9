"""Settings of `nclattice ued images` (detector frames → radial profiles → the `ued profiles` analysis).

The options of `ued profiles` are inherited (they apply when --structure is given); --q-range is
the integration range here. Imports only pydantic and the settings base, like the rest of the package.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import FiniteFloat, field_validator, model_validator

from .base import _float_list, opt
from .ued import UedProfilesSettings


class UedImagesSettings(UedProfilesSettings):
    structure: str | None = opt(None, "the crystal (.extxyz from nclattice build): fit its rings, check the "
                                      "geometry and run the `ued profiles` analysis", path=True)
    poni: str | None = opt(None, "geometry as a pyFAI PONI file (pyFAI-calib2)", path=True)
    center_px: tuple[FiniteFloat, FiniteFloat] | None = opt(
        None, "beam centre in pixels, column X and row Y (pixel centres at integer + 0.5, as in pyFAI)",
        alias="center", nargs=2, metavar=("X", "Y"))
    distance_mm: FiniteFloat | None = opt(None, "sample–detector distance in mm", gt=0, le=1e5)
    pixel_um: FiniteFloat | None = opt(None, "pixel size in µm (square pixels)", gt=0, le=1e4)
    delay_pattern: str | None = opt(None, "file name of a frame with {delay} where the delay in ps stands, '*' "
                                          "for anything, e.g. 'delay_{delay}ps.tif' (TIFF folders)")
    index: str | None = opt(None, "CSV file,delay_ps[,scan][,monitor] instead of --delay-pattern", path=True)
    images: str = opt("images", "HDF5 dataset of the image stack (frames, y, x)")
    delays: str = opt("delays_ps", "HDF5 dataset of the delays in ps")
    scans: str | None = opt(None, "HDF5 dataset of the scan of each frame (default: k-th repeat of a delay)")
    monitor: str | None = opt(None, "HDF5 dataset (or index column) of a per-frame monitor, for --normalize "
                                    "monitor")
    mask: str | None = opt(None, "mask image (TIFF, NPY, EDF), non-zero = masked", path=True)
    dark: str | None = opt(None, "dark frame, or a folder of dark frames (averaged)", path=True)
    bins: int | None = opt(None, "number of Q bins (default: one per pixel of radius)", ge=10, le=100_000)
    pixel_splitting: Literal["bbox", "no", "full"] = opt(
        "no", "pyFAI pixel splitting; 'no' keeps the Q bins statistically independent, as the per-bin errors "
              "assume (with bbox or full, neighbouring bins share pixels and ring-area errors come out too small)")
    normalize: Literal["none", "q-window", "monitor"] = opt("none", "per-frame normalisation: none, total counts "
                                                                    "in --norm-q-range, or the monitor")
    norm_q_range_inv_angstrom: tuple[FiniteFloat, FiniteFloat] | None = opt(
        None, "Qmin,Qmax in 1/Å of the total-counts window (default: the whole range)", alias="norm-q-range",
        metavar="QMIN,QMAX")
    reject_threshold: FiniteFloat = opt(6.0, "reject a frame whose deviation from its delay's median exceeds the "
                                             "median deviation by this many robust widths (0 = keep all)", ge=0,
                                        le=1000)
    refine_geometry: bool = opt(False, "apply the beam centre and distance fitted to the structure's rings")
    geometry_tolerance: FiniteFloat = opt(0.2, "report a geometry error that moves rings by more than this "
                                               "fraction of their FWHM", gt=0, le=10)

    @field_validator("norm_q_range_inv_angstrom", mode="before")
    @classmethod
    def _window(cls, v: Any) -> Any:
        return _float_list(v)

    @model_validator(mode="after")
    def _geometry(self) -> Self:
        explicit = [self.center_px, self.distance_mm, self.pixel_um]
        if self.poni is not None and any(v is not None for v in explicit):
            raise ValueError("give the geometry either as --poni or as --center/--distance-mm/--pixel-um, not both")
        if self.poni is None and any(v is None for v in [*explicit, self.energy_kev]):
            raise ValueError("give the geometry as --poni FILE, or as all of --center X Y, --distance-mm, --pixel-um "
                             "and --energy-kev")
        if self.refine_geometry and self.structure is None:
            raise ValueError("--refine-geometry fits the rings of --structure; give --structure")
        if self.normalize == "monitor" and self.monitor is None and self.index is None:
            raise ValueError("--normalize monitor needs --monitor (HDF5 dataset) or --index with a monitor column")
        return self
