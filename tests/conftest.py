"""Test configuration: Prefect stays inside a temporary home, telemetry off."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="nclattice-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def pytest_collection_modifyitems(config, items):
    _cp2k_items(items)
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


def _slurm_items(items):
    """Tests marked ``slurm`` need a running Slurm; they skip with the way to start one, or fail
    with NCLATTICE_REQUIRE_SLURM=1 (set by .ci/run where scripts/dev.sh starts one)."""
    import pytest

    wanted = [item for item in items if "slurm" in item.keywords]
    if not wanted or slurm_answers():
        return
    if os.environ.get("NCLATTICE_REQUIRE_SLURM") == "1":
        raise pytest.UsageError("NCLATTICE_REQUIRE_SLURM=1 but no Slurm answers (sinfo); start the local one "
                                "with scripts/slurm-local.sh start and export SLURM_CONF as it prints.")
    marker = pytest.mark.skip(reason="no Slurm answers here (run bash scripts/dev.sh test as root on Debian, or "
                                     "scripts/slurm-local.sh start and export SLURM_CONF)")
    for item in wanted:
        item.add_marker(marker)


def _cp2k_items(items):
    """Tests marked ``cp2k`` skip where the cp2k program is missing, with the way to install it;
    with NCLATTICE_REQUIRE_CP2K=1 (set by .ci/run where it can install CP2K) they fail instead."""
    import pytest

    from nclattice.tasks.cp2k_backend import find_cp2k

    if find_cp2k() is not None:
        return
    wanted = any("cp2k" in item.keywords for item in items)
    if wanted and os.environ.get("NCLATTICE_REQUIRE_CP2K") == "1":
        raise pytest.UsageError("NCLATTICE_REQUIRE_CP2K=1 but the cp2k program is not on PATH; "
                                "install it (apt-get install cp2k) so the cp2k tests run.")
    marker = pytest.mark.skip(reason="the cp2k program is not installed here (apt-get install "
                                     "cp2k, or bash scripts/dev.sh test as root on Debian)")
    for item in items:
        if "cp2k" in item.keywords:
            item.add_marker(marker)
