"""Campaigns on a real Slurm (single node, scripts/slurm-local.sh) through dask-jobqueue: the same
results as a local run, a scancelled job's item recomputed with nothing lost, a refused submission
in one line before any work; LAMMPS on 2 ranks under srun."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nclattice.flows.campaign import load_campaign
from nclattice.flows.registry import capability

pytestmark = pytest.mark.slurm

CAMPAIGN = """
name: {name}
structures:
  nc: {{build: {{kind: cdse, diameter: 1.5}}}}
analyses:
  - run: delta-t
    name: dt-a
    structure: nc
    with: {{equilibration-ps: 0.2, production-ps: {prod}, seed: 11, no-anneal: true}}
  - run: delta-t
    name: dt-b
    structure: nc
    with: {{equilibration-ps: 0.2, production-ps: {prod}, seed: 12, no-anneal: true}}
slurm:
  partition: {partition}
  walltime: "00:10:00"
  memory-gb: 1
  max-jobs: 2
  interface: lo
{extra}"""


def _spec(tmp_path: Path, name: str, prod: float = 0.4, partition: str = "debug", extra: str = "") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(CAMPAIGN.format(name=name, prod=prod, partition=partition, extra=extra))
    return path


def _campaign(spec: Path, out: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nclattice", "campaign", str(spec), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def _delta_g(directory: Path) -> np.ndarray:
    return np.loadtxt(directory / "delta_g.csv", delimiter=",", skiprows=1)


def test_campaign_on_slurm_equals_the_local_run(tmp_path):
    """Two MD items as Slurm jobs give, seed for seed, the ΔG(r) of the same items run here."""
    spec = _spec(tmp_path, "slurm-same")
    proc = _campaign(spec, tmp_path / "out")
    output, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, output[-3000:]
    assert "Slurm: jobs of 1 cores" in output
    index = json.loads((tmp_path / "out" / "campaign.json").read_text())
    assert [i["status"] for i in index["items"]] == ["completed", "completed"]
    c = load_campaign(spec)
    for it in c.items:  # the same capability, called here, with the same settings and seed
        local = tmp_path / "local" / it.name
        capability(it.analysis).run(it.settings, local, structure=str(tmp_path / "out" / "structures" / "nc.extxyz"),
                                    results=str(tmp_path / "local-runs"))
        np.testing.assert_array_equal(_delta_g(local), _delta_g(tmp_path / "out" / "items" / it.name))
    assert not np.array_equal(*(_delta_g(tmp_path / "out" / "items" / n) for n in ("dt-a", "dt-b")))


def _squeue() -> list[tuple[str, str, str]]:
    out = subprocess.run(["squeue", "-h", "-o", "%i %j %T"], capture_output=True, text=True, timeout=30).stdout
    return [tuple(line.split()) for line in out.splitlines() if line.strip()]


def test_scancelled_item_is_recomputed_and_nothing_is_lost(tmp_path):
    """scancel of the job running an item: the item runs again in a new job; the campaign completes."""
    spec = _spec(tmp_path, "slurm-cancel", prod=3)
    out = tmp_path / "out"
    proc = _campaign(spec, out)
    cancelled, deadline = None, time.monotonic() + 300
    try:
        while cancelled is None and time.monotonic() < deadline and proc.poll() is None:
            for job, name, state in _squeue():
                if name == "ncl-slurm-cancel-dt-b" and state == "RUNNING":
                    subprocess.run(["scancel", job], check=True, timeout=30)
                    cancelled = job
            time.sleep(0.5)
        output, _ = proc.communicate(timeout=500)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert cancelled, "the item's job never showed up in squeue under its item name"
    assert proc.returncode == 0, output[-3000:]
    index = json.loads((out / "campaign.json").read_text())
    assert [i["status"] for i in index["items"]] == ["completed", "completed"]
    for name in ("dt-a", "dt-b"):
        assert np.isfinite(_delta_g(out / "items" / name)).all()
    assert cancelled not in [job for job, _, _ in _squeue()]


def test_refused_submission_is_one_line_and_exit_2(tmp_path):
    spec = _spec(tmp_path, "slurm-bad", partition="nowhere")
    done = subprocess.run([sys.executable, "-m", "nclattice", "campaign", str(spec), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Slurm refuses the campaign's jobs" in lines[0] and "partition" in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_jobs_that_die_before_their_worker_starts_end_the_campaign_in_one_line(tmp_path):
    """A job script that fails on the node (here: a module that is not there, exit 127) must not leave
    the campaign waiting for workers forever: one sentence naming the job's log, exit 2, no job left."""
    broken = '  prologue: ["echo \'module: nclattice-env: not found\' >&2", "exit 127"]\n'
    spec = _spec(tmp_path, "slurm-broken", extra=broken)
    done = subprocess.run([sys.executable, "-m", "nclattice", "campaign", str(spec), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "ended before their Dask worker started" in lines[0], lines
    assert "nclattice-env: not found" in lines[0] and "slurm-logs" in lines[0], lines
    assert not [j for j, name, _ in _squeue() if name.startswith("ncl-slurm-broken")]
