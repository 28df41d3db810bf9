"""The extended-XYZ reader (structio): the same Atoms as ase.io.read for every structure the builders
make and for the files ASE and other tools write, without importing ase.io."""

from __future__ import annotations

import subprocess
import sys

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from nclattice.structio import read_structure, write_structure
from nclattice.structures import build


def _same(ours: Atoms, theirs: Atoms) -> None:
    """Equal species, positions (bit for bit), cell, pbc, per-atom arrays (values and dtypes) and info."""
    assert ours.get_chemical_symbols() == theirs.get_chemical_symbols()
    assert np.array_equal(ours.positions, theirs.positions)
    assert np.array_equal(ours.cell.array, theirs.cell.array) and (ours.pbc == theirs.pbc).all()
    assert set(ours.arrays) == set(theirs.arrays)
    for name, value in theirs.arrays.items():
        assert ours.arrays[name].dtype == value.dtype and np.array_equal(ours.arrays[name], value), name
    assert set(ours.info) == set(theirs.info)
    for key, value in theirs.info.items():
        assert type(ours.info[key]) is type(value) and np.array_equal(ours.info[key], value), key


@pytest.mark.parametrize("kind, params", [
    ("cdse", {"diameter_nm": 1.5}), ("cdse-cds", {"core_diameter_nm": 1.5, "shell_ml": 1}),
    ("pbse", {"diameter_nm": 1.8, "attached": "dimer"}), ("cspbbr3", {"cells": 3}),
    ("cspbbr3-superellipsoid", {"size_nm": 2.0}), ("inp-znse-zns", {"core_diameter_nm": 1.5, "shell_ml": (1, 1)}),
])
def test_every_builder_output_reads_back_as_ase_reads_it(tmp_path, kind, params):
    path = write_structure(build(kind, **params), tmp_path / f"{kind}.extxyz")
    _same(read_structure(path), ase.io.read(path, format="extxyz"))


def test_files_of_other_writers_read_as_ase_reads_them(tmp_path):
    """A periodic cell (Lattice, pbc), quoted info strings with spaces and escapes, string, integer, logical and
    3-column per-atom values, a JSON dict, a multi-frame file (the last frame counts), and a plain
    XYZ with a free comment line."""
    rng = np.random.default_rng(1)
    atoms = Atoms("Cs2PbBr3", positions=rng.random((6, 3)) * 5, cell=[[6, 0, 0], [0.5, 6, 0], [0, 0, 7]],
                  pbc=[True, True, False])
    atoms.info.update({"note": 'a "quoted" word', "flags": [True, False], "grid": np.arange(3), "x": 1e-300,
                       "meta": {"who": "test", "n": 2}})
    atoms.new_array("tag_name", np.array(["a", "bb", "c", "d", "e", "f"], dtype=object))
    atoms.new_array("charge_e", rng.random(6))
    atoms.new_array("vec", rng.random((6, 3)))
    atoms.new_array("site", np.arange(6, dtype=np.int32))
    atoms.new_array("frozen", np.array([True, False] * 3))
    periodic = tmp_path / "periodic.extxyz"
    ase.io.write(periodic, atoms, format="extxyz")
    _same(read_structure(periodic), ase.io.read(periodic, format="extxyz"))

    frames = tmp_path / "frames.extxyz"
    ase.io.write(frames, [Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.7]]), atoms], format="extxyz")
    _same(read_structure(frames), ase.io.read(frames, format="extxyz"))
    assert len(read_structure(frames)) == 6

    plain = tmp_path / "plain.xyz"
    plain.write_text("3\nwater from somewhere, in Å\nO 0 0 0\nH 0.76 0.59 0\nh -0.76 0.59 0\n\n")
    ours = read_structure(plain)
    assert ours.get_chemical_symbols() == ["O", "H", "H"] and not ours.pbc.any()
    assert np.allclose(ours.positions, ase.io.read(plain, format="extxyz").positions)


def test_calculator_results_stay_in_info_and_arrays(tmp_path):
    """ASE writes a calculator's energy and forces into the file; nclattice reads them as plain
    values (it keeps no calculator on a structure it reads), the same numbers ASE reads."""
    atoms = Atoms("CO", positions=[[0, 0, 0], [0, 0, 1.13]])
    atoms.calc = SinglePointCalculator(atoms, energy=-14.5, forces=[[0, 0, 0.25], [0, 0, -0.25]])
    path = tmp_path / "co.extxyz"
    ase.io.write(path, atoms, format="extxyz")
    ours, theirs = read_structure(path), ase.io.read(path, format="extxyz")
    assert ours.calc is None
    assert ours.info["energy"] == theirs.get_potential_energy() == pytest.approx(-14.5)
    assert np.array_equal(ours.arrays["forces"], theirs.get_forces())


def test_malformed_lines_are_one_sentence(tmp_path):
    from nclattice.errors import NclatticeError

    cases = {"short-line.extxyz": "2\n\nCd 0 0 0\nSe 0 0\n",
             "bad-number.extxyz": "1\n\nCd 0 x 0\n",
             "bad-logical.extxyz": '1\nProperties=species:S:1:pos:R:3:surface:L:1\nCd 0 0 0 maybe\n',
             "bad-properties.extxyz": '1\nProperties=species:S:1:pos:Q:3\nCd 0 0 0\n',
             "bad-lattice.extxyz": '1\nLattice="1 0 0 0 1 0"\nCd 0 0 0\n',
             "no-count.extxyz": "Cd 0 0 0\n"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(NclatticeError, match="is not a complete extended XYZ file") as info:
            read_structure(tmp_path / name)
        assert "\n" not in str(info.value), name


def test_diffract_reads_its_structure_without_ase_io(tmp_path):
    """Reading an extxyz costs no import of ase.io (~0.5 s: ase.constraints, ase.spacegroup,
    scipy.integrate), and a powder command no scipy.spatial (~0.2 s); benchmarks/bench_cli.py."""
    write_structure(build("cdse", diameter_nm=1.5), tmp_path / "s.extxyz")
    probe = ("import sys\nfrom nclattice.cli import main\n"
             "assert main(['diffract', 's.extxyz', '--powder', '--q-points', '50', '--out', 'd']) == 0\n"
             "loaded = [m for m in ('ase.io', 'ase.io.extxyz', 'scipy.spatial') if m in sys.modules]\n"
             "assert not loaded, loaded\nprint('ok')")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]
