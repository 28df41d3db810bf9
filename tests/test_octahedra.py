"""The octahedra check: a fixed list of starting Pb-Br bonds, lengths from time-averaged positions."""

import numpy as np
import pytest

from nclattice.flows.calibration import run_calibration
from nclattice.flows.settings import CalibrationSettings
from nclattice.structio import write_structure
from nclattice.structures.perovskite import build_cspbbr3_cube
from nclattice.tasks.octahedra import octahedra_check, starting_bonds


@pytest.fixture(scope="module")
def cube():
    return build_cspbbr3_cube(3, vacancies="tetra")


def _frames(atoms, sigma, n=400, seed=3):
    rng = np.random.default_rng(seed)
    return atoms.positions + rng.normal(scale=sigma, size=(n, len(atoms), 3))


def test_bonds_are_the_six_per_pb_of_the_start(cube):
    bonds = starting_bonds(cube.positions, cube.get_chemical_symbols())
    assert len(bonds) == 6 * 27  # 3x3x3 Pb, each with a complete octahedron of 6 Br
    d = np.linalg.norm(cube.positions[bonds[:, 1]] - cube.positions[bonds[:, 0]], axis=1)
    assert d == pytest.approx(np.full(len(d), cube.info["a_angstrom"] / 2))


def test_thermal_broadening_biases_the_instantaneous_mean_not_the_time_average(cube):
    sigma = 0.2  # Å per component, about the Br amplitude of the Pascazio set at 300 K
    out = octahedra_check(cube.positions, _frames(cube, sigma), cube.get_chemical_symbols(), cube.get_masses())
    r = out["mean_bond_start_angstrom"]
    assert abs(out["change_vs_start"]) < 0.003
    # <|r + d|> - r = <d_perp^2> / 2r with d the relative displacement (variance 2 sigma^2 per component)
    assert out["instantaneous_change_vs_start"] == pytest.approx(2 * sigma**2 / r**2, rel=0.15)
    assert out["octahedra_kept_fraction"] == 1.0 and out["bonds_broken"] == 0


def test_a_bromide_that_leaves_breaks_its_bonds(cube):
    symbols = np.array(cube.get_chemical_symbols())
    frames = _frames(cube, 0.05)
    bonds = starting_bonds(cube.positions, symbols)
    pb, br = bonds[0]
    bond = cube.positions[br] - cube.positions[pb]
    frames[:, br] += 1.5 * bond / np.linalg.norm(bond)
    out = octahedra_check(cube.positions, frames, list(symbols), cube.get_masses(), sites=cube.positions)
    assert out["bonds_broken"] >= 1 and out["octahedra_kept_fraction"] < 1
    assert out["minimised_change_vs_start"] == 0.0


def test_calibration_of_a_perovskite_records_its_octahedra(tmp_path):
    structure = write_structure(build_cspbbr3_cube(2, vacancies="none"), tmp_path / "cube.extxyz")
    settings = CalibrationSettings(temperatures_k=[100, 150, 200], equilibration_ps=0.5, production_ps=1, seed=5)
    calibration = run_calibration(structure, settings, tmp_path / "cal")
    for t in ("100", "150", "200"):
        octahedra = calibration["md_protocol"][t]["octahedra"]
        assert octahedra["checked"] and octahedra["complete_octahedra"] == 8
        # minimised bonds are the set's own (a = 5.98 Å vs 5.90 Å built): about +1.4 %
        assert 0.005 < octahedra["minimised_change_vs_start"] < 0.03
        assert octahedra["bonds_broken"] == 0
