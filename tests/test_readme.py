"""The README's ```bash blocks run as written, from a temporary directory (relative paths).

The README's commands run from the checkout, so the directory holds a copy of `examples/`; the
`nclattice` on PATH is this environment's. The directory's name holds a space and a non-ASCII
character, as a user's might.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_has_runnable_blocks():
    blocks = bash_blocks()
    assert len(blocks) >= 2 and any("calibrate" in b for b in blocks)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(bash_blocks())))
def test_readme_block_runs_as_written(tmp_path, index):
    cwd = tmp_path / "README run é"
    cwd.mkdir()
    shutil.copytree(ROOT / "examples", cwd / "examples")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    block = bash_blocks()[index]
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"README block {index} failed:\n{block}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
