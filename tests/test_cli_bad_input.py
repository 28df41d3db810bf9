"""Bad input to every command: one line on stderr, exit status 2, nothing written under --out.

Every case runs in this process (``main(argv)``) and is rejected before any simulation, worker
or Prefect starts, so the whole table takes seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ase import Atoms

from nclattice.cli import main
from nclattice.structio import write_structure
from nclattice.structures import build_cdse_cds

ROOT = Path(__file__).resolve().parents[1]
DATA = str(ROOT / "examples" / "cdse_cds_510nm_heating.csv")
PROFILES = str(ROOT / "examples" / "cdse_cds_profiles_340nm.csv")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("inputs")
    (d / "empty.extxyz").write_text("")
    header = 'Lattice="10 0 0 0 10 0 0 0 10" Properties=species:S:1:pos:R:3'
    (d / "truncated.extxyz").write_text(f"187\n{header}\nCd 0 0\n")
    (d / "binary.extxyz").write_bytes(bytes(range(256)) * 4)
    return {
        "NC": str(write_structure(build_cdse_cds(1.5, 1), d / "cs.extxyz")),
        "GOLD": str(write_structure(Atoms("Au2", positions=[[0, 0, 0], [0, 0, 2.9]]), d / "au.extxyz")),
        "EMPTY": str(d / "empty.extxyz"), "TRUNCATED": str(d / "truncated.extxyz"),
        "BINARY": str(d / "binary.extxyz"), "MISSING": str(d / "missing.extxyz"),
    }


CASES = [
    # build (the output is -o, handled below)
    (["build", "cdse", "--diameter", "1000"], "atoms"),
    (["build", "cspbbr3", "--cells", "100000"], "atoms"),
    (["build", "cdse", "--diameter", "nan"], "finite"),
    (["build", "cdse", "--diameter", "-1"], "positive"),
    (["build", "cdse"], "needs --diameter"),
    # calibrate
    (["calibrate", "NC", "--temperatures", "100,abc,300"], "cannot read temperatures"),
    (["calibrate", "NC", "--temperatures=-5,100,200"], "temperatures must be positive"),
    (["calibrate", "NC", "--temperatures", "-5,100,200"], "expected one argument"),
    (["calibrate", "NC", "--thermostat", "berendsen"], "invalid choice"),
    (["calibrate", "NC", "--no-such-option", "1"], "unrecognized arguments"),
    (["calibrate", "NC", "--temperatures", "nan,100,200"], "temperatures"),
    (["calibrate", "NC", "--temperatures", "100,200"], "at least 3"),
    (["calibrate", "NC", "--production-ps", "-1"], "--production-ps"),
    (["calibrate", "NC", "--timestep-fs", "0"], "--timestep-fs"),
    (["calibrate", "NC", "--sample-every-fs", "1"], "shorter than --timestep-fs"),
    (["calibrate", "NC", "--seed", "0"], "--seed"),
    (["calibrate", "NC", "--no-minimize", "--anneal-k", "300"], "needs the minimisation"),
    (["calibrate", "NC", "--anneal-timestep-fs", "0"], "--anneal-timestep-fs"),
    (["calibrate", "MISSING"], "does not exist"),
    (["calibrate", "EMPTY"], "structure file"),
    (["calibrate", "TRUNCATED"], "structure file"),
    (["calibrate", "BINARY"], "structure file"),
    (["calibrate", "GOLD"], "Au"),
    # delta-t
    (["delta-t", "NC", "--t0", "-5"], "--t0"),
    (["delta-t", "NC", "--delta-t", "nan"], "--delta-t"),
    (["delta-t", "NC", "--delta-t", "1e9"], "--delta-t"),
    (["delta-t", "NC", "--delta-t", "0"], "non-zero"),
    (["delta-t", "NC", "--t0", "2990", "--delta-t", "50"], "outside"),
    (["delta-t", "NC", "--q-range", "5,1"], "--q-range"),
    (["delta-t", "NC", "--smoothing", "-0.1"], "--smoothing"),
    # phonons
    (["phonons", "NC", "--temperature", "-5"], "--temperature"),
    (["phonons", "NC", "--fmax", "-1"], "--fmax"),
    (["phonons", "NC", "--anneal-k", "-300"], "--anneal-k"),
    (["phonons", "NC", "--dos-sigma", "nan"], "--dos-sigma"),
    (["phonons", "NC", "--md-ps", "10"], "twice the correlation window"),
    (["phonons", "NC", "--fd-step", "0"], "--fd-step"),
    (["phonons", "GOLD"], "Au"),
    # spin-relax
    (["spin-relax", "NC", "--fmax", "0"], "--fmax"),
    (["spin-relax", "NC", "--max-steps", "0"], "--max-steps"),
    (["spin-relax", "NC", "--dry-run"], "cp2k only"),
    (["spin-relax", "NC", "--cp2k-option", "max_scf=1"], "cp2k only"),
    (["spin-relax", "NC", "--backend", "cp2k", "--cp2k-option", "cutof=400"], "cutof"),
    (["spin-relax", "NC", "--backend", "cp2k", "--vacuum", "-1"], "--vacuum"),
    (["spin-relax", "NC", "--import-triplet", "MISSING"], "does not exist"),
    (["spin-relax", "BINARY"], "structure file"),
    # diffract
    (["diffract", "NC", "--powder", "--points", "12"], "odd"),
    (["diffract", "NC"], "nothing to compute"),
    (["diffract", "NC", "--grid", "box", "--hkl", "000"], "forward beam"),
    (["diffract", "NC", "--powder", "--energy-kev", "-1"], "--energy-kev"),
    (["diffract", "NC", "--powder", "--q-range", "5", "1"], "QMIN < QMAX"),
    (["diffract", "NC", "--powder", "--r-max", "inf"], "--r-max"),
    (["diffract", "MISSING", "--powder"], "does not exist"),
    # polaron-diffraction
    (["polaron-diffraction", "--model", "random-hole", "--p1", "0.9", "--p2", "0.5"], "occupations"),
    (["polaron-diffraction", "--model", "random-hole", "--k-br", "0"], "--k-br"),
    (["polaron-diffraction", "--model", "random-hole", "--samples", "0"], "--samples"),
    (["polaron-diffraction", "--model", "random-hole", "--sizes", "lognormal:5"], "cannot read sizes"),
    (["polaron-diffraction", "--model", "dft"], "--spin-dir"),
    (["polaron-diffraction", "--model", "random-hole", "--half-width", "nan"], "--half-width"),
    # ued
    (["ued", "analyze", "MISSING"], "missing.extxyz"),
    (["ued", "analyze", DATA, "--z-threshold", "0"], "--z-threshold"),
    (["ued", "analyze", DATA, "--calibration", "MISSING"], "does not exist"),
    (["ued", "analyze", DATA, "--mean-excitons", "5", "--excitons-per-mj-cm2", "2"], "not both"),
    (["ued", "analyze", DATA, "--q2-max-fit", "nan"], "--q2-max-fit"),
    (["ued", "profiles", PROFILES], "--structure"),
    (["ued", "profiles", "MISSING", "--structure", "NC"], "does not exist"),
    (["ued", "profiles", PROFILES, "--structure", "MISSING"], "does not exist"),
    (["ued", "profiles", PROFILES, "--structure", "NC", "--q-range", "5,1"], "--q-range"),
    (["ued", "profiles", PROFILES, "--structure", "NC", "--knot-spacing", "0.5"], "--knot-spacing"),
    (["ued", "decompose", PROFILES, "--structure", "NC", "--r-range", "5,1"], "--r-range"),
    (["ued", "decompose", PROFILES, "--structure", "NC", "--disorder-rms", "0"], "--disorder-rms"),
    (["ued", "decompose", PROFILES, "--structure", "NC", "--heat-model", "md"], "invalid choice"),
    # kinetics
    (["kinetics", "auger", "--mean-excitons", "0", "--tau-auger-ps", "250"], "--mean-excitons"),
    (["kinetics", "auger", "--mean-excitons", "2", "--tau-auger-ps", "inf"], "--tau-auger-ps"),
    (["kinetics", "auger", "--mean-excitons", "2", "--tau-auger-ps", "1e6", "--t-max-ps", "10"], "too short"),
    (["kinetics", "auger", "--mean-excitons", "2", "--tau-auger-ps", "250", "--n-nc", "5"], "--n-nc"),
    (["kinetics", "auger", "--tau-auger-ps", "250"], "--mean-excitons"),
    (["kinetics", "trapping", "--mean-excitons", "2", "--tau-auger-ps", "250", "--tau-trap-ps", "-1"],
     "--tau-trap-ps"),
    (["kinetics", "occupation", "--gamma0-t", "nan"], "--gamma0-t"),
    (["kinetics", "occupation", "--gamma0-t", "1", "--fluence-mj-cm2", "1"], "either"),
    (["kinetics", "state-filling", "--mean-excitations", "7.1", "--p-trap", "2"], "--p-trap"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(c[0][:3]) for c in CASES])
def test_bad_input_is_one_line_exit_2_nothing_written(files, tmp_path, capsys, argv, message):
    argv = [files.get(a, a) for a in argv]
    out = tmp_path / "out"
    tail = ["-o", str(out / "x.extxyz")] if argv[0] == "build" else ["--out", str(out)]
    assert main([*argv, *tail]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert message in err, err
    assert "Traceback" not in captured.out + captured.err
    assert not out.exists()


def test_a_fit_the_data_do_not_determine_is_an_error_not_its_guess(tmp_path, capsys):
    """A heating curve with no rise (excitation far below one exciton) must not print the fit's start value."""
    out = tmp_path / "o"
    assert main(["kinetics", "auger", "--mean-excitons", "1e-9", "--tau-auger-ps", "250", "--n-nc", "100",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "undetermined" in err and not out.exists()
