"""The `nclattice` command: one subcommand per flow."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..environment import configure_prefect
from ..errors import NclatticeError
from ..runtime import install_signal_handlers
from . import build as build_cmd
from . import calibration as calibration_cmd
from . import campaign as campaign_cmd
from . import delta_t as delta_t_cmd
from . import demo as demo_cmd
from . import diffraction as diffraction_cmd
from . import kinetics as kinetics_cmd
from . import phonons as phonons_cmd
from . import polaron as polaron_cmd
from . import potentials as potentials_cmd
from . import ued as ued_cmd

COMMANDS = (build_cmd, calibration_cmd, campaign_cmd, delta_t_cmd, demo_cmd, diffraction_cmd, kinetics_cmd,
            phonons_cmd, polaron_cmd, potentials_cmd, ued_cmd)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, where to look) and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nclattice",
                description="Nanocrystal MD and electronic structure linked to ultrafast "
                            "diffraction observables.")
    p.add_argument("--version", action="version", version=f"nclattice {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in COMMANDS:
        module.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    install_signal_handlers(argv)
    configure_prefect()
    args = parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NclatticeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
