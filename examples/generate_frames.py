"""Generate the synthetic detector frames of examples/ued_frames/ (seeded: re-running reproduces them).

Run:  .venv/bin/python examples/generate_frames.py [OUTDIR]     (default: examples/ued_frames)

Nothing here is a measurement. The frames are rendered by tasks/synthetic_frames.py: the powder
rings of the PbSe crystal of `nclattice build pbse --diameter 3` (rock salt, a = 6.12 Å; Kirkland
electron factors at 3 MeV) with a Debye–Waller loss exp(−Q²Δ⟨u²⟩/3), Δ⟨u²⟩_3D(t) rising with
5 ps to 0.006 Å², a smooth background, a 256×256 detector 1.9 m away (60 µm pixels, Q up to
~7 Å⁻¹ at the edges), the beam centre off the middle, a beam stop and its rod, Poisson counts.
Illustrative choices: ring FWHM 0.08 Å⁻¹, peak 300 counts per pixel, no dark offset (so no dark
frame is needed), two scans of five delays.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from nclattice.structures import build
from nclattice.tasks import synthetic_frames as sf
from nclattice.tasks.scattering import Probe

DELAYS_PS = np.array([-5.0, -1.0, 2.0, 10.0, 40.0])
SHAPE = (256, 256)


def scene() -> sf.Scene:
    return sf.scene_for(build("pbse", diameter_nm=3.0), sf.mev_geometry(SHAPE), SHAPE, DELAYS_PS,
                        Probe("electron", 3000.0), fwhm_inv_angstrom=0.08, peak_counts=300.0, dark_pedestal=0.0,
                        fixed_pattern=0.0, read_noise=0.0, seed=2025)


def main(outdir: Path) -> None:
    s = scene()
    files = sf.write_tiff_folder(s, outdir, scans=2)
    s.geometry.write_poni(outdir / "mev.poni", SHAPE)
    sf.write_mask(s, outdir / "mask.tif")
    print(f"wrote {len(files)} frames, mev.poni and mask.tif to {outdir}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "ued_frames")
