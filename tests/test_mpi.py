"""LAMMPS on several MPI ranks (and on OpenMP threads): the same physics as one rank, and no process
of the run listens beyond loopback (mpiexec.gforker + MPICH over shared memory; srun inside Slurm)."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import threading

import numpy as np
import psutil
import pytest

from nclattice.tasks.md import MDSettings, run_nvt

MD = {"equilibration_ps": 0.5, "production_ps": 2.0, "sample_every_fs": 20.0, "seed": 5}


def _external_listeners() -> set:
    """(process, address, port) of every listening inet socket of this test's descendants not on loopback."""
    found = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN and not ipaddress.ip_address(conn.laddr.ip).is_loopback:
                    found.add((proc.name(), conn.laddr.ip, conn.laddr.port))
        except psutil.Error:
            pass
    return found


def _block_mean_error(x: np.ndarray, blocks: int = 4) -> tuple[float, float]:
    means = np.array([b.mean() for b in np.array_split(x, blocks)])
    return float(x.mean()), float(means.std(ddof=1) / np.sqrt(blocks))


def _same_physics(one, other, n_atoms: int) -> None:
    # the minimisation before MD is deterministic up to the order of floating-point sums
    e1, e2 = one.minimization["energy_final_ev"], other.minimization["energy_final_ev"]
    assert abs(e1 - e2) / n_atoms < 1e-7, (e1, e2)
    assert one.minimization["converged"] and other.minimization["converged"]
    # the trajectories diverge (chaos), their averages agree within their statistical errors
    for series in ("temperature_k", "potential_energy_ev"):
        (m1, s1), (m2, s2) = (_block_mean_error(getattr(t, series)) for t in (one, other))
        assert abs(m1 - m2) < 4 * np.hypot(s1, s2) + 1e-9 * abs(m1), (series, m1, s1, m2, s2)


def test_two_ranks_give_the_one_rank_physics_and_listen_on_loopback_only(nc, sw):
    one = run_nvt(nc, sw, MDSettings(300, **MD))
    seen, done = set(), threading.Event()

    def watch():
        while not done.is_set():
            seen.update(_external_listeners())
            done.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        two = run_nvt(nc, sw, MDSettings(300, mpi_ranks=2, **MD))
    finally:
        done.set()
        watcher.join()
    assert not seen, seen
    _same_physics(one, two, len(nc))
    omp = run_nvt(nc, sw, MDSettings(300, threads=2, **MD))  # LAMMPS' OPENMP styles (-sf omp)
    _same_physics(one, omp, len(nc))


SRUN_SCRIPT = """
import json, sys
from nclattice.potentials import load
from nclattice.structures import build_cdse_cds
from nclattice.tasks.lammps_launch import mpi_launcher
from nclattice.tasks.md import MDSettings, run_nvt
t = run_nvt(build_cdse_cds(1.5, 1), load("zhou2013-sw"), MDSettings(300, mpi_ranks=2, **json.loads(sys.argv[1])),
            workdir=sys.argv[2])
print(json.dumps({"launcher": mpi_launcher(2)[0], "energy": t.minimization["energy_final_ev"]}))
"""


@pytest.mark.slurm
def test_two_ranks_run_under_srun_inside_a_slurm_job(nc, sw, tmp_path):
    import json

    one = run_nvt(nc, sw, MDSettings(300, **{**MD, "production_ps": 0.2}))
    done = subprocess.run(["salloc", "-n", "2", "--mem=1G", "--time=5", sys.executable, "-c", SRUN_SCRIPT,
                           json.dumps({**MD, "production_ps": 0.2}), str(tmp_path / "md")],
                          capture_output=True, text=True, timeout=300)
    log = tmp_path / "md" / "log.lammps"  # kept: a failure shows what LAMMPS and MPICH said
    assert done.returncode == 0, (done.returncode, done.stdout[-1000:], done.stderr[-2000:],
                                  log.read_text()[-2000:] if log.exists() else "no log.lammps")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["launcher"] == "srun"
    assert abs(result["energy"] - one.minimization["energy_final_ev"]) / len(nc) < 1e-7, \
        (result, one.minimization["energy_final_ev"])
