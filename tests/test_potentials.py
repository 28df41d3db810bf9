"""Parameter-set registry, LAMMPS command generation, and validation against experiment."""

import numpy as np
import pytest
import spglib
from ase.build import bulk

from nclattice.potentials import PotentialError, available, default_for, lammps_boundary, load
from nclattice.tasks.phonons import static_lammps
from nclattice.tasks.validation import relax_bulk

MADELUNG_ROCKSALT = 1.747565
COULOMB_EV_ANGSTROM = 14.399645


def test_shipped_set_is_cited_and_hashed():
    assert "zhou2013-sw" in available()
    pot = load("zhou2013-sw")
    assert "Phys. Rev. B 88, 085309" in pot.citation and pot.doi == "10.1103/PhysRevB.88.085309"
    assert len(pot.sha256) == 64 and pot.sha256 == load("zhou2013-sw").sha256
    assert pot.lammps_commands(["Cd", "S", "Se"], periodic=False)[1].endswith("CdTeZnSeHgS0.sw Cd S Se")
    assert default_for({"Cd", "Se", "S"}).name == "zhou2013-sw"


def test_missing_coverage_says_what_to_do():
    with pytest.raises(PotentialError, match="no shipped potential covers Au, Se"):
        default_for({"Au", "Se"})
    with pytest.raises(PotentialError, match="no parameters for Pb"):
        load("zhou2013-sw").check_covers(["Pb", "Se"])
    with pytest.raises(PotentialError, match="no potential named"):
        load("nonexistent")


def _write(tmp_path, text):
    path = tmp_path / "user.yaml"
    path.write_text(text)
    return path


def test_user_lj_coulomb_set_mixes_lorentz_berthelot(tmp_path):
    path = _write(tmp_path, """
name: test-lj
form: lj-coulomb
elements: [A, B]
citation: test only
doi: none
charges: {A: 1.0, B: -1.0}
lj: {A: {epsilon_ev: 0.01, sigma_angstrom: 3.0}, B: {epsilon_ev: 0.04, sigma_angstrom: 4.0}}
cutoff_angstrom: 10
""")
    pot = load(path)
    cmds = pot.lammps_commands(["A", "B"], periodic=False, n_atoms=100, span_angstrom=20.0)
    assert cmds[0] == "pair_style lj/cut/coul/cut 10.0 25"  # exact sum: beyond the crystal
    assert "pair_coeff 1 2 0.02 3.5" in cmds
    assert pot.lammps_commands(["A", "B"], periodic=True)[1].startswith("kspace_style pppm")
    big = pot.lammps_commands(["A", "B"], periodic=False, n_atoms=50_000, span_angstrom=200.0)
    chain = pot.lammps_commands(["A", "B"], periodic=(True, False, False), n_atoms=100, span_angstrom=20.0)
    assert big == chain and big[:2] == ["pair_style lj/cut/coul/long 10.0 10.0", "kspace_style pppm 1.0e-5"]
    sheet = pot.lammps_commands(["A", "B"], periodic=(True, True, False), n_atoms=100, span_angstrom=20.0)
    assert "kspace_modify slab 3.0" in sheet
    assert [lammps_boundary(pot, p, 100) for p in (False, (True, False, False), (True, True, False))] == [
        "s s s", "p p p", "p p f"]
    assert lammps_boundary(load("zhou2013-sw"), (True, False, False), 100) == "p s s"


@pytest.mark.parametrize(("text", "message"), [
    ("name: x\nform: sw\nelements: [Cd]\ncitation: c\ndoi: d\nfile: missing.sw\n", "does not exist"),
    ("name: x\nform: morse\nelements: [Cd]\ncitation: c\ndoi: d\n", "not one of"),
    ("name: x\nform: sw\nelements: [Cd]\n", "lacks the required field 'citation'"),
    ("name: x\nform: lj-coulomb\nelements: [A]\ncitation: c\ndoi: d\n", "needs 'charges'"),
    ("- just a list\n", "mapping"),
])
def test_malformed_user_files(tmp_path, text, message):
    with pytest.raises(PotentialError, match=message):
        load(_write(tmp_path, text))


def test_coulomb_path_reproduces_the_madelung_energy(tmp_path):
    """Point charges ±1 on a rock-salt lattice: E per ion pair = -M k / r0 (PPPM, periodic)."""
    path = _write(tmp_path, """
name: ions
form: buckingham-coulomb
elements: [Na, Cl]
citation: test only
doi: none
charges: {Na: 1.0, Cl: -1.0}
cutoff_angstrom: 8
""")
    atoms = bulk("NaCl", "rocksalt", a=6.0, cubic=True).repeat(2)
    per_pair = static_lammps(atoms, load(path), minimize=False).energy_ev / (len(atoms) / 2)
    assert per_pair == pytest.approx(-MADELUNG_ROCKSALT * COULOMB_EV_ANGSTROM / 3.0, rel=1e-4)


@pytest.mark.parametrize(("formula", "structure", "a", "c", "spacegroup"), [
    ("CdSe", "wurtzite", 4.299, 7.010, 186),   # Madelung, Semiconductors: Data Handbook
    ("CdS", "wurtzite", 4.136, 6.714, 186),
    ("ZnSe", "zincblende", 5.668, None, 216),
    ("ZnS", "zincblende", 5.409, None, 216),
])
def test_shipped_sw_keeps_bulk_structure_within_3_percent(formula, structure, a, c, spacegroup):
    atoms = bulk(formula, structure, a=a, c=c, orthorhombic=True) if c else bulk(formula, structure, a=a, cubic=True)
    atoms.rattle(0.01, seed=1)  # start off the symmetric point: the minimum must pull it back
    atoms = relax_bulk(atoms, load("zhou2013-sw"))
    lengths = atoms.cell.cellpar()
    assert lengths[0] == pytest.approx(a, rel=0.03)
    if c:
        assert lengths[1] == pytest.approx(a * np.sqrt(3), rel=0.03) and lengths[2] == pytest.approx(c, rel=0.03)
    cell = (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers)
    assert spglib.get_symmetry_dataset(cell, symprec=1e-3).number == spacegroup


def test_defaults_by_composition_and_listing(capsys):
    assert default_for({"Pb", "Se"}).name == "schapotschnikow2010-pbse"
    assert default_for({"Cs", "Pb", "Br"}).name == "pascazio2022-cspbbr3"
    assert default_for({"In", "P"}).name == "branicio2009-inp-vashishta"
    assert default_for({"Cd", "Se"}).name == "zhou2013-sw"
    pbse = load("schapotschnikow2010-pbse")
    assert pbse.validation["status"] == "too stiff" and pbse.record()["validation"]["msd_ratio_300k"]["Pb"] < 1
    assert "quantumDots-PbSe-assembly.in" in pbse.data["source"] and pbse.charges() == {"Pb": 1.29, "Se": -1.29}
    from nclattice.cli import main

    assert main(["potentials"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in available()) and "Nano Lett. 10, 3966 (2010)" in listing


# a user's generic-form set naming the shipped InP.vashishta file
GENERIC_INP = """
name: generic-inp
form: lammps
elements: [In, P]
citation: test only
doi: none
pair_style: vashishta
files: [InP.vashishta]
pair_coeff: ["* * {dir}/InP.vashishta {elements}"]
"""


def test_generic_form_reproduces_the_vashishta_form(tmp_path):
    """A user's 'lammps' set naming the same file gives the same energy as the built-in form."""
    shipped = load("branicio2009-inp-vashishta")
    (tmp_path / "InP.vashishta").write_bytes((shipped.path.parent / "InP.vashishta").read_bytes())
    path = _write(tmp_path, GENERIC_INP)
    generic = load(path)
    assert generic.lammps_commands(["In", "P"], periodic=True)[1].endswith("InP.vashishta In P")
    energies = []
    for pot in (shipped, generic):
        atoms = bulk("InP", "zincblende", a=5.87, cubic=True)
        atoms.rattle(0.02, seed=3)
        energies.append(static_lammps(atoms, pot, minimize=False).energy_ev)
    assert energies[0] == pytest.approx(energies[1], abs=1e-10) and energies[0] < 0
    bad = _write(tmp_path, "name: g\nform: lammps\nelements: [In]\ncitation: c\ndoi: d\npair_style: zero 1\n"
                           "pair_coeff: ['{Zn} {Zn}']\n")
    with pytest.raises(PotentialError, match="names 'Zn'"):
        load(bad).lammps_commands(["In"], periodic=True)



def test_potential_files_in_a_folder_with_spaces(tmp_path):
    """A checkout or a user's potential folder named "pot dir é": LAMMPS splits unquoted words at
    spaces and cannot open non-ASCII paths, so both the built-in and the generic form must read the
    files from a plain path (a content-keyed copy) and give the same energy."""
    shipped = load("branicio2009-inp-vashishta")
    folder = tmp_path / "pot dir é"
    folder.mkdir()
    for name in (shipped.path.name, "InP.vashishta"):
        (folder / name).write_bytes((shipped.path.parent / name).read_bytes())
    generic = load(_write(folder, GENERIC_INP))
    energies = []
    for pot in (shipped, load(folder / shipped.path.name), generic):
        atoms = bulk("InP", "zincblende", a=5.87, cubic=True)
        atoms.rattle(0.02, seed=3)
        energies.append(static_lammps(atoms, pot, minimize=False).energy_ev)
    assert energies[1] == pytest.approx(energies[0], abs=1e-10)
    assert energies[2] == pytest.approx(energies[0], abs=1e-10)

def test_inp_vashishta_keeps_zinc_blende_lattice():
    """Branicio et al. InP: relaxed a within 0.5 % of the measured 5.8687 Å (Madelung handbook)."""
    atoms = relax_bulk(bulk("InP", "zincblende", a=5.8687, cubic=True), load("branicio2009-inp-vashishta"))
    assert atoms.cell.lengths()[0] == pytest.approx(5.8687, rel=0.005)
