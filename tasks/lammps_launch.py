"""Starting LAMMPS: the isolated worker process on one or more MPI ranks, and what both sides share.

Parent side. :func:`worker_command` is the command line of a worker (``python -m
nclattice.tasks.lammps_worker`` for MD, ``...lammps_static_worker`` for minimisation and Hessian),
on ``ranks`` MPI ranks:

* inside a Slurm allocation (``SLURM_JOB_ID`` set and ``srun`` on PATH): ``srun --mpi=pmi2``, so
  the ranks run on the CPUs Slurm gave the job;
* elsewhere: MPICH's ``mpiexec.gforker`` from the virtual environment, a launcher that forks the
  ranks itself and hands them their PMI channel as an inherited descriptor. Hydra's ``mpiexec``
  (the default launcher of the wheel) keeps a control port open on 0.0.0.0 while the ranks run,
  even with ``-launcher fork``; gforker opens none.

In both cases MPICH's network module is libfabric's TCP provider on the loopback interface
(:data:`LOOPBACK_MPI_ENV`; the ranks exchange their data through MPICH's shared memory): its
default opens a listening TCP port on the external interface in every rank. So no process of a
single-node run listens beyond loopback. (One rank uses the shm provider, :data:`SHM_MPI_ENV`,
and listens nowhere.) :func:`run_worker` runs the command inside the machine's
worker slots (``threads x ranks``), streams its ``progress`` lines, and
:func:`failure_cause` turns a failed run into the one telling line.

Worker side. :func:`open_lammps` (command-line flags: log, no screen, the OPENMP package with
``-sf omp`` when ``threads > 1``), :func:`die_with_parent`, :func:`fail` and :func:`error_text`.

Both. :func:`minimize_commands`: the one conjugate-gradient minimisation of the project.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from .lammps_env import LOOPBACK_MPI_ENV, load_lammps, worker_environment

FAILURE_FILE = "failure.txt"


# ----------------------------------------------------------------------------- both sides
def minimize_commands(fmax_ev_per_angstrom: float, max_iterations: int = 20000) -> list[str]:
    """Conjugate gradients until the largest force component is below ``fmax_ev_per_angstrom``
    (no energy criterion); steps capped at 0.05 Å so that a strained surface atom cannot jump basins."""
    return ["min_style cg", "min_modify dmax 0.05 line quadratic",
            f"minimize 0.0 {fmax_ev_per_angstrom} {max_iterations} {10 * max_iterations}"]


def lammps_flags(log: str, threads: int = 1) -> list[str]:
    """LAMMPS command-line flags of a worker: its log, no screen output, and with ``threads > 1``
    the OPENMP package's styles (``-sf omp``) on that many threads per rank."""
    flags = ["-log", log, "-screen", "none", "-nocite"]
    if threads > 1:
        flags += ["-sf", "omp", "-pk", "omp", str(threads)]
    return flags


# ----------------------------------------------------------------------------- parent side
def in_slurm_allocation() -> bool:
    return bool(os.environ.get("SLURM_JOB_ID")) and shutil.which("srun") is not None


def mpi_launcher(ranks: int, threads: int = 1) -> list[str]:
    """The launcher prefix for ``ranks`` MPI ranks ([] for one rank): srun inside Slurm, else gforker."""
    if ranks <= 1:
        return []
    if in_slurm_allocation():
        return ["srun", "--mpi=pmi2", f"--ntasks={ranks}", f"--cpus-per-task={threads}", "--nodes=1",
                "--kill-on-bad-exit=1", "--quiet"]
    venv_bin = Path(sys.prefix) / "bin"
    for name in ("mpiexec.gforker", "mpiexec"):
        if (venv_bin / name).exists():
            return [str(venv_bin / name), "-n", str(ranks)]
    return ["mpiexec", "-n", str(ranks)]


def worker_command(module: str, spec_path: str | Path, ranks: int = 1, threads: int = 1) -> list[str]:
    """``[launcher...] python -m nclattice.tasks.<module> SPEC``."""
    return [*mpi_launcher(ranks, threads), sys.executable, "-m", f"nclattice.tasks.{module}", str(spec_path)]


def launch_environment(threads: int = 1, ranks: int = 1) -> dict[str, str]:
    """The worker's environment: one-rank runs as lammps_env says; several ranks on one node use
    the loopback interface only (a user's own FI_PROVIDER / MPIR_CVAR_CH4_NETMOD, e.g. for several
    nodes, is kept)."""
    env = worker_environment(threads, ranks)
    if ranks > 1 and os.environ.get("SLURM_JOB_NUM_NODES", "1") == "1":
        for name, value in LOOPBACK_MPI_ENV.items():
            env.setdefault(name, value)
    return env


def failure_cause(workdir: Path, output: str, returncode: int = 1) -> str:
    """The most telling line: the worker's own diagnosis, else LAMMPS' ERROR line, else the signal."""
    diag = workdir / FAILURE_FILE
    if diag.exists():
        return diag.read_text(encoding="utf-8", errors="replace").strip()
    log = workdir / "log.lammps"
    text = (log.read_text(encoding="utf-8", errors="replace") if log.exists() else "") + "\n" + output
    errors = [ln.strip() for ln in text.splitlines() if "ERROR" in ln]
    if errors:
        return errors[-1]
    if returncode < 0:
        return f"the LAMMPS worker was killed by signal {signal.Signals(-returncode).name}"
    tail = [ln for ln in output.strip().splitlines() if ln.strip()]
    return tail[-1] if tail else "the LAMMPS worker exited without a message"


class WorkerTimeout(Exception):
    """The worker ran past its time limit and was killed."""


def run_worker(module: str, spec_path: Path, *, threads: int = 1, ranks: int = 1,
               timeout_s: float | None = None, on_progress: Callable[[str, int, int], None] | None = None,
               max_workers: int | None = None, notify: Callable[[str], None] | None = None) -> tuple[int, str]:
    """Run one worker in ``spec_path``'s folder; returns (exit code, its output other than progress lines).

    The worker holds ``threads x ranks`` worker slots (:mod:`nclattice.runtime`) while it runs, runs
    in its own process group (killed with the caller), and lines 'progress PHASE DONE TOTAL' go to
    ``on_progress``. Raises :class:`WorkerTimeout` after ``timeout_s``.
    """
    from ..runtime import kill_group, started, worker_slots

    work = Path(spec_path).resolve().parent
    cmd = worker_command(module, Path(spec_path).resolve(), ranks, threads)
    timed_out = threading.Event()
    other = []
    with worker_slots(threads * ranks, max_workers, notify), \
            started(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, encoding="utf-8",
                    errors="replace", env=launch_environment(threads, ranks), cwd=work) as proc:
        timer = threading.Timer(timeout_s, lambda: (timed_out.set(), kill_group(proc))) if timeout_s else None
        if timer:
            timer.start()
        try:
            for line in proc.stdout:
                if line.startswith("progress "):
                    if on_progress is not None:
                        _, phase, done, total = line.split()
                        on_progress(phase, int(done), int(total))
                else:
                    other.append(line)
            rc = proc.wait()
        finally:
            if timer:
                timer.cancel()
    if timed_out.is_set():
        raise WorkerTimeout(f"did not finish within {timeout_s} s")
    return rc, "".join(other)


# ----------------------------------------------------------------------------- worker side
def die_with_parent() -> None:
    """End this worker when the process that started it dies, even by ``kill -9`` (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent's signal handler still stops us
        return
    expected = os.environ.get("NCLATTICE_PARENT_PID")
    under_launcher = "PMI_SIZE" in os.environ or "PMI_FD" in os.environ or "SLURM_STEP_ID" in os.environ
    if expected and not under_launcher and os.getppid() != int(expected):
        sys.exit(3)  # the parent died before prctl took effect


def open_lammps(log: str, threads: int = 1):
    """A LAMMPS instance with the worker's flags (:func:`lammps_flags`)."""
    return load_lammps()(cmdargs=lammps_flags(log, threads))


def finish(lmp) -> None:
    """Close LAMMPS and end MPI (MPI_Finalize): libfabric then removes the rank's /dev/shm region,
    which a process that just exits leaves behind. Only on success: a rank that fails alone would
    wait in MPI_Finalize for the others."""
    lmp.finalize()


def fail(work: Path, message: str) -> None:
    """Write the worker's diagnosis (rank 0 only) and exit."""
    if os.environ.get("PMI_RANK", "0") == "0" and os.environ.get("SLURM_PROCID", "0") == "0":
        (work / FAILURE_FILE).write_text(message + "\n", encoding="utf-8")
    sys.exit(3)


def error_text(exc: Exception) -> tuple[str, str]:
    """(origin, first line) of an exception raised inside a worker: LAMMPS raises its ERROR text."""
    text = str(exc).replace("ERROR on proc 0: ", "").replace("ERROR: ", "").strip()
    text = text.split("\n")[0].strip()  # drop LAMMPS' "For more information see ..." line
    origin = "LAMMPS error" if "ERROR" in str(exc) else f"worker error ({type(exc).__name__})"
    return origin, text
