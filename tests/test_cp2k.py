"""Real CP2K runs (marker ``cp2k``; scripts/dev.sh installs the Debian package as root, and CI
requires it): O2 singlet against triplet through `nclattice spin-relax` with the default
settings, an unconverged SCF caught, the dry-run inputs run by cp2k itself, and import.

O2 is the smallest test of the spin physics: its ground state is the triplet (3Σg-) and PBE gives
a bond of about 1.22 Å (experiment 1.2075 Å). The UKS singlet lies above it.
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import CalculationFailed
from ase.units import Hartree

from nclattice.cli import main
from nclattice.structio import read_structure, write_structure
from nclattice.tasks.cp2k_backend import (
    EDGE_DENSITY,
    NOT_CONVERGED,
    Cp2kBackend,
    cp2k_messages,
    find_cp2k,
    output_reports_edge_density,
)

pytestmark = pytest.mark.cp2k
os.environ.setdefault("OMP_NUM_THREADS", "1")
O2_BOND_ANGSTROM = 1.21  # start near experiment; the PBE minimum is ~1.22-1.23 Å


def bond(atoms: Atoms) -> float:
    return float(np.linalg.norm(atoms.positions[1] - atoms.positions[0]))


@pytest.fixture(scope="module")
def o2_run(tmp_path_factory):
    """`nclattice spin-relax o2.extxyz --backend cp2k --out d`: defaults, no extra options."""
    root = tmp_path_factory.mktemp("o2")
    src = write_structure(Atoms("O2", positions=[[0, 0, 0], [0, 0, O2_BOND_ANGSTROM]]),
                          root / "o2.extxyz")
    out = root / "d"
    status = main(["spin-relax", str(src), "--backend", "cp2k", "--out", str(out)])
    return status, out


def test_o2_triplet_is_the_ground_state_with_the_pbe_bond(o2_run):
    status, out = o2_run
    assert status == 0
    data = json.loads((out / "spin.json").read_text())
    assert data["backend"] == "cp2k" and data["converged"] == {"singlet": True, "triplet": True}
    assert {"singlet.extxyz", "triplet.extxyz", "spin.json", "displacement.png"} <= {
        p.name for p in out.iterdir()}
    singlet, triplet = read_structure(out / "singlet.extxyz"), read_structure(out / "triplet.extxyz")
    # ground state: the triplet, relaxed and also vertically at the singlet geometry
    assert data["energy_triplet_relaxed_ev"] < data["energy_singlet_ev"]
    assert data["energy_triplet_vertical_ev"] < data["energy_singlet_ev"]
    # UKS with MULTIPLICITY 1 ends in the broken-symmetry Sz = 0 state (alpha and beta pi*
    # electrons in different orbitals), measured 0.40 eV above the triplet; the closed-shell
    # singlet lies higher still (1.7 eV at 1.22 Å)
    assert -1.8 < data["adiabatic_gap_ev"] < -0.2
    assert data["relaxation_energy_ev"] >= -1e-4  # relaxing from the vertical point goes down
    assert 1.19 <= bond(triplet) <= 1.26  # PBE ~1.22 Å
    assert 1.19 <= bond(singlet) <= 1.30
    assert max(data["max_force_ev_per_angstrom"].values()) <= 0.05
    # the defaults as documented: wavelet cube, cutoff by element (O: 300 Ry), PBE/DZVP/GTH
    settings = data["backend_settings"]
    assert settings["poisson_solver"] == "wavelet" and settings["basis_set"] == "DZVP-MOLOPT-SR-GTH"
    work = out / "cp2k_work"
    inp = (work / "spin_multiplicity3.inp").read_text()
    assert "PSOLVER WAVELET" in inp and "MULTIPLICITY 3" in inp and "&PBE" in inp
    assert "CUTOFF [eV] 4.0817" in inp  # 300 Ry
    outputs = "".join(p.read_text(errors="replace") for p in work.glob("*.out"))
    assert "SCF run converged" in outputs and NOT_CONVERGED not in outputs
    assert EDGE_DENSITY not in cp2k_messages(outputs)  # the 3.5 Å default holds O2's density


def test_unconverged_scf_is_caught_and_leaves_no_numbers(tmp_path, capsys):
    o2 = Atoms("O2", positions=[[0, 0, 0], [0, 0, 1.22]])
    backend = Cp2kBackend(max_scf=1, outer_max_scf=1, workdir=str(tmp_path / "w"))
    calc = backend.calculator(3, 0)
    work = backend.prepare(o2)
    work.calc = calc
    try:
        with pytest.raises(CalculationFailed, match=NOT_CONVERGED):
            work.get_potential_energy()
        assert calc.results == {} and calc.atoms is None  # nothing cached for the next call
    finally:
        calc.close()
    # the same through the command line: one line, exit 2, no result written
    src = write_structure(o2, tmp_path / "o2.extxyz")
    out = tmp_path / "d"
    assert main(["spin-relax", str(src), "--backend", "cp2k", "--cp2k-option", "max_scf=1",
                 "--cp2k-option", "outer_max_scf=1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "did not converge" in err and NOT_CONVERGED in err and len(err.splitlines()) == 1
    assert not (out / "spin.json").exists() and not (out / "singlet.extxyz").exists()


def test_density_on_the_box_walls_stops_the_run_with_the_vacuum_to_try(tmp_path, capsys):
    """1 Å of vacuum around O2: CP2K's wavelet solver warns at every SCF step that the density
    reaches the cell's edges (and still returns an energy); the flow stops at the first
    evaluation with one line naming --vacuum and the value to try, and writes no results."""
    src = write_structure(Atoms("O2", positions=[[0, 0, 0], [0, 0, 1.22]]), tmp_path / "o2.extxyz")
    out = tmp_path / "d"
    assert main(["spin-relax", str(src), "--backend", "cp2k", "--vacuum", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "density on the walls" in err and "--vacuum 3.5" in err and "1.0 Å of vacuum" in err
    assert output_reports_edge_density((out / "cp2k_work" / "spin_multiplicity1.out").read_text())
    assert not (out / "spin.json").exists() and not (out / "singlet.extxyz").exists()
    assert not list(out.glob(".progress/**/*.npz"))  # no checkpoint of a wrong energy either


def test_dry_run_inputs_run_in_cp2k_and_reproduce_the_flow(o2_run, tmp_path):
    """The cluster procedure on real outputs: the dry-run input of the relaxed triplet, run by
    cp2k itself, gives the flow's energy; the pair imports back with the same numbers."""
    status, out = o2_run
    assert status == 0
    data = json.loads((out / "spin.json").read_text())
    dry = tmp_path / "dry"
    assert main(["spin-relax", str(out / "triplet.extxyz"), "--backend", "cp2k", "--dry-run",
                 "--out", str(dry)]) == 0
    inp = dry / "cp2k" / "triplet.inp"
    run = subprocess.run(["cp2k.psmp" if find_cp2k().startswith("cp2k.psmp") else "cp2k",
                          "-i", inp.name, "-o", "triplet.out"], cwd=inp.parent,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    text = (inp.parent / "triplet.out").read_text()
    assert "SCF run converged" in text and NOT_CONVERGED not in text
    energy_hartree = float([ln for ln in text.splitlines() if "ENERGY| Total FORCE_EVAL" in ln][-1]
                           .split()[-1])
    assert energy_hartree * Hartree == pytest.approx(data["energy_triplet_relaxed_ev"], abs=2e-3)

    imported = tmp_path / "imported"
    assert main(["spin-relax", str(out / "singlet.extxyz"), "--import-triplet",
                 str(out / "triplet.extxyz"), "--out", str(imported)]) == 0
    back = json.loads((imported / "spin.json").read_text())
    for key in ("energy_singlet_ev", "energy_triplet_vertical_ev", "energy_triplet_relaxed_ev",
                "relaxation_energy_ev", "adiabatic_gap_ev"):
        assert back[key] == pytest.approx(data[key], abs=1e-9)
