"""Kinetics and UED analysis timings.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_kinetics.py
Prints
- Gillespie throughput (NC trajectories per second) of the vectorized ensemble simulation
  against a textbook one-NC-at-a-time Python Gillespie loop (ratio = how many times faster);
- the time to analyze a 100-delay, 7-peak UED data set (DW fit per delay, disorder test,
  single-exponential fit), against per-delay numpy.polyfit as the reference fitter.
"""

from __future__ import annotations

import time

import numpy as np

from nclattice.tasks import kinetics as kin
from nclattice.tasks import ued


def textbook_gillespie(mean: float, tau_ps: float, times_ps: np.ndarray, n_nc: int, seed: int) -> np.ndarray:
    """One NC at a time, one event at a time: the reference implementation."""
    rng = np.random.default_rng(seed)
    energy = np.zeros(times_ps.size)
    for _ in range(n_nc):
        n, t, e = rng.poisson(mean), 0.0, 0
        while n > 1:
            t_next = t + rng.exponential(2.0 * tau_ps / (n * (n - 1)))
            energy[(times_ps >= t) & (times_ps < t_next)] += e
            t, n, e = t_next, n - 1, e + 1
        energy[times_ps >= t] += e
    return energy / n_nc


def best_of(fn, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    times = np.linspace(0.0, 1000.0, 201)
    for mean in (21.0, 100.0):
        n_fast, n_ref = 20000, 1000
        fast = best_of(lambda m=mean, n=n_fast: kin.auger_heating_gillespie(m, 625.0, times, n_nc=n, seed=1))
        ref = best_of(lambda m=mean, n=n_ref: textbook_gillespie(m, 625.0, times, n, 1), repeat=1)
        rate_fast, rate_ref = n_fast / fast, n_ref / ref
        print(f"Gillespie <N>={mean:>5.0f}: {rate_fast:10.0f} NC/s vectorized, {rate_ref:8.0f} NC/s textbook, "
              f"ratio {rate_fast / rate_ref:6.1f}x")

    q = np.array([1.80, 2.92, 3.43, 4.46, 5.06, 6.40, 7.00])
    delays = np.linspace(-20.0, 1000.0, 100)
    msd = 2e-3 * -np.expm1(-np.clip(delays, 0, None) / 80.0)
    series = ued.synthesize_series(delays, [f"Q{i + 1}" for i in range(q.size)], q, msd, 0.002, seed=0)

    def ours():
        dw = ued.analyze_series(series)
        dw.disorder_summary()
        kin.fit_exponential(delays, dw.column("delta_msd_angstrom2"), dw.column("delta_msd_stderr"))

    def reference():
        low = q**2 <= 40
        for i in range(delays.size):
            y = -np.log(series.i_over_i0[i, low])
            np.polyfit(q[low] ** 2, y, 1, w=series.i_over_i0[i, low] / series.error[i, low], cov="unscaled")

    t_ours, t_ref = best_of(ours), best_of(reference)
    print(f"UED 100 delays x 7 peaks: full analysis {t_ours * 1e3:7.1f} ms; per-delay polyfit only "
          f"{t_ref * 1e3:7.1f} ms; ratio (ours/polyfit) {t_ours / t_ref:5.2f}")


if __name__ == "__main__":
    main()
