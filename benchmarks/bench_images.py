"""Integration throughput of `ued images`: frames per second on 1024×1024 frames, one core.

  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_images.py [--size 1024] [--frames 200]

Measured side by side on the same frames (in memory, so reading is not timed; a second line
times reading compressed TIFFs from disk):
- nclattice: pyFAI's CSR matrix of the geometry, one sparse matrix–vector product per frame
  (tasks/images.py), for pixel splitting 'no' and 'bbox'; the matrix is kept pixel-major (CSC),
  and the same product with the bin-major CSR layout is timed beside it;
- reference: pyFAI's own ``integrate1d`` per frame (CSR, 'bbox', the usual way to call it);
- reference: pyFAI's ``integrate1d`` with the histogram engine (no pixel splitting).
Prints frames/s and the ratio to pyFAI's ``integrate1d``. The issue's target: ≥ 100 frames/s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from nclattice.flows.settings import UedImagesSettings
from nclattice.tasks import images as im
from nclattice.tasks import synthetic_frames as sf
from nclattice.tasks.frames import read_image
from nclattice.tasks.profiles import Ring

DEFAULT_SPLIT = UedImagesSettings.model_fields["pixel_splitting"].default


def rate(fn, frames, repeat: int = 2) -> float:
    fn(frames[0])  # warm-up (engine set-up, caches)
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        for f in frames:
            fn(f)
        best = max(best, len(frames) / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--frames", type=int, default=200)
    args = ap.parse_args()
    if os.environ.get("OMP_NUM_THREADS") != "1":
        print("note: set OMP_NUM_THREADS=1 for a one-core figure")
    shape = (args.size, args.size)
    g = sf.mev_geometry(shape)
    rings = tuple(Ring(f"r{k}", (1, 0, 0), 6, q, 1.0) for k, q in enumerate((1.8, 2.1, 2.9, 3.4, 4.1, 5.0, 6.0)))
    scene = sf.Scene(g, shape, rings, np.zeros(1), seed=1)
    rng = np.random.default_rng(0)
    base = next(sf.clean_frames(scene, oversample=1))
    frames = [rng.poisson(base).astype(np.float32) for _ in range(min(args.frames, 20))]
    frames = (frames * (args.frames // len(frames) + 1))[:args.frames]
    mask = sf.beam_stop(scene, 2.0)
    q_range = im.default_q_range(g, shape, mask)
    bins = im.default_bins(g, q_range)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"{args.size}×{args.size} frames, {bins} Q bins, {len(frames)} frames per timing; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    results = {}
    for split in ("no", "bbox"):
        integ = im.build_integrator(g, shape, mask, q_range, bins, split)
        results[f"nclattice product, pixel-major CSC ({split})"] = rate(integ.profile, frames)
        csr = integ.matrix.tocsr()
        results[f"  same matrix bin-major CSR ({split})"] = rate(lambda f, m=csr: m @ f.ravel(), frames)
    ai = g.integrator(shape)
    m8 = mask.astype(np.int8)
    for label, method in (("pyFAI integrate1d (bbox, csr)", ("bbox", "csr", "cython")),
                          ("pyFAI integrate1d (no, histogram)", ("no", "histogram", "cython"))):
        results[label] = rate(lambda f, m=method: ai.integrate1d(f, bins, unit="q_A^-1", radial_range=q_range,
                                                                 mask=m8, method=m), frames[:max(len(frames) // 4, 5)])
    integ = im.build_integrator(g, shape, mask, q_range, bins, DEFAULT_SPLIT)
    labels = [str(k) for k in range(len(frames))]
    t0 = time.perf_counter()
    im.integrate_frames(enumerate(frames), len(frames), integ, labels, dark=np.full(shape, 10.0))
    elapsed = time.perf_counter() - t0
    results[f"nclattice integrate_frames ({DEFAULT_SPLIT}, dark, mean image)"] = len(frames) / elapsed
    ref = results["pyFAI integrate1d (bbox, csr)"]
    for label, fps in results.items():
        print(f"  {label:52s} {fps:8.1f} frames/s   ×{fps / ref:5.2f} vs pyFAI integrate1d")
    with tempfile.TemporaryDirectory() as tmp:
        import tifffile

        paths = []
        for k in range(10):
            p = Path(tmp) / f"f{k}.tif"
            tifffile.imwrite(p, np.clip(frames[k], 0, 65535).astype(np.uint16), compression="zlib")
            paths.append(p)
        integ = im.build_integrator(g, shape, mask, q_range, bins, DEFAULT_SPLIT)
        t0 = time.perf_counter()
        for p in paths * 3:
            integ.profile(read_image(p))
        label = f"read zlib TIFF + integrate ({DEFAULT_SPLIT})"
        print(f"  {label:52s} {30 / (time.perf_counter() - t0):8.1f} frames/s")


if __name__ == "__main__":
    main()
