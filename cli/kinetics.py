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
    model = MODELS[args.model][0]
    r = execute(f"kinetics-{args.model}", args, settings_from_args(model, args))
    if args.model == "auger":
        from ..flows.kinetics import PAPER_AUGER_TIME_CONSTANT_PS

        print(f"Auger heating: single-exponential τ = {r['time_constant_ps']:.1f} ps "
              f"(paper ~{PAPER_AUGER_TIME_CONSTANT_PS:.0f} ps), final ⟨N⟩ = {r['final_excitons_mean']:.2f}")
    elif args.model == "trapping":
        print(f"trapping: Auger heating suppressed {r['suppression_factor']:.2f}x at {r['inputs']['t_max_ps']:g} ps")
    elif args.model == "occupation":
        print(f"P0 = {r['p0']:.3f}, P1 = {r['p1']:.3f}, P2 = {r['p2']:.3f}, mean pairs = {r['mean_pairs']:.3f}")
    else:
        n_eff = "above the trap-free maximum" if r["n_eff"] is None else f"{r['n_eff']:.2f}"
        print(f"bleach {r['bleach']:.3f} (no trapping {r['bleach_without_trapping']:.3f}), n_eff = {n_eff}, "
              f"max gain {r['gain_max']:.3f}")
    name = args.model.replace("-", "_")
    out = Path(args.out)
    print(f"results: {out / (name + '.json')}, figure: {out / (name + '.png')}")
    return 0
