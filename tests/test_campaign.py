"""Campaigns: validation before work, caching, changed inputs, kill -9 and resume, Dask, deployments."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nclattice.cli import main
from nclattice.flows.campaign import CampaignError, load_campaign
from nclattice.flows.campaign_run import run_campaign
from nclattice.flows.report import one_sentence

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DATA = ROOT / "examples" / "cdse_cds_510nm_heating.csv"


def _spec(tmp_path, text, name="c.yaml"):
    shutil.copy(EXAMPLE_DATA, tmp_path / EXAMPLE_DATA.name)
    path = tmp_path / name
    path.write_text(text)
    return path


TINY = """
name: tiny
structures:
  cs:
    build: {{kind: cdse-cds, core-diameter: 1.5, shell-ml: 1}}
analyses:
  - run: calibrate
    structure: cs
    with: {{temperatures: "{temps}", equilibration-ps: 1, production-ps: {prod}}}
  - run: kinetics-occupation
    with: {{gamma0-t: 1, gamma-ratio: 0.4}}
  - run: ued
    args: [cdse_cds_510nm_heating.csv]
    with: {{calibration: "@cs-calibrate/calibration.json"}}
"""


@pytest.mark.parametrize(("patch", "message"), [
    (("kind: cdse-cds", "kind: gaas"), "line 5, structures.cs.build.kind: must be one of 'cdse', 'cdse-cds'"),
    (('"200,300,400"', '"200,-300,400"'), "line 9, analyses[0].with.temperatures: temperatures must be positive"),
    (("[cdse_cds_510nm_heating.csv]", "[missing.csv]"), "line 13, analyses[2].args: file 'missing.csv' does not exist"),
    (("run: kinetics-occupation", "run: kinetics-nonsense"), "line 10, analyses[1].run: unknown analysis"),
    (("@cs-calibrate/", "@nowhere/"), "analyses[2].with.calibration: refers to unknown item 'nowhere'"),
    (("gamma0-t: 1", "gamma0-z: 1"), "line 11, analyses[1].with.gamma0-z: unknown option; the options are"),
])
def test_invalid_campaign_is_rejected_before_any_work(tmp_path, capsys, patch, message):
    spec = _spec(tmp_path, TINY.format(temps="200,300,400", prod=3).replace(*patch))
    with pytest.raises(CampaignError) as info:
        load_campaign(spec)
    assert message in str(info.value)
    out = tmp_path / "out"
    assert main(["campaign", str(spec), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_rerun_is_cached_and_a_changed_input_recomputes_only_new_work(tmp_path):
    spec = _spec(tmp_path, TINY.format(temps="200,300,400", prod=3))
    out = tmp_path / "out"
    first = run_campaign(str(spec), str(out))
    assert [i["status"] for i in first["items"]] == ["completed"] * 3
    index = json.loads((out / "campaign.json").read_text())
    assert {"name", "status", "key", "result", "wall_s"} <= set(index["items"][0])
    report = (out / "report.html").read_text()
    assert "calibration.png" in report and "dw_vs_q2.png" in report

    runs = out / "runs" / "md"
    before = {p.name: (p / "result.json").stat().st_mtime_ns for p in runs.iterdir()}
    second = run_campaign(str(spec), str(out))
    assert [i["status"] for i in second["items"]] == ["cached"] * 3
    # a cached re-run does no simulation work: no MD run is added or rewritten
    assert {p.name: (p / "result.json").stat().st_mtime_ns for p in runs.iterdir()} == before
    spec.write_text(TINY.format(temps="200,300,400,450", prod=3))
    third = run_campaign(str(spec), str(out))
    statuses = {i["name"]: i["status"] for i in third["items"]}
    # the calibration and the analysis that uses it change; the kinetics item does not
    assert statuses == {"cs-calibrate": "completed", "kinetics-occupation-1": "cached", "ued-2": "completed"}
    assert len({p.name for p in runs.iterdir()} - set(before)) == 1  # one new MD run: 450 K


def _our_prefect_servers() -> list[int]:
    """Pids of `prefect server start` processes using this test session's PREFECT_HOME."""
    pids = []
    for d in Path("/proc").iterdir():
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
            env = (d / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"server" in cmd and b"start" in cmd and f"PREFECT_HOME={os.environ['PREFECT_HOME']}".encode() in env:
            pids.append(int(d.name))
    return pids


def test_kill_minus_nine_then_resume(tmp_path):
    spec = _spec(tmp_path, TINY.format(temps="150,200,250,300,350,400,450,500", prod=10))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "nclattice", "campaign", str(spec), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    slow = out / "items" / "cs-calibrate" / "calibration.json"

    def fast_recorded() -> bool:  # the index holds the record of the finished fast item
        try:
            items = json.loads((out / "campaign.json").read_text())["items"]
        except (OSError, ValueError, KeyError):
            return False
        return any(i["name"] == "kinetics-occupation-1" and i["status"] == "completed" for i in items)

    deadline = time.monotonic() + 240
    while not fast_recorded() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert fast_recorded(), "the fast item should finish first"
    assert not slow.exists(), "the calibration should still be running when killed"
    assert _our_prefect_servers(), "the campaign runs against its own local Prefect server"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while _our_prefect_servers() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _our_prefect_servers(), "kill -9 of the campaign must not leave its Prefect server running"
    assert not slow.exists()
    resumed = run_campaign(str(spec), str(out))
    statuses = {i["name"]: i["status"] for i in resumed["items"]}
    assert statuses == {"cs-calibrate": "completed", "kinetics-occupation-1": "cached", "ued-2": "completed"}


def test_failed_item_is_reported_and_others_complete(tmp_path):
    """An item that fails at run time (a calibration file without the fit it names) fails alone."""
    (tmp_path / "bad_calibration.json").write_text(json.dumps({"fit": {}}))
    text = TINY.format(temps="200,300,400", prod=3).replace(
        "- run: kinetics-occupation", "- run: ued\n    name: broken\n    args: [cdse_cds_510nm_heating.csv]\n"
        "    with: {calibration: bad_calibration.json}\n  - run: kinetics-occupation")
    out = tmp_path / "out"
    result = run_campaign(str(_spec(tmp_path, text)), str(out))
    statuses = {i["name"]: i for i in result["items"]}
    assert statuses["broken"]["status"] == "failed" and "diffraction_weighted" in statuses["broken"]["error"]
    assert statuses["cs-calibrate"]["status"] == "completed" and statuses["ued-3"]["status"] == "completed"
    # the summary names the failure with its one-sentence reason (flows/report.py)
    summary = (out / "report.md").read_text().split("\n## ")[1]
    assert summary.startswith("Summary") and f"- broken: {one_sentence(statuses['broken']['error'])}" in summary


def test_dask_cluster_runs_the_same_campaign(tmp_path):
    from distributed import LocalCluster

    spec = _spec(tmp_path, TINY.format(temps="200,300,400", prod=2))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = run_campaign(str(spec), str(tmp_path / "out"), dask_address=cluster.scheduler_address)
    assert [i["status"] for i in result["items"]] == ["completed"] * 3
    assert (tmp_path / "out" / "items" / "ued-2" / "ued.json").exists()
