"""`nclattice spin-relax`: singlet vs triplet relaxation and the displacement field."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..flows.settings import SpinRelaxSettings
from .options import execute, settings_from_args

RESULT_FILES = ("singlet.extxyz", "triplet.extxyz", "spin.json", "displacement.png")


POSITIONAL_HELP = "structure file (.extxyz); with --import-triplet the relaxed singlet"
DESCRIPTION = ("Relax STRUCTURE in the singlet (S=0), compute the triplet (S=1) at that geometry, relax the "
               "triplet, and write OUT/singlet.extxyz, OUT/triplet.extxyz, OUT/spin.json (energies, Table-S2 "
               "regression in ppm) and OUT/displacement.png. A killed run resumes from OUT/.progress.")


def summary(record: dict[str, Any], out: Path) -> str:
    def fmt(x, unit="eV"):
        return "n/a" if x is None else f"{x:.4f} {unit}"

    lines = [f"relaxation energy  {fmt(record['relaxation_energy_ev'])}",
             f"Stokes shift (2x)  {fmt(record['stokes_shift_ev'])}",
             f"adiabatic gap      {fmt(record['adiabatic_gap_ev'])}",
             "regression diagonal (ppm: ux~x, uy~y, uz~z):"]
    for sp, t in record["displacement_regression"].items():
        diag = [t["slope_ppm"][i][i] for i in range(3)]
        err = [t["stderr_ppm"][i][i] for i in range(3)]
        cells = "  ".join("n/a" if d is None else f"{d:+8.0f}±{e or 0:.0f}" for d, e in zip(diag, err, strict=True))
        lines.append(f"  {sp:<3} {cells}")
    lines.append(f"written            {out}/ ({', '.join(RESULT_FILES)})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    record = execute("spin-relax", args, settings_from_args(SpinRelaxSettings, args), structure=args.structure)
    if "dry_run" in record:
        for path in record["dry_run"]:
            print(f"written {path}")
        return 0
    print(summary(record, Path(args.out)))
    return 0
