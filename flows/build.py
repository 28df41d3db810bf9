"""`nclattice build`: build one nanocrystal and write it (composition only; physics in structures/)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import NclatticeError
from ..structio import FORMATS, write_structure
from ..structures import (
    ATTACHMENTS,
    BUILDERS,
    CDSE_CDS_PRESETS,
    VACANCY_PATTERNS,
    build,
    summarize,
)

# which command-line options each kind accepts (anything else is an error, not ignored)
OPTIONS_BY_KIND = {
    "cdse": {"diameter"},
    "cdse-cds": {"core_diameter", "shell_ml", "preset"},
    "pbse": {"diameter", "attached", "facet_ratio", "lattice_constant"},
    "cspbbr3": {"cells", "vacancies", "phase", "lattice_constant", "shape", "size", "exponent"},
    "inp-znse-zns": {"core_diameter", "shell_ml"},
}
COMMON = {"kind", "output", "charge_balance", "command", "func"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build", help="build a nanocrystal model and write it (.extxyz or LAMMPS .data)",
        description="Build an atomistic nanocrystal. Sizes in nm. The output format follows the "
                    "file extension: .extxyz keeps the per-atom labels, .data is a LAMMPS data file.")
    p.add_argument("kind", choices=sorted(OPTIONS_BY_KIND), help="nanocrystal family")
    p.add_argument("-o", "--output", required=True, type=Path, help="output file (.extxyz or .data)")
    p.add_argument("--diameter", type=float, help="diameter in nm (cdse; pbse: {100} facet distance)")
    p.add_argument("--core-diameter", type=float, help="core diameter in nm (core/shell kinds)")
    p.add_argument("--shell-ml", type=int, nargs="+",
                   help="shell monolayers (cdse-cds: one value; inp-znse-zns: ZnSe ZnS)")
    p.add_argument("--preset", choices=sorted(CDSE_CDS_PRESETS),
                   help="cdse-cds shell of the CdSe/CdS paper: msd = 8 ML, phonons = 4 ML")
    p.add_argument("--attached", choices=ATTACHMENTS, help="pbse oriented attachment along <100>")
    p.add_argument("--facet-ratio", type=float, help="pbse h111/h100 (default 0.866)")
    p.add_argument("--cells", type=int, help="cspbbr3 cube edge in PbBr6 octahedra (5 -> Cs200Pb125Br450)")
    p.add_argument("--vacancies", choices=(*VACANCY_PATTERNS, "none"), help="cspbbr3 Cs-vacancy pattern")
    p.add_argument("--phase", choices=("cubic", "orthorhombic"), help="cspbbr3 phase (default cubic)")
    p.add_argument("--lattice-constant", type=float, help="lattice constant in Å (pbse, cspbbr3)")
    p.add_argument("--shape", choices=("cube", "superellipsoid"), help="cspbbr3 shape (default cube)")
    p.add_argument("--size", type=float, help="cspbbr3 superellipsoid edge length L in nm")
    p.add_argument("--exponent", type=float, help="cspbbr3 superellipsoid exponent p (default 5)")
    p.add_argument("--charge-balance", choices=("report", "require", "trim"), default="report",
                   help="report the net formal charge, require zero, or trim surface atoms to zero")
    p.set_defaults(func=run)


def builder_arguments(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """Translate command-line options into a builder name and its keyword arguments."""
    given = {k for k, v in vars(args).items() if v is not None and k not in COMMON}
    stray = given - OPTIONS_BY_KIND[args.kind]
    if stray:
        flags = ", ".join("--" + s.replace("_", "-") for s in sorted(stray))
        raise NclatticeError(f"{flags} does not apply to '{args.kind}'; see nclattice build --help.")

    def need(name: str) -> Any:
        value = getattr(args, name)
        if value is None:
            raise NclatticeError(f"'{args.kind}' needs --{name.replace('_', '-')}.")
        return value

    kind, cb = args.kind, args.charge_balance
    if kind == "cdse":
        return "cdse", {"diameter_nm": need("diameter"), "charge_balance": cb}
    if kind == "cdse-cds":
        if args.shell_ml is not None and args.preset is not None:
            raise NclatticeError("give either --shell-ml or --preset for cdse-cds, not both.")
        if args.preset is not None:
            shell = CDSE_CDS_PRESETS[args.preset]
        elif args.shell_ml is not None:
            if len(args.shell_ml) != 1:
                raise NclatticeError("cdse-cds takes one --shell-ml value (CdS monolayers).")
            shell = args.shell_ml[0]
        else:
            raise NclatticeError("cdse-cds needs --shell-ml N or --preset msd|phonons.")
        return "cdse-cds", {"core_diameter_nm": need("core_diameter"), "shell_ml": shell,
                            "charge_balance": cb}
    if kind == "inp-znse-zns":
        shell = args.shell_ml if args.shell_ml is not None else [3, 2]
        if len(shell) != 2:
            raise NclatticeError("inp-znse-zns takes two --shell-ml values: ZnSe ML then ZnS ML.")
        return "inp-znse-zns", {"core_diameter_nm": need("core_diameter"),
                                "shell_ml": tuple(shell), "charge_balance": cb}
    if kind == "pbse":
        params = {"diameter_nm": need("diameter"), "attached": args.attached or "none",
                  "charge_balance": cb}
        if args.facet_ratio is not None:
            params["facet_ratio"] = args.facet_ratio
        if args.lattice_constant is not None:
            params["lattice_constant"] = args.lattice_constant
        return "pbse", params
    # cspbbr3
    params = {"phase": args.phase or "cubic", "charge_balance": cb}
    if args.lattice_constant is not None:
        params["lattice_constant"] = args.lattice_constant
    if (args.shape or "cube") == "superellipsoid":
        if args.cells is not None or args.vacancies is not None:
            raise NclatticeError("--cells and --vacancies apply to the cube shape, not superellipsoid.")
        params["size_nm"] = need("size")
        if args.exponent is not None:
            params["exponent"] = args.exponent
        return "cspbbr3-superellipsoid", params
    if args.size is not None or args.exponent is not None:
        raise NclatticeError("--size and --exponent apply to --shape superellipsoid only.")
    params.update({"cells": need("cells"), "vacancies": args.vacancies or "tetra"})
    return "cspbbr3", params


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
        raise NclatticeError(
            f"cannot tell the format of '{args.output.name}'; use a .extxyz or .data file name."
        )
    name, params = builder_arguments(args)
    assert name in BUILDERS
    atoms = build(name, **params)
    write_structure(atoms, args.output)
    print(format_summary(summarize(atoms), args.output))
    return 0
