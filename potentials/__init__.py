"""Interatomic potential parameter sets (data files) and the LAMMPS loader. No Prefect, no LAMMPS."""

from .registry import (
    PotentialError,
    PotentialSet,
    available,
    coulomb_route,
    covering,
    default_for,
    lammps_boundary,
    load,
    table,
)

__all__ = ["PotentialError", "PotentialSet", "available", "coulomb_route", "covering", "default_for", "lammps_boundary",
           "load", "table"]
