"""Test configuration: Prefect stays inside a temporary home, telemetry off."""

from __future__ import annotations

import os
import tempfile

import pytest

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="nclattice-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def pytest_collection_modifyitems(config, items):
    _skip_without_browser(items)
    _skip_without_cp2k(items)


def _skip_without_browser(items):
    """Tests marked ``browser`` skip where Chromium is missing, in one line; with
    NCLATTICE_REQUIRE_BROWSER=1 (set by .ci/run where it can install Chromium) they fail instead."""
    import shutil

    import pytest

    if shutil.which("chromium") or shutil.which("chromium-browser") or not any("browser" in i.keywords for i in items):
        return
    if os.environ.get("NCLATTICE_REQUIRE_BROWSER") == "1":
        raise pytest.UsageError("NCLATTICE_REQUIRE_BROWSER=1 but chromium is not on PATH; install it "
                                "(apt-get install chromium) so the report is checked in a browser.")
    marker = pytest.mark.skip(reason="chromium is not installed here (apt-get install chromium, or bash "
                                     "scripts/dev.sh test as root on Debian)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(marker)


def _skip_without_cp2k(items):
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
