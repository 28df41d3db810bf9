"""`nclattice potentials`: list the shipped interatomic parameter sets (logic in potentials/)."""

from __future__ import annotations

import argparse

from ..potentials import table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "potentials", help="list the shipped interatomic potentials and their validation status",
        description="List every shipped parameter set: name, form, elements, whether it is picked by "
                    "default for a structure it covers, validation status against measured bulk data "
                    "(see docs/potentials.md), and citation.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for row in table():
        print(f"{row['name']}  [{row['form']}; {row['elements']}; default: {row['default']}]")
        print(f"    validation: {row['validation']}")
        print(f"    {row['citation']}")
    return 0
