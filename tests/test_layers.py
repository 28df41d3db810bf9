"""The layers: flows/ never imports the command line, no import circle, and importing the library
or running `--help` / `build` neither imports Prefect nor changes the environment."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_flows_and_tasks_never_import_the_command_line():
    for package in ("flows", "tasks", "structures", "potentials"):
        for path in (ROOT / package).rglob("*.py"):
            bad = {n for n in _imports(path) if n.startswith(("..cli", "nclattice.cli", ".cli"))}
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


PROBE = """
import os, sys
before = dict(os.environ)
{body}
assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items())
heavy = sorted(m for m in sys.modules if m.split('.')[0] == 'prefect' or m.startswith('nclattice.flows.deployments'))
assert not heavy, heavy
print('ok')
"""


def _probe(body: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(body=body)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]


def test_importing_the_library_changes_nothing_and_loads_no_prefect(tmp_path):
    _probe("import nclattice.flows, nclattice.flows.registry, nclattice.flows.settings, nclattice.flows.campaign\n"
           "import nclattice.flows.calibration, nclattice.flows.kinetics, nclattice.cli", tmp_path)


def test_help_and_build_do_not_import_prefect(tmp_path):
    _probe("from nclattice.cli import main\n"
           "assert main(['--help']) == 0\n"
           "assert main(['build', 'cdse', '--diameter', '1.5', '-o', 'x.extxyz']) == 0\n"
           "assert main(['kinetics', 'occupation', '--gamma0-t', '1', '--out', 'occ']) == 0", tmp_path)
    assert (tmp_path / "x.extxyz").exists() and (tmp_path / "occ" / "occupation.json").exists()


def test_calibrate_diffract_and_ued_without_prefect_option_import_no_prefect(tmp_path):
    """A plain command runs in-process: no Prefect module (nor SQLAlchemy, which xraydb's own API
    would load for the X-ray factor tables) is imported, even on MD progress lines."""
    cal, csv = ROOT / "examples" / "calibration_synthetic.json", ROOT / "examples" / "cdse_cds_510nm_heating.csv"
    _probe("from nclattice.cli import main\n"
           "from nclattice.structio import write_structure\n"
           "from nclattice.structures import build_cdse\n"
           "write_structure(build_cdse(1.2), 's.extxyz')\n"
           "assert main(['calibrate', 's.extxyz', '--temperatures', '200,300,400', '--equilibration-ps', '0.1',\n"
           "             '--production-ps', '0.2', '--anneal-ps', '0.2', '--out', 'cal']) == 0\n"
           "assert main(['diffract', 's.extxyz', '--powder', '--q-points', '50', '--out', 'dif']) == 0\n"
           f"assert main(['ued', 'analyze', r'{csv}', '--calibration', r'{cal}', '--out', 'ued']) == 0\n"
           "assert not [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'xraydb')]", tmp_path)
    assert all((tmp_path / d / f).exists() for d, f in (("cal", "calibration.json"), ("dif", "result.json"),
                                                         ("ued", "ued.json")))


def test_a_built_wheel_carries_the_demo_and_data_without_packaging_warnings(tmp_path):
    """The demo campaign and the files it reads, and the potential data, travel with a normal install."""
    import zipfile

    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "warning" not in (proc.stdout + proc.stderr).lower(), proc.stderr[-3000:]
    names = set(zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist())
    for needed in ("nclattice/examples/demo_campaign.yaml", "nclattice/examples/cs4pbbr6.extxyz",
                   "nclattice/examples/cdse_cds_510nm_heating.csv", "nclattice/potentials/data/zhou2013-sw.yaml",
                   "nclattice/cli/__init__.py", "nclattice/flows/registry.py"):
        assert needed in names, needed


@pytest.mark.slow
def test_prefect_option_runs_the_same_function_as_a_flow(tmp_path, capsys):
    from nclattice.cli import main

    out = tmp_path / "occ"
    assert main(["kinetics", "occupation", "--gamma0-t", "1", "--out", str(out), "--prefect"]) == 0
    assert "P1 = 0.504" in capsys.readouterr().out and (out / "occupation.json").exists()


def test_settings_choices_match_the_library():
    """Choices spelled out in the (import-light) settings and CLI equal the library's own lists."""
    from typing import get_args

    from nclattice.cli.build import FORMATS
    from nclattice.cli.options import choices_of
    from nclattice.flows import settings as st
    from nclattice.structio import FORMATS as STRUCT_FORMATS
    from nclattice.structures import ATTACHMENTS, VACANCY_PATTERNS
    from nclattice.tasks import diffraction as dif
    from nclattice.tasks import models
    from nclattice.tasks.md import THERMOSTATS

    assert set(st.THERMOSTATS) == set(THERMOSTATS) == set(choices_of(st.CalibrationSettings, "thermostat"))
    assert set(FORMATS) == set(STRUCT_FORMATS)
    assert set(choices_of(st.DiffractSettings, "powder_method")) == set(dif.POWDER_METHODS)
    assert set(choices_of(st.PolaronDiffractionSettings, "hole_bias")) == set(models.HOLE_BIASES)
    assert set(choices_of(st.BuildSettings, "attached")) == set(ATTACHMENTS)
    assert set(choices_of(st.BuildSettings, "vacancies")) == {*VACANCY_PATTERNS, "none"}
    assert get_args(st.BuildSettings.model_fields["kind"].annotation) == tuple(st.BuildSettings.OPTIONS_BY_KIND)
