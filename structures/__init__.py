"""Nanocrystal builders: each returns an ``ase.Atoms`` with per-atom ``region``, ``layer``,
``surface`` (and ``coordination``) arrays and the recipe in ``info``. Pure: no I/O.

Sizes are in nm at this interface (as on the command line) and Å inside ``Atoms``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from ase import Atoms

from ..errors import StructureError
from .labels import equivalent_diameter_nm, net_formal_charge
from .perovskite import VACANCY_PATTERNS, build_cspbbr3_cube, build_cspbbr3_superellipsoid
from .rocksalt import ATTACHMENTS, build_pbse
from .spheres import CDSE_CDS_PRESETS, build_cdse, build_cdse_cds, build_inp_znse_zns

BUILDERS = {
    "cdse": build_cdse,
    "cdse-cds": build_cdse_cds,
    "pbse": build_pbse,
    "cspbbr3": build_cspbbr3_cube,
    "cspbbr3-superellipsoid": build_cspbbr3_superellipsoid,
    "inp-znse-zns": build_inp_znse_zns,
}

__all__ = [
    "ATTACHMENTS", "BUILDERS", "CDSE_CDS_PRESETS", "VACANCY_PATTERNS", "build",
    "build_cdse", "build_cdse_cds", "build_cspbbr3_cube", "build_cspbbr3_superellipsoid",
    "build_inp_znse_zns", "build_pbse", "summarize",
]


def build(kind: str, **params: Any) -> Atoms:
    """Build a nanocrystal by kind name with the builder's keyword parameters."""
    try:
        builder = BUILDERS[kind]
    except KeyError:
        raise StructureError(
            f"unknown nanocrystal kind '{kind}'; choose one of {', '.join(BUILDERS)}."
        ) from None
    return builder(**params)


def summarize(atoms: Atoms) -> dict[str, Any]:
    """Formula, size, charge and per-region counts: what a user checks after a build."""
    regions = Counter(atoms.arrays["region"].tolist()) if "region" in atoms.arrays else {}
    surface = int(np.count_nonzero(atoms.arrays["surface"])) if "surface" in atoms.arrays else None
    return {
        "formula": atoms.get_chemical_formula(mode="metal"),
        "atoms": len(atoms),
        "diameter_nm": round(equivalent_diameter_nm(atoms), 3),
        "net_formal_charge": net_formal_charge(atoms),
        "regions": dict(regions),
        "surface_atoms": surface,
    }
