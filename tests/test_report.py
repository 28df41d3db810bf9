"""The campaign report: summary first, failures with their reason, published values beside ours,
and the demo's report as headless Chromium renders it (no console error, no network request,
every figure visible, every item's key number in the summary; a screenshot kept as an artefact)."""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from nclattice.cli import main
from nclattice.errors import NclatticeError
from nclattice.flows.campaign import load_campaign
from nclattice.flows.campaign_run import _call, _entry, _prepare, run_item
from nclattice.flows.outcomes import format_value
from nclattice.flows.published import ROWS, published_for
from nclattice.flows.registry import capability
from nclattice.flows.report import one_sentence, write_report

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_value_with_uncertainty_is_written_to_the_digits_its_error_allows():
    assert format_value(7.139e-5, 2.92e-7, "Å²/K") == "(7.139 ± 0.029) × 10⁻⁵ Å²/K"
    assert format_value(90.37, 1.67, "ps") == "90.4 ± 1.7 ps"
    assert format_value(14.19, None, "K") == "14.2 K"
    assert format_value(None) == "n/a"


def test_one_sentence_keeps_the_first_sentence_of_an_error():
    assert one_sentence("calibration.json has no fit 'x'. Run calibrate first.\nTraceback ...") == \
        "calibration.json has no fit 'x'."
    assert len(one_sentence("word " * 200)) <= 240


def test_published_rows_have_unique_ids_and_a_verdict_in_words():
    rows = {row.id: row for row in ROWS}
    assert len(rows) == len(ROWS)
    assert rows["occupation"].verdict == "agrees" and rows["auger-510nm-rise"].verdict == "differs"
    assert rows["phonons-4ml"].verdict == "partly agrees" and rows["random-hole-surface"].verdict == "signs agree"
    assert rows["phonons-4ml"].reason.startswith("Reduced protocol")
    for row in ROWS:
        if row.match is not None:
            capability(row.match.analysis)  # a real analysis name


REPRODUCTION = Path(__file__).resolve().parents[1] / "docs" / "reproduction"
ANALYSIS_OF_FILE = {"calibration.json": "calibrate", "delta_t.json": "delta-t", "phonons.json": "phonons",
                    "spin.json": "spin-relax", "peak_shifts.json": "polaron-diffraction",
                    "auger.json": "kinetics-auger", "trapping.json": "kinetics-trapping",
                    "occupation.json": "kinetics-occupation",
                    "state_filling.json": "kinetics-state-filling"}


def test_outcomes_of_the_committed_reproduction_results_say_what_they_computed():
    """Every committed reproduction result: one sentence, a key number, a caption for each of its figures,
    and the warnings that matter (atoms off their sites; the PbSe potential flagged too stiff)."""
    seen = set()
    for folder in sorted(p for p in REPRODUCTION.iterdir() if p.is_dir()):
        analysis = next(a for f, a in ANALYSIS_OF_FILE.items() if (folder / f).is_file())
        outcome = capability(analysis).load(folder)
        seen.add(analysis)
        assert outcome.description().endswith(".") and str(outcome.key_number()) not in ("", "n/a"), folder.name
        assert {png.name for png in folder.glob("*.png")} <= set(outcome.figures()), folder.name
        assert all(caption.endswith(".") for caption in outcome.figures().values())
        warnings = " ".join(outcome.warnings())
        if folder.name in ("calibrate-8ml", "delta-t-8ml"):
            assert "Atoms left their sites" in warnings and "(all on the surface)" in warnings
        if folder.name.startswith("pbse-"):
            assert "schapotschnikow2010-pbse is flagged 'too stiff'" in warnings
    assert len(seen) == len(ANALYSIS_OF_FILE)


def test_warnings_for_a_barely_converged_fit_and_a_provisional_potential():
    from nclattice.flows.outcomes import AugerOutcome, CalibrationOutcome

    auger = AugerOutcome.model_validate({"time_constant_ps": 10.0, "time_constant_stderr_ps": 6.0,
                                         "final_excitons_mean": 1.0})
    assert auger.warnings() == ["The fit of the heating curve barely converged: its standard error is 60 % of the "
                                "value."]
    assert str(auger.key_number()) == "10.0 ± 6.0 ps"  # two significant digits of the error
    fit = {"slope_angstrom2_per_k": 1e-4, "slope_stderr": 1e-6, "r2": 0.999}
    calibration = CalibrationOutcome.model_validate({
        "temperatures_k": [100, 200, 300], "fit": {"diffraction_weighted": fit},
        "provenance": {"potential": {"name": "pascazio2022-cspbbr3",
                                     "validation": {"status": "provisional", "summary": "not checked in bulk"}}}})
    assert calibration.warnings() == ["The potential pascazio2022-cspbbr3 is flagged 'provisional': not checked in "
                                      "bulk."]


SHORT_CDSE_CDS = """
name: paper-cdse-cds-short
analyses:
  - run: kinetics-auger
    with: {{mean-excitons: 21, tau-auger-ps: 625, n-nc: 200, seed: 0, exciton-energy-ev: 2.0, n-atoms: 10901}}
  - run: kinetics-trapping
    name: trapping-340nm-3.5ps
    with: {{mean-excitons: 100, tau-auger-ps: 625, tau-trap-ps: 3.5, n-nc: 200, seed: 0}}
  - run: ued
    name: ued-broken
    args: [{data}]
    with: {{calibration: bad_calibration.json}}
"""


def _html(out: Path) -> str:
    return (out / "report.html").read_text(encoding="utf-8")


def _run_without_prefect(spec: Path, out: Path) -> dict:
    """The campaign's items run in turn in this process (as flows/campaign_run.py's Prefect tasks would),
    then its index and report written: the report sees the same records, without a Prefect server."""
    c = load_campaign(spec)
    keys, _ = _prepare(c, out)
    records = []
    for it in c.items:
        try:
            records.append(run_item(_entry(it, keys[it.name]), _call(c, it, out)))
        except NclatticeError as exc:
            records.append({**_entry(it, keys[it.name]), "status": "failed", "error": str(exc)})
    result = {"campaign": c.name, "items": records, "wall_s": 1.0}
    write_report(out, c.name, str(spec), result, c)
    return result


def test_shortened_paper_campaign_shows_the_papers_values_and_a_failure_with_its_reason(tmp_path):
    """examples/papers/cdse_cds.yaml shortened to its model items (1 % of their ensembles; its MD items are
    the demo's, checked in the browser test below), plus an item that fails at run time."""
    (tmp_path / "bad_calibration.json").write_text(json.dumps({"fit": {}}))
    spec = tmp_path / "cdse_cds_short.yaml"
    spec.write_text(SHORT_CDSE_CDS.format(data=EXAMPLES / "cdse_cds_510nm_heating.csv"))
    out = tmp_path / "out"
    result = _run_without_prefect(spec, out)
    status = {i["name"]: i for i in result["items"]}
    assert status["ued-broken"]["status"] == "failed"
    page, md = _html(out), (out / "report.md").read_text(encoding="utf-8")
    summary = page.split('<section class="item"')[0]
    # the failure and its one-sentence reason, in the summary block
    reason = one_sentence(status["ued-broken"]["error"])
    assert "diffraction_weighted" in reason and "1 of 3 items failed" in summary
    assert html.escape(reason) in summary and reason in md
    # the paper's values beside ours, with the verdict in words (the rows of docs/reproduction.md)
    rows = {row.id: row for row in ROWS}
    for row_id in ("auger-510nm-rise", "auger-510nm-delta-t", "trapping-340nm-3.5ps"):
        row = rows[row_id]
        assert html.escape(row.published) in summary and row.verdict, row_id
        assert f'class="verdict {row.verdict.replace(" ", "-")}"' in page
        assert html.escape(row.reason[:60]) in page and row.published in md
    c = load_campaign(spec)
    auger = capability("kinetics-auger").load(out / "items" / c.items[0].name)
    # ours: the outcome's numbers with unit and uncertainty, in the same row
    assert str(auger.number("time_constant")) in summary and " ± " in str(auger.number("time_constant"))
    assert str(auger.number("delta_t_end_k")) in page


# ----------------------------------------------------------------------------- headless Chromium
def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class DevTools:
    """A page of headless Chromium driven over the DevTools protocol (127.0.0.1 only)."""

    def __init__(self, browser: str, profile: Path):
        self.process = subprocess.Popen(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={profile}",
             "--window-size=1280,1600", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as f:
            page = next(t for t in json.load(f) if t["type"] == "page")
        from websockets.sync.client import connect

        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None)
        self.next_id, self.events = 0, []

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout_s: float = 60):
        deadline = time.monotonic() + timeout_s
        while not any(e.get("method") == event for e in self.events):
            self.events.append(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self):
        self.ws.close()
        self.process.terminate()
        self.process.wait(timeout=20)


FIGURES_JS = """[...document.images].map(i => ({src: i.src.slice(0, 30), alt: i.alt, w: i.naturalWidth,
  h: i.naturalHeight, shown: i.getBoundingClientRect().width, done: i.complete}))"""


def test_demo_runs_every_capability_and_reruns_from_cache(demo_run):
    out = demo_run["out"]  # the session's demo run (conftest.py); in this file so that one xdist worker runs it once
    assert demo_run["status"] == 0
    index = json.loads((out / "campaign.json").read_text())
    analyses = {item["analysis"] for item in index["items"]}
    assert {"calibrate", "delta-t", "phonons", "spin-relax", "polaron-diffraction", "ued"} <= analyses
    assert all(item["status"] == "completed" for item in index["items"])
    report = (out / "report.html").read_text()
    for item in index["items"]:
        for png in (out / item["result"]).glob("*.png"):
            assert str(png.relative_to(out)) in report
            assert png.stat().st_size > 5000
    assert "report:" in demo_run["stdout"]
    md_runs = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("md/*/result.json")}
    assert md_runs
    assert main(["demo", "--out", str(out)]) == 0
    rerun = json.loads((out / "campaign.json").read_text())
    assert all(item["status"] == "cached" for item in rerun["items"])
    # answered from the cache: no MD run was added or rewritten
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").glob("md/*/result.json")} == md_runs


@pytest.mark.browser
def test_demo_report_in_headless_chromium(demo_run, tmp_path, capsys):
    out = demo_run["out"]
    report = out / "report.html"
    browser = DevTools(_chromium(), tmp_path / "profile")
    try:
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable")
        browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=1600, deviceScaleFactor=1, mobile=False)
        browser.call("Page.navigate", url=report.as_uri())
        browser.wait_for("Page.loadEventFired")
        figures = browser.evaluate(FIGURES_JS)
        summary = browser.evaluate("document.querySelector('#summary').innerText")
        shot = browser.call("Page.captureScreenshot", format="png",
                            clip={"x": 0, "y": 0, "width": 1280, "height": 1600, "scale": 1})
    finally:
        browser.close()
    import base64

    # the artefact: under NCLATTICE_ARTEFACTS where set (CI keeps it), else in pytest's temporary folder
    folder = Path(os.environ.get("NCLATTICE_ARTEFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    artefact = folder / "report_top.png"
    artefact.write_bytes(base64.b64decode(shot["data"]))
    with capsys.disabled():  # shown in the test output even when it passes
        print(f"\nscreenshot of the top of the demo report: {artefact}")
    errors = [e for e in browser.events
              if (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
              or e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert not errors, errors
    requests = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
    assert requests and all(url.startswith(("file:", "data:")) for url in requests), requests
    # every figure of every item: embedded, decoded (natural size > 0) and laid out on the page
    pngs = [png for item in demo_run["index"]["items"] for png in (out / item["result"]).glob("*.png")]
    assert len(figures) == len(pngs) > 0
    assert all(f["done"] and f["w"] > 0 and f["h"] > 0 and f["shown"] > 0 for f in figures), figures
    assert all(f["src"].startswith("data:image/png") and f["alt"] for f in figures)
    # the summary holds every item's key number, as its outcome writes it, and the published values of the
    # papers' quantities the demo computes (calibration, ΔG(r), phonons, spin, random hole, Auger, occupation)
    for item in demo_run["index"]["items"]:
        outcome = capability(item["analysis"]).load(out / item["result"])
        assert item["name"] in summary and str(outcome.key_number()) in summary, item["name"]
    c = load_campaign(demo_run["index"]["spec"])
    published = []
    for it in c.items:
        atoms = c.atoms.get(it.structure)
        outcome = capability(it.analysis).load(out / "items" / it.name)
        rows = published_for(it.analysis, it.settings, set(atoms.get_chemical_symbols()) if atoms else None,
                             len(atoms) if atoms else None)
        published += [row for row in rows if outcome.number(row.match.number) is not None]  # demo: no ΔT
    assert len(published) >= 7 and all(row.published in summary for row in published), published
    assert artefact.stat().st_size > 10_000
