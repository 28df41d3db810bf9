"""Process environment for Prefect: keep its state inside the project, telemetry off.

Prefect reads its settings from the environment when it is first used, so the
command line and ``nclattice.flows`` call :func:`configure_prefect` before they
import Prefect. Values the user has set explicitly are never overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_ROOT = Path(__file__).resolve().parent


def project_home() -> Path:
    """The directory that holds nclattice's local state.

    In a source checkout (the normal case) it is the checkout itself; for an
    installed copy it is ``./.nclattice`` in the working directory.
    ``NCLATTICE_HOME`` overrides both.
    """
    if "NCLATTICE_HOME" in os.environ:
        return Path(os.environ["NCLATTICE_HOME"]).resolve()
    if (_PACKAGE_ROOT / "pyproject.toml").exists():
        return _PACKAGE_ROOT
    return Path.cwd() / ".nclattice"


def configure_prefect() -> dict[str, str]:
    """Set Prefect's home inside the project and switch analytics off (unless set by the user)."""
    defaults = {
        "PREFECT_HOME": str(project_home() / ".prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "false",
        # the embedded server needs > 20 s to start on a loaded 2-core machine
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING"),
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in defaults}
