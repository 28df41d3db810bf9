"""`nclattice diffract`: powder and 3D kinematic diffraction of one structure."""

from __future__ import annotations

import argparse

from ..flows.settings import DiffractSettings
from .options import execute, settings_from_args

POSITIONAL_HELP = "structure file (.extxyz or .data)"
DESCRIPTION = ("Kinematic diffraction of a structure file: the Debye powder pattern with S(Q), F(Q), G(r) "
               "(--powder) and/or the 3D intensity on boxes around hkl, a whole grid or a slice through "
               "q = 0 (--grid).")


def run(args: argparse.Namespace) -> int:
    summary = execute("diffract", args, settings_from_args(DiffractSettings, args), structure=args.structure)
    print(f"{summary.headline()} ({summary.wall_s} s)")
    for edge in summary.get("absorption_edges_within_1_kev", []):
        print(f"  note: {edge['element']} {edge['edge']} edge at {edge['energy_kev']:.3f} keV "
              "(scattering factors uncertain near edges)")
    print(f"written to {args.out}/ ({', '.join([*summary['files'], 'result.json'])})")
    return 0
