"""Test configuration: Prefect stays inside a temporary home, telemetry off.

Under pytest-xdist (scripts/dev.sh test runs two processes) every worker gets a Prefect home of
its own, so two ephemeral Prefect servers never share one database; temporary folders are per
test already, and LAMMPS worker slots are file locks shared safely across processes.
"""

from __future__ import annotations

import os
import tempfile

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix=f"nclattice-prefect-{os.environ['PYTEST_XDIST_WORKER']}-")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="nclattice-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def pytest_configure(config):
    """A required program that is missing stops the run here, in the main process: raised in an
    xdist worker's collection it would surface only as a crashed worker."""
    import shutil

    from nclattice.tasks.cp2k_backend import find_cp2k

    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    for variable, present, what in (
            ("NCLATTICE_REQUIRE_CP2K", lambda: find_cp2k() is not None, "the cp2k program is not on PATH"),
            ("NCLATTICE_REQUIRE_BROWSER", lambda: bool(shutil.which("chromium") or shutil.which("chromium-browser")),
             "chromium is not on PATH"),
            ("NCLATTICE_REQUIRE_SLURM", slurm_answers, "no Slurm answers (sinfo; scripts/slurm-local.sh start)")):
        if os.environ.get(variable) == "1" and not present():
            raise pytest.UsageError(f"{variable}=1 but {what}; install or start it so its tests run.")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cp2k`` or ``browser`` skip where their program is missing, with the way to install it;
    with NCLATTICE_REQUIRE_CP2K=1 / NCLATTICE_REQUIRE_BROWSER=1 (set by .ci/run where it can install them)
    they fail instead."""
    import shutil

    from nclattice.tasks.cp2k_backend import find_cp2k

    _needs(items, "cp2k", lambda: find_cp2k() is not None, "NCLATTICE_REQUIRE_CP2K", "the cp2k program", "cp2k")
    _needs(items, "browser", lambda: bool(shutil.which("chromium") or shutil.which("chromium-browser")),
           "NCLATTICE_REQUIRE_BROWSER", "chromium (headless)", "chromium")
    _slurm_items(items)


def slurm_answers() -> bool:
    """A Slurm controller answers here (``sinfo`` with the environment's SLURM_CONF)."""
    import shutil
    import subprocess

    if shutil.which("sinfo") is None:
        return False
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and any(s.strip("*~#") in ("idle", "mix", "alloc") for s in done.stdout.split())


def _slurm_items(items) -> None:
    """Tests marked ``slurm`` need a running Slurm; they skip with the way to start one, or fail
    with NCLATTICE_REQUIRE_SLURM=1 (set by .ci/run, where scripts/dev.sh starts one)."""
    wanted = [item for item in items if "slurm" in item.keywords]
    if not wanted or slurm_answers():
        return
    if os.environ.get("NCLATTICE_REQUIRE_SLURM") == "1":
        raise pytest.UsageError("NCLATTICE_REQUIRE_SLURM=1 but no Slurm answers (sinfo); start the local one "
                                "with scripts/slurm-local.sh start and export SLURM_CONF as it prints.")
    skip = pytest.mark.skip(reason="no Slurm answers here (bash scripts/dev.sh test as root on Debian starts one; "
                                   "or scripts/slurm-local.sh start and export SLURM_CONF)")
    for item in wanted:
        item.add_marker(skip)


def _needs(items, marker: str, present, variable: str, program: str, package: str) -> None:
    if not any(marker in item.keywords for item in items) or present():
        return
    if os.environ.get(variable) == "1":
        raise pytest.UsageError(f"{variable}=1 but {program} is not on PATH; install it (apt-get install "
                                f"{package}) so the tests marked {marker} run.")
    skip = pytest.mark.skip(reason=f"{program} is not installed here (apt-get install {package}, or bash "
                                   "scripts/dev.sh test as root on Debian)")
    for item in items:
        if marker in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """`nclattice demo` run once for the session: its exit status, printed output, OUT and index."""
    import contextlib
    import io
    import json

    from nclattice.cli import main

    out = tmp_path_factory.mktemp("demo") / "demo"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main(["demo", "--out", str(out)])
    index = json.loads((out / "campaign.json").read_text()) if (out / "campaign.json").is_file() else {}
    return {"status": status, "stdout": printed.getvalue(), "out": out, "index": index}


@pytest.fixture(scope="module")
def nc():
    """The tiny CdSe/CdS dot (1.5 nm core, 1 ML shell) of the MD, MPI and runtime tests."""
    from nclattice.structures import build_cdse_cds

    return build_cdse_cds(1.5, 1)


@pytest.fixture(scope="module")
def sw():
    """The Zhou 2013 Stillinger-Weber set that covers it."""
    from nclattice.potentials import load

    return load("zhou2013-sw")
