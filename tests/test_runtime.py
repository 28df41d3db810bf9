"""Runtime robustness: worker paths, the cache and its locks, worker limits, signals, file modes."""

from __future__ import annotations

import numpy as np
import pytest

from nclattice.potentials import load
from nclattice.structures import build_cdse_cds
from nclattice.tasks.md import MDSettings, run_nvt

TINY_MD = dict(equilibration_ps=0.2, production_ps=0.4, seed=11)


@pytest.fixture(scope="module")
def nc():
    return build_cdse_cds(1.5, 1)


@pytest.fixture(scope="module")
def sw():
    return load("zhou2013-sw")


def test_md_runs_in_a_relative_work_folder_whose_name_has_a_space_and_an_accent(tmp_path, monkeypatch, nc, sw):
    home = tmp_path / "run dir é"
    home.mkdir()
    monkeypatch.chdir(home)
    traj = run_nvt(nc, sw, MDSettings(300, **TINY_MD), workdir="cal é/runs/md/key/work")
    assert traj.n_frames == 20 and np.isfinite(traj.positions_angstrom).all()
    assert (home / "cal é" / "runs" / "md" / "key" / "work" / "log.lammps").is_file()
