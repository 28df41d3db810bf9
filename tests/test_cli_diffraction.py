"""`nclattice diffract` and `nclattice polaron-diffraction` end to end; bad input writes nothing."""

import json

import numpy as np
import pytest

from nclattice.cli import main
from nclattice.flows.outcomes import PeakShiftsOutcome
from nclattice.structio import write_structure
from nclattice.structures import build_cspbbr3_cube

TINY = ["--sizes", "fixed:3.5", "--samples", "2", "--points", "13", "--half-width", "0.3"]


@pytest.fixture(scope="module")
def cube_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("s") / "cube.extxyz"
    write_structure(build_cspbbr3_cube(3, "tetra"), path)
    return path


def test_diffract_powder_and_boxes(tmp_path, cube_file, capsys):
    out = tmp_path / "d"
    assert main(["diffract", str(cube_file), "--powder", "--grid", "box", "--hkl", "200", "110",
                 "--points", "11", "--q-points", "200", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"powder.npz", "powder.png", "intensity.npz",
                                                "intensity_slices.png", "result.json"}
    result = json.loads((out / "result.json").read_text())
    assert result["atoms"] == 189 and "provenance" in result
    assert {e["edge"] for e in result["absorption_edges_within_1_kev"]} == {"L3", "K"}
    with np.load(out / "intensity.npz") as data:
        assert data["intensity_200"].shape == (11, 11, 11)
        assert data["qx_200"][5] == pytest.approx(2 * 2 * np.pi / 5.9)
    with np.load(out / "powder.npz") as data:
        assert {"q_inv_angstrom", "intensity", "s_of_q", "f_of_q", "r_angstrom", "g_of_r"} <= set(data.files)
    assert "Pb L3 edge" in capsys.readouterr().out


def test_polaron_random_hole_writes_peak_shifts(tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["polaron-diffraction", "--model", "random-hole", *TINY, "--out", str(out)]) == 0
    shifts = json.loads((out / "peak_shifts.json").read_text())
    assert {"200", "110", "111", "400"} <= set(shifts)
    for h in ("200", "110", "111", "400"):
        assert {"shift_inv_angstrom", "integrated_change", "integration_box"} <= set(shifts[h])
        assert shifts[h]["integration_box"]["half_width_inv_angstrom"] == 0.3
    assert "provenance" in shifts
    assert set(PeakShiftsOutcome.from_json(out).peaks()) == set(shifts) - {"provenance"}  # hkl keys only
    with np.load(out / "delta_intensity.npz") as data:
        assert data["delta_110"].shape == (13, 13, 13) and data["holes_angstrom"].shape == (2, 3)
    assert (out / "delta_slices.png").stat().st_size > 10_000
    text = capsys.readouterr().out
    assert "peak_shifts.json" in text and ("outward" in text or "inward" in text)


def test_polaron_dft_model_reads_a_spin_relax_pair(tmp_path):
    singlet = build_cspbbr3_cube(3, "tetra")
    triplet = singlet.copy()
    triplet.positions = 1.002 * singlet.positions + np.array([0.5, 0.0, -0.2])  # expansion + drift
    spin = tmp_path / "spin"
    write_structure(singlet, spin / "singlet.extxyz")
    write_structure(triplet, spin / "triplet.extxyz")
    out = tmp_path / "dft"
    assert main(["polaron-diffraction", "--model", "dft", "--spin-dir", str(spin), "--points", "15",
                 "--half-width", "0.4", "--out", str(out)]) == 0
    shifts = json.loads((out / "peak_shifts.json").read_text())
    for h, g in (("200", 2), ("110", np.sqrt(2)), ("400", 4)):  # inward by strain x |G|
        assert shifts[h]["shift_inv_angstrom"] == pytest.approx(-0.002 * g * 2 * np.pi / 5.9, rel=0.1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["polaron-diffraction", "--model", "dft"], "--spin-dir"),
        (["polaron-diffraction", "--model", "random-hole", "--k-br", "0"], "restoring constant"),
        (["polaron-diffraction", "--model", "random-hole", "--sizes", "lognormal:5"], "cannot read sizes"),
        (["polaron-diffraction", "--model", "random-hole", "--p1", "0.9", "--p2", "0.5"], "occupations"),
        (["polaron-diffraction", "--model", "orthorhombic", "--points", "12"], "odd"),
        (["diffract", "missing.extxyz", "--powder"], "does not exist"),
        (["diffract", "CUBE"], "nothing to compute"),
        (["diffract", "CUBE", "--grid", "box", "--hkl", "000"], "forward beam"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, cube_file, capsys, argv, message):
    out = tmp_path / "bad"
    argv = [str(cube_file) if a == "CUBE" else a for a in argv]
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


@pytest.mark.slow
def test_prefect_flow_wrapper_runs_the_same_composition(tmp_path):
    from nclattice.flows.deployments import polaron_diffraction_flow

    settings = {"model": "orthorhombic", "sizes": "fixed:3", "samples": 1, "points": 9, "probe": "electron"}
    summary = polaron_diffraction_flow(out=str(tmp_path), settings=settings)
    assert summary["crystals"] == 1 and (tmp_path / "peak_shifts.json").exists()


def test_the_structure_file_is_read_once(tmp_path, cube_file, monkeypatch):
    """preflight reads the structure and hands it to the flow: one read per command (a read of an
    11k-atom extxyz costs seconds)."""
    from nclattice import structio

    reads = []
    real = structio.read_extxyz_text
    monkeypatch.setattr(structio, "read_extxyz_text", lambda text: reads.append(len(text)) or real(text))
    assert main(["diffract", str(cube_file), "--powder", "--q-points", "50", "--out", str(tmp_path / "d")]) == 0
    assert reads == [cube_file.stat().st_size]
