"""Where a campaign runs: here (threads), a Dask scheduler by address, or Slurm through dask-jobqueue.

A ``slurm:`` section (in the campaign file, or a cluster profile file given with ``--cluster``)
describes the jobs: partition, account, qos, walltime, memory, cores, adaptive minimum and maximum
jobs, prologue lines (module loads, venv activation). Each job runs one Dask worker that runs one
item at a time. Resources an item needs come from its capability (:func:`item_resources`: cores
= MPI ranks x OpenMP threads, memory and walltime from the atom count and the MD length with the
measured speed of the potential); a job smaller than an item needs is refused before any work,
as is a submission Slurm itself refuses (``sbatch --test-only``: unknown partition, memory over
the limit). A job killed by ``scancel`` or by its walltime loses nothing finished: Dask resubmits
the item to another job, the campaign retries it (bounded), and its finished MD runs come back from
the cache. Inside a job, the running item renames the job (``squeue`` shows
``ncl-<campaign>-<item>``).
"""

from __future__ import annotations

import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import NclatticeError
from .settings import Settings, opt

# measured one-thread MD speeds (atom-steps per second; docs/potentials.md, 2-core machine, no load)
ATOM_STEPS_PER_S = {"zhou2013-sw": 1.7e5, "branicio2009-inp-vashishta": 1.25e5,
                    "schapotschnikow2010-pbse": 3.3e4, "pascazio2022-cspbbr3": 2.7e4}
SLOWEST_ATOM_STEPS_PER_S = 2.0e4  # a potential not measured: assume the slowest kind (Coulomb)
WALLTIME_SAFETY = 3.0  # estimates are for an idle core; shared nodes and PPPM set-up cost more
BYTES_PER_FRAME_ATOM = 3 * 8 * 2  # positions (and their copy) of one stored frame, double precision


class ClusterError(NclatticeError):
    """The cluster description is wrong or Slurm refuses the jobs; the message says which."""


class SlurmProfile(Settings):
    """One Slurm cluster: what each Dask worker job asks for."""

    partition: str | None = opt(None, "Slurm partition (-p); default: the cluster's default partition")
    account: str | None = opt(None, "Slurm account (-A)")
    qos: str | None = opt(None, "Slurm quality of service (--qos)")
    walltime: str | None = opt(None, "walltime of each job, HH:MM:SS or D-HH:MM:SS; default: the longest "
                               "item's estimate")
    memory_gb: float | None = opt(None, "memory of each job in GB; default: the largest item's estimate",
                                  alias="memory-gb", gt=0, le=100_000)
    cores: int | None = opt(None, "cores of each job; default: the most any item needs", ge=1, le=4096)
    min_jobs: int = opt(0, "adaptive scaling: jobs kept even when idle", ge=0, le=10_000)
    max_jobs: int = opt(4, "adaptive scaling: most jobs at once", ge=1, le=10_000)
    prologue: list[str] = opt([], "shell lines run at the start of each job (module load ..., source venv)")
    interface: str | None = opt(None, "network interface the Dask scheduler and workers listen on "
                                "(e.g. ib0 on a cluster, lo on one machine)")
    extra_directives: list[str] = opt([], "further #SBATCH lines, e.g. '--constraint=cpu'")


@dataclass(frozen=True)
class Resources:
    cores: int
    memory_gb: float
    walltime_s: float


def load_profile(source: str | Path | dict[str, Any]) -> SlurmProfile:
    """A profile from a campaign's ``slurm:`` mapping or from a YAML file holding one."""
    if not isinstance(source, dict):
        path = Path(source)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ClusterError(f"cannot read the cluster profile '{path}' ({exc}).") from None
        if not isinstance(data, dict) or not isinstance(data.get("slurm"), dict):
            raise ClusterError(f"cluster profile '{path}' must hold a 'slurm:' mapping (partition, walltime, ...).")
        source = data["slurm"]
    profile = SlurmProfile.parse(source)
    if profile.walltime is not None:
        walltime_seconds(profile.walltime)
    if profile.min_jobs > profile.max_jobs:
        raise ClusterError(f"slurm min-jobs ({profile.min_jobs}) exceeds max-jobs ({profile.max_jobs}).")
    return profile


def walltime_seconds(text: str) -> int:
    match = re.fullmatch(r"(?:(\d+)-)?(\d{1,2}):(\d{2}):(\d{2})", text.strip())
    if not match:
        raise ClusterError(f"slurm walltime '{text}' is not HH:MM:SS or D-HH:MM:SS.")
    days, h, m, s = (int(g or 0) for g in match.groups())
    return ((days * 24 + h) * 60 + m) * 60 + s


def walltime_text(seconds: float) -> str:
    seconds = max(60, math.ceil(seconds / 60) * 60)
    days, rest = divmod(int(seconds), 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:00"
    return f"{days}-{text}" if days else text


# ----------------------------------------------------------------------------- what an item needs
def item_resources(settings: Settings, n_atoms: int | None) -> Resources:
    """Cores, memory and walltime one campaign item needs: an estimate from its settings.

    MD items: steps = (equilibration + production) / timestep per temperature, plus the anneal that
    starts them all (once), at the measured one-core speed of the potential times the ranks
    (near-linear on one node); memory: the stored frames plus 1 GB. Other items: one core, 2 GB,
    30 minutes.
    """
    ranks = getattr(settings, "mpi_ranks", 1) * getattr(settings, "omp_threads", 1)
    if n_atoms is None or not hasattr(settings, "production_ps"):
        return Resources(ranks, 2.0, 1800.0)
    temperatures = len(getattr(settings, "temperatures_k", None) or [0, 0]) if hasattr(
        settings, "temperatures_k") or hasattr(settings, "delta_t_k") else 1
    steps = temperatures * (settings.equilibration_ps + settings.production_ps) * 1000 / settings.timestep_fs
    if getattr(settings, "anneal_temperature_k", 0.0) and not getattr(settings, "no_anneal", False):
        steps += settings.anneal_ps * 1000 / getattr(settings, "anneal_timestep_fs", settings.timestep_fs)  # once
    speed = ATOM_STEPS_PER_S.get(getattr(settings, "potential", None) or "", SLOWEST_ATOM_STEPS_PER_S)
    seconds = n_atoms * steps / (speed * ranks)
    frames = settings.production_ps * 1000 / settings.sample_every_fs
    memory = 1.0 + n_atoms * frames * BYTES_PER_FRAME_ATOM * min(temperatures, 2) / 1e9
    return Resources(ranks, round(memory, 1), WALLTIME_SAFETY * seconds + 300)


def job_resources(profile: SlurmProfile, needs: dict[str, Resources]) -> Resources:
    """The job every worker asks for: the profile's values, else the largest need; refuses a job
    that is too small for an item (one sentence naming the item)."""
    cores = profile.cores or max(r.cores for r in needs.values())
    memory = profile.memory_gb or max(r.memory_gb for r in needs.values())
    walltime = walltime_seconds(profile.walltime) if profile.walltime else max(r.walltime_s for r in needs.values())
    for name, r in needs.items():
        if r.cores > cores:
            raise ClusterError(f"item '{name}' needs {r.cores} cores (MPI ranks x threads) but slurm cores is "
                               f"{cores}; raise slurm cores or lower the item's mpi-ranks.")
    return Resources(cores, memory, walltime)


# ----------------------------------------------------------------------------- Slurm itself
def _directives(profile: SlurmProfile, job: Resources) -> list[str]:
    args = [f"--time={walltime_text(job.walltime_s)}", f"--mem={math.ceil(job.memory_gb * 1024)}M",
            "--ntasks=1", f"--cpus-per-task={job.cores}"]
    for flag, value in (("--partition", profile.partition), ("--account", profile.account),
                        ("--qos", profile.qos)):
        if value:
            args.append(f"{flag}={value}")
    return args + list(profile.extra_directives)


def check_submission(profile: SlurmProfile, job: Resources) -> None:
    """Ask Slurm whether it would accept the job (``sbatch --test-only``); one sentence if not."""
    if shutil.which("sbatch") is None:
        raise ClusterError("the campaign asks for Slurm but sbatch is not on PATH; run it on the cluster's "
                           "login node (or load its slurm module).")
    cmd = ["sbatch", "--test-only", *_directives(profile, job), "--wrap", "true"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise ClusterError("sbatch --test-only did not answer within 60 s; is slurmctld reachable?") from None
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        reason = (lines[-1] if lines else f"exit code {done.returncode}").removeprefix("sbatch: error: ")
        raise ClusterError(f"Slurm refuses the campaign's jobs ({reason}); fix the slurm section "
                           f"(partition, account, qos, memory-gb, cores, walltime).")


def slurm_cluster(profile: SlurmProfile, job: Resources, name: str, log_dir: Path):
    """A dask-jobqueue SLURMCluster with adaptive scaling between min-jobs and max-jobs."""
    from dask_jobqueue import SLURMCluster

    log_dir.mkdir(parents=True, exist_ok=True)
    lifetime = max(60, int(job.walltime_s) - 300)  # leave before the walltime kill, so Dask moves the item
    prologue = [*profile.prologue, f"export NCLATTICE_MAX_WORKERS={job.cores}",
                "export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}"]
    extra = [d for d in _directives(profile, job) if not d.startswith(("--time", "--mem", "--ntasks",
                                                                         "--cpus-per-task", "--partition",
                                                                         "--account", "--qos"))]
    cluster = SLURMCluster(
        # one Dask thread per job (one item at a time); the job books job.cores CPUs for its MD ranks
        queue=profile.partition, account=profile.account, cores=1, processes=1, job_cpu=job.cores,
        memory=f"{math.ceil(job.memory_gb * 1024)}MiB", walltime=walltime_text(job.walltime_s),
        job_name=f"ncl-{name}", job_script_prologue=prologue, log_directory=str(log_dir),
        interface=profile.interface, job_extra_directives=[*extra, *([f"--qos={profile.qos}"] if profile.qos else [])],
        worker_extra_args=["--lifetime", f"{lifetime}s", "--lifetime-stagger", "30s"],
        # quoted: dask-jobqueue writes it into the job script as is (a venv path may hold a space)
        python=shlex.quote(os.environ.get("NCLATTICE_WORKER_PYTHON") or sys.executable),
        scheduler_options={"dashboard_address": "127.0.0.1:0"},  # reach it through an ssh tunnel
    )
    cluster.adapt(minimum_jobs=profile.min_jobs, maximum_jobs=profile.max_jobs)
    return cluster


FAILED_STARTS = 3  # jobs in a row whose worker never started: the job script itself is wrong
REGISTERED = "Registered to:"  # what a Dask worker logs once it has joined the scheduler


def queued_jobs() -> dict[str, str] | None:
    """Job id -> job name of everything in Slurm's queue (pending or running); None if squeue fails."""
    try:
        done = subprocess.run(["squeue", "-h", "-o", "%i %j"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return dict(line.split(maxsplit=1) for line in done.stdout.splitlines() if len(line.split()) == 2)


def failed_starts(log_dir: Path, queued: dict[str, str], registered: set[int] | None = None) -> list[Path]:
    """Error logs of the newest jobs in a row that ended without their Dask worker joining, newest first.

    dask-jobqueue writes each job's stderr to ``<log_dir>/<job name>-<job id>.err``; a job that has
    left the queue and whose log never says "Registered to:" failed to start a worker (a broken
    prologue, a python that does not exist on the node, ...). A job whose worker joined ends the run;
    ``registered`` remembers such jobs between calls, so that their (growing) logs are read once.
    """
    registered = set() if registered is None else registered
    logs = []
    for path in log_dir.glob("*.err"):
        job = path.stem.rpartition("-")[2]
        if job.isdigit():
            logs.append((int(job), path))
    failed = []
    for job, path in sorted(logs, reverse=True):
        if job in registered or REGISTERED in path.read_text(encoding="utf-8", errors="replace"):
            registered.add(job)
            break
        if str(job) not in queued:
            failed.append(path)
    return failed


def _last_line(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "nothing (its log is empty)"


class StartWatch:
    """Watch a SLURMCluster's jobs; stop the campaign with one sentence when its jobs die before their
    Dask worker starts. dask-jobqueue does not notice such a job (it counts it as a worker on its way
    and submits no other), so without this the campaign would wait for workers forever.

    Fires after ``limit`` such jobs in a row, or as soon as one has failed and none of the campaign's
    jobs is left in the queue (seen on two polls in a row, in case a new job is on its way).
    """

    def __init__(self, log_dir: Path, job_prefix: str, on_failure, limit: int = FAILED_STARTS,
                 every_s: float = 3.0):
        import threading

        self.log_dir, self.job_prefix, self.on_failure = log_dir, job_prefix, on_failure
        self.limit, self.every_s = limit, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="slurm-start-watch", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()

    def _watch(self) -> None:
        stuck_polls, registered = 0, set()
        while not self._stop.wait(self.every_s):
            queued = queued_jobs()
            if queued is None:
                continue
            failed = failed_starts(self.log_dir, queued, registered)
            ours = [j for j, name in queued.items() if name.startswith(self.job_prefix)]
            stuck_polls = stuck_polls + 1 if failed and not ours else 0
            if failed and (len(failed) >= self.limit or stuck_polls >= 2):
                newest = failed[0]
                self.on_failure(f"{len(failed)} Slurm job(s) in a row ended before their Dask worker started "
                                f"(the last, {newest.name}, says: "
                                f"{_last_line(newest)}); fix the slurm prologue or the python the jobs run, "
                                f"see {self.log_dir}.")
                return


def name_this_job(campaign: str, item: str) -> None:
    """Inside a Slurm job: rename it after the item it now runs (what ``squeue`` shows)."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job or shutil.which("scontrol") is None:
        return
    subprocess.run(["scontrol", "update", f"JobId={job}", f"JobName=ncl-{campaign}-{item}"],
                   capture_output=True, timeout=30, check=False)


# ----------------------------------------------------------------------------- CP2K as a batch job
# Measured with Debian's cp2k 2023.1 (tasks/cp2k_backend.py): Cs4PbBr6, 11 atoms in a 15.9 Å cube,
# ~5.5 s of CPU and 1.7 GB per SCF step, nearly all on the real-space grids (cost ∝ box volume).
GRID_S_PER_A3, GRID_GB_PER_A3 = 5.5 / 15.9**3, 1.7 / 15.9**3
BASIS_PER_ATOM = 13  # DZVP-MOLOPT-SR-GTH functions per heavy atom (Cs, Pb, Br: 13), an upper average
DENSE_MATRICES = 20  # OT/FULL_ALL keeps ~20 dense basis x basis matrices (MOs, preconditioner, history)
FLOP_PER_S_PER_RANK = 5e9  # dense linear algebra on one core, conservative
SCF_STEPS_PER_GEOMETRY, GEOMETRY_STEPS = 20, 150  # per BFGS step; both spin stages together
PARALLEL_EFFICIENCY = 0.6  # grids and ScaLAPACK at ~100 ranks, a typical figure, not measured here


def cp2k_job_estimate(n_atoms: int, box_angstrom3: float, ranks: int) -> dict[str, float]:
    """An estimate (not a measurement) of memory and walltime of a singlet + triplet relaxation.

    Per SCF step: the grid part scales the measured Cs4PbBr6 step by box volume; the matrix part
    is ~(basis² x occupied) multiply-adds x 20 dense operations; memory: grids by volume plus
    ~20 dense basis x basis matrices (distributed over the ranks, kept whole on rank 0 once).
    """
    basis = BASIS_PER_ATOM * n_atoms
    occupied = basis / 3
    scf_cpu_s = GRID_S_PER_A3 * box_angstrom3 + 2 * DENSE_MATRICES * basis**2 * occupied / FLOP_PER_S_PER_RANK
    memory_gb = GRID_GB_PER_A3 * box_angstrom3 + DENSE_MATRICES * basis**2 * 8 / 1e9
    scf_wall_s = scf_cpu_s / (ranks * PARALLEL_EFFICIENCY if ranks > 1 else 1)
    return {"scf_step_cpu_s": scf_cpu_s, "scf_step_wall_s": scf_wall_s, "memory_gb": memory_gb * 1.5,
            "walltime_s": scf_wall_s * SCF_STEPS_PER_GEOMETRY * GEOMETRY_STEPS}


def cp2k_batch_script(structure: str, out: str, ranks: int, n_atoms: int, box_angstrom3: float,
                      extra_options: list[str]) -> str:
    """A Slurm batch script running ``nclattice spin-relax --backend cp2k`` on ``ranks`` ranks (an estimate
    of memory and walltime in its header; the relaxation resumes from its checkpoints if resubmitted)."""
    est = cp2k_job_estimate(n_atoms, box_angstrom3, ranks)
    hours = est["walltime_s"] / 3600
    capped = min(est["walltime_s"], 7 * 86400)
    options = " ".join(extra_options)
    return f"""#!/bin/bash
# nclattice spin-relax --backend cp2k on {ranks} MPI ranks: {n_atoms} atoms, box {box_angstrom3:.0f} Å^3.
# ESTIMATE (not measured at this size): ~{est['scf_step_cpu_s'] / 3600:.1f} CPU hours and ~{est['memory_gb']:.0f} GB
# per SCF step; ~{est['scf_step_wall_s'] / 60:.0f} min per SCF step on {ranks} ranks at {PARALLEL_EFFICIENCY:.0%}
# efficiency; ~{SCF_STEPS_PER_GEOMETRY} SCF steps x ~{GEOMETRY_STEPS} geometries: ~{hours:.0f} h in all.
# Scaled from Cs4PbBr6 measured here (5.5 s CPU, 1.7 GB per SCF step in a 15.9 Å cube); check the
# first SCF steps of the log and adjust. A killed or timed-out job resumes from its checkpoints when
# resubmitted (same --out). Edit partition/account for your cluster (docs/cluster.md).
#SBATCH --job-name=ncl-cp2k-relax
#SBATCH --ntasks={ranks}
#SBATCH --cpus-per-task=1
#SBATCH --mem={max(4, round(est['memory_gb']))}G
#SBATCH --time={walltime_text(capped)}
##SBATCH --partition=YOUR_PARTITION
##SBATCH --account=YOUR_ACCOUNT
set -euo pipefail
# module load cp2k   # or a CP2K on PATH; source /path/to/nclattice/.venv/bin/activate
export OMP_NUM_THREADS=1
nclattice spin-relax {structure} --backend cp2k --cp2k-ranks {ranks} --out {out} {options}
"""
