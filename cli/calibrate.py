"""`nclattice calibrate`: MD temperature series -> Debye-Waller calibration (or --apply one)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import NclatticeError
from ..flows.settings import CalibrationSettings
from .options import execute, print_site_drift, settings_from_args

DESCRIPTION = ("Run NVT MD of a nanocrystal at several temperatures, fit <u²> = a + bT per element/region and "
               "for the diffraction-weighted average, and write OUT/calibration.json, OUT/calibration.png and "
               "OUT/minimised.extxyz (the annealed and minimised structure every temperature starts from). "
               "With --apply, convert a measured Δ<u²> into ΔT ± σ instead.")


POSITIONAL_HELP = "structure file (.extxyz from nclattice build)"


def add_options(p: argparse.ArgumentParser) -> None:
    """Beyond the settings model: --apply a calibration, the quantum Debye model, a comparison figure."""
    p.add_argument("--apply", metavar="CALIBRATION_JSON", help="convert --delta-msd with this calibration")
    p.add_argument("--delta-msd", type=float, help="measured 3D Δ<u²> in Å² (with --apply)")
    p.add_argument("--delta-msd-stderr", type=float, default=0.0, help="its standard error in Å²")
    p.add_argument("--key", default="diffraction_weighted", help="which fit to use (default diffraction_weighted)")
    p.add_argument("--debye-temperatures", metavar="EL=K,...",
                   help="no MD: calibrate from the quantum Debye model with these per-element Debye "
                        "temperatures (e.g. Pb=111,Se=205); STRUCTURE, if given, sets the composition")
    p.add_argument("--compare", metavar="CALIBRATION_JSON",
                   help="also draw OUT/calibration_compare.png: this calibration beside another one")


def apply(args: argparse.Namespace) -> int:
    from ..results import read_json
    from ..tasks.calibration import delta_t_from_delta_msd, delta_t_systematic

    if args.delta_msd is None:
        raise NclatticeError("--apply needs --delta-msd (the measured 3D Δ<u²> in Å²).")
    if not (math.isfinite(args.delta_msd) and math.isfinite(args.delta_msd_stderr) and args.delta_msd_stderr >= 0):
        raise NclatticeError("--delta-msd must be a finite number and --delta-msd-stderr finite and >= 0.")
    path = Path(args.apply)
    if not path.is_file():
        raise NclatticeError(f"calibration file '{path}' does not exist.")
    calibration = read_json(path)
    dt, sigma = delta_t_from_delta_msd(calibration, args.delta_msd, args.delta_msd_stderr, args.key)
    systematic = delta_t_systematic(calibration, args.delta_msd, args.key)
    if systematic is None:
        print(f"ΔT = {dt:.2f} ± {sigma:.2f} K  (Δ<u²> = {args.delta_msd} Å², fit '{args.key}')")
        return 0
    first = next(iter(systematic["delta_t_k"]))
    print(f"ΔT = {dt:.2f} ± {sigma:.2f} (stat.) ± {systematic['systematic_k']:.2f} (force field) K  "
          f"(Δ<u²> = {args.delta_msd} Å², fit '{args.key}', slope of {first})")
    print("  per force field: " + ", ".join(f"{name} {t:.2f} K" for name, t in systematic["delta_t_k"].items()))
    if calibration["force_field_spread"].get("warning"):
        print(f"  WARNING {calibration['force_field_spread']['warning']}")
    print(f"  force-field error: {systematic['estimator']}")
    return 0


def _read_compare(path: str | None) -> dict | None:
    from ..results import read_json

    if path is None:
        return None
    if not Path(path).is_file():
        raise NclatticeError(f"--compare file '{path}' does not exist.")
    try:
        return read_json(Path(path))
    except ValueError:
        raise NclatticeError(f"--compare file '{path}' is not valid JSON; give a calibration.json.") from None


def _compare(calibration: dict, other: dict | None, out: Path) -> None:
    if other is not None:
        from ..flows.calibration import comparison_figure

        print(f"written {comparison_figure(calibration, other, out)}")


def debye(args: argparse.Namespace) -> int:
    """calibrate --debye-temperatures: the Debye-model calibration, no MD."""
    from ..flows.calibration import debye_calibration_files

    if not args.out:
        raise NclatticeError("calibrate --debye-temperatures needs --out DIR.")
    settings = settings_from_args(CalibrationSettings, args)
    other = _read_compare(args.compare)
    if args.structure and not Path(args.structure).is_file():
        raise NclatticeError(f"structure file '{args.structure}' does not exist.")
    calibration = debye_calibration_files(args.debye_temperatures, settings, args.out, args.structure)
    t = calibration["temperatures_k"]
    for el, fit in calibration["fit"].items():
        if el in calibration["msd_angstrom2"] and len(el) <= 2:
            msd = calibration["msd_angstrom2"][el]
            print(f"{el}: <u²> = {msd[0]:.4f} Å² at {t[0]:g} K to {msd[-1]:.4f} Å² at {t[-1]:g} K; "
                  f"slope b = {fit['slope_angstrom2_per_k']:.3e} Å²/K (R² = {fit['r2']:.4f})")
    print(f"Debye model, quantum form; written {Path(args.out) / 'calibration.json'} and calibration.png")
    _compare(calibration, other, Path(args.out))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.apply:
        return apply(args)
    if args.debye_temperatures:
        return debye(args)
    if not args.structure or not args.out:
        raise NclatticeError("calibrate needs a STRUCTURE file and --out DIR (or --apply FILE --delta-msd X).")
    settings = settings_from_args(CalibrationSettings, args)
    other = _read_compare(args.compare)
    calibration = execute("calibrate", args, settings, structure=args.structure)
    print()
    print_site_drift(calibration)
    print(calibration.headline())
    spread = (calibration.get("force_field_spread") or {}).get("fit", {}).get("diffraction_weighted")
    if spread:
        for name, b in spread["slope_angstrom2_per_k"].items():
            print(f"  {name}: b = {b:.3e} ± {spread['slope_stderr'][name]:.1e} Å²/K (stat.)")
        print(f"force-field spread of b: ± {spread['systematic_slope_stderr']:.1e} Å²/K "
              f"({100 * spread['relative_spread']:.0f} % of the mean {spread['mean_slope_angstrom2_per_k']:.3e}; "
              f"sample standard deviation over {len(spread['slope_angstrom2_per_k'])} sets); "
              f"the headline slope is {next(iter(spread['slope_angstrom2_per_k']))}'s")
        if "sites_kept" in spread:
            kept = spread["sites_kept"]
            print(f"  over the sets that kept their sites ({', '.join(kept['potentials'])}): "
                  f"± {kept['systematic_slope_stderr']:.1e} Å²/K ({100 * kept['relative_spread']:.0f} % of the mean "
                  f"{kept['mean_slope_angstrom2_per_k']:.3e})")
    validation = calibration.get("potential_validation") or {}
    print(f"potential validation: {validation.get('status')}"
          + (f" ({validation['summary']})" if validation.get("summary") else ""))
    print(f"written {Path(args.out) / 'calibration.json'}, calibration.png and minimised.extxyz"
          if calibration.get("minimised") else f"written {Path(args.out) / 'calibration.json'} and calibration.png")
    _compare(calibration, other, Path(args.out))
    return 1 if calibration["failed"] else 0
