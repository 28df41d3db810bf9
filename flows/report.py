"""The campaign report: report.md and report.html in OUT, figures linked by paths relative to OUT."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ..atomicio import write_text_atomic
from ..results import read_json


def _ued_notes(d: Path, s: dict[str, Any]) -> list[str]:
    out = []
    synthetic = [Path(p).name for p in s.get("inputs", {}).get("data", []) if _is_synthetic(Path(p))]
    if synthetic:
        out.append(f"data {', '.join(synthetic)}: SYNTHETIC example data (forward model + noise), not a measurement")
    fluence = s.get("primary_fluence_mj_cm2")
    if fluence is not None:
        out.append(f"the ΔT(t) and −ln(I/I0) figures show the {fluence:g} mJ/cm² series")
    if s.get("delta_t_k"):
        out.append(f"ΔT at the last delay {s['delta_t_k'][-1]:.1f} K")
    return out


def _is_synthetic(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            return f.readline().upper().startswith("# SYNTHETIC")
    except OSError:
        return False


def highlights(d: Path) -> list[str]:
    """One-line results of the files an item wrote in ``d``."""
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
            out += _ued_notes(d, read_json(d / "ued.json"))
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        out.append(f"(summary unavailable: {type(exc).__name__})")
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
        for line in highlights(d):
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
