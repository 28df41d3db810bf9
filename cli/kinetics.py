"""`nclattice kinetics {auger,trapping,occupation,state-filling}`: kinetic models, JSON + PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..flows.registry import capability
from .options import execute, settings_from_args

GROUP_DESCRIPTION = "Kinetic models of photoexcited nanocrystals. Each writes OUT/<model>.json and OUT/<model>.png."
DESCRIPTION = {  # per sub-command (the table in nclattice.cli.COMMANDS; settings from the registry)
    "auger": "Energy deposited per NC by Auger recombination, rate N(N-1)/(2 tau_AR), Poisson initial "
             "populations (the Auger-heating model of Guzelturk et al., Nat. Commun. 2021).",
    "trapping": "Auger heating where each band-edge exciton loses its hole to a surface trap at rate "
                "1/tau_trap and leaves the Auger pool.",
    "occupation": "P0, P1, P2 after a resonant pulse; gamma0*t = sigma*J (Shen et al., supplement S2).",
    "state-filling": "Band-edge bleach (-dA/A0), gain and effective excitation number right after cooling, "
                     "Poisson excitation, trapping cascade (Vonk et al., Nat. Commun. 2025).",
}


def run(args: argparse.Namespace) -> int:
    name = f"kinetics-{args.model}"
    print(execute(name, args, settings_from_args(capability(name).settings, args)).headline())
    if args.model == "auger":
        from ..flows.kinetics import PAPER_AUGER_TIME_CONSTANT_PS

        print(f"(the CdSe/CdS study's single-exponential fit: ~{PAPER_AUGER_TIME_CONSTANT_PS:.0f} ps)")
    stem = args.model.replace("-", "_")
    out = Path(args.out)
    print(f"results: {out / (stem + '.json')}, figure: {out / (stem + '.png')}")
    return 0
