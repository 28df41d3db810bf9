"""docs/reproduction.md is generated from the committed result JSONs and is up to date."""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "reproduction_table.py"


def _module():
    spec = importlib.util.spec_from_file_location("reproduction_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_reproduction_document_is_up_to_date():
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_rows_without_results_read_not_run_yet_and_check_fails_when_stale(tmp_path, monkeypatch):
    table = _module()
    monkeypatch.setattr(table, "RESULTS", tmp_path / "none")
    text = table.render()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == len(table.ROWS) and all("| not run yet |" in row for row in rows)
    assert "0 rows computed" in text
    monkeypatch.setattr(table, "DOCUMENT", tmp_path / "reproduction.md")
    (tmp_path / "reproduction.md").write_text("old\n", encoding="utf-8")
    assert table.main(["--check"]) == 1
    assert table.main([]) == 0 and table.main(["--check"]) == 0


def test_computed_rows_show_the_values_in_their_json():
    table = _module()
    text = table.render()
    assert "| 0.368/0.504/0.128; mean 0.760 |" in text  # occupation model, computed
    occupation = table._load("occupation")
    assert occupation is not None and round(occupation[0]["p1"], 3) == 0.504


def test_every_row_names_its_material():
    table = _module()
    rows = [line for line in table.render().splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0].split(" | ")[1] == "material"
    materials = {row.split(" | ")[1] for row in rows[1:]}
    assert all(m.strip() for m in materials) and {"PbSe", "InP/ZnSe/ZnS", "CdSe/CdS", "CsPbBr3"} <= materials
