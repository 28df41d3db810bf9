"""`nclattice polaron-diffraction`: ΔI around Bragg peaks for a polaron displacement model."""

from __future__ import annotations

import argparse

from ..flows.settings import PolaronDiffractionSettings
from .options import execute, settings_from_args

DESCRIPTION = ("Differential diffraction (pumped − dark) of CsPbBr3 nanocrystal ensembles for a displacement "
               "model, with the peak shift of each hkl along q (negative = inward) and the change of its "
               "integrated intensity.")


def run(args: argparse.Namespace) -> int:
    s = settings_from_args(PolaronDiffractionSettings, args)
    from ..flows.diffraction import polaron_settings

    polaron_settings(s)  # every physics check before any work
    summary = execute("polaron-diffraction", args, s)
    print(f"{summary.headline()}; {s.probe} {s.energy():g} keV")
    print(f"{'hkl':>5} {'shift (1/Å)':>13} {'direction':>9} {'ΔI_int/I_int':>13}")
    for h, v in summary["peak_shifts"].items():
        d = "inward" if v["shift_inv_angstrom"] < 0 else "outward"
        print(f"{h:>5} {v['shift_inv_angstrom']:>+13.3e} {d:>9} {v['integrated_change']:>+13.3e}"
              + ("  (see warning)" if v.get("warning") else ""))
    for warning in summary.get("warnings", []):
        print(f"warning: {warning}")
    print(f"written to {args.out}/ (peak_shifts.json, delta_intensity.npz, delta_slices.png, result.json)")
    return 0
