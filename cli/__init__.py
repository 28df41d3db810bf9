"""The `nclattice` command: a thin client of the library (one small module per command).

Only the chosen command's module is imported, so ``nclattice --help`` and ``nclattice build``
import neither Prefect nor the flows they do not use. A command runs its flow in this process;
``--prefect`` (or a configured ``PREFECT_API_URL``) runs it as a Prefect flow instead.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from .. import __version__
from ..errors import NclatticeError
from ..runtime import install_signal_handlers

# command -> (module under nclattice.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("build", "build a nanocrystal model and write it (.extxyz or LAMMPS .data)"),
    "calibrate": ("calibrate", "MD temperature series -> Debye-Waller <u²>(T) calibration"),
    "delta-t": ("delta_t", "MD at T0 and T0+ΔT -> differential pair distribution function ΔG(r)"),
    "phonons": ("phonons", "normal modes, phonon DOS and lifetimes of a nanocrystal"),
    "spin-relax": ("spin_relax", "singlet vs triplet relaxation: the exciton-polaron displacement field"),
    "diffract": ("diffract", "powder and 3D kinematic diffraction of one structure"),
    "polaron-diffraction": ("polaron_diffraction", "model ΔI around Bragg peaks for a polaron displacement model"),
    "ued": ("ued", "analyze UED Bragg-peak time series (Debye–Waller, ΔT, disorder)"),
    "potentials": ("potentials", "list the shipped interatomic potentials and their validation status"),
    "kinetics": ("kinetics", "kinetic models: Auger heating, trapping, occupation, state filling"),
    "campaign": ("campaign", "run a campaign file: nanocrystals x analyses, cached and resumable"),
    "demo": ("demo", "run the demonstration campaign (every capability on small systems)"),
}


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, where to look) and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s options are built (all of them when command is '*')."""
    p = Parser(prog="nclattice", description="Nanocrystal MD and electronic structure linked to ultrafast "
                                             "diffraction observables.")
    p.add_argument("--version", action="version", version=f"nclattice {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if command in (name, "*"):
            import_module(f"nclattice.cli.{module}").add_parser(sub, help_text)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return p


def _command(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    install_signal_handlers(argv)
    try:
        try:
            args = parser(_command(argv)).parse_args(argv)
        except SystemExit as exc:  # --help, --version, a usage error (already printed in one line)
            return exc.code if isinstance(exc.code, int) else 2
        return int(args.func(args) or 0)
    except NclatticeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume (finished work is cached).", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
