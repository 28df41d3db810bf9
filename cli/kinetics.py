"""`nclattice kinetics {auger,trapping,occupation,state-filling}`: kinetic models, JSON + PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..flows import settings as st
from . import Parser
from .options import add_run_options, add_settings_options, execute, settings_from_args

MODELS = {  # sub-command -> (settings model, help, description)
    "auger": (st.AugerSettings, "Auger heating by the Gillespie algorithm",
              "Energy deposited per NC by Auger recombination, rate N(N-1)/(2 tau_AR), Poisson initial "
              "populations (the Auger-heating model of Guzelturk et al., Nat. Commun. 2021)."),
    "trapping": (st.TrappingSettings, "Auger heating competing with hot-hole surface trapping",
                 "Auger heating where each band-edge exciton loses its hole to a surface trap at rate "
                 "1/tau_trap and leaves the Auger pool."),
    "occupation": (st.OccupationSettings, "resonant occupation P0, P1, P2",
                   "P0, P1, P2 after a resonant pulse; gamma0*t = sigma*J (Shen et al., supplement S2)."),
    "state-filling": (st.StateFillingSettings, "band-edge bleach and gain with hot-carrier trapping",
                      "Band-edge bleach (-dA/A0), gain and effective excitation number right after cooling, "
                      "Poisson excitation, trapping cascade (Vonk et al., Nat. Commun. 2025)."),
}


def add_parser(sub: argparse._SubParsersAction, help_text: str) -> None:
    p = sub.add_parser("kinetics", help=help_text,
                       description="Kinetic models of photoexcited nanocrystals. Each writes OUT/<model>.json "
                                   "and OUT/<model>.png.")
    models = p.add_subparsers(dest="model", required=True, parser_class=Parser)
    for name, (model, short, long) in MODELS.items():
        m = models.add_parser(name, help=short, description=long)
        add_settings_options(m, model)
        add_run_options(m)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    name = f"kinetics-{args.model}"
    print(execute(name, args, settings_from_args(MODELS[args.model][0], args)).headline())
    if args.model == "auger":
        from ..flows.kinetics import PAPER_AUGER_TIME_CONSTANT_PS

        print(f"(the CdSe/CdS study's single-exponential fit: ~{PAPER_AUGER_TIME_CONSTANT_PS:.0f} ps)")
    stem = args.model.replace("-", "_")
    out = Path(args.out)
    print(f"results: {out / (stem + '.json')}, figure: {out / (stem + '.png')}")
    return 0
