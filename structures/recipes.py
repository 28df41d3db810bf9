"""A nanocrystal recipe (the options of `nclattice build` or a campaign's ``build:``) -> the builder
and its keyword arguments, and an upper estimate of the atom count before anything is allocated.

The recipe is any object with the recipe's attributes (``kind``, ``charge_balance``,
``diameter_nm``, ...; ``flows.settings.BuildSettings``) and an ``option_name(field)`` for
messages. Errors are ``ValueError`` sentences naming the option (the settings model turns them
into its one-line error).
"""

from __future__ import annotations

import math
from typing import Any

from .spheres import CDSE_CDS_PRESETS

ATOMS_PER_NM3 = 40.0  # upper bound of the atom density of the shipped materials (CdSe 36, PbSe 35, CsPbBr3 25)
MONOLAYER_NM = 0.36  # thickest shell monolayer of the shipped core/shell kinds
INP_SHELL_ML = (3, 2)  # default ZnSe then ZnS monolayers


def _need(recipe: Any, name: str) -> Any:
    value = getattr(recipe, name)
    if value is None:
        raise ValueError(f"'{recipe.kind}' needs --{recipe.option_name(name)}")
    return value


def _shape(recipe: Any, allowed: tuple[str, ...]) -> str:
    if recipe.shape is not None and recipe.shape not in allowed:
        raise ValueError(f"--shape for '{recipe.kind}' is one of {', '.join(allowed)}, not '{recipe.shape}'")
    return recipe.shape or allowed[0]


def _cdse_cds_shell(r: Any) -> int:
    if r.shell_ml is not None and r.preset is not None:
        raise ValueError("give either --shell-ml or --preset for cdse-cds, not both")
    if r.preset is not None:
        return CDSE_CDS_PRESETS[r.preset]
    if r.shell_ml is None:
        raise ValueError("cdse-cds needs --shell-ml N or --preset msd|phonons")
    if len(r.shell_ml) != 1:
        raise ValueError("cdse-cds takes one --shell-ml value (CdS monolayers)")
    return r.shell_ml[0]


def _pbse(r: Any) -> dict[str, Any]:
    params = {"diameter_nm": _need(r, "diameter_nm"), "attached": r.attached or "none",
              "charge_balance": r.charge_balance}
    for field, key in (("facet_ratio", "facet_ratio"), ("polar_facets", "polar_facets"),
                       ("lattice_constant_angstrom", "lattice_constant")):
        if getattr(r, field) is not None:
            params[key] = getattr(r, field)
    return params


def _cspbbr3(r: Any) -> tuple[str, dict[str, Any]]:
    params = {"phase": r.phase or "cubic", "charge_balance": r.charge_balance}
    if r.lattice_constant_angstrom is not None:
        params["lattice_constant"] = r.lattice_constant_angstrom
    if _shape(r, ("cube", "superellipsoid")) == "superellipsoid":
        if r.cells is not None or r.vacancies is not None:
            raise ValueError("--cells and --vacancies apply to the cube shape, not superellipsoid")
        params["size_nm"] = _need(r, "size_nm")
        if r.exponent is not None:
            params["exponent"] = r.exponent
        return "cspbbr3-superellipsoid", params
    if r.size_nm is not None or r.exponent is not None:
        raise ValueError("--size and --exponent apply to --shape superellipsoid only")
    params.update({"cells": _need(r, "cells"), "vacancies": r.vacancies or "tetra"})
    return "cspbbr3", params


def builder_call(r: Any) -> tuple[str, dict[str, Any]]:
    """The builder name and its keyword arguments (``structures.build(name, **params)``)."""
    cb = r.charge_balance
    if r.kind == "cdse":
        return "cdse", {"diameter_nm": _need(r, "diameter_nm"), "charge_balance": cb}
    if r.kind == "cdse-cds":
        return "cdse-cds", {"core_diameter_nm": _need(r, "core_diameter_nm"), "shell_ml": _cdse_cds_shell(r),
                            "charge_balance": cb}
    if r.kind == "inp-znse-zns":
        shell = r.shell_ml if r.shell_ml is not None else list(INP_SHELL_ML)
        if len(shell) != 2:
            raise ValueError("inp-znse-zns takes two --shell-ml values: ZnSe ML then ZnS ML")
        return "inp-znse-zns", {"core_diameter_nm": _need(r, "core_diameter_nm"), "shell_ml": tuple(shell),
                                "charge_balance": cb, "shape": _shape(r, ("octahedron", "sphere"))}
    if r.kind == "pbse":
        return "pbse", _pbse(r)
    return _cspbbr3(r)


def estimated_atoms(name: str, params: dict[str, Any]) -> float:
    """An upper estimate of the atom count of a builder call, computed before anything is allocated."""
    if name == "cspbbr3":
        return 5.0 * params["cells"] ** 3
    if name == "cspbbr3-superellipsoid":
        return 25.0 * params["size_nm"] ** 3
    shells = params.get("shell_ml", 0)
    shell_nm = MONOLAYER_NM * (sum(shells) if isinstance(shells, tuple) else shells)
    d = params.get("diameter_nm") or params["core_diameter_nm"] + 2 * shell_nm
    if name == "pbse":
        d *= {"none": 1, "dimer": 2, "chain": 3, "square": 4}[params["attached"]] ** (1 / 3)
    octahedral_shells = 2.0 if params.get("shape") == "octahedron" else 1.0  # (π/3√3)^-1 = 1.91 at most
    return octahedral_shells * math.pi / 6 * d**3 * ATOMS_PER_NM3
