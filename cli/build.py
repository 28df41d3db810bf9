"""`nclattice build`: build one nanocrystal and write it (the recipe is BuildSettings)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import NclatticeError
from ..flows.settings import BuildSettings
from .options import add_settings_options, choices_of, settings_from_args

FORMATS = (".extxyz", ".xyz", ".data")  # == structio.FORMATS (checked in tests)


def add_parser(sub: argparse._SubParsersAction, help_text: str) -> None:
    p = sub.add_parser("build", help=help_text,
                       description="Build an atomistic nanocrystal. Sizes in nm. The output format follows the "
                                   "file extension: .extxyz keeps the per-atom labels, .data is a LAMMPS data file.")
    p.add_argument("kind", choices=choices_of(BuildSettings, "kind"), help="nanocrystal family")
    p.add_argument("-o", "--output", required=True, type=Path, help="output file (.extxyz or .data)")
    add_settings_options(p, BuildSettings, skip={"kind"})
    p.set_defaults(func=run)


def format_summary(summary: dict[str, Any], output: Path | None = None) -> str:
    regions = ", ".join(f"{k} {v}" for k, v in summary["regions"].items())
    lines = [
        f"formula            {summary['formula']}",
        f"atoms              {summary['atoms']}",
        f"diameter           {summary['diameter_nm']:.2f} nm (volume-equivalent sphere)",
        f"net formal charge  {summary['net_formal_charge']:+d} e",
        f"regions            {regions}",
        f"surface atoms      {summary['surface_atoms']}",
    ]
    if output is not None:
        lines.append(f"written            {output}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.output.suffix.lower() not in FORMATS:
        raise NclatticeError(f"cannot tell the format of '{args.output.name}'; use a .extxyz or .data file name.")
    settings = settings_from_args(BuildSettings, args, kind=args.kind)
    from ..structio import write_structure
    from ..structures import build, summarize

    name, params = settings.builder()
    atoms = build(name, **params)
    write_structure(atoms, args.output)
    print(format_summary(summarize(atoms), args.output))
    return 0
