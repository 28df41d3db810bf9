"""The campaign report: report.md and report.html in OUT, figures linked by paths relative to OUT."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ..atomicio import write_text_atomic


def _ued_notes(s: dict[str, Any]) -> list[str]:
    out = []
    synthetic = [Path(p).name for p in s.get("inputs", {}).get("data", []) if _is_synthetic(Path(p))]
    if synthetic:
        out.append(f"data {', '.join(synthetic)}: SYNTHETIC example data (forward model + noise), not a measurement")
    fluence = s.get("primary_fluence_mj_cm2")
    if fluence is not None:
        out.append(f"the ΔT(t) and −ln(I/I0) figures show the {fluence:g} mJ/cm² series")
    return out


def _is_synthetic(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            return f.readline().upper().startswith("# SYNTHETIC")
    except OSError:
        return False


def highlights(d: Path, analysis: str) -> list[str]:
    """The item's headline (from its typed result record) and, for UED, what the data and figures are."""
    from ..errors import NclatticeError
    from .registry import capability

    try:
        outcome = capability(analysis).load(d)
    except NclatticeError as exc:
        return [f"(summary unavailable: {exc})"]
    out = [outcome.headline()]
    if analysis == "ued":
        out += _ued_notes(outcome.model_dump())
    return out


def write_report(out: Path, name: str, spec: str, result: dict) -> Path:
    """report.md and report.html (figures embedded by relative path) in ``out``."""
    md = [f"# Campaign {name}", "", f"Spec: `{spec}`; wall time {result['wall_s']} s.", "",
          "| item | analysis | structure | status | wall s |", "|---|---|---|---|---|"]
    body = [f"<h1>Campaign {html.escape(name)}</h1><p>Spec: <code>{html.escape(spec)}</code>; "
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
        d = out / item["result"]
        md += ["", f"## {item['name']} ({item['analysis']}, {item['status']})", ""]
        body.append(f"<h2>{html.escape(item['name'])} ({item['analysis']}, {item['status']})</h2>")
        if item["status"] == "failed":
            md.append(f"**Error:** {item.get('error', '')}")
            body.append(f"<p><b>Error:</b> {html.escape(item.get('error', ''))}</p>")
            continue
        for line in highlights(d, item["analysis"]):
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
