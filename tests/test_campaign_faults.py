"""Campaign faults: names and paths stay inside OUT, YAML mistakes name their line, records live in the
index, nothing of an unfinished item is deleted, copied outputs stay valid, one writer per OUT."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nclattice.cache import LockHeld, key_lock
from nclattice.cli import main
from nclattice.flows.campaign import CampaignError, item_key, load_campaign
from nclattice.flows.campaign_run import run_campaign

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "cdse_cds_510nm_heating.csv"

QUICK = """
name: quick
structures: {}
analyses:
  - run: kinetics-occupation
    name: occupation
    with: {gamma0-t: 1, gamma-ratio: 0.4}
  - run: polaron-diffraction
    name: polaron
    with: {model: orthorhombic, sizes: "fixed:3", samples: 1, points: 9, probe: electron}
  - run: ued
    name: ued
    args: [cdse_cds_510nm_heating.csv]
"""


def _spec(tmp_path: Path, text: str) -> Path:
    shutil.copy(DATA, tmp_path / DATA.name)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "message"), [
    (QUICK.replace("name: occupation", "name: ../../../evil"), "line 6, analyses[0].name: item name '../../../evil'"),
    (QUICK.replace("name: occupation", "name: /tmp/evil"), "must be a plain name"),
    (QUICK.replace("args: [cdse_cds_510nm_heating.csv]", "args: ['@occupation/../../../x.csv']"),
     "must name a file inside item 'occupation'"),
    (QUICK.replace("    name: ued\n", "    name: ued\n    name: again\n"), "line 13: key 'name' appears twice"),
    (QUICK.replace("gamma0-t: 1,", "gamma0-t: .nan,"), "line 7, analyses[0].with.gamma0-t: must be a finite number"),
    (QUICK.replace("gamma0-t: 1,", "gamma0-t: .inf,"), "analyses[0].with.gamma0-t: must be a finite number"),
    (QUICK.replace("structures: {}", "structures:\n  nc:\n    build: {kind: cdse, diameter: 2}\n    buidl: x"),
     "line 6, structures.nc.buidl: unknown field 'buidl' under structure 'nc'"),
    (QUICK.replace("structures: {}", "structures:\n  nc:\n    build: {kind: cdse, diameter: 2, cells: 3}"),
     "structures.nc.build: --cells does not apply to 'cdse'"),
    (QUICK.replace("structures: {}", "structures:\n  nc:\n    build: {kind: cdse, diameter: 900}"),
     "structures.nc.build: this cdse would hold about"),
    (QUICK.replace("structures: {}", "structures:\n  nc:\n    build: {kind: pbse, diameter: 2}")
     + "  - run: calibrate\n    structure: nc\n    with: {potential: zhou2013-sw}\n",
     "line 18, analyses[3].with.potential: potential 'zhou2013-sw' has no parameters for Pb"),
])
def test_check_rejects_with_file_line_and_field(tmp_path, capsys, text, message):
    spec = _spec(tmp_path, text)
    with pytest.raises(CampaignError) as info:
        load_campaign(spec)
    assert message in str(info.value)
    assert main(["campaign", str(spec), "--check"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_item_key_uses_the_validated_values(tmp_path):
    """6 and 6.0 (and '6') are one value once validated, so one key."""
    keys = []
    for value in ("6", "6.0", "'6'"):
        c = load_campaign(_spec(tmp_path, QUICK.replace("gamma-ratio: 0.4", f"gamma-ratio: {value}")))
        keys.append(item_key(c, c.items[0], {}))
    assert len(set(keys)) == 1
    c = load_campaign(_spec(tmp_path, QUICK.replace("gamma-ratio: 0.4", "gamma-ratio: 6.5")))
    assert item_key(c, c.items[0], {}) != keys[0]


def _lock_is_free(out: Path) -> bool:
    try:
        with key_lock(out, wait=False):
            return True
    except LockHeld:
        return False


def _second_writer_refuses_then_the_lock_dies_with_its_holder(spec: Path, out: Path, capsys) -> None:
    hold = ("import sys, time\nfrom nclattice.cache import key_lock\n"
            "with key_lock(sys.argv[1], wait=False):\n    print('held', flush=True)\n    time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        assert main(["campaign", str(spec), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert f"another campaign (pid {holder.pid})" in err and len(err.splitlines()) == 1
    finally:
        holder.kill()  # kill -9: no clean-up runs, the OS releases the lock
        holder.wait()
    assert _lock_is_free(out)
    assert main(["campaign", str(spec), "--out", str(out)]) == 0
    assert "0 completed, 3 cached" in capsys.readouterr().out
    assert _lock_is_free(out)


@pytest.mark.slow
def test_records_resume_copy_and_truncation(tmp_path, capsys):
    spec = _spec(tmp_path, QUICK)
    out = tmp_path / "out"
    # leftovers of an earlier, killed run (a checkpoint) must survive: resume never deletes
    checkpoint = out / "items" / "polaron" / ".progress" / "keep.npz"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"checkpoint")
    first = run_campaign(str(spec), str(out))
    assert [i["status"] for i in first["items"]] == ["completed"] * 3
    assert checkpoint.read_bytes() == b"checkpoint"
    # the item records live in the index; polaron-diffraction's own result.json is its summary
    own = json.loads((out / "items" / "polaron" / "result.json").read_text())
    assert "peak_shifts" in own and "status" not in own
    index = json.loads((out / "campaign.json").read_text())
    assert [i["result"] for i in index["items"]] == ["items/occupation", "items/polaron", "items/ued"]
    report = (out / "report.md").read_text()
    assert "SYNTHETIC" in report and "Debye–Waller plot (3.1 mJ/cm² series)" in report
    assert _lock_is_free(out)
    _second_writer_refuses_then_the_lock_dies_with_its_holder(spec, out, capsys)

    # a copied output directory is still complete: everything cached, its report rebuilt in place
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shutil.rmtree(out)
    again = run_campaign(str(spec), str(copy))
    assert [i["status"] for i in again["items"]] == ["cached"] * 3
    assert "items/ued/dw_vs_q2.png" in (copy / "report.html").read_text()

    # a truncated result file is recomputed, not trusted; a truncated index is not a crash
    summary = copy / "items" / "occupation" / "occupation.json"
    summary.write_text(summary.read_text()[:40])
    (copy / "campaign.json").write_text('{"campaign": "quick", "items": [{"name": "ued", "ke')
    third = run_campaign(str(spec), str(copy))
    assert {i["name"]: i["status"] for i in third["items"]} == {"occupation": "completed", "polaron": "completed",
                                                               "ued": "completed"}
    assert json.loads(summary.read_text())["p0"] > 0


def test_help_texts_stand_on_their_own():
    from nclattice.cli import parser

    p = parser("*")
    texts = [p.format_help()]
    stack = [p]
    while stack:
        for action in stack.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    texts.append(sub.format_help())
                    stack.append(sub)
    assert len(texts) > 15
    for text in texts:
        for word in ("SCIENCE" + ".md", "DESIGN" + ".md", "seed " + "00"):
            assert word not in text
