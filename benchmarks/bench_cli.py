"""Start-up cost of the command line, against the imports any such tool pays.

Run:  .venv/bin/python benchmarks/bench_cli.py [--repeat 7]
Prints the median wall time (fresh processes, measured interleaved so machine load hits all
alike) of
- ``nclattice --help`` against ``python -c "import numpy, scipy, ase"``: the difference is the
  command line's own start-up (target: at most +0.3 s; Prefect is not imported);
- ``nclattice kinetics occupation --gamma0-t 1 --out DIR`` against those imports plus one saved
  matplotlib figure: the ratio is what a small command costs beyond the unavoidable (target: about
  2x; no Prefect server is started).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
FIGURE = ("import numpy, scipy, ase\n"
          "from matplotlib.figure import Figure\n"
          "fig = Figure(figsize=(6, 4)); ax = fig.subplots(); ax.plot([0, 1], [0, 1]); ax.set(xlabel='x')\n"
          "fig.savefig(r'{path}', dpi=120)\n")


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7)
    repeat = p.parse_args().repeat
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "imports": [sys.executable, "-c", "import numpy, scipy, ase"],
            "help": [str(BIN / "nclattice"), "--help"],
            "imports+figure": [sys.executable, "-c", FIGURE.format(path=Path(tmp) / "ref.png")],
            "occupation": [str(BIN / "nclattice"), "kinetics", "occupation", "--gamma0-t", "1", "--out",
                           str(Path(tmp) / "occ")],
        }
        for cmd in commands.values():  # warm the file cache
            wall(cmd)
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(repeat):
            for name, cmd in commands.items():
                times[name].append(wall(cmd))
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, t in med.items():
        print(f"{name:<16} {t:6.2f} s (median of {repeat})")
    print(f"nclattice --help costs {med['help'] - med['imports']:+.2f} s beyond importing numpy, scipy, ase "
          "(target <= +0.30 s)")
    print(f"kinetics occupation costs {med['occupation'] / med['imports+figure']:.2f}x the imports plus one "
          "saved figure (target about 2x)")


if __name__ == "__main__":
    main()
