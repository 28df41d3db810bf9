"""Cluster descriptions without a cluster: profiles, their errors, job sizes from item estimates,
the LAMMPS launch commands, and the CP2K batch script of a dry run."""

from __future__ import annotations

import shlex

import pytest

from nclattice.cli import main
from nclattice.flows.campaign import CampaignError, load_campaign
from nclattice.flows.cluster import (
    ATOM_STEPS_PER_S,
    ClusterError,
    Resources,
    SlurmProfile,
    item_resources,
    job_resources,
    load_profile,
    walltime_seconds,
    walltime_text,
)
from nclattice.flows.settings import CalibrationSettings, SettingsError
from nclattice.tasks.lammps_launch import lammps_flags, minimize_commands, mpi_launcher

SPEC = """
name: c
structures:
  nc: {build: {kind: cdse, diameter: 1.5}}
analyses:
  - run: delta-t
    structure: nc
    with: {production-ps: 1, mpi-ranks: 2}
slurm:
  partition: debug
  walltime: "01:30:00"
  PATCH
"""


def test_walltime_round_trip_and_errors():
    assert walltime_seconds("01:30:00") == 5400 and walltime_seconds("2-00:00:10") == 172810
    assert walltime_text(5400) == "01:30:00" and walltime_text(90000) == "1-01:00:00"
    with pytest.raises(ClusterError, match="HH:MM:SS"):
        load_profile({"walltime": "90 minutes"})
    with pytest.raises(ClusterError, match="min-jobs"):
        load_profile({"min-jobs": 5, "max-jobs": 2})
    with pytest.raises(SettingsError, match="memory-gb"):
        load_profile({"memory-gb": -1})


def test_profile_file_and_campaign_section(tmp_path):
    (tmp_path / "p.yaml").write_text("slurm:\n  partition: short\n  max-jobs: 8\n  prologue: [module load cp2k]\n")
    profile = load_profile(tmp_path / "p.yaml")
    assert profile.partition == "short" and profile.max_jobs == 8 and profile.prologue == ["module load cp2k"]
    (tmp_path / "bad.yaml").write_text("partition: short\n")
    with pytest.raises(ClusterError, match="must hold a 'slurm:' mapping"):
        load_profile(tmp_path / "bad.yaml")
    (tmp_path / "c.yaml").write_text(SPEC.replace("PATCH", "max-jobs: 3"))
    assert load_campaign(tmp_path / "c.yaml").slurm.max_jobs == 3
    (tmp_path / "c.yaml").write_text(SPEC.replace("PATCH", "maxjobs: 3"))
    with pytest.raises(CampaignError, match=r"line \d+, slurm.*maxjobs.*unknown option"):
        load_campaign(tmp_path / "c.yaml")


def test_md_estimate_scales_with_atoms_length_and_ranks():
    s = CalibrationSettings.parse({"temperatures": "100,200,300", "production-ps": 20, "equilibration-ps": 10,
                                   "potential": "zhou2013-sw"})
    one = item_resources(s, 10_901)
    steps = 3 * 30_000 / 2.0 + s.anneal_ps * 1000 / s.anneal_timestep_fs  # 3 x 30 ps / 2 fs, one anneal
    assert one.walltime_s == pytest.approx(3 * 10_901 * steps / ATOM_STEPS_PER_S["zhou2013-sw"] + 300)
    four = item_resources(s.model_copy(update={"mpi_ranks": 4}), 10_901)
    assert four.cores == 4 and (four.walltime_s - 300) == pytest.approx((one.walltime_s - 300) / 4)
    assert item_resources(s, 2 * 10_901).memory_gb > one.memory_gb


def test_a_job_smaller_than_an_item_is_refused_naming_the_item():
    needs = {"big": Resources(4, 2.0, 600), "small": Resources(1, 1.0, 60)}
    assert job_resources(SlurmProfile(), needs) == Resources(4, 2.0, 600)
    with pytest.raises(ClusterError, match="item 'big' needs 4 cores"):
        job_resources(SlurmProfile(cores=2), needs)


def test_launch_commands(monkeypatch):
    assert minimize_commands(1e-4)[-1] == "minimize 0.0 0.0001 20000 200000"
    assert lammps_flags("log.lammps", 2)[-4:] == ["-sf", "omp", "-pk", "omp", "2"][-4:]
    assert mpi_launcher(1) == []
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert mpi_launcher(2)[0].endswith("mpiexec.gforker") and mpi_launcher(2)[-1] == "2"
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv("PATH", "/nonexistent")  # no srun on PATH: not inside Slurm after all
    assert "srun" not in mpi_launcher(2)[0]


def test_cp2k_dry_run_writes_a_batch_script_stated_as_an_estimate(tmp_path):
    from nclattice.structio import write_structure
    from nclattice.structures import build_cspbbr3_cube

    write_structure(build_cspbbr3_cube(3, vacancies="tetra", charge_balance="require"), tmp_path / "cs.extxyz")
    assert main(["spin-relax", str(tmp_path / "cs.extxyz"), "--backend", "cp2k", "--cp2k-ranks", "16",
                 "--dry-run", "--out", str(tmp_path / "dr")]) == 0
    script = (tmp_path / "dr" / "cp2k" / "job.sbatch").read_text()
    assert "ESTIMATE" in script and "#SBATCH --ntasks=16" in script and "--cp2k-ranks 16" in script
    assert "#SBATCH --mem=" in script and "#SBATCH --time=" in script


def test_cp2k_ranks_start_with_the_mpi_beside_cp2k(tmp_path, monkeypatch):
    """An activated venv puts MPICH's mpirun (LAMMPS wheel) first on PATH; CP2K must be started by
    the MPI beside it (Debian: Open MPI), or every rank fails in MPI_Init. An explicit path, or a
    launcher that is not mpirun/mpiexec, is kept as given."""
    from nclattice.tasks.cp2k_backend import Cp2kBackend

    venv, system = tmp_path / "venv bin", tmp_path / "usr bin"
    for folder, names in ((venv, ["mpirun"]), (system, ["mpirun", "cp2k_shell.psmp"])):
        folder.mkdir()
        for name in names:
            (folder / name).write_text("#!/bin/sh\n")
            (folder / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{venv}:{system}")
    two = Cp2kBackend(mpi_ranks=2)
    assert shlex.split(two.launcher("cp2k_shell.psmp")) == [str(system / "mpirun"), "-np", "2"]
    assert two.shell_command().endswith("-np 2 cp2k_shell.psmp")
    assert Cp2kBackend(mpi_ranks=2, mpi_launcher="srun -n {ranks}").launcher("cp2k_shell.psmp") == "srun -n 2"
    assert Cp2kBackend(mpi_ranks=2, mpi_launcher="/opt/mpi/bin/mpirun -np {ranks}").launcher(
        "cp2k_shell.psmp") == "/opt/mpi/bin/mpirun -np 2"
    assert "mpirun" not in Cp2kBackend(mpi_ranks=1).shell_command()


def test_failed_starts_are_the_newest_ended_jobs_whose_worker_never_joined(tmp_path):
    from nclattice.flows.cluster import REGISTERED, failed_starts

    logs = {4: "x", 5: f"distributed.worker - INFO - {REGISTERED} tcp://127.0.0.1:1", 6: "exit 127",
            7: "module: not found", 8: ""}
    for job, text in logs.items():
        (tmp_path / f"ncl-demo-{job}.err").write_text(text)
    queued = {"8": "ncl-demo"}  # 8 is still starting: not a failure yet; 4 is older than a good start
    registered: set[int] = set()
    assert [p.name for p in failed_starts(tmp_path, queued, registered)] == ["ncl-demo-7.err", "ncl-demo-6.err"]
    assert registered == {5}
    (tmp_path / "ncl-demo-5.err").write_text("rotated away")  # a known good job is not read again
    assert len(failed_starts(tmp_path, {}, registered)) == 3  # 8 left the queue without its worker
