"""CsPbBr3 cubes, Cs-vacancy patterns, the Pnma variant and superellipsoids."""

import numpy as np
import pytest
from scipy.special import gamma

from nclattice.errors import StructureError
from nclattice.structures import build_cspbbr3_cube, build_cspbbr3_superellipsoid
from nclattice.structures.labels import net_formal_charge
from nclattice.structures.perovskite import VACANCY_PATTERNS


@pytest.mark.parametrize("pattern", VACANCY_PATTERNS)
def test_paper_model_is_cs200pb125br450_and_neutral(pattern):
    atoms = build_cspbbr3_cube(5, pattern)
    assert atoms.get_chemical_formula(mode="metal") == "Cs200Pb125Br450"
    assert net_formal_charge(atoms) == 0
    vac = atoms.info["cs_vacancy_sites"]
    corners = {(i, j, k) for i in (0, 5) for j in (0, 5) for k in (0, 5)}
    assert corners <= {tuple(v) for v in vac}  # all 8 corners, as in the paper


def test_vacancy_patterns_are_distinct_and_reproducible():
    sets = {p: frozenset(map(tuple, build_cspbbr3_cube(5, p).info["cs_vacancy_sites"]))
            for p in VACANCY_PATTERNS}
    assert len(set(sets.values())) == 3
    again = frozenset(map(tuple, build_cspbbr3_cube(5, "tetra").info["cs_vacancy_sites"]))
    assert again == sets["tetra"]
    # facet4: 4 of its 8 non-corner vacancies on facets (one index at 0 or 5 only)
    on_boundary = [sum(c in (0, 5) for c in v) for v in sets["facet4"]]
    assert sorted(on_boundary).count(1) == 4 and on_boundary.count(3) == 8


def test_box_pattern_leaves_x_a_two_fold_axis():
    atoms = build_cspbbr3_cube(5, "box")
    pos = atoms.positions
    rotated = pos * [1, -1, -1]  # C2 about x
    quarter = pos[:, [0, 2, 1]] * [1, -1, 1]  # C4 about x
    def same(a, b):
        return np.allclose(np.sort(np.round(a, 3), axis=0), np.sort(np.round(b, 3), axis=0))
    assert same(pos, rotated)
    assert not same(pos, quarter)


@pytest.mark.parametrize("n", [3, 4, 6])
def test_other_sizes_are_neutral(n):
    atoms = build_cspbbr3_cube(n, "box")
    symbols = atoms.get_chemical_symbols()
    assert symbols.count("Pb") == n**3
    assert symbols.count("Br") == 3 * n**2 * (n + 1)
    assert net_formal_charge(atoms) == 0


def test_pattern_that_cannot_make_neutral_cube_fails():
    with pytest.raises(StructureError, match="--cells 3 or more"):
        build_cspbbr3_cube(2, "tetra")
    with pytest.raises(StructureError, match="unknown vacancy pattern"):
        build_cspbbr3_cube(5, "random")


def test_lattice_constant_option():
    atoms = build_cspbbr3_cube(3, "tetra", lattice_constant=5.8)
    pb = atoms.positions[np.array(atoms.get_chemical_symbols()) == "Pb"]
    d = np.linalg.norm(pb[:, None] - pb[None], axis=-1)
    assert d[d > 0.1].min() == pytest.approx(5.8)
    with pytest.raises(StructureError, match="lattice constant"):
        build_cspbbr3_cube(3, "tetra", lattice_constant=-1)


def _pb_br_pb_angles(atoms):
    symbols = np.array(atoms.get_chemical_symbols())
    pos = atoms.positions
    pb, br = pos[symbols == "Pb"], pos[symbols == "Br"]
    d = np.linalg.norm(br[:, None] - pb[None], axis=-1)
    angles = []
    for k in range(len(br)):
        near = np.flatnonzero(d[k] < 3.5)
        if len(near) == 2:
            u, v = pb[near[0]] - br[k], pb[near[1]] - br[k]
            angles.append(np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v))))
    return np.array(angles)


def test_orthorhombic_variant_tilts_octahedra_but_keeps_the_lattice():
    cubic = build_cspbbr3_cube(5, "tetra")
    ortho = build_cspbbr3_cube(5, "tetra", phase="orthorhombic")
    assert ortho.get_chemical_symbols() == cubic.get_chemical_symbols()
    disp = ortho.positions - cubic.positions
    # no net shift or strain: Bragg peaks stay, only the basis changes
    assert np.abs(disp.mean(0)).max() < 1e-3
    assert 0.2 < np.linalg.norm(disp, axis=1).max() < 0.8
    # Pnma CsPbBr3 (Lopez et al. 2020) has Pb-Br-Pb angles of ~150-160 deg, cubic 180
    assert _pb_br_pb_angles(cubic).min() == pytest.approx(180.0)
    tilted = _pb_br_pb_angles(ortho)
    assert 145 < tilted.mean() < 165
    pb_br = np.linalg.norm(ortho.positions[:, None] - ortho.positions[None], axis=-1)
    symbols = np.array(ortho.get_chemical_symbols())
    bonds = pb_br[np.ix_(symbols == "Pb", symbols == "Br")]
    assert bonds[bonds < 3.5] == pytest.approx(2.96 * 5.90 / 5.8306, rel=0.02)


@pytest.mark.parametrize("p", [2.0, 5.0])
def test_superellipsoid_volume_matches_the_analytic_one(p):
    size_nm, a = 4.0, 5.90
    atoms = build_cspbbr3_superellipsoid(size_nm, exponent=p)
    half = size_nm * 10 / 2
    volume = 8 * half**3 * gamma(1 + 1 / p) ** 3 / gamma(1 + 3 / p)
    n_pb = atoms.get_chemical_symbols().count("Pb")
    assert n_pb == pytest.approx(volume / a**3, rel=0.1)
    pos = atoms.positions
    assert ((np.abs(pos) ** p).sum(1) <= (half + a / 2) ** p).all()


def test_superellipsoid_bad_inputs():
    with pytest.raises(StructureError, match="exponent"):
        build_cspbbr3_superellipsoid(4.0, exponent=0.5)
    with pytest.raises(StructureError, match="positive"):
        build_cspbbr3_superellipsoid(-4.0)
