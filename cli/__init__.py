"""The `nclattice` command: a thin client of the library (one small module per command).

Only the chosen command's module is imported, so ``nclattice --help`` and ``nclattice build``
import neither Prefect nor the flows they do not use. A command runs its flow in this process;
``--prefect`` (or a configured ``PREFECT_API_URL``) runs it as a Prefect flow instead.
"""

from __future__ import annotations

import argparse
import gc
import sys
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from .. import __version__
from ..errors import NclatticeError
from ..runtime import install_signal_handlers


@dataclass(frozen=True)
class Command:
    """One `nclattice` command. With ``capability`` (a registry name) the parser is made here: the
    positional input, --out/--prefect (and --results for MD), one option per field of the
    capability's settings model, the module's ``add_options(parser)`` where it has options beyond
    the model, and ``runner`` of ``module`` (under nclattice.cli), which prints the outcome. With
    ``actions``, a command with sub-commands made the same way (``nclattice ued profiles``).
    Otherwise ``module.add_parser`` builds a command of its own (build, campaign, ...).

    From the module: ``DESCRIPTION`` (a dict by sub-command for a group) and ``POSITIONAL_HELP``
    (a dict by positional name where sub-commands differ)."""

    help: str
    module: str
    capability: str | None = None
    positional: str | None = None  # name of the positional input
    nargs: str | None = None  # of the positional: "?" (calibrate --apply needs none), "+" (several files)
    runner: str = "run"
    out_required: bool = True  # False: a mode without an output folder exists (calibrate --apply)
    raw_description: bool = False  # the description is preformatted (a data format)
    actions: dict[str, Command] = field(default_factory=dict)  # sub-commands
    dest: str = "action"  # where argparse puts the chosen sub-command


# the table of commands; a module is imported only when its command is chosen
COMMANDS: dict[str, Command] = {
    "build": Command("build a nanocrystal model and write it (.extxyz or LAMMPS .data)", "build"),
    "calibrate": Command("MD temperature series -> Debye-Waller <u²>(T) calibration", "calibrate", "calibrate",
                         "structure", nargs="?", out_required=False),
    "delta-t": Command("MD at T0 and T0+ΔT -> differential pair distribution function ΔG(r)", "delta_t",
                       "delta-t", "structure"),
    "phonons": Command("normal modes, phonon DOS and lifetimes of a nanocrystal", "phonons", "phonons", "structure"),
    "spin-relax": Command("singlet vs triplet relaxation: the exciton-polaron displacement field", "spin_relax",
                          "spin-relax", "structure"),
    "diffract": Command("powder and 3D kinematic diffraction of one structure", "diffract", "diffract", "structure"),
    "polaron-diffraction": Command("model ΔI around Bragg peaks for a polaron displacement model",
                                   "polaron_diffraction", "polaron-diffraction"),
    "ued": Command("analyze UED Bragg-peak time series (Debye–Waller, ΔT, disorder)", "ued", actions={
        "analyze": Command("Debye–Waller fit per delay, ΔT(t), localized-disorder test", "ued", "ued", "data",
                           nargs="+", raw_description=True),
        "profiles": Command("fit the structure's rings in radial profiles I(Q, t), then Debye–Waller", "ued",
                            "ued-profiles", "profiles", runner="run_profiles"),
        "decompose": Command("split ΔI(Q, t) into heating and localized surface disorder", "ued", "ued-decompose",
                             "profiles", runner="run_decompose"),
        "images": Command("detector frames (TIFF folder or HDF5 stack) -> radial profiles (pyFAI)", "ued",
                          "ued-images", "source", runner="run_images")}),
    "potentials": Command("list the shipped interatomic potentials and their validation status", "potentials"),
    "kinetics": Command("kinetic models: Auger heating, trapping, occupation, state filling", "kinetics", actions={
        "auger": Command("Auger heating by the Gillespie algorithm", "kinetics", "kinetics-auger"),
        "trapping": Command("Auger heating competing with hot-hole surface trapping", "kinetics",
                            "kinetics-trapping"),
        "occupation": Command("resonant occupation P0, P1, P2", "kinetics", "kinetics-occupation"),
        "state-filling": Command("band-edge bleach and gain with hot-carrier trapping", "kinetics",
                                 "kinetics-state-filling")}, dest="model"),
    "campaign": Command("run a campaign file: nanocrystals x analyses, cached and resumable", "campaign"),
    "demo": Command("run the demonstration campaign (every capability on small systems)", "demo"),
}


def _by_name(table: Any, name: str) -> Any:
    return table.get(name) if isinstance(table, dict) else table


def _add(sub: argparse._SubParsersAction, name: str, command: Command, group: str | None = None) -> None:
    module = import_module(f"nclattice.cli.{command.module}")
    if command.actions:
        p = sub.add_parser(name, help=command.help, description=module.GROUP_DESCRIPTION)
        actions = p.add_subparsers(dest=command.dest, required=True, parser_class=Parser)
        for action, entry in command.actions.items():
            _add(actions, action, entry, group=name)
        return
    if command.capability is None:
        module.add_parser(sub, command.help)
        return
    from ..flows.registry import capability
    from .options import add_command

    cap = capability(command.capability)
    positional = None
    if command.positional is not None:
        spec = {"help": _by_name(getattr(module, "POSITIONAL_HELP", "structure file (.extxyz)"), command.positional)}
        positional = (command.positional, spec if command.nargs is None else {"nargs": command.nargs, **spec})
    extra = {"formatter_class": argparse.RawDescriptionHelpFormatter} if command.raw_description else {}
    description = _by_name(module.DESCRIPTION, name) if group else module.DESCRIPTION
    p = add_command(sub, name, command.help, description, cap.settings, getattr(module, command.runner),
                    positional=positional, md_cache=cap.md_cache, out_required=command.out_required, **extra)
    if hasattr(module, "add_options"):
        module.add_options(p)


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
    """Run one command; ``argv`` None means this process's own command line (the console script),
    which ends when the command does."""
    if argv is None:
        # A process that lives for one command: young objects are collected every 50,000
        # allocations instead of 700 (importing numba, matplotlib and the pydantic models
        # otherwise takes ~500 collections, ~0.2 s), and at the end everything still alive goes to
        # the permanent generation, so the interpreter skips collecting it once more at exit
        # (~0.1-0.5 s after a diffraction command; benchmarks/bench_cli.py).
        gc.set_threshold(50_000, 20, 10)
    code = _run(list(sys.argv[1:] if argv is None else argv))
    if argv is None:
        gc.freeze()
    return code


def _run(argv: list[str]) -> int:
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
