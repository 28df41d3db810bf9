"""Test configuration: Prefect stays inside a temporary home, telemetry off.

Under pytest-xdist (scripts/dev.sh test runs two processes) every worker gets a Prefect home of
its own, so two ephemeral Prefect servers never share one database; temporary folders are per
test already, and LAMMPS worker slots are file locks shared safely across processes.
"""

from __future__ import annotations

import os
import tempfile

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix=f"nclattice-prefect-{os.environ['PYTEST_XDIST_WORKER']}-")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="nclattice-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def pytest_collection_modifyitems(config, items):
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
