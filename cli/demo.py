"""`nclattice demo`: the demonstration campaign of every capability (shipped with the package)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import NclatticeError

DEMO_SPEC = Path(__file__).resolve().parents[1] / "examples" / "demo_campaign.yaml"  # package data


def add_parser(sub: argparse._SubParsersAction, help_text: str) -> None:
    p = sub.add_parser(
        "demo", help=help_text,
        description="Run the demonstration campaign: build -> calibrate -> ΔT -> phonons -> spin relaxation -> "
                    "polaron diffraction -> UED analysis of the shipped (synthetic) example data -> kinetics. "
                    "A second run is cached. Prints where the report is.")
    p.add_argument("--out", type=Path, default=Path("results/demo"), help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not DEMO_SPEC.is_file():
        raise NclatticeError(f"the demo campaign {DEMO_SPEC} is missing from this installation; reinstall nclattice.")
    from ..flows.campaign_run import run_campaign
    from .campaign import report

    return report(run_campaign(str(DEMO_SPEC), str(args.out)), args.out, label="demo: ")
