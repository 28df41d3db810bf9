"""Campaign files: nanocrystals x analyses in one YAML file, validated completely before any work.

A campaign item runs one capability of the registry (flows/registry.py) on one structure. Its
``with:`` block is validated straight into the capability's settings model (option names as on
the command line: ``production-ps: 6``), so an error names the file, the line and the field.
Everything is checked here: the file's shape (duplicate keys included), every item's options,
the structures (built now, cheaply), input files, names, and references between items
(``"@item/file"`` is a file another item writes). Nothing here imports Prefect; running is in
flows/campaign_run.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ..errors import NclatticeError
from ..provenance import file_sha256, input_key
from .registry import CAPABILITIES, Capability, potential_for
from .settings import BuildSettings, Settings, SettingsError

REF = "@"  # "@item-name/file" refers to a file another item writes
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")  # item and structure names: one safe path component


class CampaignError(NclatticeError):
    """The campaign file is invalid; the message names the line and the field."""


@dataclass
class Item:
    name: str
    analysis: str
    structure: str | None
    settings: Settings
    data: list[str] = field(default_factory=list)  # input files (args:), relative to the spec or "@item/file"
    needs: list[str] = field(default_factory=list)
    line: int = 0

    @property
    def capability(self) -> Capability:
        return CAPABILITIES[self.analysis]


@dataclass
class Campaign:
    name: str
    path: Path
    structures: dict[str, dict[str, Any]]  # name -> {"build": {...}} or {"file": path}
    items: list[Item]
    atoms: dict[str, Any] = field(default_factory=dict)  # built/loaded structures
    slurm: Any = None  # flows.cluster.SlurmProfile when the file has a slurm: section


# ----------------------------------------------------------------------------- YAML with lines
def _load_with_lines(path: Path) -> tuple[Any, dict[tuple, int]]:
    """YAML data plus the line (1-based) of every mapping key and list item, by path tuple."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise CampaignError(f"{path.name}{where}: not valid YAML ({getattr(exc, 'problem', exc)}).") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError(f"cannot read campaign file '{path}' ({exc}).") from None
    lines: dict[tuple, int] = {}

    def walk(node, at: tuple):
        lines[at] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out = {}
            for k, v in node.value:
                key = yaml.safe_load(yaml.serialize(k))
                if key in out:
                    raise CampaignError(f"{path.name} line {k.start_mark.line + 1}: key '{key}' appears twice in "
                                        "the same mapping; keep one.")
                lines[(*at, key)] = k.start_mark.line + 1
                out[key] = walk(v, (*at, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [walk(v, (*at, i)) for i, v in enumerate(node.value)]
        return yaml.safe_load(yaml.serialize(node))

    return (walk(root, ()) if root is not None else None), lines


def _err(spec_path: Path, lines: dict, at: tuple, message: str) -> CampaignError:
    line = lines.get(at) or lines.get(at[:-1]) or lines.get(())
    field_name = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in at).replace(".[", "[")
    return CampaignError(f"{spec_path.name} line {line}, {field_name}: {message}")


def _settings_error(path: Path, lines: dict, at: tuple, exc: SettingsError) -> CampaignError:
    where = (*at, exc.field) if exc.field and (*at, exc.field) in lines else at
    return _err(path, lines, where, exc.reason)


# ----------------------------------------------------------------------------- loading
def load_campaign(spec_path: str | Path) -> Campaign:
    """Read and validate a campaign file completely; raises CampaignError naming line and field."""
    path = Path(spec_path)
    if not path.is_file():
        raise CampaignError(f"campaign file '{path}' does not exist.")
    data, lines = _load_with_lines(path)
    if not isinstance(data, dict):
        raise CampaignError(f"{path.name}: the campaign must be a mapping with 'structures' and 'analyses'.")
    unknown = set(data) - {"name", "structures", "analyses", "slurm"}
    if unknown:
        raise _err(path, lines, (sorted(unknown)[0],),
                   "unknown top-level field; use name, structures, analyses and (optionally) slurm.")
    structures = data.get("structures") or {}
    if not isinstance(structures, dict):
        raise _err(path, lines, ("structures",), "must map structure names to {build: ...} or {file: ...}.")
    for sname, sdef in structures.items():
        _check_structure(path, lines, sname, sdef)
    analyses = data.get("analyses") or []
    if not isinstance(analyses, list) or not analyses:
        raise _err(path, lines, ("analyses",), "must be a non-empty list of analyses.")
    items: list[Item] = []
    for i, entry in enumerate(analyses):
        item = _item(path, lines, i, entry, structures)
        if any(it.name == item.name for it in items):
            raise _err(path, lines, ("analyses", i, "name"), f"item name '{item.name}' is used twice; give a 'name'.")
        items.append(item)
    name = str(data.get("name") or path.stem)
    if not NAME.match(name):
        raise _err(path, lines, ("name",), f"'{name}' is not a plain name (letters, digits, '.', '_', '-').")
    campaign = Campaign(name, path, structures, items, slurm=_slurm_profile(path, lines, data.get("slurm")))
    _check_references(campaign, lines)
    _build_structures(campaign, lines)
    _check_potentials(campaign, lines)
    return campaign


def _slurm_profile(path: Path, lines: dict, section: Any):
    if section is None:
        return None
    from .cluster import load_profile

    if not isinstance(section, dict):
        raise _err(path, lines, ("slurm",), "must map Slurm options (partition, walltime, memory-gb, ...) to values.")
    try:
        return load_profile(section)
    except SettingsError as exc:
        raise _settings_error(path, lines, ("slurm",), exc) from None
    except NclatticeError as exc:
        raise _err(path, lines, ("slurm",), str(exc)) from None


def _check_structure(path: Path, lines: dict, sname: Any, sdef: Any) -> None:
    at = ("structures", sname)
    if not isinstance(sname, str) or not NAME.match(sname):
        raise _err(path, lines, at, f"'{sname}' is not a plain name (letters, digits, '.', '_', '-').")
    if not isinstance(sdef, dict):
        raise _err(path, lines, at, "give exactly one of 'build: {kind: ..., ...}' or 'file: PATH'.")
    extra = sorted(set(sdef) - {"build", "file"})
    if extra:
        raise _err(path, lines, (*at, extra[0]), f"unknown field '{extra[0]}' under structure '{sname}'; a "
                                                 "structure has either 'build:' or 'file:'.")
    if len(sdef) != 1:
        raise _err(path, lines, at, "give exactly one of 'build' or 'file', not both.")
    if "file" in sdef:
        target = _inside_spec_dir(path, lines, (*at, "file"), sdef["file"])
        if not target.is_file():
            raise _err(path, lines, (*at, "file"), f"file '{sdef['file']}' does not exist.")
    elif not isinstance(sdef["build"], dict) or "kind" not in sdef["build"]:
        raise _err(path, lines, (*at, "build"), "needs 'kind' and the build options.")


def _inside_spec_dir(path: Path, lines: dict, at: tuple, value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise _err(path, lines, at, f"must be a file name, got {value!r}.")
    return path.parent / value


def _item(path: Path, lines: dict, i: int, entry: Any, structures: dict) -> Item:
    at = ("analyses", i)
    if not isinstance(entry, dict) or "run" not in entry:
        raise _err(path, lines, at, "each analysis needs 'run' (one of " + ", ".join(CAPABILITIES) + ").")
    extra = set(entry) - {"run", "name", "structure", "with", "args"}
    if extra:
        raise _err(path, lines, (*at, sorted(extra)[0]), "unknown field; use run, name, structure, with, args.")
    analysis = entry["run"]
    if analysis not in CAPABILITIES:
        raise _err(path, lines, (*at, "run"),
                   f"unknown analysis '{analysis}'; choose one of {', '.join(CAPABILITIES)}.")
    cap = CAPABILITIES[analysis]
    structure = entry.get("structure")
    if cap.inputs == "structure" and structure not in structures:
        raise _err(path, lines, (*at, "structure"),
                   f"'{analysis}' needs a structure from the structures section, got {structure!r}.")
    if cap.inputs != "structure" and structure is not None:
        raise _err(path, lines, (*at, "structure"), f"'{analysis}' takes no structure.")
    options = entry.get("with") or {}
    if not isinstance(options, dict):
        raise _err(path, lines, (*at, "with"), "must map option names (as on the command line) to values.")
    try:
        settings = cap.settings.parse(options)
    except SettingsError as exc:
        raise _settings_error(path, lines, (*at, "with"), exc) from None
    args = entry.get("args") or []
    if cap.inputs == "data" and not args:
        raise _err(path, lines, (*at, "args"), f"'{analysis}' needs its data files under args: [FILE, ...].")
    if cap.inputs != "data" and args:
        raise _err(path, lines, (*at, "args"), f"'{analysis}' takes no args.")
    name = str(entry.get("name") or (f"{structure}-{analysis}" if structure else f"{analysis}-{i}"))
    if not NAME.match(name):
        raise _err(path, lines, (*at, "name"), f"item name '{name}' must be a plain name (letters, digits, '.', "
                                              "'_', '-'): it names a folder inside the output directory.")
    return Item(name, analysis, structure, settings, [str(a) for a in args], line=lines.get(at, 0))


def _references(it: Item) -> list[tuple[str, str]]:
    """(field label, value) of every file-valued input of an item."""
    values = [(f"with.{it.settings.option_name(n)}", getattr(it.settings, n)) for n in it.settings.path_fields()]
    return [(label, v) for label, v in values if v is not None] + [("args", v) for v in it.data]


def _check_references(c: Campaign, lines: dict) -> None:
    index = {it.name: i for i, it in enumerate(c.items)}
    for it in c.items:
        at = ("analyses", index[it.name])
        for label, value in _references(it):
            field_at = (*at, *label.split("."))
            if value.startswith(REF):
                ref, _, rest = value[1:].partition("/")
                if ref not in index:
                    raise _err(c.path, lines, field_at, f"refers to unknown item '{ref}'.")
                if index[ref] >= index[it.name]:
                    raise _err(c.path, lines, field_at, f"item '{ref}' must come before '{it.name}'.")
                if rest and (PurePosixPath(rest).is_absolute() or ".." in PurePosixPath(rest).parts):
                    raise _err(c.path, lines, field_at, f"'{value}' must name a file inside item '{ref}'.")
                if ref not in it.needs:
                    it.needs.append(ref)
            elif not (c.path.parent / value).exists():
                raise _err(c.path, lines, field_at, f"file '{value}' does not exist.")


def _build_structures(c: Campaign, lines: dict) -> None:
    """Build (cheaply) or read every structure now: a bad recipe fails before any simulation."""
    from ..structio import read_structure
    from ..structures import build as build_structure

    for sname, sdef in c.structures.items():
        at = ("structures", sname)
        if "file" in sdef:
            try:
                c.atoms[sname] = read_structure(c.path.parent / str(sdef["file"]))
            except NclatticeError as exc:
                raise _err(c.path, lines, (*at, "file"), str(exc)) from None
            continue
        try:
            kind, params = BuildSettings.parse(sdef["build"]).builder()
            c.atoms[sname] = build_structure(kind, **params)
        except SettingsError as exc:
            raise _settings_error(c.path, lines, (*at, "build"), exc) from None
        except NclatticeError as exc:
            raise _err(c.path, lines, (*at, "build"), str(exc).rstrip(".") + ".") from None


def _check_potentials(c: Campaign, lines: dict) -> None:
    """Every MD item has a potential covering its structure's elements (registry.potential_for, the
    preflight's own check, here with the item's line; a potential file is relative to the spec)."""
    for i, it in enumerate(c.items):
        if not it.capability.md_cache:
            continue
        name = getattr(it.settings, "potential", None)
        at = ("analyses", i, "with", "potential") if name else ("analyses", i, "structure")
        try:
            potential_for(it.settings, set(c.atoms[it.structure].get_chemical_symbols()), c.path.parent)
        except NclatticeError as exc:
            raise _err(c.path, lines, at, str(exc)) from None


# ----------------------------------------------------------------------------- keys and paths
def item_dir(out: Path, it: Item) -> Path:
    return out / "items" / it.name


def resolve(value: str, c: Campaign, out: Path) -> str:
    """A file input as a path: "@item/file" inside OUT/items, otherwise relative to the spec's folder."""
    if value.startswith(REF):
        ref, _, rest = value[1:].partition("/")
        return str(out / "items" / ref / rest) if rest else str(out / "items" / ref)
    return str(c.path.parent / value)


def item_key(c: Campaign, it: Item, keys: dict[str, str]) -> str:
    """Canonical hash of the analysis, its validated settings (6 and 6.0 agree), the structure's content,
    the contents of input files and the keys of the items it uses; output paths do not enter it."""
    inputs = {}
    for label, value in _references(it):
        if value.startswith(REF):
            ref, _, rest = value[1:].partition("/")
            inputs[f"{label}:{value}"] = keys[ref] + "/" + rest
        else:
            inputs[f"{label}:{value}"] = file_sha256(c.path.parent / value)
    settings = it.settings.canonical()
    for name in it.settings.path_fields():  # paths enter through their contents, above
        settings.pop(name, None)
    structure = input_key(c.atoms[it.structure]) if it.structure else None
    return input_key("campaign-item", it.analysis, settings, structure, inputs)


def item_settings(c: Campaign, it: Item, out: Path) -> dict[str, Any]:
    """The item's settings with file inputs resolved to paths (for the flow call)."""
    values = it.settings.canonical()
    for name in it.settings.path_fields():
        if values.get(name) is not None:
            values[name] = resolve(values[name], c, out)
    return values
