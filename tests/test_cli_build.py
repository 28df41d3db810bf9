"""`nclattice build` end to end: files, summaries, and bad input writing nothing."""

import subprocess
import sys

import ase.io
import pytest

from nclattice.cli import main
from nclattice.structio import read_structure


def test_cspbbr3_paper_model(tmp_path, capsys):
    out = tmp_path / "x.extxyz"
    assert main(["build", "cspbbr3", "--cells", "5", "--vacancies", "tetra", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Cs200Pb125Br450" in text and "775" in text and "+0 e" in text
    atoms = read_structure(out)
    assert atoms.get_chemical_formula(mode="metal") == "Cs200Pb125Br450"
    # labels and recipe survive the round trip
    assert {"region", "layer", "surface", "coordination", "pc_site"} <= set(atoms.arrays)
    assert atoms.info["recipe"] == "cspbbr3" and atoms.info["vacancies"] == "tetra"
    assert atoms.arrays["surface"].dtype == bool


def test_core_shell_with_layers(tmp_path, capsys):
    out = tmp_path / "cs.extxyz"
    assert main(["build", "cdse-cds", "--core-diameter", "3", "--shell-ml", "8", "-o", str(out)]) == 0
    atoms = read_structure(out)
    assert sorted(set(atoms.arrays["layer"][atoms.arrays["region"] == "shell"])) == list(range(1, 9))
    assert "shell" in capsys.readouterr().out


def test_lammps_data_output(tmp_path):
    out = tmp_path / "pbse.data"
    assert main(["build", "pbse", "--diameter", "3", "-o", str(out)]) == 0
    atoms = ase.io.read(out, format="lammps-data", atom_style="atomic")
    assert len(atoms) > 100
    text = out.read_text()
    assert "2 atom types" in text and "Masses" in text
    # the box encloses every atom with vacuum
    assert (atoms.positions > 0).all() and (atoms.positions < atoms.cell.lengths()).all()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["build", "cdse", "--diameter", "-1"], "positive"),
        (["build", "cdse-cds", "--core-diameter", "3"], "--shell-ml"),
        (["build", "cdse", "--diameter", "3", "--shell-ml", "2"], "does not apply"),
        (["build", "cspbbr3", "--cells", "2", "--vacancies", "box"], "--cells 3 or more"),
        (["build", "inp-znse-zns", "--core-diameter", "2", "--shell-ml", "2"], "two --shell-ml"),
        (["build", "inp-znse-zns", "--core-diameter", "2", "--shape", "cube"], "octahedron, sphere"),
        (["build", "cspbbr3", "--cells", "3", "--shape", "sphere"], "cube, superellipsoid"),
    ],
)
def test_bad_input_exits_nonzero_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "bad.extxyz"
    assert main([*argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_are_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nclattice", "build", "gaas", "-o",
                           str(tmp_path / "x.extxyz")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "invalid choice" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_unknown_extension_is_rejected(tmp_path, capsys):
    assert main(["build", "cdse", "--diameter", "2", "-o", str(tmp_path / "x.pdb")]) == 2
    assert "extxyz" in capsys.readouterr().err


