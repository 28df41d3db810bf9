"""Wurtzite CdSe, CdSe/CdS core/shell and zinc-blende InP/ZnSe/ZnS builders."""

import numpy as np
import pytest

from nclattice.errors import StructureError
from nclattice.structures import build, build_cdse, build_cdse_cds, build_inp_znse_zns
from nclattice.structures.labels import (
    binary_bond_model,
    check_distances,
    coordination,
    equivalent_diameter_nm,
    net_formal_charge,
    strip_dangling,
)
from nclattice.structures.materials import WURTZITE, ZINCBLENDE


@pytest.fixture(scope="module")
def core_shell_8ml():
    return build_cdse_cds(core_diameter_nm=3.0, shell_ml=8)


def test_cdse_core_is_wurtzite_cdse_of_requested_size():
    atoms = build_cdse(3.0)
    assert set(atoms.get_chemical_symbols()) == {"Cd", "Se"}
    assert set(atoms.arrays["region"]) == {"core"}
    assert (atoms.arrays["layer"] == 0).all()
    assert equivalent_diameter_nm(atoms) == pytest.approx(3.0, rel=0.1)
    # every atom keeps >= 2 bonds; bulk-like interior atoms have the tetrahedral 4
    coord = atoms.arrays["coordination"]
    assert coord.min() >= 2
    assert (coord[~atoms.arrays["surface"]] == 4).all()
    assert (coord[atoms.arrays["surface"]] < 4).all()
    # Cd-Se bonds: u*c = 2.629 Å along c and sqrt(a^2/3 + (1/2 - u)^2 c^2) = 2.632 Å for the
    # other three (c/a = 1.631 is slightly below the ideal 1.633)
    wz = WURTZITE["CdSe"]
    deviation = check_distances(atoms, binary_bond_model(["Cd"], ["Se"], wz.u * wz.c, 4))
    assert deviation["max_relative_bond_deviation"] == pytest.approx(
        np.sqrt(wz.a**2 / 3 + (0.5 - wz.u) ** 2 * wz.c**2) / (wz.u * wz.c) - 1, abs=1e-9)


def test_wurtzite_lattice_constants_are_in_the_structure():
    atoms = build_cdse(4.0)
    cd = atoms.positions[np.array(atoms.get_chemical_symbols()) == "Cd"]
    d = np.linalg.norm(cd[:, None] - cd[None], axis=-1)
    nn = np.sort(d[d > 0.1])[:200]
    # Cd-Cd nearest neighbours sit at a (in-plane) and sqrt(a^2/3 + c^2/4) (across), both 4.30 Å
    assert nn.min() == pytest.approx(WURTZITE["CdSe"].a, rel=0.01)


def test_core_shell_thickness_is_8_monolayers(core_shell_8ml):
    atoms = core_shell_8ml
    r = np.linalg.norm(atoms.positions, axis=1)
    shell_surface = (atoms.arrays["region"] == "shell") & atoms.arrays["surface"]
    ml = WURTZITE["CdS"].c / 2
    thickness_ml = (r[shell_surface].mean() - 15.0) / ml
    assert thickness_ml == pytest.approx(8, rel=0.15)


def test_core_shell_layers_count_one_to_eight_outward(core_shell_8ml):
    atoms = core_shell_8ml
    shell = atoms.arrays["region"] == "shell"
    layers = atoms.arrays["layer"]
    assert sorted(set(layers[shell])) == list(range(1, 9))
    assert (layers[~shell] == 0).all()
    r = np.linalg.norm(atoms.positions, axis=1)
    mean_r = [r[layers == k].mean() for k in range(1, 9)]
    assert np.all(np.diff(mean_r) > 0), "layer index must grow with distance from the core"


def test_core_shell_species_by_region(core_shell_8ml):
    symbols = np.array(core_shell_8ml.get_chemical_symbols())
    region = core_shell_8ml.arrays["region"]
    assert set(symbols[region == "core"]) == {"Cd", "Se"}
    assert set(symbols[region == "shell"]) == {"Cd", "S"}


def test_core_shell_charge_is_reported_and_trim_neutralises():
    atoms = build_cdse_cds(2.0, 2)
    symbols = atoms.get_chemical_symbols()
    expected = 2 * (symbols.count("Cd") - symbols.count("Se") - symbols.count("S"))
    assert net_formal_charge(atoms) == expected == atoms.info["net_formal_charge"]
    if expected != 0:
        with pytest.raises(StructureError, match="net formal charge"):
            build_cdse_cds(2.0, 2, charge_balance="require")
    trimmed = build_cdse_cds(2.0, 2, charge_balance="trim")
    assert net_formal_charge(trimmed) == 0
    assert trimmed.arrays["coordination"].min() >= 2


def test_presets_are_the_papers_shells():
    from nclattice.structures import CDSE_CDS_PRESETS

    assert CDSE_CDS_PRESETS == {"msd": 8, "phonons": 4}


def test_inp_znse_zns_regions_and_layers():
    atoms = build_inp_znse_zns(2.0, (2, 3))
    symbols = np.array(atoms.get_chemical_symbols())
    region, layer = atoms.arrays["region"], atoms.arrays["layer"]
    assert set(symbols[region == "core"]) == {"In", "P"}
    assert set(symbols[region == "shell"]) == {"Zn", "Se"}
    assert set(symbols[region == "shell2"]) == {"Zn", "S"}
    assert set(layer[region == "shell"]) == {1, 2}
    assert set(layer[region == "shell2"]) == {3, 4, 5}
    # zinc-blende bond a*sqrt(3)/4 of InP: the shells are coherent with the core
    bond = ZINCBLENDE["InP"].a * np.sqrt(3) / 4
    model = binary_bond_model(["In", "Zn"], ["P", "S", "Se"], bond, 4)
    assert check_distances(atoms, model)["max_relative_bond_deviation"] < 1e-6


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("cdse", {"diameter_nm": -1.0}, "positive"),
        ("cdse", {"diameter_nm": 0.0}, "positive"),
        ("cdse-cds", {"core_diameter_nm": 3.0, "shell_ml": 0.5}, "whole"),
        ("cdse-cds", {"core_diameter_nm": 3.0, "shell_ml": -2}, "whole"),
        ("inp-znse-zns", {"core_diameter_nm": 2.0, "shell_ml": (1,)}, "two shell"),
        ("gaas", {"diameter_nm": 3.0}, "unknown nanocrystal kind"),
    ],
)
def test_bad_requests_fail_with_one_clear_sentence(kind, params, message):
    with pytest.raises(StructureError, match=message) as info:
        build(kind, **params)
    text = str(info.value)
    assert text.endswith(".") and "\n" not in text


def test_validation_catches_distorted_structures():
    atoms = build_cdse(2.5)
    atoms.positions *= 1.25
    wz = WURTZITE["CdSe"]
    model = binary_bond_model(["Cd"], ["Se"], wz.u * wz.c, 4)
    model_loose = type(model)(model.bond_angstrom, model.bulk_coordination, tolerance=0.3)
    with pytest.raises(StructureError, match="deviate"):
        check_distances(atoms, model_loose)


def test_dangling_atoms_are_stripped():
    atoms = build_cdse(2.5)
    wz = WURTZITE["CdSe"]
    model = binary_bond_model(["Cd"], ["Se"], wz.u * wz.c, 4)
    # a Se atom bonded to one surface Cd only, and a Cd far away
    surface_cd = np.flatnonzero((np.array(atoms.get_chemical_symbols()) == "Cd")
                                & atoms.arrays["surface"])[0]
    direction = atoms.positions[surface_cd] / np.linalg.norm(atoms.positions[surface_cd])
    extra = atoms[[surface_cd, surface_cd]]
    extra.symbols = ["Se", "Cd"]
    extra.positions[0] = atoms.positions[surface_cd] + 2.63 * direction
    extra.positions[1] = [100.0, 100.0, 100.0]
    combined = atoms + extra
    assert (coordination(combined, model)[-2:] < 2).all()
    cleaned = strip_dangling(combined, model)
    assert len(cleaned) == len(atoms)
