"""`nclattice spin-relax`: files, resume after an interrupted run, import, CP2K dry run, errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from ase import Atoms

from nclattice.cli import main
from nclattice.flows.deployments import polaron_ensemble_flow
from nclattice.flows.outcomes import PolaronEnsembleOutcome, SpinDryRunOutcome
from nclattice.flows.polaron import RESULT_FILES
from nclattice.structio import read_structure, write_structure
from nclattice.tasks.cp2k_backend import find_cp2k

os.environ.setdefault("OMP_NUM_THREADS", "1")
KEYS = ("backend", "energy_singlet_ev", "energy_triplet_vertical_ev", "energy_triplet_relaxed_ev",
        "relaxation_energy_ev", "converged", "displacement_regression", "provenance")


@pytest.fixture()
def cluster(tmp_path):
    """Cs4PbBr6: Pb at the centre, Br6 octahedron, Cs on alternate corners (neutral)."""
    d = 5.90 / 2
    br = [np.roll([s * d, 0.0, 0.0], k) for k in range(3) for s in (1, -1)]
    cs = [np.array(c) * d for c in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1))]
    return write_structure(Atoms("PbBr6Cs4", positions=[[0, 0, 0], *br, *cs]),
                           tmp_path / "cs4pbbr6.extxyz")


def spin_json(out):
    return json.loads((out / "spin.json").read_text())


def test_interrupted_run_resumes_and_matches_a_direct_run(cluster, tmp_path, capsys):
    direct, resumed = tmp_path / "direct", tmp_path / "resumed"
    assert main(["spin-relax", str(cluster), "--fmax", "0.01", "--out", str(direct)]) == 0
    log = capsys.readouterr().out
    assert "singlet  step    0" in log and "max|F|" in log and "relaxation energy" in log
    data = spin_json(direct)
    assert set(KEYS) <= set(data) and sorted(p.name for p in direct.iterdir()) == sorted(RESULT_FILES)
    assert data["converged"] == {"singlet": True, "triplet": True}
    assert data["max_force_ev_per_angstrom"]["singlet"] <= 0.01
    assert data["relaxation_energy_ev"] > 0
    cs = data["displacement_regression"]["Cs"]
    assert np.array(cs["slope_ppm"]).shape == (3, 3) and np.array(cs["stderr_ppm"]).shape == (3, 3)

    # a run stopped after 4 steps keeps its checkpoint and writes no result ...
    assert main(["spin-relax", str(cluster), "--fmax", "0.01", "--max-steps", "4",
                 "--out", str(resumed)]) == 2
    assert "--max-steps" in capsys.readouterr().err
    assert not (resumed / "spin.json").exists()
    assert len(list((resumed / ".progress" / "spin-relax").glob("*/singlet.npz"))) == 1  # key folder
    # ... and continues from step 4 with a larger budget, to the same numbers
    assert main(["spin-relax", str(cluster), "--fmax", "0.01", "--out", str(resumed)]) == 0
    assert "resuming at step 4" in capsys.readouterr().out
    again = spin_json(resumed)
    assert not (resumed / ".progress").exists()
    for key in ("energy_singlet_ev", "energy_triplet_vertical_ev", "energy_triplet_relaxed_ev"):
        assert again[key] == pytest.approx(data[key], abs=1e-5)
    np.testing.assert_allclose(again["displacement_regression"]["Br"]["slope_ppm"],
                               data["displacement_regression"]["Br"]["slope_ppm"], atol=5.0)

    # a finished result is reused, not recomputed
    assert main(["spin-relax", str(cluster), "--fmax", "0.01", "--out", str(resumed)]) == 0
    assert "already complete" in capsys.readouterr().out

    # the two structures are the pair the diffraction `dft` model reads, and they import back
    s, t = read_structure(direct / "singlet.extxyz"), read_structure(direct / "triplet.extxyz")
    assert s.get_chemical_symbols() == t.get_chemical_symbols()
    imported = tmp_path / "imported"
    assert main(["spin-relax", str(direct / "singlet.extxyz"), "--import-triplet",
                 str(direct / "triplet.extxyz"), "--out", str(imported)]) == 0
    back = spin_json(imported)
    assert back["backend"] == "imported"
    assert back["relaxation_energy_ev"] == pytest.approx(data["relaxation_energy_ev"], abs=1e-9)
    # extxyz keeps ~1e-8 Å: the slopes come back to 0.01 ppm
    np.testing.assert_allclose(back["displacement_regression"]["Cs"]["slope_ppm"], cs["slope_ppm"],
                               atol=0.01)


def test_cp2k_dry_run_writes_the_inputs(cluster, tmp_path, capsys):
    out = tmp_path / "dry"
    assert main(["spin-relax", str(cluster), "--backend", "cp2k", "--dry-run", "--cp2k-ranks", "4",
                 "--out", str(out)]) == 0
    singlet = (out / "cp2k" / "singlet.inp").read_text()
    triplet = (out / "cp2k" / "triplet.inp").read_text()
    assert "MULTIPLICITY 1" in singlet and "MULTIPLICITY 3" in triplet
    assert "UNRESTRICTED_KOHN_SHAM ON" in triplet and "DZVP-MOLOPT-SR-GTH" in triplet
    assert triplet.count("\n         Cs ") == 4
    assert "mpirun -np 4" in (out / "cp2k" / "command.txt").read_text()
    assert "UNRESTRICTED_KOHN_SHAM" not in singlet  # the closed-shell singlet by default
    written = SpinDryRunOutcome.from_json(out).dry_run  # OUT/cp2k/dry_run.json lists what was written
    assert str(out / "cp2k" / "singlet.inp") in written and str(out / "cp2k" / "command.txt") in written
    bs = tmp_path / "bs"
    assert main(["spin-relax", str(cluster), "--backend", "cp2k", "--dry-run", "--singlet", "broken-symmetry",
                 "--out", str(bs)]) == 0
    singlet = (bs / "cp2k" / "singlet.inp").read_text()
    assert "UNRESTRICTED_KOHN_SHAM ON" in singlet and "MULTIPLICITY 1" in singlet and "MAGNETIZATION" in singlet


@pytest.mark.parametrize("argv, message", [
    (["--fmax", "0"], "--fmax"),
    (["--charge", "1"], "cannot form multiplicity 3"),
    (["--dry-run"], "cp2k only"),
    (["--max-steps", "0"], "--max-steps"),
    (["--singlet", "broken-symmetry"], "--singlet broken-symmetry applies to --backend cp2k only"),
    (["--singlet", "open"], "--singlet"),
])
def test_bad_input_is_one_line_and_writes_nothing(cluster, tmp_path, capsys, argv, message):
    out = tmp_path / "bad"
    assert main(["spin-relax", str(cluster), "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and not out.exists()


@pytest.mark.skipif(find_cp2k() is not None, reason="cp2k is installed here, so it would run")
def test_cp2k_backend_without_cp2k_is_a_one_line_error(cluster, tmp_path, capsys):
    assert main(["spin-relax", str(cluster), "--backend", "cp2k", "--out", str(tmp_path / "c")]) == 2
    assert "not installed" in capsys.readouterr().err and not (tmp_path / "c").exists()


def test_mismatched_import_is_refused(cluster, tmp_path, capsys):
    other = write_structure(Atoms("Br2", positions=[[0, 0, 0], [0, 0, 2.3]]), tmp_path / "br2.extxyz")
    assert main(["spin-relax", str(cluster), "--import-triplet", str(other),
                 "--out", str(tmp_path / "imp")]) == 2
    assert "same order" in capsys.readouterr().err


def test_prefect_ensemble_flow_runs_models_side_by_side_and_averages(cluster, tmp_path):
    """The one Prefect test (the ephemeral server costs ~20 s): two models at once."""
    squeezed = read_structure(cluster)
    squeezed.positions *= 0.98
    models = {"ideal": str(cluster), "squeezed": str(write_structure(squeezed, tmp_path / "sq.extxyz"))}
    summary = polaron_ensemble_flow(models, str(tmp_path / "models"), fmax=0.01)
    per_model = [spin_json(tmp_path / "models" / m)["relaxation_energy_ev"] for m in models]
    assert summary["relaxation_energy_mean_ev"] == pytest.approx(np.mean(per_model))
    assert (tmp_path / "models" / "polaron_models.json").exists()
    loaded = PolaronEnsembleOutcome.from_json(tmp_path / "models")
    assert loaded.models == list(models) and loaded.relaxation_energy_mean_ev == pytest.approx(np.mean(per_model))
