"""Campaigns: nanocrystals x analyses from one YAML file, run as a Prefect flow.

A campaign item is one `nclattice` command run on one structure; its options in the file
are the command's own long options (``production-ps: 6``), so whatever the command line
accepts a campaign accepts, and the same parser validates both. Everything is checked
before any work starts: the file's shape, every item's options (with the line they sit
on), the structures (built now, cheaply), input files, and references between items.

Completion and caching. Item ``NAME`` writes into ``OUT/items/NAME/``; its ``result.json``
(the item's key, status and timings) is written last and atomically, so a killed campaign
never leaves a half-written item that looks done. The key is the canonical hash of the
command, its options, the structure's content, the hashes of input files and the keys of
the items it uses. On a re-run an item whose ``result.json`` carries the same key is
``cached`` and does no work; a changed item is recomputed, and its MD runs are still
taken from the shared cache ``OUT/runs/md/<key>/`` (adding one temperature runs one MD).

Concurrency. Items run as Prefect tasks on threads in this process, so they share its one
Prefect API: heavy work already runs outside Python threads (LAMMPS workers, numpy).
With ``dask_address`` they run on that Dask cluster through prefect-dask; worker processes
then need a Prefect API, so the campaign starts one local Prefect server on loopback for
the run (SQLite in the project's PREFECT_HOME) and stops it afterwards, instead of letting
each worker start its own temporary server (measured: 34-39 s per trivial flow against
8-9 s with one server).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.tasks import exponential_backoff

from ..atomicio import write_text_atomic
from ..errors import NclatticeError
from ..provenance import file_sha256, input_key, provenance
from ..results import read_json, write_json
from ..structio import read_structure, write_structure

# campaign analysis -> command words; which take the structure as first positional argument
ANALYSES: dict[str, tuple[list[str], bool]] = {
    "calibrate": (["calibrate"], True),
    "delta-t": (["delta-t"], True),
    "phonons": (["phonons"], True),
    "spin-relax": (["spin-relax"], True),
    "diffract": (["diffract"], True),
    "polaron-diffraction": (["polaron-diffraction"], False),
    "ued": (["ued", "analyze"], False),
    "ued-profiles": (["ued", "profiles"], False),
    "ued-decompose": (["ued", "decompose"], False),
    "kinetics-auger": (["kinetics", "auger"], False),
    "kinetics-trapping": (["kinetics", "trapping"], False),
    "kinetics-occupation": (["kinetics", "occupation"], False),
    "kinetics-state-filling": (["kinetics", "state-filling"], False),
}
SIMULATION = {"calibrate", "delta-t", "phonons", "spin-relax"}
REF = "@"  # "@item-name/file" refers to a file another item writes


class CampaignError(NclatticeError):
    """The campaign file is invalid; the message names the line and the field."""


# ----------------------------------------------------------------------------- parsing
def _load_with_lines(path: Path) -> tuple[Any, dict[tuple, int]]:
    """YAML data plus the line (1-based) of every mapping key and list item, by path tuple."""
    try:
        root = yaml.compose(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise CampaignError(f"{path.name}{where}: not valid YAML ({getattr(exc, 'problem', exc)}).") from None
    lines: dict[tuple, int] = {}

    def walk(node, at: tuple):
        lines[at] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out = {}
            for k, v in node.value:
                key = yaml.safe_load(yaml.serialize(k))
                lines[(*at, key)] = k.start_mark.line + 1
                out[key] = walk(v, (*at, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [walk(v, (*at, i)) for i, v in enumerate(node.value)]
        return yaml.safe_load(yaml.serialize(node))

    return (walk(root, ()) if root is not None else None), lines


@dataclass
class Item:
    name: str
    analysis: str
    structure: str | None
    options: dict[str, Any]
    positional: list[str]
    needs: list[str] = field(default_factory=list)
    line: int = 0


@dataclass
class Campaign:
    name: str
    path: Path
    structures: dict[str, dict[str, Any]]  # name -> {"build": {...}} or {"file": path}
    items: list[Item]
    atoms: dict[str, Any] = field(default_factory=dict)  # built/loaded structures


def _err(spec_path: Path, lines: dict, at: tuple, message: str) -> CampaignError:
    line = lines.get(at) or lines.get(at[:-1]) or lines.get(())
    field_name = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in at).replace(".[", "[")
    return CampaignError(f"{spec_path.name} line {line}, {field_name}: {message}")


def _option_argv(options: dict[str, Any]) -> list[str]:
    argv = []
    for key, value in options.items():
        flag = f"--{key}"
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, list):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv


def _parse_only(argv: list[str]) -> argparse.Namespace:
    """Parse with the real command-line parser, raising instead of exiting."""
    from .cli import parser

    p = parser()
    messages: list[str] = []

    def fail(message: str) -> None:
        messages.append(message)
        raise CampaignError(message)

    for action in [p, *_subparsers(p)]:
        action.error = fail  # type: ignore[method-assign]
    try:
        return p.parse_args(argv)
    except SystemExit:
        raise CampaignError(messages[-1] if messages else "invalid options") from None


def _subparsers(p: argparse.ArgumentParser):
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from _subparsers(sub)


def load_campaign(spec_path: str | Path) -> Campaign:
    """Read and validate a campaign file completely; raises CampaignError naming line and field."""
    path = Path(spec_path)
    if not path.is_file():
        raise CampaignError(f"campaign file '{path}' does not exist.")
    data, lines = _load_with_lines(path)
    if not isinstance(data, dict):
        raise CampaignError(f"{path.name}: the campaign must be a mapping with 'structures' and 'analyses'.")
    unknown = set(data) - {"name", "structures", "analyses"}
    if unknown:
        key = sorted(unknown)[0]
        raise _err(path, lines, (key,), "unknown top-level field; use name, structures and analyses.")
    structures = data.get("structures") or {}
    if not isinstance(structures, dict):
        raise _err(path, lines, ("structures",), "must map structure names to {build: ...} or {file: ...}.")
    base = path.parent
    for sname, sdef in structures.items():
        if not isinstance(sdef, dict) or len(set(sdef) & {"build", "file"}) != 1 or set(sdef) - {"build", "file"}:
            raise _err(path, lines, ("structures", sname), "give exactly one of 'build' or 'file'.")
        if "file" in sdef and not (base / str(sdef["file"])).is_file():
            raise _err(path, lines, ("structures", sname, "file"), f"file '{sdef['file']}' does not exist.")
        if "build" in sdef:
            build = sdef["build"]
            if not isinstance(build, dict) or "kind" not in build:
                raise _err(path, lines, ("structures", sname, "build"), "needs 'kind' and the build options.")
    analyses = data.get("analyses") or []
    if not isinstance(analyses, list) or not analyses:
        raise _err(path, lines, ("analyses",), "must be a non-empty list of analyses.")
    items: list[Item] = []
    for i, entry in enumerate(analyses):
        at = ("analyses", i)
        if not isinstance(entry, dict) or "run" not in entry:
            raise _err(path, lines, at, "each analysis needs 'run' (one of " + ", ".join(ANALYSES) + ").")
        extra = set(entry) - {"run", "name", "structure", "with", "args"}
        if extra:
            raise _err(path, lines, (*at, sorted(extra)[0]), "unknown field; use run, name, structure, with, args.")
        analysis = entry["run"]
        if analysis not in ANALYSES:
            raise _err(path, lines, (*at, "run"),
                       f"unknown analysis '{analysis}'; choose one of {', '.join(ANALYSES)}.")
        takes_structure = ANALYSES[analysis][1]
        structure = entry.get("structure")
        if takes_structure and structure not in structures:
            raise _err(path, lines, (*at, "structure"),
                       f"'{analysis}' needs a structure from the structures section, got {structure!r}.")
        options = entry.get("with") or {}
        if not isinstance(options, dict):
            raise _err(path, lines, (*at, "with"), "must map option names (as on the command line) to values.")
        positional = [str(a) for a in entry.get("args") or []]
        name = str(entry.get("name") or (f"{structure}-{analysis}" if structure else f"{analysis}-{i}"))
        if any(it.name == name for it in items):
            raise _err(path, lines, (*at, "name"), f"item name '{name}' is used twice; give a 'name'.")
        items.append(Item(name, analysis, structure, options, positional, line=lines.get(at, 0)))
    campaign = Campaign(str(data.get("name") or path.stem), path, structures, items)
    _validate_items(campaign, lines)
    return campaign


def _validate_items(c: Campaign, lines: dict) -> None:
    names = {it.name for it in c.items}
    index = {it.name: i for i, it in enumerate(c.items)}
    for it in c.items:
        at = ("analyses", index[it.name])
        for key, value in [*it.options.items(), *((f"args[{k}]", v) for k, v in enumerate(it.positional))]:
            field_at = (*at, "with", key) if not key.startswith("args[") else (*at, "args")
            for text in (value if isinstance(value, list) else [value]):
                if isinstance(text, str) and text.startswith(REF):
                    ref = text[1:].split("/", 1)[0]
                    if ref not in names:
                        raise _err(c.path, lines, field_at, f"refers to unknown item '{ref}'.")
                    if index[ref] >= index[it.name]:
                        raise _err(c.path, lines, field_at, f"item '{ref}' must come before '{it.name}'.")
                    it.needs.append(ref)
                elif isinstance(text, str) and _looks_like_file(key, text) and not (c.path.parent / text).exists():
                    raise _err(c.path, lines, field_at, f"file '{text}' does not exist.")
        if it.analysis == "calibrate" and "temperatures" in it.options:
            from .common import parse_float_list

            try:
                temps = parse_float_list(str(it.options["temperatures"]), "temperatures")
            except NclatticeError as exc:
                raise _err(c.path, lines, (*at, "with", "temperatures"), str(exc)) from None
            if any(t <= 0 for t in temps):
                raise _err(c.path, lines, (*at, "with", "temperatures"), f"temperatures must be positive, got {temps}.")
        for key in ("t0", "temperature"):
            if key in it.options and not float(it.options[key]) > 0:
                raise _err(c.path, lines, (*at, "with", key),
                           f"must be a positive temperature in K, got {it.options[key]}.")
        try:
            _parse_only(item_argv(c, it, Path("/validation")))
        except CampaignError as exc:
            raise _err(c.path, lines, at, f"invalid options for '{it.analysis}': {exc}") from None
    # build (cheap) every structure now: a bad recipe fails before any simulation
    from ..structures import build as build_structure
    from .build import builder_arguments

    for sname, sdef in c.structures.items():
        at = ("structures", sname)
        if "file" in sdef:
            c.atoms[sname] = read_structure(c.path.parent / str(sdef["file"]))
            continue
        build = dict(sdef["build"])
        argv = ["build", str(build.pop("kind")), "-o", "x.extxyz", *_option_argv(build)]
        try:
            kind, params = builder_arguments(_parse_only(argv))
            c.atoms[sname] = build_structure(kind, **params)
        except NclatticeError as exc:
            raise _err(c.path, lines, (*at, "build"), str(exc).rstrip(".") + ".") from None


FILE_OPTIONS = {"data", "calibration", "spin-dir", "potential", "import-triplet", "structure"}


def _looks_like_file(key: str, text: str) -> bool:
    return key.startswith("args[") or (key in FILE_OPTIONS and ("/" in text or "." in text))


# ----------------------------------------------------------------------------- running
def item_dir(out: Path, it: Item) -> Path:
    return out / "items" / it.name


def _resolve(value: Any, out: Path) -> Any:
    if isinstance(value, list):
        return [_resolve(v, out) for v in value]
    if isinstance(value, str) and value.startswith(REF):
        ref, _, rest = value[1:].partition("/")
        return str(out / "items" / ref / rest) if rest else str(out / "items" / ref)
    return value


def item_argv(c: Campaign, it: Item, out: Path) -> list[str]:
    words, takes_structure = ANALYSES[it.analysis]
    base = c.path.parent
    argv = list(words)
    if takes_structure:
        argv.append(str(out / "structures" / f"{it.structure}.extxyz"))
    for p in it.positional:
        resolved = _resolve(p, out)
        argv.append(resolved if resolved.startswith(str(out)) or Path(resolved).is_absolute() else str(base / p))
    options = {}
    for key, value in it.options.items():
        resolved = _resolve(value, out)
        if isinstance(value, str) and not value.startswith(REF) and _looks_like_file(key, value):
            resolved = str(base / value)
        options[key] = resolved
    argv += _option_argv(options)
    argv += ["--out", str(item_dir(out, it))]
    if it.analysis in SIMULATION and it.analysis != "spin-relax":
        argv += ["--results", str(out / "runs")]
    return argv


def item_key(c: Campaign, it: Item, keys: dict[str, str]) -> str:
    files = {}
    for key, value in [*it.options.items(), *((f"args[{k}]", v) for k, v in enumerate(it.positional))]:
        if isinstance(value, str) and _looks_like_file(key, value) and not value.startswith(REF):
            files[key] = file_sha256(c.path.parent / value)
    return input_key("campaign-item", it.analysis, it.options, it.positional,
                     c.atoms.get(it.structure) if it.structure else None, files,
                     {ref: keys[ref] for ref in it.needs})


def _not_a_user_error(task, task_run, state) -> bool:
    """Retry transient failures only: bad input or failed physics would fail again."""
    try:
        state.result()
    except NclatticeError:
        return False
    except Exception:
        return True
    return False


@task(name="campaign-item", cache_policy=NO_CACHE, retries=2,
      retry_delay_seconds=exponential_backoff(backoff_factor=5), retry_condition_fn=_not_a_user_error)
def run_item(entry: dict[str, Any], argv: list[str]) -> dict[str, Any]:
    """Run one command of the campaign (here or on a Dask worker) and mark it done.

    ``result.json`` is written last, atomically, by the item itself: an item that finished
    stays finished even if the campaign is killed while others still run.
    """
    from .cli import parser

    t0 = time.perf_counter()
    args = parser().parse_args(argv)
    print(f"[{entry['name']}] started: nclattice {' '.join(argv[:2])}", flush=True)
    rc = int(args.func(args) or 0)
    if rc != 0:
        raise NclatticeError(f"'nclattice {' '.join(argv[:2])}' exited with status {rc}; see {argv[-1]}.")
    done = {**entry, "status": "completed", "wall_s": round(time.perf_counter() - t0, 2)}
    write_json(Path(entry["result"]) / "result.json", {**done, "argv": argv, "provenance": provenance()})
    return done


class Index:
    """campaign.json, rewritten (atomically) whenever an item finishes."""

    def __init__(self, path: Path, campaign: Campaign):
        self.path, self.lock = path, threading.Lock()
        self.entries: dict[str, dict] = {}
        self.campaign = campaign

    def set(self, name: str, entry: dict) -> None:
        with self.lock:
            self.entries[name] = entry
            order = [it.name for it in self.campaign.items]
            write_json(self.path, {"campaign": self.campaign.name, "spec": str(self.campaign.path),
                                   "items": [self.entries[n] for n in order if n in self.entries]})


def _default_runner():
    from prefect.task_runners import ThreadPoolTaskRunner

    from ..tasks.md import cpu_count

    return ThreadPoolTaskRunner(max_workers=max(2, cpu_count()))


def _prepare(c: Campaign, out_dir: Path) -> tuple[dict[str, str], dict[str, dict]]:
    """Write the structures; compute every item's key; collect the items already done."""
    for sname, atoms in c.atoms.items():
        target = out_dir / "structures" / f"{sname}.extxyz"
        if not target.exists() or input_key(read_structure(target)) != input_key(atoms):
            write_structure(atoms, target)
    keys: dict[str, str] = {}
    cached: dict[str, dict] = {}
    for it in c.items:
        keys[it.name] = item_key(c, it, keys)
        done = item_dir(out_dir, it) / "result.json"
        if done.is_file():
            record = read_json(done)
            if record.get("key") == keys[it.name]:
                cached[it.name] = {k: record[k] for k in ("name", "analysis", "structure", "key", "result", "wall_s")
                                   if k in record} | {"status": "cached"}
    return keys, cached


def _finish(c: Campaign, out_dir: Path, index: Index, t_start: float) -> dict[str, Any]:
    result = {"campaign": c.name, "items": [index.entries[it.name] for it in c.items],
              "wall_s": round(time.perf_counter() - t_start, 2)}
    write_json(out_dir / "campaign.json", {**result, "spec": str(c.path), "provenance": provenance()})
    write_report(out_dir, c, result)
    return result


@flow(name="campaign", task_runner=_default_runner())
def campaign_flow(spec: str, out: str) -> dict[str, Any]:
    """Run a campaign file; returns the index written to ``out/campaign.json``."""
    t_start = time.perf_counter()
    c = load_campaign(spec)
    out_dir = Path(out).resolve()
    keys, cached = _prepare(c, out_dir)
    index = Index(out_dir / "campaign.json", c)
    futures: dict[str, Any] = {}
    total = len(c.items)
    for it in c.items:
        if it.name in cached:
            index.set(it.name, cached[it.name])
            print(f"[{len(index.entries)}/{total}] {it.name}: cached", flush=True)
            continue
        d = item_dir(out_dir, it)
        if d.exists():  # stale or half-finished: start clean
            shutil.rmtree(d)
        waits = [futures[n] for n in it.needs if n in futures]
        entry = {"name": it.name, "analysis": it.analysis, "structure": it.structure, "key": keys[it.name],
                 "result": str(item_dir(out_dir, it))}
        futures[it.name] = run_item.submit(entry, item_argv(c, it, out_dir), wait_for=waits)
    names = {id(f): n for n, f in futures.items()}
    for future in as_completed(list(futures.values())):
        name = names[id(future)]
        it = next(i for i in c.items if i.name == name)
        try:
            entry = future.result()
        except Exception as exc:
            entry = {"name": it.name, "analysis": it.analysis, "structure": it.structure, "key": keys[it.name],
                     "result": str(item_dir(out_dir, it)), "status": "failed", "error": _one_line(exc)}
        index.set(it.name, entry)
        print(f"[{len(index.entries)}/{total}] {it.name}: {entry['status']}"
              + (f" ({entry['error']})" if entry["status"] == "failed" else f" in {entry['wall_s']} s"),
              flush=True)
    result = _finish(c, out_dir, index, t_start)
    _artifact(out_dir / "report.html", result)
    return result


def _all_cached(spec: str, out: str) -> dict[str, Any] | None:
    """A finished campaign needs no orchestration: answer from the cache without starting Prefect."""
    t_start = time.perf_counter()
    c = load_campaign(spec)
    out_dir = Path(out).resolve()
    _, cached = _prepare(c, out_dir)
    if len(cached) < len(c.items):
        return None
    index = Index(out_dir / "campaign.json", c)
    for i, it in enumerate(c.items, start=1):
        index.set(it.name, cached[it.name])
        print(f"[{i}/{len(c.items)}] {it.name}: cached", flush=True)
    return _finish(c, out_dir, index, t_start)


def _one_line(exc: Exception) -> str:
    text = " ".join(line.strip() for line in str(exc).strip().splitlines())
    return text or type(exc).__name__


def _artifact(report: Path, result: dict) -> None:
    """A markdown artifact in the Prefect UI linking the report (and the item table)."""
    try:
        from prefect.artifacts import create_markdown_artifact

        rows = "\n".join(f"| {i['name']} | {i['status']} | {i.get('wall_s', '')} |" for i in result["items"])
        create_markdown_artifact(key="campaign-report", description="nclattice campaign report",
                                 markdown=f"Report: [{report}]({report.as_uri()})\n\n| item | status | wall s |\n"
                                          f"|---|---|---|\n{rows}\n")
    except Exception as exc:  # the UI link is a convenience; the report on disk is the result
        print(f"note: could not create the Prefect artifact ({exc})", file=sys.stderr)


# ----------------------------------------------------------------------------- report
def _highlights(item: dict) -> list[str]:
    d = Path(item["result"])
    out = []
    try:
        if (d / "calibration.json").exists():
            f = read_json(d / "calibration.json")["fit"]["diffraction_weighted"]
            out.append(f"slope b = {f['slope_angstrom2_per_k']:.3e} Å²/K, R² = {f['r2']:.4f}")
        if (d / "phonons.json").exists():
            s = read_json(d / "phonons.json")["lifetime_summary"]
            out.append(f"median phonon lifetime {s['median_lifetime_ps']:.2f} ps, "
                       f"{100 * s['fraction_below_1ps']:.0f} % below 1 ps")
        if (d / "delta_t.json").exists():
            peaks = read_json(d / "delta_t.json")["peaks"]
            out.append("ΔG broadening at " + ", ".join(f"{k} ({'yes' if v['broadening'] else 'no'})"
                                                      for k, v in peaks.items()))
        if (d / "spin.json").exists():
            s = read_json(d / "spin.json")
            out.append(f"relaxation energy {1000 * s['relaxation_energy_ev']:.1f} meV ({s['backend']})")
        if (d / "peak_shifts.json").exists():
            s = read_json(d / "peak_shifts.json")
            shifts = {k: v["shift_inv_angstrom"] for k, v in s.items()
                      if isinstance(v, dict) and "shift_inv_angstrom" in v}
            out.append("peak shifts (1/Å): " + ", ".join(f"({k}) {v:+.2e}" for k, v in shifts.items()))
        if (d / "ued.json").exists():
            s = read_json(d / "ued.json")
            if s.get("delta_t_k"):
                out.append(f"ΔT at the last delay {s['delta_t_k'][-1]:.1f} K")
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        out.append(f"(summary unavailable: {type(exc).__name__})")
    return out


def write_report(out: Path, c: Campaign, result: dict) -> Path:
    """report.md and report.html (figures embedded by relative path) in ``out``."""
    md = [f"# Campaign {c.name}", "", f"Spec: `{c.path}`; wall time {result['wall_s']} s.", "",
          "| item | analysis | structure | status | wall s |", "|---|---|---|---|---|"]
    body = [f"<h1>Campaign {html.escape(c.name)}</h1><p>Spec: <code>{html.escape(str(c.path))}</code>; "
            f"wall time {result['wall_s']} s.</p><table border=1 cellpadding=4><tr><th>item</th><th>analysis</th>"
            "<th>structure</th><th>status</th><th>wall s</th></tr>"]
    for item in result["items"]:
        md.append(f"| {item['name']} | {item['analysis']} | {item.get('structure') or ''} | {item['status']} | "
                  f"{item.get('wall_s', '')} |")
        body.append(f"<tr><td>{html.escape(item['name'])}</td><td>{item['analysis']}</td>"
                    f"<td>{item.get('structure') or ''}</td><td>{item['status']}</td>"
                    f"<td>{item.get('wall_s', '')}</td></tr>")
    body.append("</table>")
    for item in result["items"]:
        d = Path(item["result"])
        md += ["", f"## {item['name']} ({item['analysis']}, {item['status']})", ""]
        body.append(f"<h2>{html.escape(item['name'])} ({item['analysis']}, {item['status']})</h2>")
        if item["status"] == "failed":
            md.append(f"**Error:** {item.get('error', '')}")
            body.append(f"<p><b>Error:</b> {html.escape(item.get('error', ''))}</p>")
            continue
        for line in _highlights(item):
            md.append(f"- {line}")
            body.append(f"<p>{html.escape(line)}</p>")
        for png in sorted(d.glob("*.png")):
            rel = png.relative_to(out)
            md.append(f"![{png.stem}]({rel.as_posix()})")
            body.append(f'<figure><img src="{rel.as_posix()}" style="max-width:700px"><figcaption>{png.stem}'
                        "</figcaption></figure>")
    write_text_atomic(out / "report.md", "\n".join(md) + "\n")
    page = "<!doctype html><meta charset=utf-8><title>nclattice campaign</title>" + "\n".join(body)
    write_text_atomic(out / "report.html", page + "\n")
    return out / "report.html"


# ----------------------------------------------------------------------------- local server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_prefect_server(timeout_s: float = 120.0):
    """One Prefect server on loopback (SQLite in PREFECT_HOME) for the duration of a run.

    Sets PREFECT_API_URL for this process and for worker processes started inside the block.
    """
    import urllib.request

    from prefect.settings import PREFECT_API_URL, temporary_settings

    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_ENABLED="false")
    env.pop("PREFECT_API_URL", None)
    prefect_cli = Path(sys.executable).parent / "prefect"
    proc = subprocess.Popen([str(prefect_cli), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise NclatticeError(f"the local Prefect server did not start on port {port}.")
            time.sleep(0.5)
        old = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = url
        try:
            with temporary_settings(updates={PREFECT_API_URL: url}):
                yield url
        finally:
            if old is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = old
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


# ----------------------------------------------------------------------------- command line
def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "campaign", help="run a campaign file: nanocrystals x analyses, cached and resumable",
        description="Run every analysis of a campaign YAML file (see README: Campaigns). Finished items are "
                    "cached by their inputs; a killed campaign resumes. Writes OUT/campaign.json, "
                    "OUT/report.html and OUT/report.md.")
    p.add_argument("spec", help="campaign YAML file")
    p.add_argument("--out", default=None, help="output directory (default results/<campaign name>)")
    p.add_argument("--dask-address", help="run items on this Dask scheduler (tcp://host:port)")
    p.add_argument("--check", action="store_true", help="validate the file and stop")
    p.set_defaults(func=run)


def run_campaign(spec: str, out: str, dask_address: str | None = None) -> dict[str, Any]:
    """The campaign flow, on threads here or on a Dask cluster with one local Prefect server."""
    finished = _all_cached(spec, out)
    if finished is not None:
        return finished
    if not dask_address:
        return campaign_flow(spec=spec, out=out)
    from prefect_dask import DaskTaskRunner

    with local_prefect_server():
        return campaign_flow.with_options(task_runner=DaskTaskRunner(address=dask_address))(spec=spec, out=out)


def run(args: argparse.Namespace) -> int:
    c = load_campaign(args.spec)
    if args.check:
        print(f"{args.spec}: {len(c.structures)} structures, {len(c.items)} analyses, valid")
        return 0
    out = args.out or str(Path("results") / c.name)
    result = run_campaign(args.spec, out, dask_address=args.dask_address)
    counts = {s: sum(i["status"] == s for i in result["items"]) for s in ("completed", "cached", "failed")}
    print(f"\n{counts['completed']} completed, {counts['cached']} cached, {counts['failed']} failed "
          f"in {result['wall_s']} s")
    print(f"report: {Path(out).resolve() / 'report.html'}")
    return 1 if counts["failed"] else 0
