"""Command-line options generated from the settings models, and running a capability.

Each settings field becomes ``--<option name>`` with its help text, default and choices; the
value goes to the model as typed (pydantic converts and validates), so the command line and
campaigns share one validation and one error message.
"""

from __future__ import annotations

import argparse
import os
import typing
from pathlib import Path
from typing import Any, Literal

from ..flows.settings import Settings


def choices_of(model: type[Settings], field: str) -> tuple[str, ...] | None:
    ann = model.model_fields[field].annotation
    args = [ann] if typing.get_origin(ann) is Literal else list(typing.get_args(ann))
    for a in args:
        if typing.get_origin(a) is Literal:
            return tuple(typing.get_args(a))
    return None


def add_settings_options(p: argparse.ArgumentParser, model: type[Settings], skip: set[str] = frozenset()) -> None:
    """One option per field of ``model`` (dest = field name; absent options keep the model's default)."""
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        extra = info.json_schema_extra or {}
        default = info.default
        shown = "" if default in (None, False) or info.is_required() else f" (default {_show(default)})"
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": (info.description or "") + shown}
        if info.annotation is bool:
            kwargs["action"] = "store_true"
        else:
            choices = choices_of(model, name)
            if choices:
                kwargs["choices"] = choices
            if extra.get("nargs"):
                kwargs["nargs"] = extra["nargs"]
            if extra.get("repeat"):
                kwargs["action"] = "append"
            if extra.get("metavar"):
                kwargs["metavar"] = tuple(extra["metavar"]) if isinstance(extra["metavar"], list) else extra["metavar"]
            elif not choices:
                kwargs["metavar"] = model.option_name(name).upper().replace("-", "_")
            if info.is_required():
                kwargs["required"] = True
        p.add_argument(f"--{model.option_name(name)}", **kwargs)


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def settings_from_args(model: type[Settings], args: argparse.Namespace, **fixed: Any) -> Settings:
    values = {n: getattr(args, n) for n in model.model_fields if hasattr(args, n)}
    return model.parse({**values, **fixed})


def add_command(sub: argparse._SubParsersAction, name: str, help_text: str, description: str,
                model: type[Settings], run: Any, *, positional: tuple[str, dict[str, Any]] | None = None,
                md_cache: bool = False, out_required: bool = True, **parser_kwargs: Any) -> argparse.ArgumentParser:
    """One analysis command: its positional input, --out/--prefect (and --results), the settings options.

    ``positional`` is (name, add_argument keywords), e.g. ("structure", {"help": "structure file"}).
    Returns the parser so a command can add the few options that are not settings fields.
    """
    p = sub.add_parser(name, help=help_text, description=description, **parser_kwargs)
    if positional is not None:
        p.add_argument(positional[0], **positional[1])
    add_run_options(p, md_cache=md_cache, out_required=out_required)
    add_settings_options(p, model)
    p.set_defaults(func=run)
    return p


STRUCTURE = ("structure", {"help": "structure file (.extxyz)"})


def add_run_options(p: argparse.ArgumentParser, md_cache: bool = False, out_required: bool = True) -> None:
    p.add_argument("--out", required=out_required, help="output directory (relative or absolute)")
    if md_cache:
        p.add_argument("--results", help="cache of MD runs shared between commands (default OUT/runs)")
    p.add_argument("--prefect", action="store_true",
                   help="run as a Prefect flow (also the default when PREFECT_API_URL is set)")


def execute(name: str, args: argparse.Namespace, settings: Settings, *, structure: str | Path | None = None,
            data: list[str] | None = None) -> dict[str, Any]:
    """Check every input, then run the capability: in this process, or as a Prefect flow run."""
    from ..flows.registry import capability, preflight

    cap = capability(name)
    inputs = preflight(cap, settings, structure, data)
    results = getattr(args, "results", None)
    out = Path(args.out).absolute()  # workers run in their own folders: hand them absolute paths
    results = None if results is None else str(Path(results).absolute())
    if getattr(args, "prefect", False) or os.environ.get("PREFECT_API_URL"):
        from ..environment import configure_prefect

        configure_prefect()
        from ..flows.deployments import run_under_prefect

        return run_under_prefect(name, settings.canonical(), str(out),
                                 structure=None if structure is None else str(structure),
                                 data=None if data is None else [str(d) for d in data], results=results)
    return cap.run(settings, out, inputs=inputs, results=results)


def print_site_drift(result: dict[str, Any]) -> None:
    """The first line of an MD command's summary when atoms left their sites in production."""
    if result.get("site_drift_summary"):
        print(result["site_drift_summary"])
