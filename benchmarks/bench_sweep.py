"""Temperature sweep with W parallel MD workers: the speed-up of W = 2 over W = 1.

Run:  .venv/bin/python benchmarks/bench_sweep.py [--temperatures 200,250,300,350] [--diameter 4.0]
                                                  [--production-ps 4] [--repeats 1]

The sweep is the calibration flow (one isolated LAMMPS worker per temperature, one OpenMP
thread each) on a CdSe sphere of ~1k atoms, run once with a task runner of 1 worker and once
with 2, each into a fresh results directory (no cache). Printed: both wall times, their ratio
(target >= 1.7 on 2 cores) and the machine's load average before and after each run, because
on a shared machine other jobs take cores away from the second worker.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from nclattice.structio import write_structure
from nclattice.structures import build_cdse


def sweep(path: str, workers: int, temperatures: list[float], production_ps: float) -> float:
    from prefect.task_runners import ThreadPoolTaskRunner

    from nclattice.flows.calibration import calibration_flow

    flow = calibration_flow.with_options(task_runner=ThreadPoolTaskRunner(max_workers=workers))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        flow(structure=path, out=f"{tmp}/out", temperatures_k=temperatures, equilibration_ps=2.0,
             production_ps=production_ps, timestep_fs=2.0, sample_every_fs=20.0)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--temperatures", default="200,250,300,350")
    ap.add_argument("--diameter", type=float, default=4.0, help="CdSe sphere diameter in nm")
    ap.add_argument("--production-ps", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    temps = [float(t) for t in args.temperatures.split(",")]
    # a loaded machine can take minutes to start Prefect's embedded API server
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "900")
    nc = build_cdse(args.diameter)
    print(f"{len(temps)} temperatures, {len(nc)} atoms, 2 ps equilibration + {args.production_ps:g} ps "
          f"production at 2 fs; {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/nc.extxyz"
        write_structure(nc, path)
        sweep(path, 2, temps[:3], 0.2)  # warm-up: Prefect start, imports (a calibration needs 3 temperatures)
        for _ in range(args.repeats):
            walls = {}
            for workers in (1, 2):
                before = os.getloadavg()[0]
                walls[workers] = sweep(path, workers, temps, args.production_ps)
                print(f"W = {workers}: {walls[workers]:6.1f} s   load average before {before:.1f}, "
                      f"after {os.getloadavg()[0]:.1f}", flush=True)
            print(f"speed-up W=2 / W=1: {walls[1] / walls[2]:.2f}x (target >= 1.7 on 2 idle cores)", flush=True)


if __name__ == "__main__":
    main()
