"""Powder I(Q) of large crystals: nclattice against two references measured side by side.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_powder.py [--quick]

References, on the same Q grid (0.5-12 1/Å, step 0.02) and one thread:
- a plain exact numpy pair-histogram Debye sum written inline below (all distances per species
  pair at once with pdist/cdist, 0.001 Å bins at their mean distance);
- debyecalculator (Johansen et al., J. Appl. Cryst. 2024) on the CPU in float64, when installed
  (an optional benchmark-only dependency: pip install torch debyecalculator); skipped otherwise.
Then the cost of a 4x larger crystal, a ~100k-atom crystal, and the NUFFT route where it is
chosen (the same 100k-atom crystal at small Q·D). Accuracy is the largest difference from the
exact reference divided by the pattern's maximum. The machine's load is printed with each size.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy.spatial.distance import cdist, pdist

# one thread, like the references: the pair loop otherwise shares its rows among all usable cores
os.environ.setdefault("NCLATTICE_MAX_WORKERS", "1")

from nclattice.structures import build_cdse
from nclattice.tasks import diffraction as dif
from nclattice.tasks.scattering import Probe

PROBE = Probe("xray", 13.6)


def plain_debye(positions: np.ndarray, symbols: list[str], q: np.ndarray, bin_angstrom: float = 0.001) -> np.ndarray:
    """The reference: every distance per species pair at once, a fine histogram with the mean
    distance of each bin (exact for a perfect lattice, whose distances repeat exactly, and to
    ~(Q·δ)²/24 for a disordered one), sin(Qr)/(Qr) per occupied bin."""
    species, idx = dif.species_index(symbols)
    f = np.real(PROBE.factors(species, q))
    intensity = (np.bincount(idx)[:, None] * f**2).sum(0)
    for a in range(len(species)):
        for b in range(a, len(species)):
            xa, xb = positions[idx == a], positions[idx == b]
            d = pdist(xa) if a == b else cdist(xa, xb).ravel()
            key = (d / bin_angstrom).astype(np.int64)
            counts, sums = np.bincount(key), np.bincount(key, weights=d)
            occ = np.nonzero(counts)[0]
            r = sums[occ] / counts[occ]
            intensity += 2 * f[a] * f[b] * (np.sinc(np.outer(q, r) / np.pi) @ counts[occ])
    return intensity


def debyecalculator_time(atoms, q: np.ndarray) -> tuple[float, np.ndarray] | str:
    try:
        import torch
        from debyecalculator import DebyeCalculator
    except ImportError:
        return "debyecalculator not installed (pip install torch debyecalculator): skipped"
    torch.set_num_threads(1)
    calc = DebyeCalculator(qmin=float(q[0]), qmax=float(q[-1]) + 1e-9, qstep=float(q[1] - q[0]), biso=0.0,
                           device="cpu", dtype=torch.float64, radiation_type="xray", num_threads=1)
    t0 = time.perf_counter()
    _, iq = calc.iq((atoms.get_chemical_symbols(), atoms.positions))
    return time.perf_counter() - t0, np.asarray(iq)


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller crystals (a smoke run)")
    quick = ap.parse_args().quick
    d_small, d_big = (5.0, 7.9) if quick else (8.5, 13.5)  # 4x the atoms
    d_huge = 10.0 if quick else 17.6
    q = np.arange(0.5, 12.0 + 1e-9, 0.02)
    print(f"Q grid 0.5-12 1/Å, {q.size} points, X-rays 13.6 keV, one thread")
    PROBE.factors(["Cd", "Se"], q)  # load the scattering-factor tables once, outside the timings
    dif.pair_histogram(np.random.default_rng(0).random((8, 3)), ["Cd", "Se"] * 4)  # compile (or load) the pair loop

    atoms = build_cdse(d_small)
    pos, sym = atoms.positions, atoms.get_chemical_symbols()
    t_ours, ours = timed(dif.debye_intensity, pos, sym, PROBE, q)
    t_plain, plain = timed(plain_debye, pos, sym, q)
    err = np.abs(ours - plain).max() / plain.max()
    print(f"{len(atoms):>7} atoms  nclattice (auto: {dif.choose_powder_method(len(pos), 2, 10 * d_small, q)}) "
          f"{t_ours:6.2f} s   plain numpy histogram {t_plain:6.2f} s  ratio {t_plain / t_ours:5.1f}   "
          f"max|diff|/max {err:.1e}   {load()}", flush=True)
    dc = debyecalculator_time(atoms, q)
    if isinstance(dc, str):
        print(f"{'':>7}        {dc}")
    else:
        t_dc = dc[0]
        print(f"{'':>7}        debyecalculator (CPU, float64) {t_dc:6.2f} s  ratio {t_dc / t_ours:5.1f}   {load()}",
              flush=True)

    big = build_cdse(d_big)
    t_big, _ = timed(dif.debye_intensity, big.positions, big.get_chemical_symbols(), PROBE, q)
    print(f"{len(big):>7} atoms  nclattice {t_big:6.2f} s   {len(big) / len(atoms):.2f}x the atoms cost "
          f"{t_big / t_ours:.1f}x (N² would be {(len(big) / len(atoms)) ** 2:.1f}x)   {load()}", flush=True)

    huge = build_cdse(d_huge)
    hpos, hsym = huge.positions, huge.get_chemical_symbols()
    t_hist, hist = timed(dif.pair_histogram, hpos, hsym)
    t_sum, _ = timed(dif.debye_from_histogram, hist, PROBE, q)
    print(f"{len(huge):>7} atoms  nclattice {t_hist + t_sum:6.2f} s (pair histogram {t_hist:.1f} s + Debye sum "
          f"{t_sum:.1f} s)   {load()}", flush=True)

    q_low = np.arange(0.2, 2.5 + 1e-9, 0.01)  # small-angle / first peaks: Q·D up to ~440
    method = dif.choose_powder_method(len(hpos), 2, 10 * d_huge, q_low)
    t_low, low = timed(dif.debye_intensity, hpos, hsym, PROBE, q_low)
    t_low_sum, exact_low = timed(dif.debye_from_histogram, hist, PROBE, q_low)
    err = np.abs(low - exact_low).max() / exact_low.max()
    print(f"{len(huge):>7} atoms  Q 0.2-2.5 1/Å ({q_low.size} points): auto chose {method}, {t_low:6.2f} s vs the "
          f"exact histogram route {t_hist + t_low_sum:6.2f} s  ratio {(t_hist + t_low_sum) / t_low:5.1f}   "
          f"max|diff|/max {err:.1e}   {load()}", flush=True)


if __name__ == "__main__":
    main()
