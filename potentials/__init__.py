"""Interatomic potential parameter sets (data files) and the LAMMPS loader. No Prefect, no LAMMPS."""

from .registry import PotentialError, PotentialSet, available, default_for, load

__all__ = ["PotentialError", "PotentialSet", "available", "default_for", "load"]
