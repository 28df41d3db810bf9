"""Rock-salt PbSe dots: both facet families, and oriented attachment along <100>."""

import numpy as np
import pytest

from nclattice.errors import StructureError
from nclattice.structures import build_pbse
from nclattice.structures.facets import facet_family, surface_normals
from nclattice.structures.materials import ROCKSALT

A = ROCKSALT["PbSe"].a


@pytest.fixture(scope="module")
def dot():
    return build_pbse(5.5)


def test_dot_is_rocksalt_of_requested_size(dot):
    symbols = np.array(dot.get_chemical_symbols())
    assert set(symbols) == {"Pb", "Se"}
    assert dot.arrays["coordination"].max() == 6
    assert (dot.arrays["coordination"][~dot.arrays["surface"]] == 6).all()
    # {100} facets 2h apart: 2h = round(5.5 nm / a) * a
    extent = np.ptp(dot.positions, axis=0)
    assert extent == pytest.approx([round(55 / A) * A - A / 2] * 3, abs=1e-6)


def test_both_facet_families_from_surface_normals(dot):
    surface = dot.arrays["surface"]
    normals = surface_normals(dot, radius_angstrom=1.05 * A / np.sqrt(2))[surface]
    family = facet_family(normals, max_angle_deg=10)
    n100, n111 = np.count_nonzero(family == "100"), np.count_nonzero(family == "111")
    assert n100 >= 50 and n111 >= 50
    # six {100} facet directions and eight {111} ones are all populated
    dirs100 = {tuple(np.sign(np.round(n)).astype(int)) for n in normals[family == "100"]}
    dirs111 = {tuple(np.sign(n).astype(int)) for n in normals[family == "111"]}
    assert len(dirs100) == 6 and len(dirs111) == 8


def test_facet_ratio_controls_facet_areas():
    small111 = build_pbse(4.0, facet_ratio=1.4)
    large111 = build_pbse(4.0, facet_ratio=0.7)
    share = [np.mean(d.arrays["facet"][d.arrays["surface"]] == "111") for d in (small111, large111)]
    assert share[0] < share[1]


def test_dimer_shares_a_100_facet_without_gap(dot):
    dimer = build_pbse(5.5, attached="dimer")
    assert len(dimer) == 2 * len(dot)
    qd = dimer.arrays["qd"]
    assert set(qd) == {0, 1}
    attached = dimer.arrays["facet"] == "attached"
    assert attached.any()
    x = dimer.positions[:, 0]
    # the contact: last plane of dot 0 and first plane of dot 1 are one Pb-Se bond apart
    gap = x[qd == 1].min() - x[qd == 0].max()
    assert gap == pytest.approx(A / 2, abs=1e-6)
    # contact atoms are bonded across the interface: not surface atoms
    central = attached & (np.abs(dimer.positions[:, 1]) < A) & (np.abs(dimer.positions[:, 2]) < A)
    assert central.any() and not dimer.arrays["surface"][central].any()
    # the lattice continues: every contact atom has the rock-salt species alternation
    assert dimer.arrays["coordination"][central].min() == 6


@pytest.mark.parametrize(("attached", "periodic"), [("chain", [1, 0, 0]), ("square", [1, 1, 0])])
def test_periodic_assemblies(dot, attached, periodic):
    atoms = build_pbse(5.5, attached=attached)
    assert list(atoms.pbc) == [bool(p) for p in periodic]
    assert len(atoms) == len(dot)
    # facets along the periodic axes are attached, hence fewer surface atoms than a free dot
    assert atoms.arrays["surface"].sum() < dot.arrays["surface"].sum()
    assert (atoms.arrays["facet"] == "attached").any()
    assert not atoms.arrays["surface"][atoms.arrays["facet"] == "attached"].all()


def test_bad_pbse_requests():
    with pytest.raises(StructureError, match="attached"):
        build_pbse(5.5, attached="trimer")
    with pytest.raises(StructureError, match="facet ratio"):
        build_pbse(5.5, facet_ratio=2.0)
    with pytest.raises(StructureError, match="positive"):
        build_pbse(0.0)


def _outer_111_layer(atoms, signs):
    height = (atoms.positions - atoms.positions.mean(0)) @ np.asarray(signs, float)
    return height > height.max() - 0.3


@pytest.mark.parametrize("attached", ["none", "chain"])
def test_polar_111_facets_are_half_filled_by_default(attached):
    full = build_pbse(3.0, attached=attached, polar_facets="full")
    half = build_pbse(3.0, attached=attached)
    assert half.info["polar_facets"] == "half"
    for atoms in (full, half):  # stoichiometric, no net dipole (formal charges +-2)
        symbols = np.array(atoms.get_chemical_symbols())
        assert np.count_nonzero(symbols == "Pb") == np.count_nonzero(symbols == "Se")
        charge = np.where(symbols == "Pb", 2.0, -2.0)
        assert np.abs(charge @ (atoms.positions - atoms.positions.mean(0))).max() < 1e-6
    if attached == "none":
        for signs in [(1, 1, 1), (-1, -1, -1), (1, -1, 1)]:
            n_full = np.count_nonzero(_outer_111_layer(full, signs))
            n_half = np.count_nonzero(_outer_111_layer(half, signs))
            # one species per layer; the outer layer keeps every other row: 8 of 19 atoms
            assert len(set(np.array(half.get_chemical_symbols())[_outer_111_layer(half, signs)])) == 1
            assert 0.35 * n_full <= n_half <= 0.5 * n_full


def test_bad_polar_facets():
    with pytest.raises(StructureError, match="polar facets"):
        build_pbse(3.0, polar_facets="none")
