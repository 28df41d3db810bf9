"""Start-up cost of the command line, against the imports any such tool pays.

Run:  .venv/bin/python benchmarks/bench_cli.py [--repeat 7] [--diffract]
Prints the median wall time (fresh processes, measured interleaved so machine load hits all
alike) of
- ``nclattice --help`` against ``python -c "import numpy, scipy, ase"``: the difference is the
  command line's own start-up (target: at most +0.3 s; Prefect is not imported);
- ``nclattice kinetics occupation --gamma0-t 1 --out DIR`` against those imports plus one saved
  matplotlib figure: the ratio is what a small command costs beyond the unavoidable (target: about
  2x; no Prefect server is started);
- with ``--diffract``: ``nclattice diffract X --powder`` on a 45,807-atom CdSe crystal (build_cdse(13.5))
  against the same powder computation in this process (structure in memory, tables loaded): the
  difference is what the command line adds (start-up, imports, reading the file, figure, writes;
  target at most +1.5 s on an idle machine).
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


def powder_overhead(repeat: int) -> None:
    """Wall of `nclattice diffract X --powder` minus the powder computation done in-process."""
    import numpy as np

    from nclattice.flows.diffraction import _probe
    from nclattice.flows.settings import DiffractSettings
    from nclattice.structio import write_structure
    from nclattice.structures import build_cdse
    from nclattice.tasks import diffraction as dif

    atoms = build_cdse(13.5)
    s = DiffractSettings(powder=True)
    probe, symbols = _probe(s), atoms.get_chemical_symbols()
    q = np.linspace(*s.q_range_inv_angstrom, s.q_points)
    r = np.linspace(0.01, s.r_max_angstrom, int(s.r_max_angstrom / 0.01))

    def compute() -> float:
        t0 = time.perf_counter()
        intensity = dif.debye_intensity(atoms.positions, symbols, probe, q, method=s.powder_method)
        species, idx = dif.species_index(symbols)
        dif.powder_pattern(q, intensity, species, np.bincount(idx), probe, r)
        return time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        path = write_structure(atoms, Path(tmp) / "cdse_13p5nm.extxyz")
        command = [str(BIN / "nclattice"), "diffract", str(path), "--powder", "--out"]
        wall([*command, str(Path(tmp) / "warm")])
        compute()
        walls, computes = [], []
        for i in range(repeat):
            walls.append(wall([*command, str(Path(tmp) / f"d{i}")]))
            computes.append(compute())
    w, c = statistics.median(walls), statistics.median(computes)
    print(f"diffract --powder, {len(atoms)} atoms: command {w:6.2f} s, in-process powder {c:6.2f} s "
          f"(medians of {repeat})")
    print(f"the command line adds {w - c:+.2f} s to the computation (target <= +1.50 s on an idle machine)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--diffract", action="store_true", help="also time diffract --powder on 45,807 atoms")
    args = p.parse_args()
    repeat = args.repeat
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
    if args.diffract:
        powder_overhead(max(3, repeat // 2))


if __name__ == "__main__":
    main()
