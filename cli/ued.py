"""`nclattice ued analyze`: Debye–Waller analysis of UED Bragg-peak time series."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..flows.settings import UedDecomposeSettings, UedImagesSettings, UedProfilesSettings, UedSettings
from .options import execute, settings_from_args

DATA_FORMAT = """CSV, one row per delay and peak, header
  delay_ps,peak,q_inv_angstrom,i_over_i0,error[,fluence_mj_cm2]
or s_inv_angstrom (s = 1/d = Q/2π) instead of q_inv_angstrom, or h,k,l columns with --lattice.
error = standard error of i_over_i0. Lines starting with '#' are comments."""


GROUP_DESCRIPTION = "Ultrafast electron diffraction analysis."
POSITIONAL_HELP = {"data": "CSV file(s); several fluences in one file or one per file",
                   "profiles": "radial profiles: .csv, .npz, .h5/.hdf5",
                   "source": "folder of TIFF frames (searched recursively) or HDF5 file"}
DESCRIPTION = {  # per sub-command (the table in nclattice.cli.COMMANDS)
    "analyze": "Per delay: weighted fit of -ln(I/I0) vs Q^2 below --q2-max-fit, delta_msd = 3 x slope (3D), "
               "intercept test, high-Q disorder flags; Delta T = delta_msd / b with an MD calibration. Writes "
               "OUT/ued.json, OUT/dw_vs_q2.png, OUT/delta_t.png.\n\nData format: " + DATA_FORMAT,
    "profiles": "Radial profiles (CSV, NPZ, HDF5; see examples/README.md) → rings of --structure fitted per delay "
                "→ OUT/peaks.csv and the `ued analyze` results in OUT/ued.json, with ring_fit.png, dw_vs_q2.png, "
                "delta_t.png, strain.png.",
    "decompose": "Per delay: ΔI = heating + b(t)·(surface-disorder model) [+ background], weighted least squares "
                 "in Q and on ΔG(r). Writes OUT/decomposition.json, decomposition.csv, decomposition_fits.png, "
                 "decomposition_time.png.",
    "images": "Azimuthal integration of every frame with pyFAI (geometry from --poni or --center/--distance-mm/"
              "--pixel-um/--energy-kev), dark and mask, per-frame normalisation and outlier rejection, per-delay "
              "averages with errors from the scatter of repeated frames. Writes OUT/profiles.h5 (the input of "
              "`ued profiles`), frames.csv, geometry.poni, images_qa.png, images.json; with --structure also the "
              "ring-position geometry check and the `ued profiles` analysis (ued.json, peaks.csv, figures).",
}


def run(args: argparse.Namespace) -> int:
    r = execute("ued", args, settings_from_args(UedSettings, args), data=args.data)
    print(r.headline())
    single = r["fits"]["delta_msd_single"]
    tau = f"{single['time_constants_ps'][0]:.3g} ps" if "time_constants_ps" in single else "no fit"
    print(f"{len(r['series'])} series, {len(r['delays_ps'])} delays; Δ⟨u²⟩ rise time {tau}; "
          f"localized disorder: {'yes' if r['localized_disorder_detected'] else 'no'} "
          f"({len(r['disorder_flags'])} flagged delay/peak pairs)")
    if "delta_t_force_field_systematic_k" in r:
        print(f"ΔT at the last delay: {r['delta_t_k'][-1]:.2f} ± {r['delta_t_stderr_k'][-1]:.2f} (stat. + slope) "
              f"± {r['delta_t_force_field_systematic_k'][-1]:.2f} (force field) K")
        if r.get("force_field_warning"):
            print(f"WARNING {r['force_field_warning']}")
    elif "delta_t_k" in r:
        print(f"ΔT at the last delay: {r['delta_t_k'][-1]:.2f} ± {r['delta_t_stderr_k'][-1]:.2f} K")
    out = Path(args.out)
    print(f"results: {out / 'ued.json'}, figures: {out / 'dw_vs_q2.png'}, {out / 'delta_t.png'}")
    return 0


def run_profiles(args: argparse.Namespace) -> int:
    r = execute("ued-profiles", args, settings_from_args(UedProfilesSettings, args), data=[args.profiles])
    print(f"{len(r['rings'])} rings fitted; {r.headline()}")
    out = Path(args.out)
    print(f"results: {out / 'peaks.csv'}, {out / 'ued.json'}")
    return 0


def run_decompose(args: argparse.Namespace) -> int:
    r = execute("ued-decompose", args, settings_from_args(UedDecomposeSettings, args), data=[args.profiles])
    print(r.headline())
    out = Path(args.out)
    print(f"results: {out / 'decomposition.json'}, {out / 'decomposition.csv'}")
    return 0


def run_images(args: argparse.Namespace) -> int:
    r = execute("ued-images", args, settings_from_args(UedImagesSettings, args), data=[args.source])
    print(f"{r['n_frames']} frames -> {len(r['delays_ps'])} delays x {r['bins']} Q bins "
          f"({r['integration']['frames_per_second']:.0f} frames/s); {r['n_rejected']} frame(s) rejected"
          + (": " + ", ".join(f["frame"] for f in r["rejected"][:10]) if r["rejected"] else ""))
    rho = r["integration"]["adjacent_bin_correlation"]
    if rho > 0.05:
        print(f"note: with pixel splitting '{r['integration']['pixel_splitting']}' neighbouring Q bins share pixels "
              f"(noise correlation {rho:.2f}); the per-bin errors ignore it, so ring-area errors come out too small "
              "by up to ~30 %; --pixel-splitting no keeps the bins independent.")
    for key in ("geometry_check", "geometry_check_after_refinement"):
        if r.get(key):
            print(("after refinement, " if "after" in key else "") + r[key]["message"])
    if "analysis" in r:
        print(f"Δ⟨u²⟩ at the last delay {r['analysis']['delta_msd_angstrom2'][-1]:.4g} ± "
              f"{r['analysis']['delta_msd_stderr'][-1]:.2g} Å²")
    out = Path(args.out)
    print(f"results: {out / 'profiles.h5'}, {out / 'images.json'}, figure: {out / 'images_qa.png'}")
    return 0
