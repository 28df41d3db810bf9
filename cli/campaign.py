"""`nclattice campaign`: run a campaign file (nanocrystals x analyses), cached and resumable."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: argparse._SubParsersAction, help_text: str) -> None:
    p = sub.add_parser(
        "campaign", help=help_text,
        description="Run every analysis of a campaign YAML file (see the README, Campaigns). Finished items are "
                    "cached by their inputs; a killed campaign resumes. Writes OUT/campaign.json, "
                    "OUT/report.html and OUT/report.md.")
    p.add_argument("spec", help="campaign YAML file")
    p.add_argument("--out", default=None, help="output directory (default results/<campaign name>)")
    p.add_argument("--dask-address", help="run items on this Dask scheduler (tcp://host:port)")
    p.add_argument("--cluster", metavar="PROFILE", help="run items as Slurm jobs described by this profile "
                   "(a YAML file with a slurm: section; see docs/cluster.md)")
    p.add_argument("--check", action="store_true", help="validate the file and stop")
    p.set_defaults(func=run)


def report(result: dict[str, Any], out: Path, label: str = "") -> int:
    counts = {s: sum(i["status"] == s for i in result["items"]) for s in ("completed", "cached", "failed")}
    print(f"\n{label}{counts['completed']} completed, {counts['cached']} cached, {counts['failed']} failed "
          f"in {result['wall_s']:.0f} s")
    print(f"report: {out.resolve() / 'report.html'}")
    return 1 if counts["failed"] else 0


def run(args: argparse.Namespace) -> int:
    from ..flows.campaign import load_campaign

    c = load_campaign(args.spec)
    if args.check:
        print(f"{args.spec}: {len(c.structures)} structures, {len(c.items)} analyses, valid")
        return 0
    from ..flows.campaign_run import run_campaign

    out = Path(args.out or Path("results") / c.name)
    return report(run_campaign(args.spec, str(out), dask_address=args.dask_address, cluster=args.cluster), out)
