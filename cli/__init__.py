"""The `nclattice` command: a thin client of the library (one small module per command).

Only the chosen command's module is imported, so ``nclattice --help`` and ``nclattice build``
import neither Prefect nor the flows they do not use. A command runs its flow in this process;
``--prefect`` (or a configured ``PREFECT_API_URL``) runs it as a Prefect flow instead.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from importlib import import_module

from .. import __version__
from ..errors import NclatticeError
from ..runtime import install_signal_handlers


@dataclass(frozen=True)
class Command:
    """One `nclattice` command. With ``capability`` (a registry name) the parser is made here: the
    positional input, --out/--prefect (and --results for MD), one option per field of the
    capability's settings model, and ``run`` of ``module`` (under nclattice.cli) as the runner,
    which prints the outcome. Without it, ``module.add_parser`` builds a command of its own
    (options beyond a settings model, or sub-commands)."""

    help: str
    module: str
    capability: str | None = None
    positional: str | None = None  # name of the positional input (its help is the module's POSITIONAL_HELP)


# the table of commands; a module is imported only when its command is chosen
COMMANDS: dict[str, Command] = {
    "build": Command("build a nanocrystal model and write it (.extxyz or LAMMPS .data)", "build"),
    "calibrate": Command("MD temperature series -> Debye-Waller <u²>(T) calibration", "calibrate"),
    "delta-t": Command("MD at T0 and T0+ΔT -> differential pair distribution function ΔG(r)", "delta_t",
                       "delta-t", "structure"),
    "phonons": Command("normal modes, phonon DOS and lifetimes of a nanocrystal", "phonons", "phonons", "structure"),
    "spin-relax": Command("singlet vs triplet relaxation: the exciton-polaron displacement field", "spin_relax",
                          "spin-relax", "structure"),
    "diffract": Command("powder and 3D kinematic diffraction of one structure", "diffract", "diffract", "structure"),
    "polaron-diffraction": Command("model ΔI around Bragg peaks for a polaron displacement model",
                                   "polaron_diffraction", "polaron-diffraction"),
    "ued": Command("analyze UED Bragg-peak time series (Debye–Waller, ΔT, disorder)", "ued"),
    "potentials": Command("list the shipped interatomic potentials and their validation status", "potentials"),
    "kinetics": Command("kinetic models: Auger heating, trapping, occupation, state filling", "kinetics"),
    "campaign": Command("run a campaign file: nanocrystals x analyses, cached and resumable", "campaign"),
    "demo": Command("run the demonstration campaign (every capability on small systems)", "demo"),
}


def _add(sub: argparse._SubParsersAction, name: str, command: Command) -> None:
    module = import_module(f"nclattice.cli.{command.module}")
    if command.capability is None:
        module.add_parser(sub, command.help)
        return
    from ..flows.registry import capability
    from .options import add_command

    cap = capability(command.capability)
    positional = None if command.positional is None else \
        (command.positional, {"help": getattr(module, "POSITIONAL_HELP", "structure file (.extxyz)")})
    add_command(sub, name, command.help, module.DESCRIPTION, cap.settings, module.run, positional=positional,
                md_cache=cap.md_cache)


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
    for name, entry in COMMANDS.items():
        if command in (name, "*"):
            _add(sub, name, entry)
        else:
            sub.add_parser(name, help=entry.help, add_help=False)
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
