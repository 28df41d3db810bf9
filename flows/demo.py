"""`nclattice demo`: the README's main job, a small but real campaign of every capability."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import NclatticeError
from .campaign import run_campaign

DEMO_SPEC = Path(__file__).resolve().parents[1] / "examples" / "demo_campaign.yaml"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="run the demonstration campaign (every capability on small systems)",
        description=f"Run {DEMO_SPEC.name}: build -> calibrate -> ΔT -> phonons -> spin relaxation -> polaron "
                    "diffraction -> UED analysis of the shipped example data -> kinetics. A second run is cached. "
                    "Prints where the report is.")
    p.add_argument("--out", type=Path, default=Path("results/demo"), help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not DEMO_SPEC.is_file():
        raise NclatticeError(f"the demo campaign {DEMO_SPEC} is missing; run the demo from a source checkout.")
    result = run_campaign(str(DEMO_SPEC), str(args.out))
    counts = {s: sum(i["status"] == s for i in result["items"]) for s in ("completed", "cached", "failed")}
    print(f"\ndemo: {counts['completed']} completed, {counts['cached']} cached, {counts['failed']} failed "
          f"in {result['wall_s']:.0f} s")
    print(f"report: {(args.out / 'report.html').resolve()}")
    return 1 if counts["failed"] else 0
