"""Full-size end-to-end check of `nclattice ued images` on synthetic frames with a known truth.

  .venv/bin/python benchmarks/check_ued_images.py [--size 512] [--scans 3] [--delays 25] [--seed 0 1 2] [--out DIR]

1. MeV UED: a folder of TIFF frames (scans × delays, 3 MeV, geometry in a PONI file, beam stop
   and rod masked, dark frame), ``ued images ... --structure`` → Δ⟨u²⟩(t) against the truth;
2. keV UED: one HDF5 stack (90 keV, off-centre beam, geometry as explicit values);
3. the keV series with the beam centre given 3 px off: detected, then corrected by --refine-geometry.

Prints the plateau (GLS mean of Δ⟨u²⟩ over delays ≥ 5 rise times, under the delay-delay
covariance the shared reference causes) against the truth, the median |z| of the whitened
Δ⟨u²⟩ − truth over the positive delays (and of the per-delay z), per seed and pooled over seeds,
and the geometry lines. About a minute per seed at 512×512 on an idle core.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nclattice.cli import main as cli
from nclattice.results import read_json
from nclattice.structio import read_structure, write_structure
from nclattice.structures import build
from nclattice.tasks import synthetic_frames as sf
from nclattice.tasks import ued
from nclattice.tasks.scattering import Probe


def crystal(folder: Path) -> Path:
    path = folder / "pbse.extxyz"
    if not path.exists():
        write_structure(build("pbse", diameter_nm=3.0), path)
    return path


def verdict(out: Path, scene: sf.Scene, label: str) -> dict:
    """Plateau and calibration against the truth. Every delay's Δ⟨u²⟩ shares the error of the one
    reference I0, so the z of one realisation move together: the plateau is the GLS mean under the
    full delay-delay covariance (ring_covariance.npz), and calibration is judged on the whitened
    residuals L⁻¹(Δ⟨u²⟩ − truth), which are independent N(0, 1) when the errors are right
    (median |z| → 0.674). The naive per-delay z is printed beside them."""
    r = read_json(out / "ued.json")
    delays, msd, err = (np.array(r[k]) for k in ("delays_ps", "delta_msd_angstrom2", "delta_msd_stderr"))
    with np.load(out / "ring_covariance.npz") as f:
        cov = f["delta_msd_covariance"]
    truth = scene.plateau_msd_angstrom2 * -np.expm1(-np.clip(delays, 0, None) / scene.rise_ps)
    late, pos = delays >= 5 * scene.rise_ps, delays > 0
    plateau, plateau_err = ued.correlated_mean(msd[late], cov[np.ix_(late, late)])
    naive_z = (msd - truth)[pos] / err[pos]
    white_z = ued.whitened_residuals((msd - truth)[pos], cov[np.ix_(pos, pos)])
    corr = cov[np.ix_(pos, pos)] / np.outer(err[pos], err[pos])
    images = read_json(out / "images.json")
    row = {"case": label, "plateau": plateau, "plateau_err": plateau_err, "truth": scene.plateau_msd_angstrom2,
           "relative_error": plateau / scene.plateau_msd_angstrom2 - 1,
           "plateau_z": (plateau - scene.plateau_msd_angstrom2) / plateau_err,
           "median_abs_z": float(np.median(np.abs(white_z))), "naive_median_abs_z": float(np.median(np.abs(naive_z))),
           "white_z": white_z, "naive_z": naive_z,
           "mean_correlation": float(corr[~np.eye(corr.shape[0], dtype=bool)].mean()),
           "frames_per_s": images["integration"]["frames_per_second"], "rejected": images["n_rejected"]}
    print(f"{label}: plateau {plateau:.5f} ± {plateau_err:.5f} Å² vs truth {scene.plateau_msd_angstrom2:.5f} "
          f"({100 * row['relative_error']:+.1f} %, z {row['plateau_z']:+.2f}), median |z| {row['median_abs_z']:.2f} "
          f"whitened / {row['naive_median_abs_z']:.2f} per delay over {white_z.size} delays (mean correlation "
          f"between delays {row['mean_correlation']:.2f}), {row['rejected']} frame(s) rejected, integration "
          f"{row['frames_per_s']:.0f} frames/s", flush=True)
    return row


def one_seed(work: Path, args, seed: int) -> list[dict]:
    work = work / f"seed{seed}"
    work.mkdir(parents=True, exist_ok=True)
    structure = crystal(work)
    atoms = read_structure(structure)
    shape = (args.size, args.size)
    n_neg = max(args.delays // 5, 2)
    delays = np.concatenate([np.linspace(-20, -2, n_neg), np.geomspace(0.5, 60, args.delays - n_neg)])
    t0 = time.perf_counter()

    mev = sf.scene_for(atoms, sf.mev_geometry(shape), shape, delays, Probe("electron", 3000.0),
                       fwhm_inv_angstrom=0.08, seed=11 + 100 * seed, bad_frames={7: "streak"})
    sf.write_tiff_folder(mev, work / "mev" / "frames", args.scans)
    mev.geometry.write_poni(work / "mev" / "mev.poni", shape)
    sf.write_mask(mev, work / "mev" / "mask.tif")
    sf.write_dark(mev, work / "mev" / "dark.tif")
    print(f"MeV frames written ({time.perf_counter() - t0:.0f} s)", flush=True)
    split = [] if args.pixel_splitting is None else ["--pixel-splitting", args.pixel_splitting]
    rc = cli(["ued", "images", str(work / "mev" / "frames"), *split, "--delay-pattern", "delay_{delay}ps.tif",
              "--poni", str(work / "mev" / "mev.poni"), "--mask", str(work / "mev" / "mask.tif"),
              "--dark", str(work / "mev" / "dark.tif"), "--structure", str(structure), "--out", str(work / "mev_out")])
    assert rc == 0
    rows = [verdict(work / "mev_out", mev, f"MeV TIFF {args.scans}x{args.delays} {args.size}²")]

    kev_geo = sf.kev_geometry(shape)
    kev = sf.scene_for(atoms, kev_geo, shape, delays, Probe("electron", 90.0), fwhm_inv_angstrom=0.08,
                       seed=12 + 100 * seed, rod_angle_deg=200.0)
    sf.write_hdf5_stack(kev, work / "kev.h5", args.scans)
    sf.write_mask(kev, work / "kev_mask.tif")
    sf.write_dark(kev, work / "kev_dark.tif")
    common = ["--distance-mm", f"{kev_geo.distance_mm}", "--pixel-um", f"{kev_geo.pixel_x_um}", "--energy-kev", "90",
              "--mask", str(work / "kev_mask.tif"), "--dark", str(work / "kev_dark.tif"), "--structure", str(structure),
              "--scans", "scans", *split]
    centre = [f"{kev_geo.center_x_px}", f"{kev_geo.center_y_px}"]
    rc = cli(["ued", "images", str(work / "kev.h5"), "--center", *centre, *common, "--out", str(work / "kev_out")])
    assert rc == 0
    rows.append(verdict(work / "kev_out", kev, f"keV HDF5 {args.scans}x{args.delays} {args.size}²"))

    off = [f"{kev_geo.center_x_px + 3}", f"{kev_geo.center_y_px}"]
    for extra, name in (([], "kev_off"), (["--refine-geometry"], "kev_refined")):
        rc = cli(["ued", "images", str(work / "kev.h5"), "--center", *off, *common, *extra, "--out", str(work / name)])
        assert rc == 0
        r = read_json(work / name / "images.json")
        g = r["geometry"]["center_px"]
        print(f"{name}: centre given {off}, used {g[0]:.2f} {g[1]:.2f} (truth {centre}); "
              f"needs correction: {r['geometry_check']['needs_correction']}", flush=True)
        rows.append(verdict(work / name, kev, name))
    print(f"seed {seed}: {time.perf_counter() - t0:.0f} s; files in {work}", flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--scans", type=int, default=3)
    ap.add_argument("--delays", type=int, default=25)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--pixel-splitting", default=None, help="passed to ued images (no, bbox, full; default: its own)")
    ap.add_argument("--seed", type=int, nargs="+", default=[0],
                    help="noise realisations (added to the noise seeds); several are pooled at the end")
    args = ap.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="ued_images_check_"))
    rows = [row for seed in args.seed for row in one_seed(work, args, seed)]
    print("pooled over seeds " + " ".join(map(str, args.seed)) + ":")
    for case in dict.fromkeys(r["case"] for r in rows):
        sel = [r for r in rows if r["case"] == case]
        white, naive = np.concatenate([r["white_z"] for r in sel]), np.concatenate([r["naive_z"] for r in sel])
        print(f"  {case}: median |z| {np.median(np.abs(white)):.2f} whitened / {np.median(np.abs(naive)):.2f} per "
              f"delay over {white.size} delays; plateau z " + " ".join(f"{r['plateau_z']:+.2f}" for r in sel)
              + "; plateau error " + " ".join(f"{100 * r['relative_error']:+.1f}" for r in sel) + " %")
    print(f"files in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
