"""Every deployment in prefect.yaml is registered against one local Prefect API and run to completion
by a process worker, with tiny inputs passed as parameters."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from nclattice.flows.prefect_server import local_prefect_server
from nclattice.structio import write_structure
from nclattice.structures import build_cdse, build_cdse_cds

ROOT = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).parent / "prefect")
OCCUPATION_ONLY = """name: tiny
structures: {}
analyses:
  - run: kinetics-occupation
    with: {gamma0-t: 1}
"""


def tiny_parameters(tmp: Path) -> dict[str, dict]:
    """Per deployment: parameters small enough for seconds of work (inputs written here)."""
    nc = str(write_structure(build_cdse_cds(1.5, 1), tmp / "cs.extxyz"))
    small = str(write_structure(build_cdse(1.2), tmp / "cdse.extxyz"))
    (tmp / "tiny.yaml").write_text(OCCUPATION_ONLY)
    md = {"equilibration-ps": 0.2, "production-ps": 0.4, "sample-every-fs": 20}
    return {
        "calibration-campaign": {"spec": str(tmp / "tiny.yaml"), "out": str(tmp / "cc")},
        "campaign": {"spec": str(tmp / "tiny.yaml"), "out": str(tmp / "c")},
        "calibration": {"structure": nc, "out": str(tmp / "cal"), "settings": {"temperatures": "200,300,400", **md}},
        "delta-t": {"structure": nc, "out": str(tmp / "dt"), "settings": md},
        "phonons": {"structure": small, "out": str(tmp / "ph"),
                    "settings": {"equilibration-ps": 0.2, "md-ps": 0.4, "window-ps": 0.2, "fmax": 1e-3}},
        "spin-relax": {"structure": str(ROOT / "examples" / "cs4pbbr6.extxyz"), "out": str(tmp / "spin"),
                       "settings": {"fmax": 0.1}},
        "polaron-diffraction": {"out": str(tmp / "pol"), "settings": {
            "model": "orthorhombic", "sizes": "fixed:3", "samples": 1, "points": 9, "probe": "electron"}},
        "ued-comparison": {"data": [str(ROOT / "examples" / "cdse_cds_510nm_heating.csv")], "out": str(tmp / "ued"),
                           "settings": {"calibration": str(ROOT / "examples" / "calibration_synthetic.json")}},
    }


@pytest.mark.slow
def test_every_deployment_registers_and_runs(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    params = tiny_parameters(tmp_path)
    assert {d["name"] for d in spec["deployments"]} == set(params), "every deployment needs a tiny run here"
    entry = {d["name"]: d["entrypoint"] for d in spec["deployments"]}
    with local_prefect_server():
        env = dict(os.environ)
        subprocess.run([PREFECT, "work-pool", "create", "nclattice-local", "--type", "process"], cwd=ROOT, env=env,
                       check=True, capture_output=True, timeout=300)
        deploy = subprocess.run([PREFECT, "--no-prompt", "deploy", "--all"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=600)
        assert deploy.returncode == 0, deploy.stdout[-2000:] + deploy.stderr[-2000:]
        runs = {}
        for d in spec["deployments"]:
            flow_name = _flow_name(entry[d["name"]])
            runs[d["name"]] = run_deployment(f"{flow_name}/{d['name']}", parameters=params[d["name"]], timeout=0)
        worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", "nclattice-local", "--limit", "2"],
                                  cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        try:
            states = _wait_for_final_states(get_client(sync_client=True), runs, timeout_s=900)
        finally:
            os.killpg(worker.pid, 15)
            worker.wait(timeout=60)
    failed = {name: str(state) for name, state in states.items() if state.type.value != "COMPLETED"}
    assert not failed, failed
    assert (tmp_path / "pol" / "peak_shifts.json").exists() and (tmp_path / "cal" / "calibration.json").exists()
    assert (tmp_path / "c" / "campaign.json").exists() and (tmp_path / "ued" / "ued.json").exists()


def _flow_name(entrypoint: str) -> str:
    from importlib import import_module

    module, _, attr = entrypoint.partition(":")
    return getattr(import_module(module), attr).name


def _wait_for_final_states(client, runs: dict, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        states = {name: client.read_flow_run(run.id).state for name, run in runs.items()}
        if all(s.is_final() for s in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(2)
