"""The campaign report: OUT/report.html (one self-contained page) and OUT/report.md.

Numbers first: a summary of the campaign (what ran, failures with their reason, each item's key
number with unit and uncertainty), then one section per item built from its typed outcome
(flows/outcomes.py): a one-sentence description, warnings, the headline numbers, the published
value beside ours where the item computes a published quantity (flows/published.py, the same
rows as docs/reproduction.md), figures with captions, and the provenance folded away. The HTML
page embeds its figures and styles (no network access); the Markdown links the figures by paths
relative to OUT.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomicio import write_text_atomic
from ..errors import NclatticeError
from .outcomes import Number, Outcome
from .published import Published, published_for

if TYPE_CHECKING:
    from .campaign import Campaign, Item


@dataclass
class Section:
    """One campaign item as the report shows it."""

    name: str
    analysis: str
    structure: str | None
    status: str
    wall_s: float | None
    folder: str  # relative to OUT
    error: str = ""
    outcome: Outcome | None = None
    published: list[tuple[Published, Number]] = field(default_factory=list)
    recipe: str = ""
    settings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == "failed" or self.outcome is None


def one_sentence(text: str, limit: int = 240) -> str:
    """The first sentence of an error message, at most ``limit`` characters."""
    text = " ".join(text.split())
    found = re.match(r"(.+?[.!?])(\s|$)", text)
    sentence = found.group(1) if found else text
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


def _recipe(c: Campaign | None, structure: str | None) -> str:
    if c is None or structure is None or structure not in c.structures:
        return ""
    definition = c.structures[structure]
    if "file" in definition:
        return f"file {definition['file']}"
    options = ", ".join(f"{k} {v}" for k, v in definition["build"].items() if k != "kind")
    return f"nclattice build {definition['build']['kind']} ({options})"


def _settings(it: Item | None) -> list[tuple[str, str]]:
    if it is None:
        return []
    values = it.settings.canonical()
    return [(it.settings.option_name(k), str(v)) for k, v in values.items() if v is not None and v != []]


def _published(it: Item | None, c: Campaign | None, outcome: Outcome) -> list[tuple[Published, Number]]:
    if it is None:
        return []
    atoms = c.atoms.get(it.structure) if c is not None and it.structure else None
    elements = set(atoms.get_chemical_symbols()) if atoms is not None else None
    rows = published_for(it.analysis, it.settings, elements, len(atoms) if atoms is not None else None)
    return [(row, ours) for row in rows if (ours := outcome.number(row.match.number)) is not None]


def sections(out: Path, result: dict[str, Any], campaign: Campaign | None = None) -> list[Section]:
    """The report's sections, each from the item's record in the campaign index and its typed outcome."""
    from .registry import capability

    items = {it.name: it for it in campaign.items} if campaign is not None else {}
    found = []
    for record in result["items"]:
        it = items.get(record["name"])
        s = Section(record["name"], record["analysis"], record.get("structure"), record["status"],
                    record.get("wall_s"), record.get("result", f"items/{record['name']}"),
                    error=record.get("error", ""), recipe=_recipe(campaign, record.get("structure")),
                    settings=_settings(it))
        if s.status != "failed":
            try:
                s.outcome = capability(s.analysis).load(out / s.folder)
            except NclatticeError as exc:
                s.status, s.error = "failed", str(exc)
        if s.outcome is not None:
            s.published = _published(it, campaign, s.outcome)
        found.append(s)
    return found


def _figures(out: Path, s: Section) -> list[tuple[Path, str]]:
    """(file, caption) of the item's figures: the outcome's captions first, then any other PNG."""
    folder = out / s.folder
    captions = s.outcome.figures() if s.outcome is not None else {}
    named = [(folder / name, caption) for name, caption in captions.items() if (folder / name).is_file()]
    others = [(png, f"{png.stem.replace('_', ' ')}.") for png in sorted(folder.glob("*.png"))
              if png.name not in captions]
    return named + others


def write_report(out: Path, name: str, spec: str, result: dict, campaign: Campaign | None = None) -> Path:
    """report.html (self-contained) and report.md in ``out``; returns the HTML file."""
    found = sections(out, result, campaign)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    write_text_atomic(out / "report.md", _markdown(out, name, spec, result, found, when))
    write_text_atomic(out / "report.html", _html(out, name, spec, result, found, when))
    return out / "report.html"


def _counts(found: list[Section]) -> str:
    counts = {k: sum(s.status == k for s in found) for k in ("completed", "cached", "failed")}
    return ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "nothing"


def _key(s: Section) -> str:
    if s.failed:
        return f"failed: {one_sentence(s.error)}"
    key = s.outcome.key_number()
    return f"{key.label}: {key}"


def _versions(found: list[Section]) -> str:
    return next((v for s in found if s.outcome is not None and (v := s.outcome.code_version())), "")


# ----------------------------------------------------------------------------- Markdown
def _markdown(out: Path, name: str, spec: str, result: dict, found: list[Section], when: str) -> str:
    md = [f"# Campaign {name}", "",
          f"{when} · spec `{spec}` · {len(found)} items: {_counts(found)} · wall time {result['wall_s']:.0f} s"
          + (f" · {_versions(found)}" if _versions(found) else ""), "", "## Summary", ""]
    failed = [s for s in found if s.failed]
    if failed:
        md += [f"**{len(failed)} failed:**", ""] + [f"- {s.name}: {one_sentence(s.error)}" for s in failed] + [""]
    md += ["| item | analysis | key number | published |", "|---|---|---|---|"]
    for s in found:
        pub = "; ".join(f"{row.published} ({row.verdict or 'see note'})" for row, _ in s.published)
        md.append(f"| [{s.name}](#{s.name}) | {s.analysis} | {_key(s)} | {pub} |".replace("\n", " "))
    if any(s.published for s in found):
        md += ["", f"*{VERDICT_SOURCE}*"]
    for s in found:
        md += ["", f"## {s.name}", "", f"*{s.analysis}" + (f" on {s.structure}" if s.structure else "")
               + f", {s.status}*", ""]
        if s.failed:
            md += [f"**Failed:** {s.error}", ""]
            continue
        md += [f"> **Warning:** {w}" for w in s.outcome.warnings()]
        md += ["", s.outcome.description(), "", "| quantity | value |", "|---|---|"]
        md += [f"| {n.label} | {n} |" for n in s.outcome.numbers()]
        if s.published:
            md += ["", "| paper | quantity | published | ours | agreement |", "|---|---|---|---|---|"]
            md += [f"| {row.paper} | {row.quantity} | {row.published} | {ours} | {row.note} |"
                   for row, ours in s.published]
        for i, (png, caption) in enumerate(_figures(out, s), start=1):
            md += ["", f"![{caption}]({png.relative_to(out).as_posix()})", "", f"*Figure {i}. {caption}*"]
        md += ["", "Provenance:", ""] + [f"- {label}: {text}" for label, text in _provenance(s)]
    return "\n".join(md) + "\n"


def _provenance(s: Section) -> list[tuple[str, str]]:
    rows = [("recipe", s.recipe)] if s.recipe else []
    rows += s.outcome.provenance_items() if s.outcome is not None else []
    if s.settings:
        rows.append(("settings", "; ".join(f"{k} = {v}" for k, v in s.settings)))
    if s.wall_s is not None:
        rows.append(("wall time", f"{s.wall_s:.1f} s" + (" (cached from an earlier run)" if s.status == "cached"
                                                          else "")))
    rows.append(("files", s.folder + "/"))
    return rows


VERDICT_SOURCE = ("Published values as the papers give them; the agreement in words is the verdict of nclattice's "
                  "reproduction of that quantity at the paper's size and protocol (docs/reproduction.md), which "
                  "this item's structure and settings may not match.")


# ----------------------------------------------------------------------------- HTML
STYLE = """
:root { --ink: #1d232b; --muted: #5b6573; --line: #d9dee5; --accent: #1f5f99; --warn-bg: #fff6dc;
        --warn-line: #d7a100; --fail-bg: #fdecea; --fail-line: #c62828; --ok: #2e7d32; --part: #9a6700; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); margin: 0 auto; max-width: 62rem; padding: 1.5rem 1.5rem 4rem; }
h1 { font-size: 1.7rem; margin: 0 0 .2rem; }
h2 { font-size: 1.25rem; margin: 0 0 .4rem; }
.meta, .sub { color: var(--muted); font-size: .9rem; margin: 0 0 1rem; }
code { font-size: .85em; background: #f3f5f8; padding: 0 .25em; border-radius: 3px; word-break: break-all; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: .92rem; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
th { font-weight: 600; color: var(--muted); font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
a { color: var(--accent); text-decoration: none; }
.summary { border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.25rem .25rem; margin: 1rem 0 2rem;
           background: #fafbfc; }
.failures { background: var(--fail-bg); border-left: 4px solid var(--fail-line); padding: .5rem .9rem;
            margin: .25rem 0 1rem; border-radius: 4px; }
.failures ul, .warnings ul { margin: .2rem 0; padding-left: 1.2rem; }
.warnings { background: var(--warn-bg); border-left: 4px solid var(--warn-line); padding: .5rem .9rem;
            margin: .5rem 0 1rem; border-radius: 4px; font-size: .92rem; }
.status { font-size: .75rem; font-weight: 600; padding: .05rem .45rem; border-radius: 999px; white-space: nowrap;
          border: 1px solid currentColor; }
.status.completed, .status.cached { color: var(--ok); }
.status.failed { color: var(--fail-line); }
.verdict { font-weight: 600; white-space: nowrap; }
.verdict.agrees, .verdict.signs-agree { color: var(--ok); }
.verdict.partly-agrees { color: var(--part); }
.verdict.differs { color: var(--fail-line); }
.note { color: var(--muted); font-size: .85rem; }
a.warned { color: var(--part); font-size: .8rem; font-weight: 600; }
section.item { border-top: 2px solid var(--line); padding-top: 1.2rem; margin-top: 1.6rem; }
.what { font-size: 1rem; margin: .3rem 0 .6rem; }
table.numbers { width: auto; min-width: 60%; }
table.published { table-layout: fixed; }
.published th:nth-child(1) { width: 15%; } .published th:nth-child(2) { width: 18%; }
.published th:nth-child(3) { width: 15%; } .published th:nth-child(4) { width: 17%; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; display: block; }
figcaption { color: var(--muted); font-size: .88rem; margin-top: .3rem; }
details { margin: .5rem 0; border: 1px solid var(--line); border-radius: 6px; padding: .4rem .8rem; }
details summary { cursor: pointer; color: var(--accent); font-weight: 600; }
dl { display: grid; grid-template-columns: 9rem 1fr; gap: .25rem .8rem; margin: .6rem 0; font-size: .88rem; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
@media (max-width: 40rem) { dl { grid-template-columns: 1fr; } body { padding: 1rem; } }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  a { color: inherit; }
  .summary { background: none; }
  section.item { break-before: page; border-top: none; }
  figure, tr, .warnings, .failures { break-inside: avoid; }
  h2 { break-after: avoid; }
  details { border: none; padding: 0; }
  details::details-content { content-visibility: visible; display: block; }
  details summary { color: inherit; }
  figure img { max-height: 16cm; width: auto; }
}
"""


def _e(text: Any) -> str:
    return html.escape(str(text))


def _verdict(row: Published) -> str:
    word = row.verdict
    return f'<span class="verdict {word.replace(" ", "-")}">{_e(word)}</span>' if word else ""


def _data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _html(out: Path, name: str, spec: str, result: dict, found: list[Section], when: str) -> str:
    versions = _versions(found)
    body = [f"<header><h1>Campaign {_e(name)}</h1>",
            f'<p class="meta">{_e(when)} · {len(found)} items: {_e(_counts(found))} · wall time '
            f"{result['wall_s']:.0f} s · spec <code>{_e(spec)}</code>"
            + (f" · {_e(versions)}" if versions else "") + "</p></header>",
            _summary(found)]
    body += [_section(out, s, i) for i, s in enumerate(found, start=1)]
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>nclattice campaign {_e(name)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _summary(found: list[Section]) -> str:
    failed = [s for s in found if s.failed]
    parts = ['<section class="summary" id="summary"><h2>Summary</h2>']
    if failed:
        parts.append(f'<div class="failures"><strong>{len(failed)} of {len(found)} items failed</strong><ul>'
                     + "".join(f'<li><a href="#{_e(s.name)}">{_e(s.name)}</a>: {_e(one_sentence(s.error))}</li>'
                               for s in failed) + "</ul></div>")
    parts.append("<table><tr><th>item</th><th>computed</th><th>key number</th><th>published</th>"
                 "<th>status</th></tr>")
    for s in found:
        if s.failed:
            key = f"<td colspan=2>{_e(one_sentence(s.error))}</td>"
        else:
            k = s.outcome.key_number()
            pub = "<br>".join(f"{_e(row.published)} {_verdict(row)}" for row, _ in s.published)
            key = f'<td><span class="note">{_e(k.label)}</span><br><span class="num">{_e(k)}</span></td><td>{pub}</td>'
        on = f" on {_e(s.structure)}" if s.structure else ""
        n_warnings = 0 if s.failed else len(s.outcome.warnings())
        warned = (f'<br><a class="warned" href="#{_e(s.name)}">{n_warnings} warning{"s" * (n_warnings > 1)}</a>'
                  if n_warnings else "")
        parts.append(f'<tr><td><a href="#{_e(s.name)}">{_e(s.name)}</a></td><td>{_e(s.analysis)}{on}</td>{key}'
                     f'<td><span class="status {_e(s.status)}">{_e(s.status)}</span>{warned}</td></tr>')
    parts.append("</table>")
    if any(s.published for s in found):
        parts.append(f'<p class="note">{_e(VERDICT_SOURCE)}</p>')
    parts.append("</section>")
    return "\n".join(parts)


def _section(out: Path, s: Section, index: int) -> str:
    on = f" on {_e(s.structure)}" if s.structure else ""
    parts = [f'<section class="item" id="{_e(s.name)}"><h2>{index}. {_e(s.name)} '
             f'<span class="status {_e(s.status)}">{_e(s.status)}</span></h2>',
             f'<p class="sub">{_e(s.analysis)}{on}</p>']
    if s.failed:
        parts.append(f'<div class="failures"><strong>Failed:</strong> {_e(s.error)}</div>')
        parts.append(_details(s))
        return "\n".join([*parts, "</section>"])
    o = s.outcome
    warnings = o.warnings()
    if warnings:
        parts.append('<div class="warnings"><strong>Warnings</strong><ul>'
                     + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul></div>")
    parts.append(f'<p class="what">{_e(o.description() or o.headline())}</p>')
    parts.append('<table class="numbers"><tr><th>quantity</th><th>value</th></tr>'
                 + "".join(f'<tr><td>{_e(n.label)}</td><td class="num">{_e(n)}</td></tr>' for n in o.numbers())
                 + "</table>")
    if s.published:
        parts.append('<table class="published"><tr><th>paper</th><th>quantity</th><th>published</th><th>ours</th>'
                     "<th>agreement (docs/reproduction.md)</th></tr>"
                     + "".join(f"<tr><td>{_e(row.paper)}</td><td>{_e(row.quantity)}</td><td>{_e(row.published)}"
                               f'</td><td><span class="note">{_e(ours.label)}</span><br>{_e(ours)}</td>'
                               f'<td>{_verdict(row)} <span class="note">{_e(row.reason)}</span></td></tr>'
                               for row, ours in s.published)
                     + f'</table><p class="note">{_e(VERDICT_SOURCE)}</p>')
    for i, (png, caption) in enumerate(_figures(out, s), start=1):
        rel = png.relative_to(out).as_posix()
        parts.append(f'<figure><img src="{_data_uri(png)}" alt="{_e(caption)}">'
                     f"<figcaption><strong>Figure {index}.{i}.</strong> {_e(caption)} "
                     f'<a href="{_e(rel)}">{_e(rel)}</a></figcaption></figure>')
    parts.append(_details(s))
    return "\n".join([*parts, "</section>"])


def _details(s: Section) -> str:
    rows = "".join(f"<dt>{_e(label)}</dt><dd>{_e(text)}</dd>" for label, text in _provenance(s))
    return f"<details><summary>Provenance</summary><dl>{rows}</dl></details>"
