"""`nclattice delta-t`: MD at T0 and T0 + ΔT -> ΔG(r)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..flows.settings import DeltaTSettings
from .options import execute, print_site_drift, settings_from_args

DESCRIPTION = ("Run equilibrium MD at T0 and T0+ΔT and write OUT/delta_g.csv (r_angstrom, g_t0, g_t1, "
               "delta_g; direct-space route), OUT/delta_g_fq.csv (through F(Q) over the Q range), "
               "OUT/delta_t.json, OUT/delta_g.png and OUT/minimised.extxyz (the annealed and minimised start).")


def run(args: argparse.Namespace) -> int:
    summary = execute("delta-t", args, settings_from_args(DeltaTSettings, args), structure=args.structure)
    print_site_drift(summary)
    print(summary.headline())
    for name, p in summary["peaks"].items():
        print(f"{name:<16} r = {p['r_peak_angstrom']:.2f} Å  centre {p['delta_g_centre']:+.4f}  "
              f"flanks {p['delta_g_left_max']:+.4f} / {p['delta_g_right_max']:+.4f}  "
              f"{'broadening' if p['broadening'] else 'no clear broadening'}")
    print(f"written {Path(args.out) / 'delta_g.csv'} and delta_g.png")
    return 0
