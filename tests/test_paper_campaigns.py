"""The paper campaigns in examples/papers/ are valid: every structure builds at the paper's
size and every item's options parse with the real command-line parser (--check)."""

from pathlib import Path

import pytest

from nclattice.cli import main

PAPERS = Path(__file__).resolve().parents[1] / "examples" / "papers"


@pytest.mark.parametrize("name", ["cdse_cds", "pbse", "cspbbr3", "inp"])
def test_paper_campaign_checks(name, tmp_path, capsys):
    assert main(["campaign", str(PAPERS / f"{name}.yaml"), "--out", str(tmp_path / "out"), "--check"]) == 0
    assert "valid" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()  # --check writes nothing
