"""`nclattice phonons`: normal modes, DOS and lifetimes of a nanocrystal."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..flows.settings import PhononSettings
from .options import execute, print_site_drift, settings_from_args

DESCRIPTION = ("Anneal and minimise the nanocrystal (LAMMPS Langevin MD, then CG), build the mass-weighted "
               "Hessian by central differences, "
               "diagonalise, and compute mode lifetimes from NVE MD at --temperature. Writes OUT/phonons.json, "
               "OUT/dos.png, OUT/lifetimes.png and OUT/minimised.extxyz.")


def run(args: argparse.Namespace) -> int:
    r = execute("phonons", args, settings_from_args(PhononSettings, args), structure=args.structure)
    print_site_drift(r)
    print(r.headline())
    s = r["lifetime_summary"]
    freq = np.asarray(r["frequencies_thz"], float)
    n_low = int(np.sum(np.abs(freq) < 0.05))
    rigid = np.abs(np.asarray(r["rigid_body_frequencies_thz"], float))
    print(f"modes {len(freq)}, rigid-body {len(r['rigid_body_modes'])} "
          f"(max |f| {rigid.max():.4f} THz), |f| < 0.05 THz: {n_low}, imaginary: {len(r['imaginary_modes'])}")
    print(f"lifetimes resolved: {100 * s['resolved_fraction']:.0f} %")
    print(f"written {Path(args.out) / 'phonons.json'}, dos.png, lifetimes.png")
    return 0
